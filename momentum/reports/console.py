"""Terminal presentation: rich tables and progress for main.py (which alone prints them).

rich (~50 ms to import) is loaded when something needs it: `print_text` writes a plain line to a
pipe or file itself when rich would write the very same bytes (`paper --report`, `paper --run`).
"""
from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # annotations only: `paper --report` loads no scanner, market or pandas
    from rich.console import Console
    from rich.table import Table

    from momentum.rules.scanner import ScanResult
    from momentum.run.paper import PaperRunOutcome


PIPE_WIDTH = 140  # the console's width in pipes and files
# rich's emoji code pattern (rich/_emoji_replace.py) and its codes without a letter in them
_EMOJI_CODE_RE = re.compile(r"(:(\S*?)(?:(?:\-)(emoji|text))?:)")
LETTERLESS_EMOJI = frozenset({"100", "1234", "+1", "__1", "-1"})
_PRINTABLE_ASCII_RE = re.compile(r"[ -~\n]*")
_LETTER_RE = re.compile(r"[A-Za-z]")


def make_console(file=None) -> Console:
    """A console: colour on a terminal only, wide enough for tables in pipes and files."""
    from rich.console import Console

    out = file or sys.stdout
    tty = out.isatty()
    return Console(file=out, width=None if tty else PIPE_WIDTH, no_color=not tty,
                   highlight=False, force_terminal=None if tty else False, soft_wrap=False)


def print_text(text: str, *, soft_wrap: bool = False, file=None) -> None:
    """`make_console(file).print(text, soft_wrap=soft_wrap)`, the same bytes, rich loaded only
    when they could differ: on a terminal, or for text with markup ('['), an emoji code, a
    character outside printable ASCII, or (soft_wrap False) a line wider than PIPE_WIDTH."""
    out = file or sys.stdout
    if out.isatty() or not _prints_as_is(text, None if soft_wrap else PIPE_WIDTH):
        make_console(out).print(text, soft_wrap=soft_wrap)
        return
    out.write(text + "\n")
    out.flush()


def _prints_as_is(text: str, width: int | None) -> bool:
    """Whether rich, without colour, would write `text` unchanged (then a newline)."""
    if "[" in text or not _PRINTABLE_ASCII_RE.fullmatch(text):
        return False
    for match in _EMOJI_CODE_RE.finditer(text):
        name = match.group(2)
        if _LETTER_RE.search(name) or name.lower() in LETTERLESS_EMOJI:
            return False
    return width is None or all(len(line) <= width for line in text.split("\n"))


def scan_table(result: ScanResult, signals: set[str] | None = None) -> Table:
    """The candidates of a scan as an aligned table (R3)."""
    from rich.table import Table

    table = Table(title=f"Momentum candidates on {result.day}", title_justify="left")
    for name, justify in (("Ticker", "left"), ("Type", "left"), ("Sector", "left"),
                          ("Score", "right"), ("M", "right"), ("RSI14", "right"),
                          ("ADV20 $", "right"), ("Surge", "right"), ("Entry signal", "left")):
        table.add_column(name, justify=justify)
    for c in result.candidates:
        table.add_row(c.ticker, c.asset_type.value, c.sector, f"{c.score:.1f}",
                      f"{c.momentum:+.3f}", f"{c.rsi14:.1f}", f"{c.adv20_usd:,.0f}",
                      f"{c.surge_ratio:.2f}x", "yes" if signals and c.ticker in signals else "")
    return table


def scan_counts(result: ScanResult) -> list[str]:
    """Lines with the eligible and filtered counts of a scan."""
    eligible = ", ".join(f"{n} {t.value}" for t, n in result.eligible.items())
    lines = [f"Eligible: {eligible}; at or above the score threshold: {len(result.passed)}; "
             f"shown: {len(result.candidates)}"]
    parts = [f"{why}: {n}" for why, n in sorted(result.filtered.items()) if n]
    if parts:
        lines.append("Filtered out: " + "; ".join(parts))
    return lines


def summary_table(summary: dict[str, Any]) -> Table:
    """The key figures of a backtest summary (summary.json) as a two-column table."""
    from rich.table import Table

    table = Table(title=SUMMARY_TITLE, title_justify="left", show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for label, value in summary_rows(summary):
        table.add_row(label, value)
    return table


SUMMARY_TITLE = "Backtest summary"


def print_summary(summary: dict[str, Any], file=None) -> None:
    """Print summary_table: the same bytes rich writes, without loading rich in a pipe or file
    when every cell is plain printable ASCII and the table fits the pipe width."""
    out = file or sys.stdout
    rows = summary_rows(summary)
    plain = None if out.isatty() else _plain_table(SUMMARY_TITLE, rows)
    if plain is None:
        make_console(out).print(summary_table(summary))
        return
    out.write(plain)
    out.flush()


def _plain_table(title: str, rows: list[tuple[str, str]]) -> str | None:
    """rich's rendering of a titled, headerless two-column table (left, right-justified) with
    its default box, or None when rich could render it otherwise (markup, emoji codes, other
    characters, wrapping)."""
    cells = [title, *(cell for row in rows for cell in row)]
    if not rows or not all(_PRINTABLE_ASCII_RE.fullmatch(c) and "\n" not in c for c in cells):
        return None
    if any("[" in c or _EMOJI_CODE_RE.search(c) for c in cells):
        return None
    left, right = (max(len(row[k]) for row in rows) for k in (0, 1))
    width = left + right + 7  # "│ " + left + " │ " + right + " │"
    if width > PIPE_WIDTH or len(title) > width:
        return None
    lines = [title.ljust(width), f"┌{'─' * (left + 2)}┬{'─' * (right + 2)}┐"]
    lines += [f"│ {a.ljust(left)} │ {b.rjust(right)} │" for a, b in rows]
    lines.append(f"└{'─' * (left + 2)}┴{'─' * (right + 2)}┘")
    return "\n".join(lines) + "\n"


def summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) of each line of the backtest summary table."""
    perf = summary.get("performance", summary)
    trades = summary.get("trades", {})
    rows = [
        ("Period", f"{summary.get('start')} to {summary.get('end')} "
                   f"({summary.get('steps')} steps)"),
        ("Final equity", _money(perf.get("final_equity"))),
        ("Total return", _pct(perf.get("total_return"))),
        ("CAGR", _pct(perf.get("cagr"))),
        ("Sharpe", _num(perf.get("sharpe"))),
        ("Sortino", _num(perf.get("sortino"))),
        ("Max drawdown", _pct((perf.get("max_drawdown") or {}).get("depth"))),
        ("Trades (closed / open)",
         f"{trades.get('closed', 0)} / {trades.get('open_positions', 0)}"),
        ("Win rate", _pct(trades.get("win_rate"))),
        ("Profit factor", _num(trades.get("profit_factor"))),
        ("Average exposure", _pct(perf.get("average_exposure"))),
    ]
    bench = summary.get("benchmark") or {}
    if bench.get("total_return") is not None:
        rows.append((f"Buy and hold {bench.get('ticker')}", _pct(bench.get("total_return"))))
    return rows


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{float(x) * 100:.2f}%"


def _num(x: Any) -> str:
    return "n/a" if x is None else f"{float(x):.2f}"


def _money(x: Any) -> str:
    return "n/a" if x is None else f"${float(x):,.2f}"


@contextmanager
def step_progress(total: int,
                  label: str) -> Iterator[Callable[[str | Callable[[], str]], None]]:
    """A progress bar on a terminal (stderr); a no-op elsewhere. Yields advance(description);
    the description may be a function, called only when there is a bar to show it."""
    if not sys.stderr.isatty():
        yield lambda _text: None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeRemainingColumn)

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=Console(file=sys.stderr), transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda text: progress.update(task, advance=1,
                                           description=text() if callable(text) else text)


def paper_run_lines(outcome: PaperRunOutcome, report_dir: str) -> list[str]:
    """What a `paper --run` tells the terminal: one line per session, then a summary."""
    if outcome.first_session is not None:
        first = outcome.first_session
        from momentum.core.calendar import is_nyse_session

        close = "4:00 PM ET" if is_nyse_session(first) else "midnight UTC"
        return [f"Nothing to run yet: the portfolio's first session is {first}; it closes at "
                f"{close}. Run `python main.py paper --run` after it has closed "
                f"(cron: 4:05 PM ET on trading days)."]
    if outcome.already_done:
        return [f"{outcome.target} is already done; nothing to run."]
    if not outcome.days:
        return [f"No trading session to run up to {outcome.target}."]
    lines = [f"{d.day}  equity ${d.equity:,.2f}  cash ${d.cash:,.2f}  {len(d.fills)} fill(s), "
             f"{len(d.rejections)} rejection(s)" for d in outcome.days]
    last = outcome.days[-1]
    lines.append(f"Ran {len(outcome.days)} session(s) {outcome.days[0].day} .. {last.day}: "
                 f"equity ${last.equity:,.2f}, cash ${last.cash:,.2f}; reports in {report_dir}")
    if outcome.left_out:
        lines.append("Left out (--allow-partial): " + "; ".join(
            f"{t}: {why}" for t, why in outcome.left_out.items()))
    return lines
