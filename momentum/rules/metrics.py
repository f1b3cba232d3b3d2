"""Performance metrics of a backtest (STRATEGY R8): pure functions over its equity and trades.

Money stays ``Decimal`` until the final conversion; ratios are floats. ``summarize`` turns a
``BacktestResult`` into a JSON-ready dict: ratios as floats, money as full-precision strings
(``money_str``), dates as ISO text, ``None`` where a metric is undefined.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from momentum.core.domain import AssetType, DayResult, ExitReason, Rejection, RejectReason, Trade
from momentum.core.money import ZERO, money_str, to_money

if TYPE_CHECKING:  # types only: metrics never runs the engine
    from momentum.data.market import Market
    from momentum.run.backtester import BacktestResult

TRADING_DAYS_PER_YEAR = 252
DAYS_PER_YEAR = 365.25
STOCK_BENCHMARK = "SPY"
CRYPTO_BENCHMARK = "BTCUSD"


class ValuePoint(Protocol):
    """A dated account value: the engine's EquityPoint, or a benchmark's HoldingPoint."""

    @property
    def day(self) -> date: ...

    @property
    def equity(self) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class HoldingPoint:
    """The value on `day` of the capital put into the benchmark at the first close."""

    day: date
    equity: Decimal


@dataclass(frozen=True, slots=True)
class Drawdown:
    """The deepest fall from a running peak: depth = (peak - trough) / peak."""

    depth: float                   # 0.0 when the curve never fell below a peak
    peak_date: date | None
    trough_date: date | None
    recovery_date: date | None     # first date back at or above the peak; None if not recovered


@dataclass(frozen=True, slots=True)
class TradeStats:
    """Closed-trade statistics (a trade with pnl == 0 counts as neither a win nor a loss)."""

    closed: int
    open_positions: int
    wins: int
    losses: int
    win_rate: float | None
    profit_factor: float | None    # gross wins / |gross losses|; None without a loss
    gross_profit: Decimal
    gross_loss: Decimal            # <= 0
    realized_pnl: Decimal
    average_win: Decimal | None
    average_loss: Decimal | None   # < 0
    expectancy: Decimal | None     # mean pnl per closed trade
    average_days_held: float | None
    exit_reasons: dict[str, int]   # every ExitReason value, 0 when none


@dataclass(frozen=True, slots=True)
class BenchmarkStats:
    """Buy-and-hold of the benchmark over the backtest window, or why it is missing."""

    ticker: str
    curve: tuple[HoldingPoint, ...]
    total_return: float | None
    cagr: float | None
    max_drawdown: Drawdown | None
    reason: str | None             # set when the benchmark is absent


# ---------------------------------------------------------------- returns
def daily_returns(curve: Sequence[ValuePoint]) -> list[float]:
    """R8: the return of each step's equity over the previous step's."""
    out = []
    for prev, cur in zip(curve, curve[1:], strict=False):
        if prev.equity <= 0:
            raise ValueError(f"equity {prev.equity} on {prev.day} is not positive: no return")
        out.append(float(cur.equity / prev.equity - 1))
    return out


def sharpe_ratio(returns: Sequence[float]) -> float | None:
    """R8: mean / std(ddof=1) * sqrt(252), risk-free 0; None under 2 returns or zero deviation."""
    if len(returns) < 2:
        return None
    deviation = statistics.stdev(returns)  # exact: a constant series gives exactly 0
    if deviation == 0:
        return None
    return statistics.fmean(returns) / deviation * math.sqrt(TRADING_DAYS_PER_YEAR)


def sortino_ratio(returns: Sequence[float]) -> float | None:
    """Sortino ratio, risk-free rate and target return 0, annualized like Sharpe.

        downside_deviation = sqrt( sum(min(r_i, 0) ** 2 for every i) / N )
        sortino            = mean(r) / downside_deviation * sqrt(252)

    N counts every return (gains contribute 0 to the sum, not left out of N). None with fewer
    than 2 returns or when no return is negative (downside deviation 0).
    """
    if len(returns) < 2:
        return None
    downside = math.fsum(min(r, 0.0) ** 2 for r in returns) / len(returns)
    if downside == 0:
        return None
    return statistics.fmean(returns) / math.sqrt(downside) * math.sqrt(TRADING_DAYS_PER_YEAR)


def total_return(curve: Sequence[ValuePoint]) -> float | None:
    """Last equity over first equity, minus 1; None for an empty curve."""
    if not curve or curve[0].equity <= 0:
        return None
    return float(curve[-1].equity / curve[0].equity - 1)


def cagr(curve: Sequence[ValuePoint]) -> float | None:
    """R8: (final/initial) ** (365.25 / calendar days from first to last point) - 1.

    None for fewer than 2 points, a zero-day span or a result too large for a float;
    -1.0 when everything was lost.
    """
    if len(curve) < 2 or curve[0].equity <= 0:
        return None
    days = (curve[-1].day - curve[0].day).days
    if days <= 0:
        return None
    growth = curve[-1].equity / curve[0].equity
    if growth <= 0:
        return -1.0
    try:
        return float(growth) ** (DAYS_PER_YEAR / days) - 1
    except OverflowError:
        return None


# ---------------------------------------------------------------- drawdown
def drawdown_series(curve: Sequence[ValuePoint]) -> list[float]:
    """(running peak - equity) / running peak at each point, as fractions >= 0."""
    out, peak = [], None
    for p in curve:
        peak = p.equity if peak is None or p.equity > peak else peak
        out.append(float((peak - p.equity) / peak) if peak > 0 else 0.0)
    return out


def max_drawdown(curve: Sequence[ValuePoint]) -> Drawdown:
    """R8: max over time of (peak - equity) / peak, with its peak, trough and recovery dates.

    The peak is the latest point at the running maximum before the trough; the first trough
    of the deepest depth wins a tie.
    """
    depth, best = ZERO, None
    peak_i = 0
    for i, p in enumerate(curve):
        if p.equity >= curve[peak_i].equity:
            peak_i = i
            continue
        fall = (curve[peak_i].equity - p.equity) / curve[peak_i].equity
        if fall > depth:
            depth, best = fall, (peak_i, i)
    if best is None:
        return Drawdown(0.0, None, None, None)
    peak_i, trough_i = best
    recovery = next((p.day for p in curve[trough_i + 1:] if p.equity >= curve[peak_i].equity), None)
    return Drawdown(float(depth), curve[peak_i].day, curve[trough_i].day, recovery)


def monthly_returns(curve: Sequence[ValuePoint]) -> dict[tuple[int, int], float]:
    """(year, month) -> return from the previous month-end equity to this month-end equity.

    The first month is measured from the first point's equity (the capital at the start).
    """
    month_end: dict[tuple[int, int], Decimal] = {}
    for p in curve:
        month_end[(p.day.year, p.day.month)] = p.equity  # the last point of the month wins
    out, base = {}, curve[0].equity if curve else ZERO
    for key in sorted(month_end):
        if base > 0:
            out[key] = float(month_end[key] / base - 1)
        base = month_end[key]
    return out


# ---------------------------------------------------------------- trades and exposure
def trade_stats(trades: Sequence[Trade]) -> TradeStats:
    """R8 per-trade statistics over the closed trades; open ones are only counted."""
    pnls = [t.pnl for t in trades if t.pnl is not None]
    wins = [x for x in pnls if x > 0]
    losses = [x for x in pnls if x < 0]
    gross_profit, gross_loss = sum(wins, ZERO), sum(losses, ZERO)
    held = [t.days_held for t in trades if t.days_held is not None]
    reasons = {r.value: 0 for r in ExitReason}
    for t in trades:
        if t.exit_reason is not None:
            reasons[t.exit_reason.value] += 1
    return TradeStats(
        closed=len(pnls), open_positions=sum(1 for t in trades if t.is_open),
        wins=len(wins), losses=len(losses),
        win_rate=len(wins) / len(pnls) if pnls else None,
        profit_factor=float(gross_profit / -gross_loss) if losses else None,
        gross_profit=gross_profit, gross_loss=gross_loss, realized_pnl=sum(pnls, ZERO),
        average_win=_mean(wins), average_loss=_mean(losses), expectancy=_mean(pnls),
        average_days_held=statistics.fmean(held) if held else None,
        exit_reasons=reasons)


def _mean(values: Sequence[Decimal]) -> Decimal | None:
    return sum(values, ZERO) / len(values) if values else None


def average_exposure(days: Sequence[DayResult]) -> float | None:
    """Mean gross exposure (market value / equity) over the steps; None without steps."""
    if not days:
        return None
    return float(sum((d.gross_exposure for d in days), ZERO) / len(days))


def rejection_counts(rejections: Sequence[Rejection]) -> dict[str, int]:
    """Rejections by reason, every RejectReason value present."""
    counts = {r.value: 0 for r in RejectReason}
    for r in rejections:
        counts[r.reason.value] += 1
    return counts


# ---------------------------------------------------------------- benchmark
def benchmark_ticker(market: Market) -> str:
    """SPY when the universe holds stocks, else BTCUSD."""
    return STOCK_BENCHMARK if market.has_type(AssetType.STOCK) else CRYPTO_BENCHMARK


def benchmark_stats(market: Market, first: date, last: date, capital: Decimal) -> BenchmarkStats:
    """Buy-and-hold from the first close on/after `first` to the last close on/before `last`."""
    ticker = benchmark_ticker(market)
    history = market.histories.get(ticker)
    if history is None:
        return _no_benchmark(ticker, f"{ticker} is not in the market data")
    lo = int(np.searchsorted(history.dates, np.datetime64(first, "D"), side="left"))
    hi = int(np.searchsorted(history.dates, np.datetime64(last, "D"), side="right"))
    if hi - lo < 1:
        return _no_benchmark(ticker, f"{ticker} has no close between {first} and {last}")
    base = to_money(float(history.close[lo]))
    if base <= 0:
        return _no_benchmark(ticker, f"{ticker} closed at {base} on its first day")
    days = history.dates[lo:hi].astype("datetime64[D]").tolist()  # datetime.date objects
    curve = tuple(HoldingPoint(d, capital * to_money(c) / base)
                  for d, c in zip(days, history.close[lo:hi].tolist(), strict=True))
    return BenchmarkStats(ticker, curve, total_return(curve), cagr(curve), max_drawdown(curve),
                          reason=None)


def _no_benchmark(ticker: str, reason: str) -> BenchmarkStats:
    return BenchmarkStats(ticker, (), None, None, None, f"benchmark omitted: {reason}")


# ---------------------------------------------------------------- summary
def summarize(result: BacktestResult, market: Market, *,
              bench: BenchmarkStats | None = None) -> dict[str, Any]:
    """R8 metrics of a backtest as a JSON-ready dict (floats, money strings, ISO dates).

    `bench` is this window's ``benchmark_stats`` when the caller has it already (the report).
    """
    state = result.state
    curve = state.equity_curve
    returns = daily_returns(curve)
    stats = trade_stats(state.portfolio.trades())
    final = curve[-1].equity if curve else state.initial_capital
    unrealized = sum((p.unrealized_pnl for p in state.portfolio.positions.values()), ZERO)
    if bench is None:
        bench = benchmark_stats(market, result.start, result.end, state.initial_capital)
    return {
        "start": result.start.isoformat(), "end": result.end.isoformat(), "steps": len(curve),
        "initial_capital": money_str(state.initial_capital), "final_equity": money_str(final),
        "final_cash": money_str(state.portfolio.cash),
        "net_pnl": money_str(final - state.initial_capital),
        "realized_pnl": money_str(stats.realized_pnl), "unrealized_pnl": money_str(unrealized),
        "total_return": total_return(curve), "cagr": cagr(curve),
        "sharpe": sharpe_ratio(returns), "sortino": sortino_ratio(returns),
        "max_drawdown": drawdown_dict(max_drawdown(curve)),
        "average_exposure": average_exposure(result.days),
        "trades": trade_stats_dict(stats),
        "rejections": {"total": len(state.rejections),
                       "by_reason": rejection_counts(state.rejections)},
        "benchmark": benchmark_dict(bench),
    }


def drawdown_dict(dd: Drawdown | None) -> dict[str, Any] | None:
    """A Drawdown as JSON-ready values."""
    if dd is None:
        return None
    return {"depth": dd.depth, "peak_date": _iso(dd.peak_date),
            "trough_date": _iso(dd.trough_date), "recovery_date": _iso(dd.recovery_date)}


def trade_stats_dict(s: TradeStats) -> dict[str, Any]:
    """TradeStats as JSON-ready values (money as full-precision strings)."""
    return {
        "closed": s.closed, "open_positions": s.open_positions, "wins": s.wins,
        "losses": s.losses, "win_rate": s.win_rate, "profit_factor": s.profit_factor,
        "gross_profit": money_str(s.gross_profit), "gross_loss": money_str(s.gross_loss),
        "realized_pnl": money_str(s.realized_pnl), "average_win": _money(s.average_win),
        "average_loss": _money(s.average_loss), "expectancy": _money(s.expectancy),
        "average_days_held": s.average_days_held, "exit_reasons": dict(s.exit_reasons),
    }


def benchmark_dict(b: BenchmarkStats) -> dict[str, Any]:
    """BenchmarkStats (without its curve) as JSON-ready values."""
    return {"ticker": b.ticker, "total_return": b.total_return, "cagr": b.cagr,
            "max_drawdown": drawdown_dict(b.max_drawdown), "reason": b.reason,
            "first_date": _iso(b.curve[0].day) if b.curve else None,
            "last_date": _iso(b.curve[-1].day) if b.curve else None}


def _money(x: Decimal | None) -> str | None:
    return None if x is None else money_str(x)


def _iso(d: date | None) -> str | None:
    return None if d is None else d.isoformat()
