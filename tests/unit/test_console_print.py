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
