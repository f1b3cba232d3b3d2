"""The paper-trading runner: the same daily step as the backtest, one saved day at a time.

    init(capital, start)          a new portfolio (refuses to overwrite one without force)
    run(market, target)           every step after the last saved one up to `target`, in order;
                                  after each step: on_day(report, alerts), then save the state

A day commits only on complete data: when an asset is missing for a transient reason (network,
5xx, 429, a garbled answer after the retries) nothing is run or saved and DataIncomplete (exit 75)
says to run again later; `allow_partial` commits anyway and records who was left out and why.

Resuming after a crash is the normal start-up path: the pointer names the last complete day.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from momentum.core.calendar import completed_through, is_nyse_session, nyse_sessions, step_days
from momentum.core.config import StrategyConfig
from momentum.core.domain import AssetType, DayResult
from momentum.core.errors import ConfigError, DataIncomplete, MomentumError, StateError
from momentum.core.money import display_money
from momentum.run.engine import EngineState, Rules, run_day
from momentum.run.state import PaperMeta, SavedState, StateStore

if TYPE_CHECKING:  # annotations only: importing this module loads no pandas (`paper --report`)
    from momentum.data.market import Market

logger = logging.getLogger(__name__)
DayHook = Callable[[DayResult, EngineState], None]


def strategy_fingerprint(cfg: StrategyConfig) -> dict[str, Any]:
    """The settings that decide trades; a portfolio keeps the ones it was created with."""
    dump = cfg.model_dump(mode="json")
    risk = {k: v for k, v in dump["risk"].items() if k != "initial_capital"}
    return {"scanner": dump["scanner"], "signals": dump["signals"], "risk": risk,
            "trading": {k: v for k, v in dump["trading"].items() if k != "mode"}}


def fingerprint_changes(saved: dict[str, Any], current: dict[str, Any],
                        prefix: str = "") -> list[str]:
    """Human-readable differences between two fingerprints ('risk.max_positions: 8 -> 5')."""
    changes = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changes += fingerprint_changes(a, b, f"{prefix}{key}.")
        elif a != b:
            changes.append(f"{prefix}{key}: {a} -> {b}")
    return changes


@dataclass(slots=True)
class PaperRunOutcome:
    """What one `paper --run` did."""

    target: date
    days: list[DayResult] = field(default_factory=list)
    already_done: bool = False
    state: EngineState | None = None
    left_out: dict[str, str] = field(default_factory=dict)  # --allow-partial: ticker -> why
    first_session: date | None = None  # set when `target` is before the portfolio's start


class PaperTrader:
    """Runs the daily step for each missed session and saves the state after each one."""

    def __init__(self, cfg: StrategyConfig, store: StateStore, rules: Rules | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.rules = rules or Rules.from_config(cfg)

    def init(self, capital: Decimal, start: date, source: str, now: datetime,
             force: bool = False) -> SavedState:
        """Create a portfolio with `capital` whose first step is the first session >= start."""
        if self.store.exists() and not force:
            raise StateError(f"a paper portfolio already exists in {self.store.dir}/; pass --force "
                             f"to replace it, or --state-dir DIR to keep another one")
        if capital <= 0:
            raise ConfigError(f"--capital must be positive (got {capital})")
        if force:
            self._clear()
        meta = PaperMeta(start_date=start, created_at=now.isoformat(), source=source,
                         strategy=strategy_fingerprint(self.cfg))
        engine = EngineState.start(capital)
        path = self.store.save(engine, meta, now)
        return SavedState(meta, engine, path)

    def _clear(self) -> None:
        for path in [*self.store.snapshots(), self.store.dir / "state_init.json",
                     self.store.dir / "latest.json"]:
            path.unlink(missing_ok=True)

    def load(self, from_snapshot: str | None = None) -> SavedState:
        """Load the portfolio and check it was made with the current strategy settings."""
        saved = self.store.load(from_snapshot)
        changes = fingerprint_changes(saved.meta.strategy, strategy_fingerprint(self.cfg))
        if changes:
            raise StateError(
                f"the paper portfolio in {self.store.dir}/ was created with other strategy "
                f"settings ({'; '.join(changes[:4])}{'; ...' if len(changes) > 4 else ''}); "
                f"restore them, or start a separate portfolio with --state-dir DIR")
        return saved

    def amend(self, change: Callable[[EngineState], Any], now: datetime) -> Any:
        """Apply `change` (kill switch) to the saved state between two steps and save it."""
        saved = self.store.load()  # no settings check: a kill switch must work whatever changed
        outcome = change(saved.engine)
        if outcome is not None and getattr(outcome, "changed", True):
            self.store.save(saved.engine, saved.meta, now)
        return outcome

    def pending_days(self, saved: SavedState, market: Market, target: date) -> list[date]:
        """The step dates after the last saved step up to `target` (R7 calendar)."""
        last = saved.engine.last_step
        first = saved.meta.start_date if last is None else last + timedelta(days=1)
        return step_days(first, target, market.has_type(AssetType.STOCK))

    def run(self, market: Market, target: date, now: datetime, on_day: DayHook | None = None,
            from_snapshot: str | None = None, allow_partial: bool = False) -> PaperRunOutcome:
        """Run every missed step up to `target`; a date already done is a no-op.

        Raises DataIncomplete before any step when an asset is missing for a transient reason,
        unless `allow_partial`.
        """
        saved = self.load(from_snapshot)
        last = saved.engine.last_step
        outcome = PaperRunOutcome(target=target, state=saved.engine)
        if last is not None and target == last:
            outcome.already_done = True
            return outcome
        if last is not None and target < last:
            raise ConfigError(f"{target} is before the last processed session {last}; paper "
                              f"trading only moves forward (use --state-dir for another portfolio)")
        if target < saved.meta.start_date:
            # Right after --init: nothing has closed yet, which is not a mistake.
            start = saved.meta.start_date
            sessions = step_days(start, start + timedelta(days=14),
                                 market.has_type(AssetType.STOCK))
            outcome.first_session = sessions[0] if sessions else start
            return outcome
        days = self.pending_days(saved, market, target)
        if days:  # the commit-or-not decision: complete data, or the user allows a partial day
            span = f"{days[0]} .. {days[-1]}" if len(days) > 1 else str(days[0])
            outcome.left_out = require_complete(market, allow_partial,
                                                f"the paper session(s) {span}")
        for day in days:
            result = run_day(day, saved.engine, market.until(day), self.rules)
            if outcome.left_out:
                saved.engine.left_out[day.isoformat()] = dict(outcome.left_out)
            if on_day is not None:
                on_day(result, saved.engine)  # report and alerts before the commit point
            self.store.save(saved.engine, saved.meta, now)
            logger.info("paper day %s done: equity %s, %d fills, %d rejections", day,
                        display_money(result.equity), len(result.fills), len(result.rejections))
            outcome.days.append(result)
        return outcome


def require_complete(market: Market, allow_partial: bool, what: str,
                     consequence: str | None = None) -> dict[str, str]:
    """Refuse to go on with a partial universe (transient gaps); allow_partial returns them."""
    missing = {t: market.skipped.get(t, "not loaded") for t in sorted(market.unavailable)}
    if missing and not allow_partial:
        raise DataIncomplete(missing, consequence or f"nothing was committed for {what}")
    if missing:
        logger.warning("--allow-partial: going on with %s without %s", what,
                       "; ".join(f"{t} ({why})" for t, why in missing.items()))
    return missing


def require_session_data(market: Market, day: date) -> None:
    """Refuse a session the data does not reach yet (stocks: its bars; crypto: the day
    before, since today's UTC bar is still forming)."""
    last = market.last_date
    if last is None or day > last + timedelta(days=1):
        raise MomentumError(f"no data for {day} yet (the data ends {last}); paper trading "
                            f"runs sessions that have happened")
    if market.has_type(AssetType.STOCK) and is_nyse_session(day):
        view = market.until(day)
        if not view.type_has_bar(AssetType.STOCK):
            raise MomentumError(f"no stock bars for {day} yet (the data ends "
                                f"{market.last_date}); run after the session's data is out")


def require_latest_session(market: Market, now: datetime) -> None:
    """A live feed run with no --date must reach the last session that has closed at `now`.

    Without this, a 16:05 run before the vendor has published the day would take yesterday as
    its target, say "already done" and exit 0: the session would only run a day late. Exit 75
    instead, so the scheduler tries again until the bars are out.
    """
    if not market.has_type(AssetType.STOCK):
        return
    closed = completed_through(AssetType.STOCK, now)
    sessions = nyse_sessions(closed - timedelta(days=10), closed)
    expected = sessions[-1] if sessions else None
    if expected is None or market.until(expected).type_has_bar(AssetType.STOCK):
        return
    raise DataIncomplete({"stock bars": f"{expected} is not published yet (the data ends "
                                        f"{market.last_date})"},
                         f"nothing was committed for {expected}")
