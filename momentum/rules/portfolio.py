"""The portfolio: the one mutable object. Cash changes only through `apply_fill`."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from momentum.core.domain import EntryOrder, Fill, Position, Side, Trade
from momentum.core.errors import StateError
from momentum.core.money import ZERO


@dataclass(slots=True)
class Portfolio:
    """Cash, open positions, entry orders waiting for their fill, and closed trades."""

    cash: Decimal
    positions: dict[str, Position] = field(default_factory=dict)
    pending_entries: list[EntryOrder] = field(default_factory=list)
    closed_trades: list[Trade] = field(default_factory=list)

    # ------------------------------------------------------------ cash moves
    def apply_fill(self, fill: Fill, opened: Position | None = None) -> Trade | None:
        """Book a fill: a buy opens `opened`; a sell closes the position and returns its Trade."""
        if fill.side is Side.BUY:
            if opened is None or opened.ticker != fill.ticker:
                raise ValueError("a buy fill needs the Position it opens")
            if fill.ticker in self.positions:
                raise StateError(f"{fill.ticker} is already held; a second entry would double it")
            self.cash -= fill.notional + fill.commission
            self.positions[fill.ticker] = opened
            return None
        pos = self.positions.pop(fill.ticker, None)
        if pos is None:
            raise StateError(f"sell fill for {fill.ticker}, which is not held")
        self.cash += fill.notional - fill.commission
        trade = Trade(ticker=pos.ticker, asset_type=pos.asset_type, sector=pos.sector,
                      entry_date=pos.entry_date, entry_price=pos.entry_price,
                      quantity=pos.quantity, entry_commission=pos.entry_commission,
                      exit_date=fill.day, exit_price=fill.price,
                      exit_commission=fill.commission, exit_reason=fill.reason)
        self.closed_trades.append(trade)
        return trade

    # ------------------------------------------------------------ non-cash updates
    def update_position(self, pos: Position) -> None:
        """Replace a held position's levels, marks or counters (never its cash effect)."""
        if pos.ticker not in self.positions:
            raise StateError(f"cannot update {pos.ticker}: not held")
        self.positions[pos.ticker] = pos

    # ------------------------------------------------------------ valuation
    @property
    def market_value(self) -> Decimal:
        return sum((p.market_value for p in self.positions.values()), ZERO)

    @property
    def equity(self) -> Decimal:
        """Cash plus positions at their last close; always computed, never stored."""
        return self.cash + self.market_value

    @property
    def reserved_cash(self) -> Decimal:
        """Cash promised to entry orders not filled yet (R6.6)."""
        return sum((o.reserved_cash for o in self.pending_entries), ZERO)

    def sector_values(self) -> dict[str, Decimal]:
        """Market value per sector of open positions plus pending entries (R6.5)."""
        out: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for p in self.positions.values():
            out[p.sector] += p.market_value
        for o in self.pending_entries:
            out[o.sector] += o.quantity * o.reference_close
        return dict(out)

    def trades(self) -> list[Trade]:
        """Every position ever opened: closed ones, then open ones (exit fields empty)."""
        open_trades = [Trade(ticker=p.ticker, asset_type=p.asset_type, sector=p.sector,
                             entry_date=p.entry_date, entry_price=p.entry_price,
                             quantity=p.quantity, entry_commission=p.entry_commission)
                       for p in sorted(self.positions.values(),
                                       key=lambda p: (p.entry_date, p.ticker))]
        return list(self.closed_trades) + open_trades

    @property
    def held_or_ordered(self) -> set[str]:
        return set(self.positions) | {o.ticker for o in self.pending_entries}
