"""Domain types, named the way a trader talks about them.

Money (cash, prices at fills, commissions, P&L, equity) and quantities are ``Decimal`` everywhere
and never rounded inside the rules (STRATEGY R5.7). Indicator values stay float64.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import overload

from momentum.core.errors import TickerError
from momentum.core.slots import direct_init

# Letters, digits, '.', '-' (BRK.B, BRK-B). A leading letter or digit keeps '..' and '-x' out of
# paths.
_TICKER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,19}")  # fullmatch: no "$" before a newline


def validate_ticker(symbol: str) -> str:
    """Return the upper-cased ticker, or raise TickerError before it can touch a path or URL."""
    if not isinstance(symbol, str) or not _TICKER_RE.fullmatch(symbol) or ".." in symbol:
        raise TickerError(
            f"invalid ticker {symbol!r}: use 1-20 letters, digits, '.' or '-' "
            f"(e.g. AAPL, BRK-B, BTCUSD)"
        )
    return symbol.upper()


class AssetType(str, Enum):
    STOCK = "stock"
    CRYPTO = "crypto"
    ETF = "etf"  # benchmarks only; never traded (R1.3)

    @property
    def tradable(self) -> bool:
        return self is not AssetType.ETF


class Side(str, Enum):
    BUY = "buy"
    SELL = "sell"


class ExitReason(str, Enum):
    STOP_LOSS = "stop_loss"
    PROFIT_TARGET = "profit_target"
    TRAILING_STOP = "trailing_stop"
    MOMENTUM_FADE = "momentum_fade"
    TIME_EXIT = "time_exit"
    DELISTED = "delisted"
    KILL_SWITCH = "kill_switch"  # `paper --halt --flatten`: market exit at the next open


class RejectReason(str, Enum):
    DAILY_LOSS_LIMIT = "daily_loss_limit"      # R6.1
    MAX_POSITIONS = "max_positions"            # R6.2
    SIZE_ZERO = "size_zero"                    # R6.3
    PORTFOLIO_EXPOSURE = "portfolio_exposure"  # R6.4
    SECTOR_EXPOSURE = "sector_exposure"        # R6.5
    INSUFFICIENT_CASH = "insufficient_cash"    # R6.6 at approval, R5.3 at the fill
    NO_FILL = "no_fill"                        # R5.5
    HALTED = "halted"                          # kill switch (`paper --halt`), rule "halt"


@dataclass(frozen=True, slots=True)
class Halt:
    """A kill-switch halt (`paper --halt`): no new entries from the step after `after_step`."""

    halted_at: str                 # ISO timestamp of the command
    reason: str
    flatten: bool                  # every position got a kill_switch exit at its next open
    after_step: date | None        # the last step done when it was issued (None: before any)
    cancelled: tuple[str, ...] = ()  # pending entries cancelled at once
    resumed_at: str | None = None  # `paper --resume`: ISO timestamp
    resumed_after: date | None = None  # the last step done when it was lifted

    @property
    def active(self) -> bool:
        return self.resumed_at is None


@dataclass(frozen=True, slots=True)
class Asset:
    ticker: str
    asset_type: AssetType
    sector: str                    # crypto: "Crypto"; a stock without one: "Unknown" (R1.3)
    market_cap: float | None = None  # dollars; None = unknown, not eligible


@direct_init
@dataclass(frozen=True, slots=True)
class Fill:
    """One execution in the paper broker (R5)."""

    ticker: str
    side: Side
    day: date                      # the bar date the fill happened on
    price: Decimal                 # after slippage (R5.1)
    quantity: Decimal              # whole shares / 6 dp crypto (R5.2)
    commission: Decimal
    reason: ExitReason | None = None  # exits only

    @property
    def notional(self) -> Decimal:
        return self.price * self.quantity


@dataclass(frozen=True, slots=True)
class EntryOrder:
    """An approved entry waiting for the open of the asset's first bar after its decision bar."""

    ticker: str
    asset_type: AssetType
    sector: str
    decided_on: date               # the step date
    decision_bar_date: date        # the bar the decision used; fills on the first bar after it
    quantity: Decimal
    score: float
    reference_close: Decimal       # close of the decision bar (values the order in R6)
    reserved_cash: Decimal         # R6.6: qty * close * (1 + slippage + commission)
    sequence: int                  # strength order within its decision day (R5.4)


@direct_init
@dataclass(frozen=True, slots=True)
class Position:
    """An open position with its resting exit levels (R4.2-R4.5)."""

    ticker: str
    asset_type: AssetType
    sector: str
    entry_date: date               # fill date
    entry_price: Decimal           # fill price after slippage: F
    quantity: Decimal
    entry_commission: Decimal
    stop_price: Decimal            # F * (1 - stop_loss)
    target_price: Decimal          # F * (1 + profit_target)
    highest_high: Decimal          # since entry, entry bar included
    trailing_stop: Decimal | None  # None until activated (R4.3)
    last_close: Decimal            # close of the last processed bar: marks to market
    last_bar_date: date            # watermark: bars after it are still to be processed
    entry_score: float = 0.0
    pending_exit: ExitReason | None = None  # momentum fade / time exit waiting for the next open
    missed_steps: int = 0          # R4.6 delisting counter

    @property
    def market_value(self) -> Decimal:
        return self.quantity * self.last_close

    @property
    def protective_stop(self) -> Decimal:
        """The resting stop: max(stop, trail) when the trail is active (R4.5.1)."""
        if self.trailing_stop is not None and self.trailing_stop > self.stop_price:
            return self.trailing_stop
        return self.stop_price

    @property
    def unrealized_pnl(self) -> Decimal:
        return (self.last_close - self.entry_price) * self.quantity - self.entry_commission


@dataclass(frozen=True, slots=True)
class Trade:
    """One row of trades.csv: a position from entry to exit (exit fields None while open)."""

    ticker: str
    asset_type: AssetType
    sector: str
    entry_date: date
    entry_price: Decimal
    quantity: Decimal
    entry_commission: Decimal
    exit_date: date | None = None
    exit_price: Decimal | None = None
    exit_commission: Decimal | None = None
    exit_reason: ExitReason | None = None

    @property
    def is_open(self) -> bool:
        return self.exit_date is None

    @property
    def pnl(self) -> Decimal | None:
        """R5.6: (exit - entry) * qty - both commissions; None while open."""
        if self.exit_price is None or self.exit_commission is None:
            return None
        return ((self.exit_price - self.entry_price) * self.quantity
                - self.entry_commission - self.exit_commission)

    @property
    def return_pct(self) -> Decimal | None:
        pnl = self.pnl
        if pnl is None:
            return None
        return pnl / (self.entry_price * self.quantity)

    @property
    def days_held(self) -> int | None:
        return None if self.exit_date is None else (self.exit_date - self.entry_date).days


@direct_init
@dataclass(frozen=True, slots=True)
class Rejection:
    """An entry signal that was not taken, with the rule and a sentence saying why."""

    day: date
    ticker: str
    reason: RejectReason
    rule: str                      # e.g. "R6.4"
    detail: str = ""               # e.g. "gross exposure 0.31 > max 0.25"


@direct_init
@dataclass(frozen=True, slots=True)
class Candidate:
    """A scanned asset that passed the momentum threshold on a day (R3)."""

    ticker: str
    asset_type: AssetType
    sector: str
    score: float
    momentum: float
    rsi14: float
    adv20_usd: float
    surge_ratio: float
    close: float
    bar_date: date


class Candidates(Sequence[Candidate]):
    """A day's candidates (R3.6) in rank order: a read-only sequence whose Candidates are
    built when first read.

    The scan ranks arrays; R4.1 then needs two numbers of each candidate (rsi14_and_surge), so
    a backtest builds only the one or two a day that signal: building all ~15 was an eighth of
    the daily step. Reading one builds the same Candidate the scan would have built (it keeps
    the numbers, not the market). Compares equal to a tuple or list of the same Candidates,
    hashes like the tuple and pickles as its Candidates.
    """

    __slots__ = ("_assets", "_days", "_scores", "_values", "_built")

    def __init__(self, assets: Sequence[Asset], days: Sequence[date], scores: Sequence[float],
                 values: Sequence[Sequence[float]]) -> None:
        """`values`: the momentum, adv20_usd, rsi14, surge_ratio and close of each, by field."""
        self._assets, self._days, self._scores, self._values = assets, days, scores, values
        self._built: list[Candidate | None] = [None] * len(assets)

    @classmethod
    def of(cls, candidates: Iterable[Candidate]) -> Candidates:
        items = tuple(candidates)
        out = cls([Asset(c.ticker, c.asset_type, c.sector) for c in items],
                  [c.bar_date for c in items], [c.score for c in items],
                  [[getattr(c, f) for c in items] for f in _VALUE_FIELDS])
        out._built = list(items)
        return out

    def rsi14_and_surge(self) -> Iterator[tuple[float, float]]:
        """(rsi14, surge_ratio) of each candidate, in order, without building one."""
        return zip(self._values[2], self._values[3], strict=True)

    def __len__(self) -> int:
        return len(self._built)

    @overload
    def __getitem__(self, i: int) -> Candidate: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[Candidate, ...]: ...
    def __getitem__(self, i: int | slice) -> Candidate | tuple[Candidate, ...]:
        if isinstance(i, slice):
            return tuple(self[k] for k in range(*i.indices(len(self))))
        built = self._built[i]
        if built is None:
            k = range(len(self))[i]
            a, (m, adv, rsi, surge, close) = self._assets[k], (v[k] for v in self._values)
            built = self._built[k] = Candidate(a.ticker, a.asset_type, a.sector,
                                               self._scores[k], m, rsi, adv, surge, close,
                                               self._days[k])
        return built

    def __iter__(self) -> Iterator[Candidate]:
        return (self[k] for k in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Candidates | tuple | list):
            return len(self) == len(other) and all(a is b or a == b  # as a tuple compares
                                                  for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"Candidates({list(self)!r})"

    def __reduce__(self) -> tuple:
        return Candidates.of, (tuple(self),)


_VALUE_FIELDS = ("momentum", "adv20_usd", "rsi14", "surge_ratio", "close")


@dataclass(frozen=True, slots=True)
class EntrySignal:
    """R4.1: a candidate whose RSI (and volume surge) fit the entry window."""

    candidate: Candidate

    @property
    def ticker(self) -> str:
        return self.candidate.ticker

    @property
    def strength(self) -> float:
        return self.candidate.score


@dataclass(slots=True)
class DayResult:
    """What one daily step did (R7), in the order it happened."""

    day: date
    fills: list[Fill] = field(default_factory=list)
    entries: list[EntryOrder] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    candidates: Sequence[Candidate] = ()
    signals: list[EntrySignal] = field(default_factory=list)
    full_scan: bool = False
    equity: Decimal = Decimal(0)
    cash: Decimal = Decimal(0)
    previous_equity: Decimal | None = None
    gross_exposure: Decimal = Decimal(0)
    sector_exposure: dict[str, Decimal] = field(default_factory=dict)
    data_dates: dict[str, date] = field(default_factory=dict)  # asset type -> bar date used
    skipped: list[str] = field(default_factory=list)  # "TICKER: why" for assets left out today

    @property
    def daily_pnl(self) -> Decimal:
        return Decimal(0) if self.previous_equity is None else self.equity - self.previous_equity
