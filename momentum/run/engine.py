"""The daily step (STRATEGY R7): the one code path backtest, paper trading and validation share.

    run_day(day, state, view, rules) -> DayResult

1. bars since each asset's last processed bar, oldest first; on each bar date: pending exits fill
   at the open, then pending entries, then the R4.5 checks (R5.4);
2. unfilled entries of the previous step expire (R5.5), delisted positions close (R4.6);
3. mark to market, record equity;
4. scan (R3), entry signals (R4.1), risk approval (R6); queue approved entries for the next open.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from momentum.core.config import StrategyConfig
from momentum.core.domain import (DayResult, ExitReason, Fill, Halt, Position, Rejection,
                                  RejectReason)
from momentum.core.errors import StateError
from momentum.core.money import ZERO, display_money, display_price, to_money
from momentum.core.slots import direct_init
from momentum.rules.broker import PaperBroker
from momentum.rules.portfolio import Portfolio
from momentum.rules.risk import RiskBook, RiskManager
from momentum.rules.scanner import SCANNED_TYPES, AssetScanner, ScanCache
from momentum.rules.signals import SignalGenerator

if TYPE_CHECKING:  # annotations only: importing this module loads no pandas (`paper --report`)
    from momentum.data.market import BarPoint, MarketView

logger = logging.getLogger(__name__)
DELISTING_STEPS = 5  # R4.6


@direct_init
@dataclass(frozen=True, slots=True)
class EquityPoint:
    day: date
    equity: Decimal
    cash: Decimal


@dataclass(slots=True)
class EngineState:
    """Everything the daily step carries from one day to the next (and paper trading saves)."""

    portfolio: Portfolio
    initial_capital: Decimal
    scan_cache: ScanCache | None = None
    last_step: date | None = None
    equity_curve: list[EquityPoint] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    # Paper days committed with --allow-partial: ISO day -> {ticker: why it was left out}.
    left_out: dict[str, dict[str, str]] = field(default_factory=dict)
    halts: list[Halt] = field(default_factory=list)  # kill switch, oldest first (paper --halt)

    @classmethod
    def start(cls, capital: Decimal) -> "EngineState":
        return cls(portfolio=Portfolio(cash=capital), initial_capital=capital)

    @property
    def halt(self) -> Halt | None:
        """The active kill-switch halt, if any: the daily step approves no entry while set."""
        return self.halts[-1] if self.halts and self.halts[-1].active else None

    @property
    def previous_equity(self) -> Decimal | None:
        return self.equity_curve[-1].equity if self.equity_curve else None


@dataclass(frozen=True, slots=True)
class Rules:
    """The rule objects of one configuration (R3-R6)."""

    scanner: AssetScanner
    signals: SignalGenerator
    risk: RiskManager
    broker: PaperBroker

    @classmethod
    def from_config(cls, cfg: StrategyConfig) -> "Rules":
        return cls(scanner=AssetScanner(cfg.scanner),
                   signals=SignalGenerator(cfg.signals.entry, cfg.signals.exit),
                   risk=RiskManager(cfg.risk, cfg.signals.exit, cfg.trading),
                   broker=PaperBroker(cfg.trading))


def run_day(day: date, state: EngineState, view: MarketView, rules: Rules) -> DayResult:
    """Run the daily step for `day` on a view that sees only bars dated <= day."""
    if view.day != day:
        raise ValueError(f"view is for {view.day}, not {day}")
    if state.last_step is not None and day <= state.last_step:
        raise StateError(f"{day} is not after the last step {state.last_step}")
    result = DayResult(day=day, previous_equity=state.previous_equity,
                       data_dates={t.value: view.current_date(t) for t in SCANNED_TYPES},
                       skipped=[f"{t}: {why}" for t, why in sorted(view.skipped.items())])
    had_bar = process_bars(state, view, rules, result)
    settle_orders(state, view, rules, had_bar, result)
    mark_to_market(state, result)
    decide_entries(state, view, rules, result)
    state.last_step = day
    state.fills += result.fills
    state.rejections += result.rejections
    return result


# ---------------------------------------------------------------- 1. bars since the last step
def process_bars(state: EngineState, view: MarketView, rules: Rules, result: DayResult) -> set[str]:
    """Walk every new bar of held and ordered assets in date order (R5.4); return who had bars."""
    book = state.portfolio
    by_day: dict[date, dict[str, BarPoint]] = defaultdict(dict)
    for pos in book.positions.values():
        for bar in view.bars_after(pos.ticker, pos.last_bar_date):
            by_day[bar.day][pos.ticker] = bar
    for order in book.pending_entries:
        first = next(view.bars_after(order.ticker, order.decision_bar_date), None)
        if first is not None:
            by_day[first.day].setdefault(order.ticker, first)
            for bar in view.bars_after(order.ticker, first.day):
                by_day[bar.day][order.ticker] = bar
    for bar_day in sorted(by_day):
        bars = by_day[bar_day]
        _fill_pending_exits(book, bars, rules, result)
        _fill_pending_entries(book, bars, rules, result)
        _run_exit_checks(book, bars, rules, result)
    return {t for bars in by_day.values() for t in bars}


def _fill_pending_exits(book: Portfolio, bars: dict[str, BarPoint], rules: Rules,
                        result: DayResult) -> None:
    for ticker in sorted(bars):
        pos = book.positions.get(ticker)
        if pos is None or pos.pending_exit is None:
            continue
        bar = bars[ticker]
        fill = rules.broker.sell(pos, bar.day, to_money(bar.open), pos.pending_exit)
        _book_exit(book, fill, result)


def _fill_pending_entries(book: Portfolio, bars: dict[str, BarPoint], rules: Rules,
                          result: DayResult) -> None:
    """Earlier decisions first, then strength order; cash is what is in the account now (R5.3)."""
    for order in sorted(book.pending_entries, key=lambda o: (o.decided_on, o.sequence)):
        bar = bars.get(order.ticker)
        if bar is None or bar.day <= order.decision_bar_date:
            continue
        book.pending_entries.remove(order)
        fill = rules.broker.buy(order.ticker, order.asset_type, bar.day, bar.open,
                                order.quantity, book.cash)
        if fill is None:
            result.rejections.append(Rejection(
                bar.day, order.ticker, RejectReason.INSUFFICIENT_CASH, "R5.3",
                f"cash {book.cash:.2f} buys nothing at {to_money(bar.open):.6f}"))
            logger.info("%s: entry %s cancelled at the fill, not enough cash", bar.day,
                        order.ticker)
            continue
        stop, target = rules.signals.exit_levels(fill.price, order.asset_type)
        opened = Position(ticker=order.ticker, asset_type=order.asset_type, sector=order.sector,
                          entry_date=bar.day, entry_price=fill.price, quantity=fill.quantity,
                          entry_commission=fill.commission, stop_price=stop, target_price=target,
                          highest_high=ZERO, trailing_stop=None, last_close=to_money(bar.open),
                          last_bar_date=order.decision_bar_date, entry_score=order.score)
        book.apply_fill(fill, opened)
        result.fills.append(fill)
        if fill.quantity < order.quantity:
            logger.info("%s: entry %s shrunk from %s to %s by cash (R5.3)", bar.day, order.ticker,
                        order.quantity, fill.quantity)
        logger.info("%s: BUY %s %s @ %s", bar.day, fill.quantity, fill.ticker,
                    display_price(fill.price, order.asset_type))


def _run_exit_checks(book: Portfolio, bars: dict[str, BarPoint], rules: Rules,
                     result: DayResult) -> None:
    for ticker in sorted(bars):
        pos = book.positions.get(ticker)
        if pos is None:
            continue
        bar = bars[ticker]
        pending, high, trail = pos.pending_exit, pos.highest_high, pos.trailing_stop
        if pending is None:
            check = rules.signals.check_exit(pos, bar)
            if check is not None and check.immediate:
                assert check.price is not None
                _book_exit(book, rules.broker.sell(pos, bar.day, check.price, check.reason), result)
                continue
            if check is not None:
                pending = check.reason
                logger.info("%s: %s exit signal %s, sells at the next open", bar.day, ticker,
                            check.reason.value)
            high, trail = rules.signals.trailing_after(pos, bar)
        book.update_position(after_bar(pos, bar, pending, high, trail))


def after_bar(pos: Position, bar: BarPoint, pending_exit: ExitReason | None, highest_high: Decimal,
              trailing_stop: Decimal | None) -> Position:
    """The position after processing bar B: its exit order, high, trail, mark and watermark.

    Built in one positional call, the same as dataclasses.replace(pos, ...) with these fields
    (tests/unit/test_engine.py checks it), at a third of the cost: it runs on every bar of
    every held position.
    """
    return Position(pos.ticker, pos.asset_type, pos.sector, pos.entry_date, pos.entry_price,
                    pos.quantity, pos.entry_commission, pos.stop_price, pos.target_price,
                    highest_high, trailing_stop, to_money(bar.close), bar.day, pos.entry_score,
                    pending_exit, 0)


def _book_exit(book: Portfolio, fill: Fill, result: DayResult) -> None:
    trade = book.apply_fill(fill)
    result.fills.append(fill)
    assert trade is not None and trade.pnl is not None
    logger.info("%s: SELL %s %s @ %s (%s) pnl %s", fill.day, fill.quantity, fill.ticker,
                display_price(fill.price, trade.asset_type),
                fill.reason.value if fill.reason else "", display_money(trade.pnl))


# ---------------------------------------------------------------- 2. expiry and delisting
def settle_orders(state: EngineState, view: MarketView, rules: Rules, had_bar: set[str],
                  result: DayResult) -> None:
    """Expire entries that missed their fill (R5.5) and close delisted positions (R4.6)."""
    _expire_unfilled_entries(state, view.day, result)
    _close_delisted(state, view, rules, had_bar, result)


def _expire_unfilled_entries(state: EngineState, day: date, result: DayResult) -> None:
    """R5.5: an entry not filled by the end of the step after its decision expires."""
    book = state.portfolio
    for order in [o for o in book.pending_entries if o.decided_on < day]:
        book.pending_entries.remove(order)
        result.rejections.append(Rejection(day, order.ticker, RejectReason.NO_FILL, "R5.5",
                                           f"no bar after {order.decision_bar_date} by {day}"))


def _close_delisted(state: EngineState, view: MarketView, rules: Rules, had_bar: set[str],
                    result: DayResult) -> None:
    """R4.6: no bar on 5 consecutive steps on which its class traded -> close at the last close."""
    book = state.portfolio
    for ticker in sorted(book.positions):
        pos = book.positions[ticker]
        if ticker in had_bar or not view.type_has_bar(pos.asset_type):
            continue
        pos = replace(pos, missed_steps=pos.missed_steps + 1)
        book.update_position(pos)
        if pos.missed_steps >= DELISTING_STEPS:
            _book_exit(book, rules.broker.sell(pos, view.day, pos.last_close,
                                               ExitReason.DELISTED), result)


# ---------------------------------------------------------------- 3. mark to market
def mark_to_market(state: EngineState, result: DayResult) -> None:
    """R7.2: every position is already marked at the close of its last processed bar."""
    book = state.portfolio
    equity = book.equity
    result.equity, result.cash = equity, book.cash
    values = _position_sectors(book)
    result.gross_exposure = sum(values.values(), ZERO) / equity if equity else ZERO
    result.sector_exposure = {s: v / equity for s, v in sorted(values.items())} if equity else {}
    state.equity_curve.append(EquityPoint(result.day, equity, book.cash))


def _position_sectors(book: Portfolio) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for p in book.positions.values():
        out[p.sector] += p.market_value
    return dict(out)


# ---------------------------------------------------------------- 4. decide entries
def decide_entries(state: EngineState, view: MarketView, rules: Rules, result: DayResult) -> None:
    """R7.3: scan, entry signals, risk approval; approved entries wait for the next open."""
    book = state.portfolio
    scan = rules.scanner.run_daily_scan(view, state.scan_cache, exclude=book.held_or_ordered)
    state.scan_cache = scan.cache
    result.full_scan = scan.full_scan
    result.candidates = scan.candidates
    result.signals = rules.signals.entry_signals(scan.candidates)
    if state.halt is not None:  # kill switch: signals are shown, none is taken
        approved, rejected = [], [_halted(view.day, s.ticker, state.halt) for s in result.signals]
    elif not result.signals:  # half the days: nothing for the risk manager to size or check
        approved, rejected = [], []
    else:
        approved, rejected = rules.risk.approve_entries(view.day, result.signals,
                                                        RiskBook.of(book, result.previous_equity))
    book.pending_entries.extend(approved)
    result.entries = approved
    result.rejections += rejected
    for r in rejected:
        logger.info("%s: %s rejected: %s (%s %s)", r.day, r.ticker, r.reason.value, r.rule,
                    r.detail)


def _halted(day: date, ticker: str, halt: Halt) -> Rejection:
    return Rejection(day, ticker, RejectReason.HALTED, "halt",
                     f"kill switch since {halt.halted_at}: {halt.reason}")
