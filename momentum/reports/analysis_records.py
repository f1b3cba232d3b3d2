"""The records an analysis of one ticker is made of: bars, indicators, checks, levels, verdicts.

Plain frozen dataclasses filled by ``analysis.analyze_ticker`` and drawn by ``analysis_view``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from momentum.core.config import ExitConfig
from momentum.core.domain import (Asset, AssetType, EntryOrder, ExitReason, Position, Rejection,
                                  Trade)

@dataclass(frozen=True, slots=True)
class TradeRow:
    """One row of trades.csv (a backtest output or the paper portfolio); exits None while open."""

    ticker: str
    asset_type: AssetType
    entry_date: date
    entry_price: Decimal
    quantity: Decimal
    exit_date: date | None = None
    exit_price: Decimal | None = None
    exit_reason: ExitReason | None = None
    pnl: Decimal | None = None

    @classmethod
    def of(cls, t: Trade) -> TradeRow:
        """The trades.csv row of a Trade (R5.6 P&L)."""
        return cls(ticker=t.ticker, asset_type=t.asset_type, entry_date=t.entry_date,
                   entry_price=t.entry_price, quantity=t.quantity, exit_date=t.exit_date,
                   exit_price=t.exit_price, exit_reason=t.exit_reason, pnl=t.pnl)


@dataclass(frozen=True, slots=True)
class BarRow:
    day: date
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class IndicatorValues:
    """The R2 indicators at the asset's last bar dated <= its class's current date."""

    bar_date: date
    bar_count: int
    close: float
    rsi14: float
    momentum: float
    roc126: float
    roc63: float
    roc21: float
    adv20_usd: float
    surge_ratio: float


@dataclass(frozen=True, slots=True)
class Check:
    """One rule test with its numbers: `value op threshold` -> passed; `unit` (usd, ratio, pct,
    count, qty, times, number, date, text) says how to show them; "in" takes a (low, high)."""

    rule: str
    name: str
    value: Any
    op: str
    threshold: Any
    passed: bool
    unit: str = "number"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ScanStanding:
    """The asset in a full scan of the day (R3.3-R3.6)."""

    score: float | None
    ref_size: int            # eligible assets of its class the score is measured against
    threshold: float
    rank: int | None         # among the day's assets at or above the threshold, all classes
    passed_count: int
    candidate: bool
    reasons: tuple[str, ...]  # why it is not a candidate (empty when it is)


@dataclass(frozen=True, slots=True)
class EntryConditions:
    """R4.1 on the day's bar: each condition and the verdict of `is_entry_signal`."""

    checks: tuple[Check, ...]
    signal: bool


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """What RiskManager decides for this one signal against the book (R6.1-R6.6)."""

    book: str                # where the book comes from, in words
    considered: bool         # the engine would ask: a candidate with an entry signal
    equity: Decimal
    close: Decimal
    risk_per_trade: float
    stop_loss_pct: float
    quantity: Decimal
    checks: tuple[Check, ...]  # in rule order; the verdict comes from approve_entries
    order: EntryOrder | None
    rejection: Rejection | None

    @property
    def approved(self) -> bool:
        return self.order is not None


@dataclass(frozen=True, slots=True)
class Level:
    """A price level and how far it is from the last close: (price - close) / close."""

    name: str
    price: Decimal
    distance: float | None


@dataclass(frozen=True, slots=True)
class HeldPosition:
    """A held position's resting levels (R4.2-R4.5) against the last close <= the day."""

    position: Position
    last_close: Decimal
    trailing_active: bool
    levels: tuple[Level, ...]


@dataclass(frozen=True, slots=True)
class TradeAnalysis:
    """Everything `analyze-trade` shows for one ticker on one day."""

    ticker: str
    day: date
    bar_date: date               # the class's current date (R3.0; crypto may be the day before)
    asset: Asset
    bars: tuple[BarRow, ...]
    indicators: IndicatorValues | None  # None: no bar up to the day
    eligibility: tuple[Check, ...]
    eligible: bool               # eligible_mask's verdict (R3.1/R3.2 with R2.7)
    scan: ScanStanding
    entry: EntryConditions | None
    risk: RiskDecision | None
    held: HeldPosition | None
    pending_entry: EntryOrder | None
    what_if_levels: tuple[Level, ...]  # exit levels at the close when it would be entered now
    trades: tuple[TradeRow, ...]
    notes: tuple[str, ...]
    exit_rules: ExitConfig
    trades_source: str = ""      # where the trade history comes from, in words

    @property
    def levels(self) -> tuple[Level, ...]:
        """The levels to draw: the held position's, else the what-if entry's."""
        return self.held.levels if self.held is not None else self.what_if_levels
