"""The backtest runner: the daily step (engine.run_day) over every step date of a period."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from momentum.core.calendar import step_days
from momentum.core.config import StrategyConfig
from momentum.core.domain import AssetType, DayResult
from momentum.core.errors import ConfigError
from momentum.core.money import to_money
from momentum.run.engine import EngineState, Rules, run_day

if TYPE_CHECKING:  # annotations only: importing this module loads no pandas
    from momentum.data.market import Market

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class BacktestResult:
    """Every step of a backtest, and the final state."""

    start: date
    end: date
    state: EngineState
    days: list[DayResult] = field(default_factory=list)

    @property
    def steps(self) -> list[date]:
        return [d.day for d in self.days]


def backtest_days(market: Market, start: date, end: date) -> list[date]:
    """R7: NYSE sessions when stocks are in the universe, else every day; clipped to the data."""
    if end < start:
        raise ConfigError(f"--end {end} is before --start {start}; swap them")
    last = market.last_date
    if last is None:
        return []
    if last < end:
        logger.warning("the data ends on %s, before --end %s: the backtest stops there", last, end)
    return step_days(start, min(end, last), market.has_type(AssetType.STOCK))


def run_backtest(market: Market, cfg: StrategyConfig, start: date, end: date,
                 on_step: Callable[[DayResult, EngineState], None] | None = None,
                 state: EngineState | None = None,
                 capital: Decimal | None = None) -> BacktestResult:
    """Run the daily step on each step date; the market holds all history before `start` (R1.4).

    `state` replaces the fresh start (a replay of a paper record); else the run starts with
    `capital` (default: risk.initial_capital), which lets walk-forward carry one test window's
    exact final equity into the next.
    """
    days = backtest_days(market, start, end)
    if not days:
        raise ConfigError(f"no trading day between {start} and {end} in the data "
                          f"({market.first_date} to {market.last_date}); choose other dates")
    rules = Rules.from_config(cfg)
    if state is None:
        start_cash = to_money(cfg.risk.initial_capital) if capital is None else capital
        state = EngineState.start(start_cash)
    result = BacktestResult(start=days[0], end=days[-1], state=state)
    for day in days:
        outcome = run_day(day, state, market.until(day), rules)
        result.days.append(outcome)
        if on_step is not None:
            on_step(outcome, state)
    return result
