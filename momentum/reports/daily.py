"""The end-of-day report of one daily step (spec step 7.1.9): six sections of aligned text.

``render_daily_report`` is pure: it reads the state right after the step of `day` and the
configuration, and prints `now` as given. Money is rounded here for display only (R5.7).
``write_daily_report`` is the one function with a side effect: an atomic write without colour.
"""
from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from momentum.core.config import StrategyConfig
from momentum.core.domain import AssetType, EntryOrder, Fill, Position, Rejection, Side, Trade
from momentum.core.money import ONE, ZERO, to_money

if TYPE_CHECKING:  # types only: a report reads the engine's state, it never runs the engine
    from momentum.run.engine import EngineState, EquityPoint

HEADINGS = ("Portfolio Summary", "Open Positions", "Today's Activity", "Risk Metrics",
            "Upcoming Actions", "Alerts/Warnings")
NEAR_TARGET = Decimal("0.05")       # spec 7.1.8: within 5% of the profit target
NEAR_STOP = Decimal("0.02")         # spec 7.1.8: within 2% of the protective stop
LARGE_LOSS = Decimal("-0.05")       # unrealized P&L % that raises an alert
GREEN, RED, YELLOW, BOLD = "32", "31", "33", "1"
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class _Cell:
    text: str
    tone: str = ""  # ANSI colour code; "" = plain


@dataclass(frozen=True, slots=True)
class _Ctx:
    """The step of `day` as the report sees it."""

    day: date
    state: EngineState
    cfg: StrategyConfig
    color: bool
    previous: EquityPoint | None
    equity: Decimal
    entries: list[Fill]
    exits: list[Trade]
    rejections: list[Rejection]
    queued: list[EntryOrder]

    @property
    def positions(self) -> list[Position]:
        return sorted(self.state.portfolio.positions.values(), key=lambda p: p.ticker)

    def paint(self, text: str, tone: str) -> str:
        return f"\x1b[{tone}m{text}\x1b[0m" if self.color and tone else text


def render_daily_report(day: date, state: EngineState, cfg: StrategyConfig, now: datetime, *,
                        data_dates: Mapping[str, date] | None = None,
                        held_scores: Mapping[str, float | None] | None = None,
                        data_problems: Sequence[str] = (),
                        color: bool = False) -> str:
    """Render the end-of-day report of the step of `day` (R7.4) from the state after that step.

    `data_dates` maps an asset type ("stock", "crypto") to the bar date it used; `held_scores`
    maps a held ticker to today's momentum score (None = not scorable today); `data_problems`
    lists assets left out today ("TICKER: why"). `now` must be timezone-aware; it is printed,
    never read from a clock.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware, e.g. datetime.now(timezone.utc)")
    ctx = _context(day, state, cfg, color)
    title = f"Momentum Daily Report - {day.isoformat()} - generated {now.isoformat()}"
    lines = [ctx.paint(title, BOLD), "=" * len(title)]
    sections = (_summary(ctx, data_dates or {}), _open_positions(ctx), _activity(ctx),
                _risk(ctx), _upcoming(ctx), _alerts(ctx, held_scores or {}, data_problems))
    for heading, body in zip(HEADINGS, sections, strict=True):
        lines += ["", ctx.paint(heading, BOLD), "-" * len(heading), *body]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def write_daily_report(text: str, report_dir: Path, day: date) -> Path:
    """Write `text` without ANSI codes to report_dir/daily_report_YYYY-MM-DD.txt atomically."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / f"daily_report_{day.isoformat()}.txt"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=report_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(strip_ansi(text))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def strip_ansi(text: str) -> str:
    """Remove ANSI colour codes (for files and pipes)."""
    return _ANSI_RE.sub("", text)


# ---------------------------------------------------------------- the day's window
def _context(day: date, state: EngineState, cfg: StrategyConfig, color: bool) -> _Ctx:
    """Activity of the step = everything dated in (previous step, day]."""
    earlier = [p for p in state.equity_curve if p.day < day]
    previous = earlier[-1] if earlier else None
    start = previous.day if previous is not None else None

    def inside(d: date | None) -> bool:
        return d is not None and d <= day and (start is None or d > start)

    book = state.portfolio
    return _Ctx(day=day, state=state, cfg=cfg, color=color, previous=previous, equity=book.equity,
                entries=[f for f in state.fills if f.side is Side.BUY and inside(f.day)],
                exits=[t for t in book.closed_trades if inside(t.exit_date)],
                rejections=[r for r in state.rejections if inside(r.day)],
                queued=[o for o in book.pending_entries if o.decided_on == day])


# ---------------------------------------------------------------- 1. portfolio summary
def _summary(ctx: _Ctx, data_dates: Mapping[str, date]) -> list[str]:
    book = ctx.state.portfolio
    unrealized = sum((p.unrealized_pnl for p in book.positions.values()), ZERO)
    realized = sum((t.pnl or ZERO for t in ctx.exits), ZERO)
    daily = None if ctx.previous is None or not ctx.previous.equity else (
        ctx.equity / ctx.previous.equity - ONE)
    rows = [("Date", _Cell(ctx.day.isoformat())),
            ("Total account value", _Cell(_money(ctx.equity))),
            ("Cash", _Cell(_money(book.cash))),
            ("Positions", _Cell(str(len(book.positions)))),
            ("Total position value", _Cell(_money(book.market_value))),
            ("Unrealized P&L", _signed_cell(unrealized)),
            ("Realized P&L today", _signed_cell(realized)),
            ("Daily return", _Cell("n/a") if daily is None else _signed_cell(daily, pct=True))]
    lines = _pairs(ctx, rows)
    halt = ctx.state.halt
    if halt is not None:
        exits = "; every position exits at its next open" if halt.flatten else ""
        lines.append("  " + ctx.paint(f"TRADING HALTED (kill switch) since {halt.halted_at}: "
                                      f"{halt.reason}; no new entries{exits}; "
                                      f"`python main.py paper --resume` lifts it", RED))
    if data_dates:
        used = ", ".join(f"{kind} {d.isoformat()}" for kind, d in sorted(data_dates.items()))
        lines.append(f"  Bar dates used: {used}")
        crypto = data_dates.get(AssetType.CRYPTO.value)
        if crypto is not None and crypto < ctx.day:
            note = (f"crypto: the UTC day {ctx.day.isoformat()} is still forming, "
                    "yesterday's bar was used")
            lines.append("  " + ctx.paint(note, YELLOW))
    return lines


# ---------------------------------------------------------------- 2. open positions
def _open_positions(ctx: _Ctx) -> list[str]:
    if not ctx.positions:
        return ["  none"]
    headers = ("Ticker", "Entry Date", "Entry Price", "Current Price", "Shares", "Value",
               "P&L $", "P&L %", "Days Held")
    rows = [[p.ticker, p.entry_date.isoformat(), _price(p.entry_price), _price(p.last_close),
             _qty(p.quantity), _money(p.market_value), _signed_cell(p.unrealized_pnl),
             _signed_cell(_position_return(p), pct=True), str((ctx.day - p.entry_date).days)]
            for p in ctx.positions]
    return _table(ctx, headers, rows, left=2)


def _position_return(p: Position) -> Decimal:
    cost = p.entry_price * p.quantity
    return p.unrealized_pnl / cost if cost else ZERO


# ---------------------------------------------------------------- 3. today's activity
def _activity(ctx: _Ctx) -> list[str]:
    entries = [[f.ticker, f.day.isoformat(), _price(f.price), _qty(f.quantity),
                _money(f.notional), _money(f.commission)] for f in ctx.entries]
    exits = [[t.ticker, _iso(t.exit_date), _price(t.exit_price or ZERO),
              t.exit_reason.value if t.exit_reason else "", _qty(t.quantity),
              _signed_cell(t.pnl or ZERO), _signed_cell(t.return_pct or ZERO, pct=True),
              str(t.days_held)] for t in ctx.exits]
    rejected = [[r.ticker, r.day.isoformat(), r.reason.value, r.rule, r.detail]
                for r in ctx.rejections]
    queued = [[o.ticker, o.decided_on.isoformat(), _qty(o.quantity), _price(o.reference_close),
               _money(o.quantity * o.reference_close), f"{o.score:.1f}"] for o in ctx.queued]
    return [*_block(ctx, "New entries", ("Ticker", "Date", "Price", "Shares", "Value",
                                         "Commission"), entries, 2),
            *_block(ctx, "Exits", ("Ticker", "Date", "Price", "Reason", "Shares", "P&L $",
                                   "P&L %", "Days Held"), exits, 2, {3}),
            *_block(ctx, "Signals not taken", ("Ticker", "Date", "Reason", "Rule", "Detail"),
                    rejected, 5),
            *_block(ctx, "Entries queued for the next open", ("Ticker", "Decided", "Shares",
                                                              "Ref Close", "Est. Value",
                                                              "Score"), queued, 2)]


# ---------------------------------------------------------------- 4. risk metrics
def _risk(ctx: _Ctx) -> list[str]:
    risk, book = ctx.cfg.risk, ctx.state.portfolio
    pending = _pending_value(ctx)
    gross = (f"{_share(book.market_value, ctx.equity)} of equity in positions, "
             f"{_share(book.market_value + pending, ctx.equity)} with pending entries "
             f"(max {_pct(to_money(risk.max_portfolio_exposure))}, R6.4)")
    held, queued = len(book.positions), len(book.pending_entries)
    slots = f"{held} open + {queued} pending = {held + queued} of max {risk.max_positions} (R6.2)"
    rows = [("Gross exposure", _Cell(gross)), ("Positions", _Cell(slots)), *_loss_room(ctx)]
    at_risk = [[p.ticker, _price(p.last_close), _price(p.protective_stop),
                _money(p.quantity * (p.last_close - p.protective_stop)),
                _share(p.quantity * (p.last_close - p.protective_stop), ctx.equity)]
               for p in ctx.positions]
    return [*_pairs(ctx, rows, right=False),
            *_block(ctx, "Risk per position (to the protective stop)",
                    ("Ticker", "Close", "Stop", "Risk $", "% of Equity"), at_risk, 1),
            *_block(ctx, "Sector exposure (positions + pending entries, R6.5)",
                    ("Sector", "Positions $", "Pending $", "% of Equity", "Max"),
                    _sector_rows(ctx), 1)]


def _pending_value(ctx: _Ctx) -> Decimal:
    """Entry orders valued at qty * decision close, as R6.4 counts them."""
    return sum((o.quantity * o.reference_close for o in ctx.state.portfolio.pending_entries), ZERO)


def _loss_room(ctx: _Ctx) -> list[tuple[str, _Cell]]:
    """How much more today could lose before R6.1 trips, and the floor for the next step."""
    limit = to_money(ctx.cfg.risk.max_daily_loss)
    next_floor = (f"entries stop if equity falls to {_money(ctx.equity * (ONE - limit))} "
                  f"(-{_pct(limit)} of {_money(ctx.equity)})")
    if ctx.previous is None or not ctx.previous.equity:
        return [("Daily-loss limit", _Cell("n/a today (first step; R6.1 never applies)")),
                ("Next step", _Cell(next_floor))]
    room = ctx.equity - ctx.previous.equity * (ONE - limit)
    share = room / ctx.previous.equity
    if room <= ZERO:
        today = _Cell(f"tripped: {_pct(-share)} past the -{_pct(limit)} limit (R6.1)", RED)
    else:
        today = _Cell(f"{_pct(share)} (${_money(room)}) more loss today trips R6.1 "
                      f"(limit -{_pct(limit)} of {_money(ctx.previous.equity)})")
    return [("Daily-loss limit", today), ("Next step", _Cell(next_floor))]


def _sector_rows(ctx: _Ctx) -> list[list[str | _Cell]]:
    held: dict[str, Decimal] = {}
    queued: dict[str, Decimal] = {}
    for p in ctx.positions:
        held[p.sector] = held.get(p.sector, ZERO) + p.market_value
    for o in ctx.state.portfolio.pending_entries:
        queued[o.sector] = queued.get(o.sector, ZERO) + o.quantity * o.reference_close
    cap = _pct(to_money(ctx.cfg.risk.max_sector_exposure))
    return [[s, _money(held.get(s, ZERO)), _money(queued.get(s, ZERO)),
             _share(held.get(s, ZERO) + queued.get(s, ZERO), ctx.equity), cap]
            for s in sorted(set(held) | set(queued))]


# ---------------------------------------------------------------- 5. upcoming actions
def _upcoming(ctx: _Ctx) -> list[str]:
    watched = [p for p in ctx.positions if p.pending_exit is None]  # pending exits skip R4.5
    near_target = [[p.ticker, _price(p.last_close), _price(p.target_price),
                    _pct(p.target_price / p.last_close - ONE)] for p in watched
                   if p.last_close and ZERO <= p.target_price / p.last_close - ONE <= NEAR_TARGET]
    near_stop = [[p.ticker, _price(p.last_close), _price(p.protective_stop),
                  "trailing" if p.protective_stop != p.stop_price else "stop",
                  _Cell(_pct(ONE - p.protective_stop / p.last_close), YELLOW)] for p in watched
                 if p.last_close and ONE - p.protective_stop / p.last_close <= NEAR_STOP]
    trailing = [[p.ticker, _price(p.highest_high), _price(p.trailing_stop), _price(p.last_close),
                 _pct(ONE - p.trailing_stop / p.last_close) if p.last_close else "n/a"]
                for p in ctx.positions if p.trailing_stop is not None]
    pending = [[p.ticker, p.pending_exit.value, _qty(p.quantity), _price(p.last_close)]
               for p in ctx.positions if p.pending_exit is not None]
    return [*_block(ctx, f"Near profit target (within {_pct(NEAR_TARGET)})",
                    ("Ticker", "Close", "Target", "Distance"), near_target, 1),
            *_block(ctx, f"Near protective stop (within {_pct(NEAR_STOP)})",
                    ("Ticker", "Close", "Stop", "Kind", "Distance"), near_stop, 1, {3}),
            *_block(ctx, "Trailing stops active", ("Ticker", "Highest High", "Trail", "Close",
                                                   "Distance"), trailing, 1),
            *_block(ctx, "Exits pending at the next open", ("Ticker", "Reason", "Shares",
                                                            "Close"), pending, 2)]


# ---------------------------------------------------------------- 6. alerts and warnings
def _alerts(ctx: _Ctx, held_scores: Mapping[str, float | None],
            data_problems: Sequence[str]) -> list[str]:
    found = [*_limit_alerts(ctx), *_position_alerts(ctx, held_scores),
             *((f"data: {problem} (left out today)", YELLOW) for problem in data_problems)]
    if not found:
        return ["  none"]
    return ["  " + ctx.paint(f"! {text}", tone) for text, tone in found]


def _limit_alerts(ctx: _Ctx) -> list[tuple[str, str]]:
    """Limits within their warning share (alerts.*_warning) or already reached."""
    risk, alerts, book, out = ctx.cfg.risk, ctx.cfg.alerts, ctx.state.portfolio, []
    if ctx.previous is not None and ctx.previous.equity:
        loss, limit = ONE - ctx.equity / ctx.previous.equity, to_money(risk.max_daily_loss)
        if loss >= limit:
            out.append((f"daily loss {_pct(loss)} reached the {_pct(limit)} limit: "
                        "R6.1 tripped, no entries approved today", RED))
        elif loss >= limit * to_money(alerts.daily_loss_warning):
            out.append((f"daily loss {_pct(loss)} is near the {_pct(limit)} limit (R6.1)", YELLOW))
    warn = to_money(alerts.sector_warning)
    out += _exposure_alert("gross exposure", book.market_value + _pending_value(ctx), ctx.equity,
                           to_money(risk.max_portfolio_exposure), warn, "R6.4")
    for sector, value in sorted(book.sector_values().items()):
        out += _exposure_alert(f"sector {sector}", value, ctx.equity,
                               to_money(risk.max_sector_exposure), warn, "R6.5")
    count = len(book.positions) + len(book.pending_entries)
    if count >= risk.max_positions:
        out.append((f"positions {count} at max {risk.max_positions}: no new entries (R6.2)", RED))
    elif count >= risk.max_positions - 1:
        out.append((f"positions {count} of max {risk.max_positions}: one slot left (R6.2)",
                    YELLOW))
    return out


def _exposure_alert(name: str, value: Decimal, equity: Decimal, cap: Decimal, warn: Decimal,
                    rule: str) -> list[tuple[str, str]]:
    if equity <= ZERO or value < cap * warn * equity:
        return []
    over = value >= cap * equity
    where = "at the max" if over else "near the max"
    return [(f"{name} {_pct(value / equity)} of equity is {where} {_pct(cap)} ({rule})",
             RED if over else YELLOW)]


def _position_alerts(ctx: _Ctx, held_scores: Mapping[str, float | None]) -> list[tuple[str, str]]:
    out, unscored = [], []
    threshold = ctx.cfg.scanner.momentum_threshold
    for p in ctx.positions:
        change = _position_return(p)
        if change <= LARGE_LOSS:
            out.append((f"{p.ticker} unrealized loss {_pct(change)} "
                        f"({_money(p.unrealized_pnl)})", YELLOW))
        if p.ticker not in held_scores:
            continue
        score = held_scores[p.ticker]
        if score is None:
            unscored.append(p.ticker)
        elif score < threshold:
            out.append((f"{p.ticker} momentum score {score:.1f} below the threshold "
                        f"{threshold:g}", YELLOW))
    if unscored:
        out.append((f"no momentum score today (not scorable): {', '.join(unscored)}", ""))
    return out


# ---------------------------------------------------------------- layout and numbers
def _block(ctx: _Ctx, title: str, headers: Sequence[str], rows: Sequence[Sequence[str | _Cell]],
           left: int, left_extra: set[int] | None = None) -> list[str]:
    if not rows:
        return [f"  {title}: none"]
    return [f"  {title}:", *_table(ctx, headers, rows, left, left_extra, indent="    ")]


def _table(ctx: _Ctx, headers: Sequence[str], rows: Sequence[Sequence[str | _Cell]], left: int,
           left_extra: set[int] | None = None, indent: str = "  ") -> list[str]:
    """Fixed-width columns: the first `left` (and `left_extra`) left-aligned, numbers right."""
    body = [[c if isinstance(c, _Cell) else _Cell(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i].text) for r in body]) for i, h in enumerate(headers)]
    lefts = set(range(left)) | (left_extra or set())

    def line(row: Sequence[_Cell]) -> str:
        parts = [ctx.paint(c.text.ljust(w) if i in lefts else c.text.rjust(w), c.tone)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        return indent + "  ".join(parts)

    rule = indent + "  ".join("-" * w for w in widths)
    return [line([_Cell(h) for h in headers]), rule, *(line(r) for r in body)]


def _pairs(ctx: _Ctx, rows: Sequence[tuple[str, _Cell]], right: bool = True) -> list[str]:
    label_w = max(len(label) for label, _ in rows)
    value_w = max(len(cell.text) for _, cell in rows) if right else 0
    return [f"  {label.ljust(label_w)}  " + ctx.paint(cell.text.rjust(value_w), cell.tone)
            for label, cell in rows]


def _signed_cell(value: Decimal, pct: bool = False) -> _Cell:
    """Green for a gain, red for a loss, judged on the number as shown."""
    text = _pct(value, signed=True) if pct else _money(value, signed=True)
    shown = Decimal(text.rstrip("%").replace(",", ""))
    return _Cell(text, GREEN if shown > 0 else RED if shown < 0 else "")


def _money(value: Decimal, signed: bool = False) -> str:
    rounded = value.quantize(_CENT) + ZERO  # + ZERO turns -0.00 into 0.00
    return f"{rounded:+,.2f}" if signed else f"{rounded:,.2f}"


def _price(value: Decimal | None) -> str:
    """Cents for prices of a dollar or more, 6 decimals below (sub-dollar coins)."""
    if value is None:
        return ""
    return _money(value) if abs(value) >= ONE else f"{value:.6f}"


def _qty(value: Decimal) -> str:
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.6f}"


def _pct(share: Decimal, signed: bool = False) -> str:
    rounded = (share * 100).quantize(_CENT) + ZERO
    return f"{rounded:+.2f}%" if signed else f"{rounded:.2f}%"


def _share(value: Decimal, equity: Decimal) -> str:
    return _pct(value / equity) if equity > ZERO else "n/a"


def _iso(d: date | None) -> str:
    return "" if d is None else d.isoformat()
