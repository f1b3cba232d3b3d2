"""The replay check of a saved state: its cash, positions and equity must follow from its
initial capital and its fill history (R5.7). state_codec already checks that equity, the last
equity point and the loss baseline agree with the cash; this closes the loop to the fills.

A snapshot whose checksum is right but whose numbers do not add up was edited by hand (the
checksum is not keyed: anyone who can write the file can recompute it) or written by a bug;
either way it must not be traded on.
"""
from __future__ import annotations

from decimal import Decimal

from momentum.core.domain import Side
from momentum.core.errors import StateError
from momentum.run.engine import EngineState


def check_ledger(engine: EngineState) -> None:
    """Replay the fills from the initial capital; StateError naming the first disagreement."""
    cash, held = _replay(engine)
    book = engine.portfolio
    if cash != book.cash:
        raise StateError(f"cash {book.cash} does not follow from the initial capital "
                         f"{engine.initial_capital} and the {len(engine.fills)} fills "
                         f"(replayed: {cash})")
    if set(held) != set(book.positions):
        extra = sorted(set(book.positions) ^ set(held))
        raise StateError(f"open positions do not follow from the fills ({', '.join(extra[:5])})")
    for ticker, quantity in held.items():
        if book.positions[ticker].quantity != quantity:
            raise StateError(f"{ticker}: quantity {book.positions[ticker].quantity} does not "
                             f"follow from the fills ({quantity})")
    sells = sum(1 for f in engine.fills if f.side is Side.SELL)
    if sells != len(book.closed_trades):
        raise StateError(f"{len(book.closed_trades)} closed trades for {sells} sell fills")


def _replay(engine: EngineState) -> tuple[Decimal, dict[str, Decimal]]:
    cash, held = engine.initial_capital, {}
    for fill in engine.fills:
        if fill.side is Side.BUY:
            if fill.ticker in held:
                raise StateError(f"fill history buys {fill.ticker} on {fill.day} while it is held")
            cash -= fill.notional + fill.commission
            held[fill.ticker] = fill.quantity
        else:
            if held.pop(fill.ticker, None) is None:
                raise StateError(f"fill history sells {fill.ticker} on {fill.day}, not held")
            cash += fill.notional - fill.commission
    return cash, held
