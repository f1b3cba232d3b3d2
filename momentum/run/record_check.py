"""The saved paper record against the backtest replayed over the sessions it ran (7.2.2.4).

    load_record(store) -> PaperRecord         the latest state, its snapshots, partial-day notes
    replay(record, market, cfg) -> BacktestResult   same capital and sessions, halts re-issued
    check_record(record, result, market, cfg, changes) -> ValidationReport

The record keeps every fill, rejection and equity point; the orders approved on a session are
the pending entries of that session's snapshot, and its entry signals are those orders plus the
approval-time rejections (R6, halt). Candidates are not recorded and not compared. Each
difference names the evidence found for it: a bar of the data that differs from the one the run
used (data revised since), a session committed with --allow-partial, settings changed since the
portfolio was created.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING

from momentum.core.config import StrategyConfig
from momentum.core.domain import DayResult, ExitReason, Fill, Side
from momentum.core.money import ONE, to_money
from momentum.run.backtester import BacktestResult, run_backtest
from momentum.run.engine import EngineState
from momentum.run.kill_switch import replay_halts
from momentum.run.state import PaperMeta, StateStore
from momentum.run.validation import (Difference, PaperSnapshot, RunRecord, ValidationReport,
                                     compare)

if TYPE_CHECKING:  # annotations only: importing this module loads no pandas
    from momentum.data.market import Market

logger = logging.getLogger(__name__)
OPEN_EXITS = (ExitReason.MOMENTUM_FADE, ExitReason.TIME_EXIT, ExitReason.KILL_SWITCH)
_APPROVAL_RULES = ("R6.", "halt")  # rejections decided at approval: each was an entry signal


@dataclass(frozen=True, slots=True)
class _Ticker:
    """An entry signal known by its ticker only (what the record keeps of it)."""

    ticker: str


@dataclass(frozen=True, slots=True)
class PaperRecord:
    """What a paper portfolio recorded: the final state and the snapshots still on disk."""

    meta: PaperMeta
    final: EngineState
    snapshots: dict[date, EngineState] = field(default_factory=dict)
    left_out: dict[date, tuple[str, ...]] = field(default_factory=dict)

    @property
    def sessions(self) -> list[date]:
        return [p.day for p in self.final.equity_curve]


def load_record(store: StateStore) -> PaperRecord:
    """Load the latest state and every snapshot on its own history (each verified)."""
    saved = store.load()
    final, snapshots, left_out = saved.engine, {}, {}
    for path in store.snapshots():
        state = store.read(path).engine
        curve = state.equity_curve
        if state.last_step is None or final.equity_curve[:len(curve)] != curve:
            continue  # a branch abandoned by --from-snapshot, or a later portfolio
        snapshots[state.last_step] = state
        left_out.update(_left_out(state))
    left_out.update(_left_out(final))
    return PaperRecord(saved.meta, final, snapshots, left_out)


def _left_out(state: EngineState) -> dict[date, tuple[str, ...]]:
    """The sessions committed with --allow-partial and the assets each left out, with why."""
    return {date.fromisoformat(day): tuple(f"{t}: {why}" for t, why in sorted(gaps.items()))
            for day, gaps in state.left_out.items()}


def replay(record: PaperRecord, market: Market, cfg: StrategyConfig) -> BacktestResult:
    """The backtest over the record's sessions from its capital, its kill-switch halts re-issued."""
    halts = record.final.halts
    state = EngineState.start(record.final.initial_capital)
    replay_halts(state, halts, None)
    return run_backtest(market, cfg, record.sessions[0], record.sessions[-1], state=state,
                        on_step=lambda day, s: replay_halts(s, halts, day.day))


# ---------------------------------------------------------------- the comparison
def check_record(record: PaperRecord, result: BacktestResult, market: Market,
                 cfg: StrategyConfig, changes: list[str]) -> ValidationReport:
    """Compare record and replay session by session; name the evidence behind each difference."""
    known = _orders_known(record)
    recorded = _day_records(record.final, {d: s.portfolio.pending_entries
                                           for d, s in record.snapshots.items() if d in known})
    replayed = {d.day: d for d in result.days}
    replay_days = _day_records(result.state, {d: replayed[d].entries for d in replayed
                                              if d in known})
    for day in replay_days:
        if day.day in known:
            day.signals = sorted((_Ticker(s.ticker) for s in replayed[day.day].signals),
                                 key=lambda s: s.ticker)
    snapshots = [PaperSnapshot(d, s, s) for d, s in sorted(record.snapshots.items())]
    report = compare(RunRecord(recorded, record.final, cfg),
                     RunRecord(replay_days, result.state, cfg), snapshots,
                     (record.sessions[0], record.sessions[-1]))
    evidence = data_revisions(record, market, cfg) if not _trading_changed(changes) else []
    diffs = tuple(_explain(d, evidence, record.left_out, changes) for d in report.differences)
    notes = _notes(record, known, evidence)
    return replace(report, differences=diffs, config_changes=tuple(changes), notes=tuple(notes))


def _orders_known(record: PaperRecord) -> set[date]:
    """Sessions whose approved orders are on disk (a halt right after one cancelled them)."""
    cancelled = {h.after_step for h in record.final.halts if h.cancelled}
    return {d for d in record.snapshots if d not in cancelled}


def _day_records(state: EngineState, orders: dict[date, list]) -> list[DayResult]:
    """One DayResult per step rebuilt from a state: what happened in (previous step, day]."""
    out, previous = [], None
    for point in state.equity_curve:
        def inside(d: date, start: date | None = previous, end: date = point.day) -> bool:
            return d <= end and (start is None or d > start)
        day = DayResult(day=point.day, equity=point.equity, cash=point.cash,
                        fills=[f for f in state.fills if inside(f.day)],
                        rejections=[r for r in state.rejections if inside(r.day)])
        if point.day in orders:
            day.entries = list(orders[point.day])
            tickers = {o.ticker for o in day.entries} | {
                r.ticker for r in day.rejections if r.day == point.day
                and r.rule.startswith(_APPROVAL_RULES)}
            day.signals = [_Ticker(t) for t in sorted(tickers)]
        out.append(day)
        previous = point.day
    return out


def _trading_changed(changes: list[str]) -> bool:
    return any(c.startswith("trading.") for c in changes)


# ---------------------------------------------------------------- evidence
def data_revisions(record: PaperRecord, market: Market,
                   cfg: StrategyConfig) -> list[tuple[date, str]]:
    """Bars the run used that the data now gives otherwise, oldest first."""
    found: dict[tuple[str, date, str], str] = {}
    for state in [*record.snapshots.values(), record.final]:
        for p in state.portfolio.positions.values():
            bar = market.until(p.last_bar_date).bar_on(p.ticker, p.last_bar_date)
            if bar is None or to_money(bar.close) != p.last_close:
                now = "no bar" if bar is None else str(to_money(bar.close))
                found[(p.ticker, p.last_bar_date, "close")] = (
                    f"{p.ticker} close on {p.last_bar_date}: {p.last_close} when the run used "
                    f"it, {now} in the data now")
    for fill in record.final.fills:
        text = _fill_revision(fill, market, cfg)
        if text:
            found[(fill.ticker, fill.day, "open")] = text
    return sorted(((day, text) for (_, day, _), text in found.items()), key=lambda x: x[0])


def _fill_revision(fill: Fill, market: Market, cfg: StrategyConfig) -> str:
    """An open-price fill (entry, next-open exit) whose bar's open now gives another price."""
    if fill.side is Side.SELL and fill.reason not in OPEN_EXITS:
        return ""  # stops and targets fill at their level, not at a bar price
    history = market.histories.get(fill.ticker)
    if history is None:
        return f"{fill.ticker} is not in the data now (filled on {fill.day} in the run)"
    bar = market.until(fill.day).bar_on(fill.ticker, fill.day)
    if bar is None:
        return f"{fill.ticker} has no bar on {fill.day} in the data now (filled then in the run)"
    slip = to_money(cfg.trading.slippage(history.asset.asset_type))
    price = to_money(bar.open) * (ONE + slip if fill.side is Side.BUY else ONE - slip)
    if price == fill.price:
        return ""
    return (f"{fill.ticker} open on {fill.day}: the run filled at {fill.price}, the data now "
            f"gives {price}")


def _explain(d: Difference, evidence: list[tuple[date, str]],
             left_out: dict[date, tuple[str, ...]], changes: list[str]) -> Difference:
    causes = []
    seen = [text for day, text in evidence if d.day is None or day <= d.day]
    if seen:
        more = f" (+{len(seen) - 1} more)" if len(seen) > 1 else ""
        causes.append(f"data revised since the run: {seen[0]}{more}")
    partial = [(day, names) for day, names in sorted(left_out.items())
               if d.day is None or day <= d.day]
    if partial:
        day, names = partial[0]
        causes.append(f"session {day} was committed with --allow-partial, leaving out "
                      f"{', '.join(names)}")
    if changes:
        causes.append("settings changed since the portfolio was created: " + "; ".join(changes))
    return replace(d, cause="; ".join([*causes, d.cause]) if causes else d.cause)


def _notes(record: PaperRecord, known: set[date],
           evidence: list[tuple[date, str]]) -> list[str]:
    notes = ["paper = the saved portfolio's record, backtest = its replay; candidates are not "
             "recorded, so they are not compared"]
    unknown = len(record.sessions) - len(known)
    if unknown:
        notes.append(f"orders and signals not compared on {unknown} session(s): no snapshot of "
                     f"that session on disk (logging.save_daily_snapshots) or a halt cancelled "
                     f"its orders")
    for h in record.final.halts:
        lifted = f", lifted after {h.resumed_after}" if h.resumed_at else ", still active"
        notes.append(f"kill switch after {h.after_step or 'the start'} ({h.reason}"
                     f"{', flatten' if h.flatten else ''}){lifted}: replayed at the same steps")
    notes += [f"left out on {day}: {', '.join(n)}" for day, n in sorted(record.left_out.items())]
    if evidence:
        notes.append(f"{len(evidence)} bar(s) differ from those the run used")
    return notes
