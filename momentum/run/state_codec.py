"""Exact JSON encoding of the engine state: Decimal as text, floats by repr, dates as ISO.

Every ``encode_*`` has a ``decode_*`` that rebuilds an equal object; decoding checks types and
raises ``StateError`` naming the field when something is missing or malformed.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from momentum.core.domain import (AssetType, EntryOrder, ExitReason, Fill, Halt, Position,
                                  Rejection, RejectReason, Side, Trade)
from momentum.core.errors import StateError
from momentum.core.money import money_str
from momentum.rules.portfolio import Portfolio
from momentum.rules.scanner import ScanCache
from momentum.run.engine import EngineState, EquityPoint


# ---------------------------------------------------------------- primitives
def _dec(v: Decimal | None) -> str | None:
    return None if v is None else money_str(v)


def _day(v: date | None) -> str | None:
    return None if v is None else v.isoformat()


class _Reader:
    """Reads fields of one JSON object, naming the path in every error."""

    def __init__(self, obj: Any, path: str) -> None:
        if not isinstance(obj, dict):
            raise StateError(f"{path}: expected an object, found {type(obj).__name__}")
        self.obj, self.path = obj, path

    def raw(self, key: str) -> Any:
        if key not in self.obj:
            raise StateError(f"{self.path}.{key}: missing")
        return self.obj[key]

    def decimal(self, key: str, optional: bool = False) -> Decimal | None:
        v = self.raw(key)
        if v is None and optional:
            return None
        try:
            d = Decimal(v) if isinstance(v, str) else None
        except InvalidOperation:
            d = None
        if d is None or not d.is_finite():
            raise StateError(f"{self.path}.{key}: not a decimal amount ({v!r})")
        return d

    def day(self, key: str, optional: bool = False) -> date | None:
        v = self.raw(key)
        if v is None and optional:
            return None
        try:
            return date.fromisoformat(v)
        except (TypeError, ValueError):
            raise StateError(f"{self.path}.{key}: not a date ({v!r})") from None

    def text(self, key: str) -> str:
        v = self.raw(key)
        if not isinstance(v, str):
            raise StateError(f"{self.path}.{key}: not text ({v!r})")
        return v

    def number(self, key: str) -> float:
        v = self.raw(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise StateError(f"{self.path}.{key}: not a number ({v!r})")
        return float(v)

    def integer(self, key: str) -> int:
        v = self.raw(key)
        if isinstance(v, bool) or not isinstance(v, int):
            raise StateError(f"{self.path}.{key}: not a whole number ({v!r})")
        return v

    def enum(self, key: str, kind: type, optional: bool = False):
        v = self.raw(key)
        if v is None and optional:
            return None
        try:
            return kind(v)
        except ValueError:
            raise StateError(f"{self.path}.{key}: unknown value {v!r}") from None

    def items(self, key: str) -> list[Any]:
        v = self.raw(key)
        if not isinstance(v, list):
            raise StateError(f"{self.path}.{key}: expected a list")
        return v


# ---------------------------------------------------------------- domain objects
def encode_position(p: Position) -> dict[str, Any]:
    return {"ticker": p.ticker, "asset_type": p.asset_type.value, "sector": p.sector,
            "entry_date": _day(p.entry_date), "entry_price": _dec(p.entry_price),
            "quantity": _dec(p.quantity), "entry_commission": _dec(p.entry_commission),
            "stop_price": _dec(p.stop_price), "target_price": _dec(p.target_price),
            "highest_high": _dec(p.highest_high), "trailing_stop": _dec(p.trailing_stop),
            "last_close": _dec(p.last_close), "last_bar_date": _day(p.last_bar_date),
            "entry_score": p.entry_score,
            "pending_exit": p.pending_exit.value if p.pending_exit else None,
            "missed_steps": p.missed_steps}


def decode_position(obj: Any, path: str) -> Position:
    r = _Reader(obj, path)
    return Position(ticker=r.text("ticker"), asset_type=r.enum("asset_type", AssetType),
                    sector=r.text("sector"), entry_date=r.day("entry_date"),
                    entry_price=r.decimal("entry_price"), quantity=r.decimal("quantity"),
                    entry_commission=r.decimal("entry_commission"),
                    stop_price=r.decimal("stop_price"), target_price=r.decimal("target_price"),
                    highest_high=r.decimal("highest_high"),
                    trailing_stop=r.decimal("trailing_stop", optional=True),
                    last_close=r.decimal("last_close"), last_bar_date=r.day("last_bar_date"),
                    entry_score=r.number("entry_score"),
                    pending_exit=r.enum("pending_exit", ExitReason, optional=True),
                    missed_steps=r.integer("missed_steps"))


def encode_order(o: EntryOrder) -> dict[str, Any]:
    return {"ticker": o.ticker, "asset_type": o.asset_type.value, "sector": o.sector,
            "decided_on": _day(o.decided_on), "decision_bar_date": _day(o.decision_bar_date),
            "quantity": _dec(o.quantity), "score": o.score,
            "reference_close": _dec(o.reference_close), "reserved_cash": _dec(o.reserved_cash),
            "sequence": o.sequence}


def decode_order(obj: Any, path: str) -> EntryOrder:
    r = _Reader(obj, path)
    return EntryOrder(ticker=r.text("ticker"), asset_type=r.enum("asset_type", AssetType),
                      sector=r.text("sector"), decided_on=r.day("decided_on"),
                      decision_bar_date=r.day("decision_bar_date"),
                      quantity=r.decimal("quantity"), score=r.number("score"),
                      reference_close=r.decimal("reference_close"),
                      reserved_cash=r.decimal("reserved_cash"), sequence=r.integer("sequence"))


def encode_trade(t: Trade) -> dict[str, Any]:
    return {"ticker": t.ticker, "asset_type": t.asset_type.value, "sector": t.sector,
            "entry_date": _day(t.entry_date), "entry_price": _dec(t.entry_price),
            "quantity": _dec(t.quantity), "entry_commission": _dec(t.entry_commission),
            "exit_date": _day(t.exit_date), "exit_price": _dec(t.exit_price),
            "exit_commission": _dec(t.exit_commission),
            "exit_reason": t.exit_reason.value if t.exit_reason else None}


def decode_trade(obj: Any, path: str) -> Trade:
    r = _Reader(obj, path)
    return Trade(ticker=r.text("ticker"), asset_type=r.enum("asset_type", AssetType),
                 sector=r.text("sector"), entry_date=r.day("entry_date"),
                 entry_price=r.decimal("entry_price"), quantity=r.decimal("quantity"),
                 entry_commission=r.decimal("entry_commission"),
                 exit_date=r.day("exit_date", optional=True),
                 exit_price=r.decimal("exit_price", optional=True),
                 exit_commission=r.decimal("exit_commission", optional=True),
                 exit_reason=r.enum("exit_reason", ExitReason, optional=True))


def encode_fill(f: Fill) -> dict[str, Any]:
    return {"ticker": f.ticker, "side": f.side.value, "day": _day(f.day), "price": _dec(f.price),
            "quantity": _dec(f.quantity), "commission": _dec(f.commission),
            "reason": f.reason.value if f.reason else None}


def decode_fill(obj: Any, path: str) -> Fill:
    r = _Reader(obj, path)
    return Fill(ticker=r.text("ticker"), side=r.enum("side", Side), day=r.day("day"),
                price=r.decimal("price"), quantity=r.decimal("quantity"),
                commission=r.decimal("commission"),
                reason=r.enum("reason", ExitReason, optional=True))


def encode_rejection(j: Rejection) -> dict[str, Any]:
    return {"day": _day(j.day), "ticker": j.ticker, "reason": j.reason.value, "rule": j.rule,
            "detail": j.detail}


def decode_rejection(obj: Any, path: str) -> Rejection:
    r = _Reader(obj, path)
    return Rejection(day=r.day("day"), ticker=r.text("ticker"),
                     reason=r.enum("reason", RejectReason), rule=r.text("rule"),
                     detail=r.text("detail"))


def encode_halt(h: Halt) -> dict[str, Any]:
    return {"halted_at": h.halted_at, "reason": h.reason, "flatten": h.flatten,
            "after_step": _day(h.after_step), "cancelled": list(h.cancelled),
            "resumed_at": h.resumed_at, "resumed_after": _day(h.resumed_after)}


def decode_halt(obj: Any, path: str) -> Halt:
    r = _Reader(obj, path)
    flatten, cancelled, resumed = r.raw("flatten"), r.items("cancelled"), r.raw("resumed_at")
    if not isinstance(flatten, bool):
        raise StateError(f"{path}.flatten: not true/false ({flatten!r})")
    if not all(isinstance(t, str) for t in cancelled):
        raise StateError(f"{path}.cancelled: expected tickers")
    return Halt(halted_at=r.text("halted_at"), reason=r.text("reason"), flatten=flatten,
                after_step=r.day("after_step", optional=True), cancelled=tuple(cancelled),
                resumed_at=None if resumed is None else r.text("resumed_at"),
                resumed_after=r.day("resumed_after", optional=True))


def encode_cache(c: ScanCache | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"full_scan_date": _day(c.full_scan_date), "candidates": list(c.candidates),
            "refs": {t.value: list(v) for t, v in c.refs.items()}}


def decode_cache(obj: Any, path: str) -> ScanCache | None:
    if obj is None:
        return None
    r = _Reader(obj, path)
    refs_obj = _Reader(r.raw("refs"), f"{path}.refs")
    refs = {}
    for key in refs_obj.obj:
        values = refs_obj.items(key)
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in values):
            raise StateError(f"{path}.refs.{key}: expected numbers")
        try:
            refs[AssetType(key)] = tuple(float(x) for x in values)
        except ValueError:
            raise StateError(f"{path}.refs: unknown asset type {key!r}") from None
    candidates = r.items("candidates")
    if not all(isinstance(t, str) for t in candidates):
        raise StateError(f"{path}.candidates: expected tickers")
    return ScanCache(full_scan_date=r.day("full_scan_date"), candidates=tuple(candidates),
                     refs=refs)


# ---------------------------------------------------------------- the whole engine state
def encode_state(state: EngineState) -> dict[str, Any]:
    """The engine state as JSON-ready data (exact: money as Decimal text)."""
    book = state.portfolio
    encoded = {
        "date": _day(state.last_step),
        "initial_capital": _dec(state.initial_capital),
        "paper_portfolio": {"cash": _dec(book.cash), "value": _dec(book.equity),
                            "positions": [encode_position(p) for p in book.positions.values()]},
        "pending_entries": [encode_order(o) for o in book.pending_entries],
        "closed_trades": [encode_trade(t) for t in book.closed_trades],
        "scan_cache": encode_cache(state.scan_cache),
        "equity_curve": [[_day(p.day), _dec(p.equity), _dec(p.cash)] for p in state.equity_curve],
        "fills": [encode_fill(f) for f in state.fills],
        "rejections": [encode_rejection(j) for j in state.rejections],
        "risk": {"daily_loss_baseline": _dec(state.previous_equity)},
        "halts": [encode_halt(h) for h in state.halts],
    }
    if state.left_out:  # only after an --allow-partial day: older files stay byte-identical
        encoded["left_out"] = {day: dict(gaps) for day, gaps in state.left_out.items()}
    return encoded


def decode_state(obj: Any, path: str = "state") -> EngineState:
    """Rebuild an EngineState from `encode_state` data, checking every field."""
    r = _Reader(obj, path)
    pp = _Reader(r.raw("paper_portfolio"), f"{path}.paper_portfolio")
    positions = [decode_position(p, f"{path}.paper_portfolio.positions[{i}]")
                 for i, p in enumerate(pp.items("positions"))]
    book = Portfolio(
        cash=pp.decimal("cash"), positions={p.ticker: p for p in positions},
        pending_entries=[decode_order(o, f"{path}.pending_entries[{i}]")
                         for i, o in enumerate(r.items("pending_entries"))],
        closed_trades=[decode_trade(t, f"{path}.closed_trades[{i}]")
                       for i, t in enumerate(r.items("closed_trades"))])
    curve = [_equity_point(p, f"{path}.equity_curve[{i}]")
             for i, p in enumerate(r.items("equity_curve"))]
    state = EngineState(
        portfolio=book, initial_capital=r.decimal("initial_capital"),
        scan_cache=decode_cache(r.raw("scan_cache"), f"{path}.scan_cache"),
        last_step=r.day("date", optional=True), equity_curve=curve,
        fills=[decode_fill(f, f"{path}.fills[{i}]") for i, f in enumerate(r.items("fills"))],
        rejections=[decode_rejection(j, f"{path}.rejections[{i}]")
                    for i, j in enumerate(r.items("rejections"))],
        left_out=_left_out(obj.get("left_out", {}), f"{path}.left_out"),
        halts=_halts(r, path))
    _check_consistency(state, pp.decimal("value"), r, path)
    return state


def _halts(r: _Reader, path: str) -> list[Halt]:
    if "halts" not in r.obj:  # snapshots written before the kill switch existed
        return []
    return [decode_halt(h, f"{path}.halts[{i}]") for i, h in enumerate(r.items("halts"))]


def _equity_point(item: Any, path: str) -> EquityPoint:
    if not isinstance(item, list) or len(item) != 3:
        raise StateError(f"{path}: expected [date, equity, cash]")
    r = _Reader({"day": item[0], "equity": item[1], "cash": item[2]}, path)
    return EquityPoint(r.day("day"), r.decimal("equity"), r.decimal("cash"))


def _check_consistency(state: EngineState, value: Decimal, r: _Reader, path: str) -> None:
    """Invariants a hand edit would break even with a recomputed checksum."""
    book = state.portfolio
    if book.cash < 0:
        raise StateError(f"{path}.paper_portfolio.cash: negative ({book.cash})")
    if book.equity != value:
        raise StateError(f"{path}.paper_portfolio.value: {value} is not cash + positions "
                         f"({book.equity})")
    days = [p.day for p in state.equity_curve]
    if days != sorted(set(days)):
        raise StateError(f"{path}.equity_curve: dates are not strictly ascending")
    if state.equity_curve:
        last = state.equity_curve[-1]
        if last.day != state.last_step:
            raise StateError(f"{path}.date: {state.last_step} is not the last equity date "
                             f"{last.day}")
        if (last.equity, last.cash) != (value, book.cash):
            raise StateError(f"{path}.equity_curve: the last point ({last.equity}, {last.cash}) "
                             f"does not match the portfolio ({value}, {book.cash})")
    baseline = _Reader(r.raw("risk"), f"{path}.risk").decimal("daily_loss_baseline", optional=True)
    if baseline != state.previous_equity:
        raise StateError(f"{path}.risk.daily_loss_baseline: {baseline} does not match the last "
                         f"recorded equity {state.previous_equity}")


def _left_out(obj: Any, path: str) -> dict[str, dict[str, str]]:
    ok = isinstance(obj, dict) and all(
        isinstance(day, str) and isinstance(gaps, dict)
        and all(isinstance(t, str) and isinstance(why, str) for t, why in gaps.items())
        for day, gaps in obj.items())
    if not ok:
        raise StateError(f"{path}: expected {{day: {{ticker: reason}}}}")
    return {day: dict(gaps) for day, gaps in obj.items()}
