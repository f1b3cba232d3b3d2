"""RiskManager (STRATEGY R6): approve or reject each entry signal of a day, in strength order."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from momentum.core.config import ExitConfig, RiskConfig, TradingConfig
from momentum.core.domain import AssetType, EntryOrder, EntrySignal, Rejection, RejectReason
from momentum.core.money import ONE, ZERO, floor_qty, to_money
from momentum.rules.portfolio import Portfolio


@dataclass(slots=True)
class RiskBook:
    """The portfolio as R6 sees it on day D, grown by each entry approved that day."""

    equity: Decimal
    previous_equity: Decimal | None
    free_cash: Decimal                 # cash not reserved by pending entries
    open_count: int                    # positions (pending exits included) + pending entries
    gross_value: Decimal               # positions at last close + pending entries at close_D
    sector_values: dict[str, Decimal] = field(default_factory=dict)

    @classmethod
    def of(cls, portfolio: Portfolio, previous_equity: Decimal | None) -> "RiskBook":
        sectors = portfolio.sector_values()
        return cls(equity=portfolio.equity, previous_equity=previous_equity,
                   free_cash=portfolio.cash - portfolio.reserved_cash,
                   open_count=len(portfolio.positions) + len(portfolio.pending_entries),
                   gross_value=sum(sectors.values(), ZERO), sector_values=sectors)


class RiskManager:
    """Sizes entries and enforces the portfolio limits of R6."""

    def __init__(self, risk: RiskConfig, exit: ExitConfig, trading: TradingConfig) -> None:
        self.cfg = risk
        self.exit = exit
        self.trading = trading
        self._risk_per_trade = to_money(risk.risk_per_trade)
        self._max_gross = to_money(risk.max_portfolio_exposure)
        self._max_sector = to_money(risk.max_sector_exposure)
        self._loss_floor = ONE - to_money(risk.max_daily_loss)

    def breaker_tripped(self, equity: Decimal, previous_equity: Decimal | None) -> bool:
        """R6.1: today's equity is at or below yesterday's less the daily loss limit."""
        return previous_equity is not None and equity <= previous_equity * self._loss_floor

    def position_size(self, equity: Decimal, close: Decimal, asset_type: AssetType) -> Decimal:
        """R6.3: floor_qty(equity * risk_per_trade / (close * stop_loss_pct))."""
        stop = to_money(self.exit.stop_loss(asset_type))
        return floor_qty(equity * self._risk_per_trade / (close * stop), asset_type)

    def entry_cost(self, quantity: Decimal, close: Decimal, asset_type: AssetType) -> Decimal:
        """R6.6: qty * close * (1 + slippage + commission), the cash an entry reserves."""
        rates = (to_money(self.trading.slippage(asset_type))
                 + to_money(self.trading.commission(asset_type)))
        return quantity * close * (ONE + rates)

    def approve_entries(self, day: date, signals: Sequence[EntrySignal],
                        book: RiskBook) -> tuple[list[EntryOrder], list[Rejection]]:
        """Check each signal in strength order against R6.1-R6.6; approved ones grow the book."""
        approved: list[EntryOrder] = []
        rejected: list[Rejection] = []
        tripped = self.breaker_tripped(book.equity, book.previous_equity)
        for signal in sorted(signals, key=lambda s: (-s.strength, s.ticker)):
            if tripped:
                rejected.append(self._daily_loss_rejection(day, signal, book))
                continue
            outcome = self._check(day, signal, book, len(approved))
            if isinstance(outcome, Rejection):
                rejected.append(outcome)
            else:
                approved.append(outcome)
                self._book(book, outcome)
        return approved, rejected

    def _daily_loss_rejection(self, day: date, signal: EntrySignal, book: RiskBook) -> Rejection:
        assert book.previous_equity is not None
        change = book.equity / book.previous_equity - ONE
        return Rejection(day, signal.ticker, RejectReason.DAILY_LOSS_LIMIT, "R6.1",
                         f"equity {_pct(change)} since the last step <= "
                         f"-{_pct(ONE - self._loss_floor)}")

    def _check(self, day: date, signal: EntrySignal, book: RiskBook,
               sequence: int) -> EntryOrder | Rejection:
        c = signal.candidate
        close = to_money(c.close)

        def reject(reason: RejectReason, rule: str, detail: str) -> Rejection:
            return Rejection(day, c.ticker, reason, rule, detail)

        if book.open_count >= self.cfg.max_positions:
            return reject(RejectReason.MAX_POSITIONS, "R6.2",
                          f"{book.open_count} open or pending >= max {self.cfg.max_positions}")
        qty = self.position_size(book.equity, close, c.asset_type)
        if qty <= ZERO:
            return reject(RejectReason.SIZE_ZERO, "R6.3",
                          f"size rounds to 0 at close {close} with equity {book.equity:.2f}")
        value = qty * close
        gross = book.gross_value + value
        if gross > self._max_gross * book.equity:
            return reject(RejectReason.PORTFOLIO_EXPOSURE, "R6.4",
                          f"gross exposure {_ratio(gross, book.equity)} > max {self._max_gross}")
        sector = book.sector_values.get(c.sector, ZERO) + value
        if sector > self._max_sector * book.equity:
            return reject(RejectReason.SECTOR_EXPOSURE, "R6.5",
                          f"{c.sector} exposure {_ratio(sector, book.equity)} > max "
                          f"{self._max_sector}")
        cost = self.entry_cost(qty, close, c.asset_type)
        if cost > book.free_cash:
            return reject(RejectReason.INSUFFICIENT_CASH, "R6.6",
                          f"needs {cost:.2f} > free cash {book.free_cash:.2f}")
        return EntryOrder(ticker=c.ticker, asset_type=c.asset_type, sector=c.sector, decided_on=day,
                          decision_bar_date=c.bar_date, quantity=qty, score=c.score,
                          reference_close=close, reserved_cash=cost, sequence=sequence)

    @staticmethod
    def _book(book: RiskBook, order: EntryOrder) -> None:
        value = order.quantity * order.reference_close
        book.open_count += 1
        book.gross_value += value
        book.sector_values[order.sector] = book.sector_values.get(order.sector, ZERO) + value
        book.free_cash -= order.reserved_cash


def _ratio(value: Decimal, equity: Decimal) -> str:
    return f"{value / equity:.4f}" if equity > 0 else "inf"


def _pct(x: Decimal) -> str:
    return f"{x * 100:.2f}%"
