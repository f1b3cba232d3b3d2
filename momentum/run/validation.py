"""Paper trading vs backtest: a pure comparison of two runs of the daily step (spec 7.2.8).

    compare(paper, backtest, snapshots, window) -> ValidationReport
    render_text(report) -> str                    the .txt report
    to_json(report) -> dict                       the .json report

Both runners call `engine.run_day`, so on the same bars with the same settings every compared
field must be equal: money is Decimal, there is no tolerance. Each `Difference` carries a likely
cause; the paper side is also checked for the risk limits (R6) and for state persistence.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from momentum.core.config import RiskConfig, StrategyConfig
from momentum.core.domain import DayResult, EntryOrder, Fill, Rejection, Trade
from momentum.core.money import ZERO, money_str, to_money
from momentum.rules.portfolio import Portfolio
from momentum.run.state_codec import encode_state

if TYPE_CHECKING:  # annotations only
    from momentum.run.engine import EngineState

MISSING = "(none)"
RULE_SECTIONS = ("scanner", "signals", "risk", "trading")
IGNORED_KEYS = {"risk.initial_capital", "trading.mode"}  # capital is --capital on both sides
DECISIONS = ("sessions", "candidates", "signals", "orders", "rejections")
PRICE_CAUSE = "fill price differs (slippage/commission or bar data)"
COMPARED = ("every session: candidates (ticker, score, order), entry signals, approved orders "
            "(ticker, quantity, reference close), rejections (ticker, reason, rule, order), fills "
            "(ticker, side, date, price, quantity, commission, reason), equity, cash; at the end: "
            "the trade list, realized and total P&L")
Fields = dict[str, str]
Key = tuple[str, str]  # (ticker, qualifier such as the side of a fill or a trade's entry date)
ITEM_NAMES = {"candidates": "candidate", "signals": "signal", "orders": "order",
              "rejections": "rejection", "fills": "fill", "trades": "trade"}


@dataclass(frozen=True, slots=True)
class Difference:
    """One field on which paper trading and the backtest disagree."""

    category: str        # sessions candidates signals orders rejections fills equity cash ...
    day: date | None     # the step date (trades: the entry date)
    ticker: str | None
    field: str
    paper_value: str
    backtest_value: str
    cause: str = ""

    def describe(self) -> str:
        """One line: where, what, both values."""
        what = self.field if self.field != self.category else ""
        where = " ".join(x for x in (str(self.day or ""), self.category, self.ticker, what) if x)
        return f"{where}: paper {self.paper_value} vs backtest {self.backtest_value}"


@dataclass(frozen=True, slots=True)
class CheckFailure:
    day: date
    detail: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A property checked on every paper session it applies to."""

    name: str
    description: str
    checked: int
    failures: tuple[CheckFailure, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One side of the comparison: every step's result, the final state and the settings."""

    days: Sequence[DayResult]
    final: EngineState
    config: StrategyConfig


@dataclass(frozen=True, slots=True)
class PaperSnapshot:
    """The paper state right after a session: as the run held it and as reloaded from disk."""

    day: date
    in_memory: EngineState
    reloaded: EngineState


@dataclass(frozen=True, slots=True)
class ValidationReport:
    start: date
    end: date
    sessions: int
    capital: Decimal
    paper_trades: int
    backtest_trades: int
    paper_final_equity: Decimal
    backtest_final_equity: Decimal
    differences: tuple[Difference, ...]
    checks: tuple[CheckResult, ...]
    config_changes: tuple[str, ...]
    notes: tuple[str, ...] = ()   # what was not compared, or replayed (the --portfolio check)

    @property
    def ok(self) -> bool:
        return not self.differences and all(c.passed for c in self.checks)

    @property
    def first_divergence(self) -> Difference | None:
        """The earliest dated difference (the first listed on that day), else the first one."""
        dated = [d for d in self.differences if d.day is not None]
        if dated:
            return min(dated, key=lambda d: d.day)
        return self.differences[0] if self.differences else None


# ---------------------------------------------------------------- the whole comparison
def compare(paper: RunRecord, backtest: RunRecord, snapshots: Sequence[PaperSnapshot],
            window: tuple[date, date]) -> ValidationReport:
    """Compare the two runs field by field and check the paper side's limits and state."""
    changes = config_changes(paper.config, backtest.config)
    raw = compare_days(paper.days, backtest.days) + compare_final(paper.final, backtest.final)
    checks = (risk_checks(paper.days, snapshots, paper.config.risk)
              + persistence_checks(paper.days, snapshots))
    return ValidationReport(
        start=window[0], end=window[1], sessions=len(backtest.days),
        capital=backtest.final.initial_capital,
        paper_trades=len(paper.final.portfolio.trades()),
        backtest_trades=len(backtest.final.portfolio.trades()),
        paper_final_equity=paper.final.portfolio.equity,
        backtest_final_equity=backtest.final.portfolio.equity,
        differences=tuple(assign_causes(raw, changes)), checks=tuple(checks),
        config_changes=tuple(changes))


def config_changes(paper: StrategyConfig, backtest: StrategyConfig) -> list[str]:
    """The rule settings that differ ('trading.slippage_stock differs: paper 0.002 vs ...')."""
    out: list[str] = []

    def walk(a: Any, b: Any, key: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                walk(a.get(k), b.get(k), f"{key}.{k}" if key else k)
        elif a != b and key not in IGNORED_KEYS:
            out.append(f"{key} differs: paper {a} vs backtest {b}")

    p, b = paper.model_dump(mode="json"), backtest.model_dump(mode="json")
    walk({s: p[s] for s in RULE_SECTIONS}, {s: b[s] for s in RULE_SECTIONS}, "")
    return out


# ---------------------------------------------------------------- per session
def compare_days(paper: Sequence[DayResult], backtest: Sequence[DayResult]) -> list[Difference]:
    """Differences of every session, oldest first (causes not assigned yet)."""
    p, b = {d.day: d for d in paper}, {d.day: d for d in backtest}
    out: list[Difference] = []
    for day in sorted(set(p) | set(b)):
        if day in p and day in b:
            out += compare_day(p[day], b[day])
        else:
            ran = ("ran" if day in p else "not run", "ran" if day in b else "not run")
            out.append(Difference("sessions", day, None, "session", *ran))
    return out


def compare_day(paper: DayResult, backtest: DayResult) -> list[Difference]:
    """Candidates, signals, orders, rejections, fills, equity and cash of one session."""
    day = paper.day
    out = _compare_keyed("candidates", day, _candidates(paper), _candidates(backtest), ordered=True)
    out += _compare_keyed("signals", day, {(s.ticker, ""): {} for s in paper.signals},
                          {(s.ticker, ""): {} for s in backtest.signals}, ordered=True)
    out += _compare_keyed("orders", day, _orders(paper.entries), _orders(backtest.entries))
    out += _compare_keyed("rejections", day, _rejections(paper.rejections),
                          _rejections(backtest.rejections), ordered=True)
    out += _compare_keyed("fills", day, _fills(day, paper.fills), _fills(day, backtest.fills))
    values = (("equity", paper.equity, backtest.equity), ("cash", paper.cash, backtest.cash))
    return out + [Difference(name, day, None, name, money_str(a), money_str(b))
                  for name, a, b in values if a != b]


def _compare_keyed(category: str, day: date | None, paper: dict[Key, Fields],
                   backtest: dict[Key, Fields], ordered: bool = False) -> list[Difference]:
    """Items keyed (ticker, qualifier): presence, then each field, then (if asked) the order."""
    item = ITEM_NAMES[category]
    out = []
    for ticker, qualifier in sorted(set(paper) | set(backtest)):
        a, b = paper.get((ticker, qualifier)), backtest.get((ticker, qualifier))
        if a is None or b is None:
            out.append(Difference(category, day, ticker, f"{qualifier} {item}".strip(),
                                  _summary(a), _summary(b)))
            continue
        out += [Difference(category, day, ticker, f"{qualifier} {name}".strip(), a[name],
                           b.get(name, MISSING)) for name in a if a[name] != b.get(name)]
    if ordered and not out and list(paper) != list(backtest):
        out.append(Difference(category, day, None, "order", _order(paper), _order(backtest)))
    return out


def _order(items: dict[Key, Fields]) -> str:
    return ", ".join(ticker for ticker, _ in items) or MISSING


def _summary(fields: Fields | None) -> str:
    if fields is None:
        return MISSING
    return " ".join(f"{k} {v}" for k, v in fields.items()) or "listed"


def _candidates(day: DayResult) -> dict[Key, Fields]:
    return {(c.ticker, ""): {"score": repr(c.score)} for c in day.candidates}


def _orders(orders: Iterable[EntryOrder]) -> dict[Key, Fields]:
    return {(o.ticker, ""): {"quantity": money_str(o.quantity),
                             "reference close": money_str(o.reference_close)} for o in orders}


def _rejections(rejections: Iterable[Rejection]) -> dict[Key, Fields]:
    out: dict[Key, Fields] = {}
    for r in rejections:  # a ticker can meet two rules in one step (R5.5 then R6)
        text = f"{r.reason.value} ({r.rule})"
        entry = out.setdefault((r.ticker, ""), {"reason": ""})
        entry["reason"] = f"{entry['reason']}, {text}" if entry["reason"] else text
    return out


def _fills(day: date, fills: Iterable[Fill]) -> dict[Key, Fields]:
    """Keyed by ticker and side, plus the bar date when it is not the step's own."""
    return {(f.ticker, f.side.value if f.day == day else f"{f.side.value} {f.day}"): {
        "price": money_str(f.price), "quantity": money_str(f.quantity),
        "commission": money_str(f.commission),
        "reason": f.reason.value if f.reason else "entry"} for f in fills}


# ---------------------------------------------------------------- the end of the window
def compare_final(paper: EngineState, backtest: EngineState) -> list[Difference]:
    """The trade lists (closed, then open) and the P&L of the two final states."""
    last = backtest.last_step or paper.last_step
    keyed = _compare_keyed("trades", None, _trades(paper.portfolio.trades()),
                           _trades(backtest.portfolio.trades()))
    out = []
    for d in keyed:  # the entry date travels as the qualifier: make it the difference's day
        entry, _, name = d.field.partition(" ")
        out.append(Difference(d.category, date.fromisoformat(entry), d.ticker, name,
                              d.paper_value, d.backtest_value))
    values = (("initial capital", paper.initial_capital, backtest.initial_capital),
              ("realized P&L", _realized(paper), _realized(backtest)),
              ("total P&L", paper.portfolio.equity - paper.initial_capital,
               backtest.portfolio.equity - backtest.initial_capital))
    out += [Difference("pnl", last, None, name, money_str(a), money_str(b))
            for name, a, b in values if a != b]
    return out


def _trades(trades: Iterable[Trade]) -> dict[Key, Fields]:
    return {(t.ticker, t.entry_date.isoformat()): {
        "entry price": money_str(t.entry_price), "quantity": money_str(t.quantity),
        "exit date": str(t.exit_date or "open"), "exit price": money_str(t.exit_price) or "-",
        "exit reason": t.exit_reason.value if t.exit_reason else "-",
        "pnl": money_str(t.pnl) or "-"} for t in trades}


def _realized(state: EngineState) -> Decimal:
    return sum((t.pnl for t in state.portfolio.closed_trades if t.pnl is not None), ZERO)


# ---------------------------------------------------------------- causes
def assign_causes(diffs: Sequence[Difference], changes: Sequence[str]) -> list[Difference]:
    """Attach a likely cause to each difference; differing settings are named on every one."""
    ctx = _CauseContext(first_decision=_first_day(d for d in diffs if d.category in DECISIONS),
                        first_fill=_first_day(d for d in diffs if d.category == "fills"),
                        fields={(d.category, d.day, d.ticker, d.field) for d in diffs})
    note = f"; likely cause: {'; '.join(changes)}" if changes else ""
    return [Difference(d.category, d.day, d.ticker, d.field, d.paper_value, d.backtest_value,
                       _cause(d, ctx) + note) for d in diffs]


@dataclass(frozen=True, slots=True)
class _CauseContext:
    first_decision: date | None   # first day the candidates, signals, orders or rejections differ
    first_fill: date | None       # first day a fill differs
    fields: set[tuple[str, date | None, str | None, str]]

    def earlier_fill(self, day: date | None) -> str:
        if self.first_fill is None or day is None or self.first_fill >= day:
            return ""
        return f"follows from the fill difference on {self.first_fill}"

    def decision(self, day: date | None) -> str:
        if self.first_decision is None or (day is not None and self.first_decision > day):
            return ""
        return f"decision differs on {self.first_decision}"

    def same_quantity(self, d: Difference) -> bool:
        prefix = d.field.rsplit(" ", 1)[0] if " " in d.field else ""
        names = {f"{prefix} quantity", "quantity"}  # a fill's 'buy quantity', a trade's 'quantity'
        return not any((d.category, d.day, d.ticker, n) in self.fields for n in names)


def _first_day(diffs: Iterable[Difference]) -> date | None:
    return min((d.day for d in diffs if d.day is not None), default=None)


def _cause(d: Difference, ctx: _CauseContext) -> str:
    missing = MISSING in (d.paper_value, d.backtest_value)
    if d.category == "sessions":
        return "the session ran on one side only (calendar, data or a refused paper run)"
    if d.category in ("candidates", "signals"):
        return (ctx.earlier_fill(d.day) or ctx.decision(d.day)
                or "scan differs (bar data, indicators or scanner/entry settings)")
    if d.category in ("orders", "rejections"):
        return ctx.earlier_fill(d.day) or "risk approval differs (equity, holdings or settings)"
    if missing:
        return (ctx.decision(d.day) or ctx.earlier_fill(d.day)
                or "execution differs (exit levels or bar data)")
    if d.category in ("fills", "trades"):
        return _value_cause(d, ctx)
    if d.category in ("equity", "cash"):
        return ctx.earlier_fill(d.day) or (
            "follows from the fills of this session" if ctx.first_fill == d.day
            else "marking differs (bar data)")
    return "follows from the differences above"  # pnl


def _value_cause(d: Difference, ctx: _CauseContext) -> str:
    """A field of a fill or trade present on both sides."""
    name = d.field.rsplit(" ", 1)[-1]
    if name == "price":
        return PRICE_CAUSE if ctx.same_quantity(d) else "fill price and quantity differ"
    if name == "quantity":
        return "quantity differs (order size, or cash at the open: R5.3)"
    if name == "commission":
        return "commission differs (trading.commission_* or the fill price)"
    return ctx.earlier_fill(d.day) or "exit differs (exit levels follow the fill price)"


# ---------------------------------------------------------------- checks of the paper side
def risk_checks(days: Sequence[DayResult], snapshots: Sequence[PaperSnapshot],
                cfg: RiskConfig) -> list[CheckResult]:
    """R6 limits on every saved paper session; the exposure caps where entries were approved."""
    results = {d.day: d for d in days}
    rows = [(s, results[s.day]) for s in snapshots if s.day in results]
    found: dict[str, list[CheckFailure]] = {name: [] for name in _RISK_TEXT}
    for snapshot, result in rows:
        for name, problem in _risk_problems(snapshot.reloaded.portfolio, result, cfg).items():
            if problem:
                found[name].append(CheckFailure(snapshot.day, problem))
    approving = sum(1 for _, r in rows if r.entries)
    return [CheckResult(name, text.format(cfg=cfg),
                        approving if name.endswith("exposure") else len(rows), tuple(found[name]))
            for name, text in _RISK_TEXT.items()]


_RISK_TEXT = {
    "max_positions": "open positions + pending entries <= risk.max_positions ({cfg.max_positions})",
    "cash": "cash >= 0",
    "equity": "equity == cash + market value, cash as recorded by the step",
    "gross_exposure": "on sessions with approved entries: positions at last close + pending "
                      "entries at reference close <= risk.max_portfolio_exposure "
                      "({cfg.max_portfolio_exposure}) x equity",
    "sector_exposure": "on sessions with approved entries: each sector <= "
                       "risk.max_sector_exposure ({cfg.max_sector_exposure}) x equity",
}


def _risk_problems(book: Portfolio, r: DayResult, cfg: RiskConfig) -> dict[str, str]:
    """What breaks each limit on one session ('' when it holds)."""
    count = len(book.positions) + len(book.pending_entries)
    total = book.cash + book.market_value
    out = {"max_positions": f"{count} open or pending" if count > cfg.max_positions else "",
           "cash": f"cash {money_str(book.cash)} < 0" if book.cash < 0 else "",
           "equity": "" if (r.equity, r.cash) == (total, book.cash) else
           f"recorded equity {money_str(r.equity)}, cash {money_str(r.cash)}; book cash "
           f"{money_str(book.cash)} + market value {money_str(book.market_value)}",
           "gross_exposure": "", "sector_exposure": ""}
    if r.entries:
        values = book.sector_values()
        gross = sum(values.values(), ZERO)
        gross_cap = to_money(cfg.max_portfolio_exposure) * r.equity
        sector_cap = to_money(cfg.max_sector_exposure) * r.equity
        over = [f"{s} {money_str(v)}" for s, v in sorted(values.items()) if v > sector_cap]
        if gross > gross_cap:
            out["gross_exposure"] = f"gross {money_str(gross)} > cap {money_str(gross_cap)}"
        if over:
            out["sector_exposure"] = f"{', '.join(over)} > cap {money_str(sector_cap)}"
    return out


def persistence_checks(days: Sequence[DayResult],
                       snapshots: Sequence[PaperSnapshot]) -> list[CheckResult]:
    """The state saved after each session reloads equal to the one in memory, for that day."""
    results = {d.day: d for d in days}
    trips = [CheckFailure(s.day, _encode_mismatch(s)) for s in snapshots
             if encode_state(s.reloaded) != encode_state(s.in_memory)]
    wrong_day = [CheckFailure(s.day, _day_mismatch(s, results.get(s.day))) for s in snapshots
                 if _day_mismatch(s, results.get(s.day))]
    return [CheckResult("state_round_trip", "the state reloaded from disk after each session "
                        "encodes equal to the one in memory", len(snapshots), tuple(trips)),
            CheckResult("state_day", "the reloaded state is the session just run (date, equity "
                        "and cash of its last point)", len(snapshots), tuple(wrong_day))]


def _encode_mismatch(s: PaperSnapshot) -> str:
    a, b = encode_state(s.reloaded), encode_state(s.in_memory)
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return f"saved state differs from memory in {', '.join(keys)}"


def _day_mismatch(s: PaperSnapshot, result: DayResult | None) -> str:
    state = s.reloaded
    if state.last_step != s.day or s.in_memory.last_step != s.day:
        return f"reloaded date {state.last_step}, in memory {s.in_memory.last_step}"
    if result is None:
        return "no step result for this session"
    last = state.equity_curve[-1] if state.equity_curve else None
    if last is None or (last.day, last.equity, last.cash) != (s.day, result.equity, result.cash):
        return f"last equity point {last} is not ({s.day}, {result.equity}, {result.cash})"
    return ""
