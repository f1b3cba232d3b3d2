"""What a trial returns (a few R8 metrics, not the whole backtest) and how trials are ranked."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from momentum.data.market import Market
from momentum.rules.metrics import daily_returns, summarize
from momentum.run.backtester import BacktestResult

OBJECTIVES = ("sharpe", "sortino", "cagr", "calmar", "return_over_drawdown")
# The metric columns of trials.csv, in order.
METRICS = ("sharpe", "sortino", "cagr", "total_return", "max_drawdown", "calmar",
           "return_over_drawdown", "trades", "win_rate", "final_equity", "steps",
           "returns_skew", "returns_kurtosis")


@dataclass(frozen=True, slots=True)
class Constraints:
    """Trials below `min_trades` closed trades or deeper than `max_drawdown` do not count."""

    min_trades: int = 0
    max_drawdown: float | None = None

    def violation(self, metrics: dict[str, Any]) -> str | None:
        """Why a trial's metrics break a constraint, or None."""
        trades = metrics.get("trades") or 0
        if trades < self.min_trades:
            return f"{trades} trades < --min-trades {self.min_trades}"
        depth = metrics.get("max_drawdown")
        if self.max_drawdown is not None and depth is not None and depth > self.max_drawdown:
            return f"drawdown {depth:.4f} > --max-drawdown {self.max_drawdown:g}"
        return None


def trial_metrics(result: BacktestResult, market: Market) -> dict[str, Any]:
    """R8 metrics of one backtest, as the same numbers `backtest` writes to summary.json."""
    summary = summarize(result, market)
    depth = (summary["max_drawdown"] or {}).get("depth")
    depth = None if depth is None else float(depth)
    cagr, total = summary["cagr"], summary["total_return"]
    returns = daily_returns(result.state.equity_curve)
    skew, kurt = moments(returns)
    return {
        "sharpe": summary["sharpe"], "sortino": summary["sortino"], "cagr": cagr,
        "total_return": total, "max_drawdown": depth,
        "calmar": _ratio(cagr, depth), "return_over_drawdown": _ratio(total, depth),
        "trades": summary["trades"]["closed"], "win_rate": summary["trades"]["win_rate"],
        "final_equity": summary["final_equity"], "steps": summary["steps"],
        "returns_skew": skew, "returns_kurtosis": kurt,
    }


def _ratio(value: float | None, depth: float | None) -> float | None:
    if value is None or not depth:
        return None
    return value / depth


def moments(returns: list[float]) -> tuple[float | None, float | None]:
    """Skewness and (non-excess) kurtosis of daily returns, for the deflated Sharpe ratio."""
    if len(returns) < 3:
        return None, None
    mean = statistics.fmean(returns)
    m2 = math.fsum((r - mean) ** 2 for r in returns) / len(returns)
    if m2 == 0:
        return None, None
    m3 = math.fsum((r - mean) ** 3 for r in returns) / len(returns)
    m4 = math.fsum((r - mean) ** 4 for r in returns) / len(returns)
    return m3 / m2 ** 1.5, m4 / m2 ** 2


def objective_value(metrics: dict[str, Any], objective: str,
                    constraints: Constraints) -> float | None:
    """The value to maximize, or None when the trial breaks a constraint or has no value."""
    if constraints.violation(metrics) is not None:
        return None
    value = metrics.get(objective)
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)
