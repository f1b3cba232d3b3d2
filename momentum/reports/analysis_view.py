"""Presentation of `analyze-trade`: rich tables, a plotly page, trades.csv reading, the command.

Everything here formats what ``reports.analysis.analyze_ticker`` computed; no rule is decided
here. Numbers are rounded for display only (R5.7).
"""
from __future__ import annotations

import csv
import html
import io
import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rich.console import Console, RenderableType
from rich.table import Table

from momentum.reports.analysis import analyze_ticker
from momentum.reports.analysis_records import Check, TradeAnalysis, TradeRow
from momentum.core.config import StrategyConfig
from momentum.core.domain import Asset, AssetType, ExitReason, Trade, validate_ticker
from momentum.core.errors import DataError, StateError
from momentum.core.files import write_atomic
from momentum.data.market import AssetHistory, Market
from momentum.core.money import ZERO
from momentum.reports.charts import figure_html, plotly_script, price_figure

if TYPE_CHECKING:  # plotly is imported only when a chart is written
    import plotly.graph_objects as go

YES, NO = "✔", "✘"
CHART_DAYS = 365
SEARCH_DAYS = 10  # a weekend plus the longest NYSE closure
# The header backtest_report.trades_csv writes (tests keep the two equal).
TRADES_HEADER = ("ticker", "asset_type", "entry_date", "entry_price", "exit_date", "exit_price",
                 "quantity", "exit_reason", "pnl")


# ---------------------------------------------------------------- formatting
def _price(x: float | Decimal | None) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:,.2f}" if abs(x) >= 1 else f"{float(x):.6g}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x * 100:+.2f}%"


def _fmt(value: Any, unit: str) -> str:
    """A check's value or threshold for display, by its unit."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, tuple):
        return f"[{value[0]:g}, {value[1]:g}]"
    if isinstance(value, str | date):
        return str(value)
    formats = {"usd": lambda v: f"${v:,.0f}" if abs(v) >= 1e6 else f"${v:,.2f}",
               "ratio": lambda v: f"{v:.4f}", "pct": _pct, "count": lambda v: f"{int(v)}",
               "qty": lambda v: format(Decimal(v), "f"), "times": lambda v: f"{v:.2f}x"}
    return formats.get(unit, lambda v: f"{v:.2f}")(value)


def _table(title: str, *columns: str, left: int = 1) -> Table:
    """A table whose first `left` columns are text (left) and the rest numbers (right)."""
    table = Table(title=title, title_justify="left")
    for k, name in enumerate(columns):
        table.add_column(name, justify="left" if k < left else "right")
    return table


def checks_table(title: str, checks: Sequence[Check]) -> Table:
    """Rule checks as rows: rule, check, value, threshold, mark, detail."""
    details = any(c.detail for c in checks)
    table = _table(title, "Rule", "Check", "Value", "Threshold", "OK",
                   *(("Detail",) if details else ()), left=2)
    table.columns[4].justify = table.columns[-1].justify = "left"
    for c in checks:
        threshold = (_fmt(c.threshold, c.unit) if c.op == "is"
                     else f"{c.op} {_fmt(c.threshold, c.unit)}")
        row = [c.rule, c.name, _fmt(c.value, c.unit), threshold, YES if c.passed else NO]
        table.add_row(*row, *((c.detail,) if details else ()))
    return table


# ---------------------------------------------------------------- the terminal report
def analysis_renderables(a: TradeAnalysis) -> list[RenderableType]:
    """The analysis as rich tables and short lines, in the order the rules apply."""
    out: list[RenderableType] = [_title(a), _bars_table(a), _indicators_table(a),
                                 checks_table("Eligibility (R3.0-R3.2)", a.eligibility),
                                 _scan_line(a)]
    if a.entry is not None:
        out += [checks_table("Entry conditions (R4.1)", a.entry.checks),
                f"Entry signal: {'yes' if a.entry.signal else 'no'}"]
    out += _risk_section(a) + _levels_section(a) + [_trades_table(a)]
    out += [f"Note: {n}" for n in a.notes]
    return out


def _title(a: TradeAnalysis) -> str:
    asset = a.asset
    cap = "" if asset.market_cap is None else f", market cap ${asset.market_cap:,.0f}"
    on = a.day.isoformat() if a.bar_date == a.day else f"{a.day} (bar of {a.bar_date})"
    return f"{a.ticker}: {asset.asset_type.value}, {asset.sector}{cap}. Analysis of {on}"


def _bars_table(a: TradeAnalysis) -> Table:
    table = _table(f"Last {len(a.bars)} bars up to {a.bar_date}", "Date", "Open", "High", "Low",
                   "Close", "Volume")
    for b in a.bars:
        table.add_row(b.day.isoformat(), _price(b.open), _price(b.high), _price(b.low),
                      _price(b.close), f"{b.volume:,.0f}")
    return table


def _indicators_table(a: TradeAnalysis) -> Table | str:
    i = a.indicators
    if i is None:
        return f"No bar of {a.ticker} up to {a.bar_date}: no indicators."
    table = _table(f"Indicators on {i.bar_date} (R2)", "Indicator", "Value")
    for name, value in (("RSI14", f"{i.rsi14:.2f}"), ("M = .5 ROC126 + .3 ROC63 + .2 ROC21",
                                                      f"{i.momentum:+.4f}"),
                        ("ROC_126", _pct(i.roc126)), ("ROC_63", _pct(i.roc63)),
                        ("ROC_21", _pct(i.roc21)), ("ADV20", _fmt(i.adv20_usd, "usd")),
                        ("volume surge ratio", _fmt(i.surge_ratio, "times")),
                        ("bars up to the day", str(i.bar_count))):
        table.add_row(name, value.replace("nan", "n/a"))
    return table


def _scan_line(a: TradeAnalysis) -> str:
    s = a.scan
    score = "no score" if s.score is None else f"score {s.score:.1f}"
    rank = ("" if s.rank is None else
            f", rank {s.rank} of {s.passed_count} at or above {s.threshold:g}")
    head = (f"Momentum (full scan of {a.day}, vs {s.ref_size} eligible "
            f"{a.asset.asset_type.value}): {score}{rank}. ")
    if s.candidate:
        return head + "Candidate: yes."
    return head + "Candidate: no: " + "; ".join(s.reasons) + "."


def verdict(a: TradeAnalysis) -> str:
    """One sentence: would the engine buy this on the day, and if not why (R3, R4.1, R6)."""
    if a.held is not None:
        return f"held since {a.held.position.entry_date}"
    if a.pending_entry is not None:
        return f"entry order pending (decided {a.pending_entry.decided_on})"
    r = a.risk
    if r is not None and r.considered:
        if r.order is not None:
            return f"would buy {_fmt(r.quantity, 'qty')} at the next open"
        assert r.rejection is not None
        return f"rejected by {r.rejection.rule}: {r.rejection.detail}"
    if not a.scan.candidate:
        return "not a candidate"
    return "no entry signal"


def _risk_section(a: TradeAnalysis) -> list[RenderableType]:
    r = a.risk
    if r is None:
        why = ("it is already held or ordered (R3.6)" if a.held or a.pending_entry else
               "no bar up to the day" if a.indicators is None else "its type is not traded")
        return [f"Risk (R6): not evaluated, {why}."]
    why_not = "it is not a candidate" if not a.scan.candidate else "it has no entry signal"
    head = ("Risk (R6) for this signal" if r.considered else
            f"Risk (R6), what-if: the engine would not ask, {why_not}")
    size = (f"Size (R6.3): floor_qty(equity {_price(r.equity)} x risk {r.risk_per_trade:g} / "
            f"(close {_price(r.close)} x stop {r.stop_loss_pct:g})) = {_fmt(r.quantity, 'qty')}")
    would = "" if r.considered else "would be "
    if r.order is not None:
        result = (f"Verdict: {would}approved, {_fmt(r.quantity, 'qty')} {a.ticker} at the next "
                  f"open, reserving ${r.order.reserved_cash:,.2f}")
    else:
        assert r.rejection is not None
        result = (f"Verdict: {would}rejected, {r.rejection.reason.value} ({r.rejection.rule}): "
                  f"{r.rejection.detail}")
    return [f"{head}; book: {r.book}.", size, checks_table("Risk checks in order", r.checks),
            result]


def _levels_section(a: TradeAnalysis) -> list[RenderableType]:
    out: list[RenderableType] = []
    if a.held is not None:
        p = a.held.position
        pending = p.pending_exit.value if p.pending_exit else "none"
        trail = "active" if a.held.trailing_active else "inactive"
        out.append(f"Held: {_fmt(p.quantity, 'qty')} since {p.entry_date} at "
                   f"{_price(p.entry_price)}; highest high {_price(p.highest_high)}; trailing "
                   f"stop {trail}; pending exit: {pending}; unrealized P&L "
                   f"${p.unrealized_pnl:,.2f}")
    if a.pending_entry is not None:
        o = a.pending_entry
        out.append(f"Pending entry: {_fmt(o.quantity, 'qty')} decided {o.decided_on}, fills at "
                   f"the open after {o.decision_bar_date}")
    if a.levels:
        basis = (f"last close {_price(a.held.last_close)}" if a.held is not None else
                 "what-if: an entry filled at today's close")
        table = _table(f"Exit levels ({basis})", "Level", "Price", "From the close")
        for level in a.levels:
            table.add_row(level.name, _price(level.price), _pct(level.distance))
        out.append(table)
    out.append(f"Status on {a.day}: {verdict(a)}.")
    return out


def _trades_table(a: TradeAnalysis) -> RenderableType:
    if not a.trades:
        where = f" in {a.trades_source}" if a.trades_source else ""
        return f"No trades of {a.ticker}{where}."
    table = _table(f"Trades of {a.ticker} ({a.trades_source})", "Entry date", "Entry", "Qty",
                   "Exit date", "Exit", "Reason", "P&L")
    table.columns[3].justify = table.columns[5].justify = "left"
    for t in a.trades:
        table.add_row(t.entry_date.isoformat(), _price(t.entry_price), _fmt(t.quantity, "qty"),
                      t.exit_date.isoformat() if t.exit_date else "open", _price(t.exit_price),
                      t.exit_reason.value if t.exit_reason else "",
                      "" if t.pnl is None else f"{t.pnl:,.2f}")
    return table


# ---------------------------------------------------------------- the HTML chart
def analysis_figure_html(a: TradeAnalysis, history: AssetHistory, out: Path) -> Path:
    """Write a self-contained plotly page: a year of closes up to the day, trades and levels."""
    last = a.bar_date
    trades = [_as_trade(r, history.asset, last) for r in a.trades if r.entry_date <= last]
    fig = price_figure(history, trades, last - timedelta(days=CHART_DAYS), last, a.exit_rules)
    _add_day_and_levels(fig, a)
    score = "no score" if a.scan.score is None else f"score {a.scan.score:.1f}"
    fig.update_layout(title=f"{a.ticker} up to {last}: {score}; {verdict(a)}", height=520)
    items = "".join(f"<li>{html.escape(line)}</li>" for line in _summary_lines(a))
    page = _PAGE.format(title=html.escape(f"{a.ticker} on {a.day}"), plotly=plotly_script(),
                        items=items, figure=figure_html(fig, f"analysis-{a.ticker}"))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(out, page)


def _as_trade(row: TradeRow, asset: Asset, last: date) -> Trade:
    """A Trade for price_figure; an exit after `last` is not shown (the chart ends there).

    trades.csv has no commissions: they are folded into the exit commission so that the
    chart's P&L is the file's.
    """
    closed = row.exit_date is not None and row.exit_date <= last and row.exit_price is not None
    exit_commission = None
    if closed:
        assert row.exit_price is not None
        gross = (row.exit_price - row.entry_price) * row.quantity
        exit_commission = ZERO if row.pnl is None else gross - row.pnl
    return Trade(ticker=row.ticker, asset_type=row.asset_type, sector=asset.sector,
                 entry_date=row.entry_date, entry_price=row.entry_price, quantity=row.quantity,
                 entry_commission=ZERO, exit_date=row.exit_date if closed else None,
                 exit_price=row.exit_price if closed else None, exit_commission=exit_commission,
                 exit_reason=row.exit_reason if closed else None)


def _add_day_and_levels(fig: go.Figure, a: TradeAnalysis) -> None:
    colors = {"stop": "#d62728", "target": "#2ca02c", "trailing": "#ff7f0e",
              "protective": "#9467bd"}
    for level in a.levels:
        color = next((c for k, c in colors.items() if level.name.startswith(k)), "#555")
        fig.add_hline(y=float(level.price), line={"color": color, "dash": "dot", "width": 1},
                      annotation_text=f"{level.name} {_price(level.price)}",
                      annotation_position="top left", annotation_font_size=10)
    if a.indicators is not None:
        fig.add_scatter(x=[a.indicators.bar_date], y=[a.indicators.close], mode="markers",
                        name=f"close {a.indicators.bar_date}",
                        marker={"symbol": "circle-open", "size": 12, "color": "#1f77b4"})


def _summary_lines(a: TradeAnalysis) -> list[str]:
    lines = [_title(a), _scan_line(a)]
    if a.entry is not None:
        lines.append("Entry conditions (R4.1): " + "; ".join(
            f"{c.name} {_fmt(c.value, c.unit)} {YES if c.passed else NO}" for c in a.entry.checks))
    lines.append(f"Status: {verdict(a)}")
    lines += [f"{level.name}: {_price(level.price)} ({_pct(level.distance)} from the close)"
              for level in a.levels]
    return lines


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>body {{ font-family: Helvetica, Arial, sans-serif; margin: 1.5em auto; max-width: 1200px;
color: #222; }} li {{ margin: 0.2em 0; }}</style>
{plotly}
</head>
<body>
<h1>{title}</h1>
<ul>{items}</ul>
{figure}
</body>
</html>
"""


# ---------------------------------------------------------------- trades.csv
def read_trades_csv(path: Path) -> list[TradeRow]:
    """Read a backtest's (or a paper export's) trades.csv, checking its header and every row."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file; pass the folder a backtest wrote "
                        f"(it holds trades.csv)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot be read ({e})") from None
    reader = csv.reader(io.StringIO(text))
    header = tuple(next(reader, ()))
    if header != TRADES_HEADER:
        raise DataError(f"{path}: not a trades.csv: the header is {','.join(header) or '(empty)'}"
                        f", expected {','.join(TRADES_HEADER)}")
    return [_trade_row(row, path, line) for line, row in enumerate(reader, start=2) if row]


def _trade_row(row: list[str], path: Path, line: int) -> TradeRow:
    if len(row) != len(TRADES_HEADER):
        raise DataError(f"{path}:{line}: {len(row)} fields, expected {len(TRADES_HEADER)}")
    f = dict(zip(TRADES_HEADER, row, strict=True))
    try:
        return TradeRow(
            ticker=validate_ticker(f["ticker"]), asset_type=AssetType(f["asset_type"]),
            entry_date=date.fromisoformat(f["entry_date"]), entry_price=Decimal(f["entry_price"]),
            quantity=Decimal(f["quantity"]),
            exit_date=date.fromisoformat(f["exit_date"]) if f["exit_date"] else None,
            exit_price=Decimal(f["exit_price"]) if f["exit_price"] else None,
            exit_reason=ExitReason(f["exit_reason"]) if f["exit_reason"] else None,
            pnl=Decimal(f["pnl"]) if f["pnl"] else None)
    except (ValueError, InvalidOperation, DataError) as e:
        raise DataError(f"{path}:{line}: {e}") from None


# ---------------------------------------------------------------- the command
class PaperLoader(Protocol):
    def load(self) -> Any:
        """The saved paper state (with `.engine`); raises StateError when there is none."""


class AnalysisStrategy(Protocol):
    """What run_analysis_command needs of main.MomentumStrategy."""

    config: StrategyConfig
    paper: PaperLoader

    def load_market(self, end: date | None = None) -> Market:
        """Every asset's history up to `end`."""


def analysis_day(market: Market, day: date | None) -> date:
    """The latest day on or before `day` (default: the data's last) with stock bars (R3.0).

    With no stock in the data every calendar day is a step (R7).
    """
    first, last = market.first_date, market.last_date
    if first is None or last is None:
        raise DataError("the market data has no bars")
    end = min(day, last) if day is not None else last
    stocks = market.has_type(AssetType.STOCK)
    for back in range(SEARCH_DAYS + 1):
        candidate = end - timedelta(days=back)
        if candidate < first:
            break
        if not stocks or market.until(candidate).type_has_bar(AssetType.STOCK):
            return candidate
    raise DataError(f"no trading day with stock bars on or shortly before {end} in the data "
                    f"(it runs {first} to {last})")


def run_analysis_command(strategy: AnalysisStrategy, ticker: str, day: date | None,
                         backtest_dir: Path | None, html: Path | None, console: Console) -> int:
    """`analyze-trade`: analyze one ticker on one day and print it; optionally write the chart."""
    symbol = validate_ticker(ticker)  # a bad symbol fails before any data is loaded
    trades, source = None, ""
    if backtest_dir is not None:
        path = Path(backtest_dir)
        path = path if path.is_file() else path / "trades.csv"
        trades, source = read_trades_csv(path), str(path)
    market = strategy.load_market(end=day)
    step = analysis_day(market, day)
    if day is not None and step != day:
        console.print(f"{day} is not a trading day in the data; analysing {step}.")
    try:
        state = strategy.paper.load().engine
    except StateError as e:
        console.print(f"No paper portfolio used ({e}); risk uses an empty book.")
        state = None
    analysis = analyze_ticker(symbol, market.until(step), state, strategy.config, trades)
    if source:
        analysis = replace(analysis, trades_source=source)
    for renderable in analysis_renderables(analysis):
        console.print(renderable)
    if html is not None:
        written = analysis_figure_html(analysis, market.history(analysis.ticker), Path(html))
        console.print(f"Chart written to {written}")
    return 0
