"""print_text writes what the rich console writes, byte for byte, loading rich only when needed."""
from __future__ import annotations

import io

import pytest

from momentum.reports.console import LETTERLESS_EMOJI, PIPE_WIDTH, make_console, print_text

REPORT = """Momentum Daily Report - 2025-06-02 - generated 2026-12-01T23:06:53.123456+00:00

Portfolio Summary
  Cash:              $97,412.10      Equity: $100,250.00 (+0.25% today)
  Positions: 3 / 8   Exposure: 12.5% (limit 25%)

Open Positions
  Ticker  Type   Qty      Entry     Last      P&L
  SYN001  stock  12       $101.20   $103.00   +$21.60 (+1.78%)

Alerts/Warnings
  (none)
"""
TEXTS = [
    REPORT, REPORT.rstrip("\n"), "", "\n", "one line", "two\nlines", "trailing spaces   \nx",
    "x" * PIPE_WIDTH, "x" * (PIPE_WIDTH + 1), ("word " * 60).strip(), "a\n\n\nb\n\n",
    "[bold]markup[/bold]", "a [not markup", "\\[escaped]", "thumbs :thumbs_up: up", ":100: :+1:",
    ":smile-emoji:", "time 10:30:45 and 1:2:3", "ratio 1:-1: x", "caf\u00e9 \u00e9", "tab\there",
    "bell\x07 cr\r end", "wide \u4e2d\u6587", "Wrote out/trades.csv, out/equity.csv",
    "2025-06-02: 1 entry, 0 exits; equity $100,250.00 (report: reports/daily_2025-06-02.txt)",
]


def _rich(text: str, soft_wrap: bool) -> str:
    out = io.StringIO()
    make_console(out).print(text, soft_wrap=soft_wrap)
    return out.getvalue()


@pytest.mark.parametrize("soft_wrap", [False, True])
@pytest.mark.parametrize("text", TEXTS)
def test_print_text_writes_the_bytes_of_the_rich_console(text: str, soft_wrap: bool):
    out = io.StringIO()
    print_text(text, soft_wrap=soft_wrap, file=out)
    assert out.getvalue() == _rich(text, soft_wrap)


def test_the_letterless_emoji_codes_are_all_rich_has():
    from rich._emoji_codes import EMOJI

    assert {k for k in EMOJI if not any(c.isalpha() for c in k)} <= LETTERLESS_EMOJI


def test_a_plain_report_needs_no_rich():
    from momentum.reports.console import _prints_as_is

    assert _prints_as_is(REPORT, PIPE_WIDTH)
    assert not _prints_as_is("x" * (PIPE_WIDTH + 1), PIPE_WIDTH)
    assert _prints_as_is("x" * (PIPE_WIDTH + 1), None)
    assert not _prints_as_is("see :thumbs_up:", None)


# ---------------------------------------------------------------- the backtest summary table

SUMMARY = {"start": "2015-06-01", "end": "2024-12-31", "steps": 2414,
           "performance": {"final_equity": "106387.81", "total_return": 0.0639, "cagr": 0.0065,
                           "sharpe": 0.13, "sortino": 0.18, "max_drawdown": {"depth": 0.172},
                           "average_exposure": 0.1735},
           "trades": {"closed": 355, "open_positions": 1, "win_rate": 0.4789,
                      "profit_factor": 1.03},
           "benchmark": {"ticker": "SPY", "total_return": 0.3502}}
SUMMARIES = [
    SUMMARY, {}, {"start": "2024-01-02", "end": "2024-01-03", "steps": 1},
    {**SUMMARY, "benchmark": {"ticker": "[SPY]", "total_return": 0.1}},        # markup: rich
    {**SUMMARY, "benchmark": {"ticker": ":thumbs_up:", "total_return": 0.1}},  # emoji: rich
    {**SUMMARY, "benchmark": {"ticker": "S\u00e9P", "total_return": 0.1}},      # non-ASCII: rich
    {**SUMMARY, "benchmark": {"ticker": "X" * 150, "total_return": 0.1}},      # wider than a pipe
    {**SUMMARY, "performance": {**SUMMARY["performance"], "final_equity": "1e15"}},
]


@pytest.mark.parametrize("summary", SUMMARIES)
def test_summary_prints_what_rich_prints(summary: dict):
    from momentum.reports.console import print_summary, summary_table  # noqa: PLC0415

    expected = io.StringIO()
    make_console(expected).print(summary_table(summary))
    out = io.StringIO()
    print_summary(summary, file=out)
    assert out.getvalue() == expected.getvalue()


def test_plain_summary_is_written_without_rich():
    from momentum.reports import console  # noqa: PLC0415

    assert console._plain_table(console.SUMMARY_TITLE, console.summary_rows(SUMMARY)) is not None
    assert console._plain_table("t", [("a", "[b]")]) is None
