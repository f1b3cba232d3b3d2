"""Overfitting guards: the deflated Sharpe ratio, neighbourhood stability, edge-of-space warnings.

Deflated Sharpe ratio (Bailey and Lopez de Prado, "The Deflated Sharpe Ratio: Correcting for
Selection Bias, Backtest Overfitting and Non-Normality", J. Portfolio Management 40(5), 2014):

    SR0 = sqrt(V[SR_n]) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e)))   g = Euler's 0.5772
    DSR = Z( (SR - SR0) * sqrt(T - 1) / sqrt(1 - skew * SR + (kurt - 1) / 4 * SR^2) )

with every Sharpe ratio per period (daily, not annualized), N trials, T returns of the best
trial, and the skewness and (non-excess) kurtosis of its returns. DSR is the probability that
the best trial's true Sharpe ratio is above what the best of N skill-less trials would show.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from momentum.research.space import Param
from momentum.research.trials import TrialRecord

EULER_GAMMA = 0.5772156649015329
PERIODS_PER_YEAR = 252  # the annualization of metrics.sharpe_ratio
_NORMAL = NormalDist()


def expected_max_sharpe(sharpe_variance: float, trials: int) -> float:
    """SR0: the expected best Sharpe ratio of `trials` skill-less trials (per period)."""
    if trials < 2 or sharpe_variance <= 0:
        return 0.0
    a = _NORMAL.inv_cdf(1 - 1 / trials)
    b = _NORMAL.inv_cdf(1 - 1 / (trials * math.e))
    return math.sqrt(sharpe_variance) * ((1 - EULER_GAMMA) * a + EULER_GAMMA * b)


def probabilistic_sharpe(sharpe: float, benchmark: float, returns: int, skew: float,
                         kurtosis: float) -> float | None:
    """PSR: the probability the true per-period Sharpe ratio exceeds `benchmark`."""
    spread = 1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe ** 2
    if returns < 2 or spread <= 0:
        return None
    return _NORMAL.cdf((sharpe - benchmark) * math.sqrt(returns - 1) / math.sqrt(spread))


def deflated_sharpe(sharpe: float, sharpe_variance: float, trials: int, returns: int,
                    skew: float, kurtosis: float) -> float | None:
    """DSR of the best trial: PSR against the expected maximum of `trials` (per period)."""
    sr0 = expected_max_sharpe(sharpe_variance, trials)
    return probabilistic_sharpe(sharpe, sr0, returns, skew, kurtosis)


@dataclass(frozen=True, slots=True)
class Guards:
    """The three overfitting checks of one search, for the report and the terminal."""

    deflated_sharpe: float | None
    expected_max_sharpe: float | None     # annualized, for display
    trials_counted: int
    neighbours: int
    neighbour_median: float | None
    neighbour_percentile: float | None    # share of all trials at or below the median
    edge_params: tuple[str, ...]

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        out = []
        if self.deflated_sharpe is None:
            out.append("deflated Sharpe ratio: not available (needs >= 2 trials with a Sharpe)")
        else:
            out.append(f"deflated Sharpe ratio {self.deflated_sharpe:.3f} over "
                       f"{self.trials_counted} trials (expected best Sharpe of chance "
                       f"{self.expected_max_sharpe:.2f}); below 0.95 the best may be luck")
        if self.neighbour_median is not None:
            out.append(f"neighbourhood: median objective {self.neighbour_median:.4g} over "
                       f"{self.neighbours} neighbours, above {self.neighbour_percentile:.0%} of "
                       f"all trials")
        if self.edge_params:
            out.append("warning: the best trial sits on the edge of the space for "
                       + ", ".join(self.edge_params) + "; widen the range")
        return out


def guards(records: list[TrialRecord], best: TrialRecord, params: list[Param]) -> Guards:
    """Compute the guards of `best` among every evaluated trial (all count toward N)."""
    sharpes = [r.metrics["sharpe"] for r in records if r.metrics.get("sharpe") is not None]
    dsr = sr0 = None
    m = best.metrics
    if len(sharpes) >= 2 and m.get("sharpe") is not None and m.get("returns_skew") is not None:
        scale = math.sqrt(PERIODS_PER_YEAR)
        variance = statistics.variance([s / scale for s in sharpes])
        sr0 = expected_max_sharpe(variance, len(sharpes)) * scale
        dsr = deflated_sharpe(m["sharpe"] / scale, variance, len(sharpes), m["steps"] - 1,
                              m["returns_skew"], m["returns_kurtosis"])
    near = neighbours(records, best, params)
    values = [r.objective for r in near if r.objective is not None]
    median = statistics.median(values) if values else None
    pct = None
    if median is not None:
        scored = [r.objective for r in records if r.objective is not None]
        pct = sum(1 for v in scored if v <= median) / len(scored)
    return Guards(dsr, sr0, len(sharpes), len(near), median, pct, edge_params(best, params))


def _position(param: Param, value: Any) -> float:
    if param.is_range and param.log and param.kind == "float":
        # a continuous log range: one step is a tenth of the range in log space
        return 10 * math.log(value / param.low) / math.log(param.high / param.low)
    try:
        return float(param.values.index(value))
    except ValueError:
        return 10 * (value - param.low) / (param.high - param.low) if param.is_range else 0.0


def neighbours(records: list[TrialRecord], best: TrialRecord,
               params: list[Param]) -> list[TrialRecord]:
    """Trials at most one grid step from `best` in every parameter (excluding `best`)."""
    home = [_position(p, best.params[p.key]) for p in params]
    out = []
    for r in records:
        if r.number == best.number or r.params == best.params:
            continue
        where = [_position(p, r.params[p.key]) for p in params]
        if all(abs(a - b) <= 1 + 1e-9 for a, b in zip(where, home, strict=True)):
            out.append(r)
    return out


def edge_params(best: TrialRecord, params: list[Param]) -> tuple[str, ...]:
    """The numeric parameters whose best value is the lowest or highest of the space."""
    out = []
    for p in params:
        if not p.numeric or len(p.values) < 3 and not p.is_range:
            continue
        value = best.params[p.key]
        low = p.low if p.is_range else min(p.values)
        high = p.values[-1] if p.is_range and not p.log else (p.high if p.is_range
                                                               else max(p.values))
        span = (high - low) or 1.0
        if abs(value - low) <= 1e-9 * span or abs(value - high) <= 1e-9 * span:
            out.append(p.key)
    return tuple(out)
