"""Proposing trials: every grid point, random draws, or Optuna's TPE in fixed-size batches.

Batched ask/tell with a fixed batch size: a batch is proposed only from the results of the
batches before it, all told in trial order, so the trials do not depend on how many workers
ran them or in which order they finished.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from momentum.core.errors import ConfigError
from momentum.research.space import Param

SEARCHES = ("grid", "random", "bayes")
Batch = list[tuple[int, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """How to search: the method, the space, how many trials, the seed and the batch size."""

    method: str
    params: tuple[Param, ...]
    trials: int
    seed: int
    batch_size: int = 8

    def total(self) -> int:
        """How many trials the search runs."""
        return grid_size(self.params) if self.method == "grid" else self.trials


def grid_size(params: tuple[Param, ...] | list[Param]) -> int:
    """The number of grid points (the product of each parameter's value count)."""
    size = 1
    for p in params:
        size *= len(p.values)
    return size


def grid_points(params: tuple[Param, ...] | list[Param]) -> list[dict[str, Any]]:
    """Every combination, the last parameter varying fastest."""
    keys = [p.key for p in params]
    return [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(p.values for p in params))]


class Search:
    """Yields batches of (trial number, overrides); `tell` feeds the objectives back."""

    def __init__(self, plan: SearchPlan) -> None:
        if plan.method not in SEARCHES:
            raise ConfigError(f"--search {plan.method}: use one of {', '.join(SEARCHES)}")
        self.plan = plan
        self._study: Any = None
        self._asked: dict[int, Any] = {}
        if plan.method != "grid":
            self._study = _study(plan)

    def batches(self) -> Iterator[Batch]:
        """The trials to run, one batch at a time (call `tell` before asking the next)."""
        if self.plan.method == "grid":
            yield list(enumerate(grid_points(self.plan.params)))
            return
        size = self.plan.trials if self.plan.method == "random" else self.plan.batch_size
        number = 0
        while number < self.plan.trials:
            batch = []
            for _ in range(min(size, self.plan.trials - number)):
                trial = self._study.ask(_distributions(self.plan.params))
                self._asked[number] = trial
                batch.append((number, dict(trial.params)))
                number += 1
            yield batch

    def tell(self, results: dict[int, float | None]) -> None:
        """Report objectives in trial order (None: the trial failed or broke a constraint)."""
        if self._study is None:
            return
        from optuna.trial import TrialState
        for number in sorted(results):
            trial = self._asked.pop(number, None)
            if trial is None:
                continue
            value = results[number]
            if value is None:
                self._study.tell(trial, state=TrialState.FAIL)
            else:
                self._study.tell(trial, value)


def _study(plan: SearchPlan) -> Any:
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if plan.method == "random":
        sampler = optuna.samplers.RandomSampler(seed=plan.seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=plan.seed)
    return optuna.create_study(direction="maximize", sampler=sampler)


def _distributions(params: tuple[Param, ...]) -> dict[str, Any]:
    from optuna.distributions import (CategoricalDistribution, FloatDistribution,
                                      IntDistribution)
    out: dict[str, Any] = {}
    for p in params:
        if not p.is_range:
            out[p.key] = CategoricalDistribution(list(p.values))
        elif p.kind == "int":
            step = 1 if p.log else int(p.step or 1)
            out[p.key] = IntDistribution(int(p.low), int(p.values[-1]), step=step, log=p.log)
        elif p.log:
            out[p.key] = FloatDistribution(p.low, p.high, log=True)
        else:
            # exact grid points (Optuna's float steps add binary noise: 0.07000000000000001)
            out[p.key] = CategoricalDistribution(list(p.values))
    return out
