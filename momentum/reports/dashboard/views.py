"""The figures of the six tabs as plain frames and dicts, computed from a `Source` (spec 7.2.5).

Pure and Streamlit-free, so every number on the page is unit-tested here. Money stays Decimal
until a frame is built; frames hold floats for display (R5.7: rounding only for display).
The R8 metrics come from ``rules.metrics``, the same functions as the backtest summary.
"""
from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd

from momentum.core.domain import Position, Trade
from momentum.reports.dashboard.feed import DayFeed, latest
from momentum.reports.dashboard.readers import Source
from momentum.rules.metrics import (daily_returns, drawdown_series, max_drawdown, monthly_returns,
                                    sharpe_ratio, total_return, trade_stats)

ZERO = Decimal(0)
POSITION_COLUMNS = ["ticker", "sector", "entry_date", "entry_price", "current_price", "shares",
                    "value", "pnl", "pnl_pct", "days_held", "stop", "target", "trailing_stop",
                    "to_stop_pct", "to_target_pct", "to_trailing_pct", "risk_to_stop"]
TRADE_COLUMNS = ["ticker", "asset_type", "sector", "entry_date", "entry_price", "exit_date",
                 "exit_price", "quantity", "exit_reason", "pnl", "pnl_pct", "days_held"]


# ---------------------------------------------------------------- overview
def overview(source: Source) -> dict[str, Any]:
    """Account value, today's P&L, cash, exposure and the key R8 metrics."""
    curve = source.curve
    equity = curve[-1].equity if curve else source.initial_capital
    cash = curve[-1].cash if curve else source.initial_capital
    prev = curve[-2].equity if len(curve) > 1 else None
    pnl = None if prev is None else equity - prev
    stats = trade_stats(source.trades)
    invested = equity - cash
    return {"as_of": source.as_of, "equity": equity, "cash": cash,
            "day_pnl": pnl, "day_pnl_pct": None if pnl is None or not prev else pnl / prev,
            "exposure": invested / equity if equity else ZERO, "invested": invested,
            "positions": len(source.positions), "closed_trades": stats.closed,
            "total_return": total_return(curve) if curve else None,
            "sharpe": sharpe_ratio(daily_returns(curve)) if len(curve) > 2 else None,
            "max_drawdown": max_drawdown(curve).depth if curve else None,
            "win_rate": stats.win_rate}


def equity_frame(source: Source) -> pd.DataFrame:
    """date, equity, cash, drawdown (fraction) per session."""
    curve = source.curve
    return pd.DataFrame({"date": pd.to_datetime([p.day for p in curve]),
                         "equity": [float(p.equity) for p in curve],
                         "cash": [float(p.cash) for p in curve],
                         "drawdown": drawdown_series(curve)})


# ---------------------------------------------------------------- positions
def positions_frame(source: Source) -> pd.DataFrame:
    """One row per open position with its levels, distances and risk to the stop."""
    as_of = source.as_of
    rows = [_position_row(p, as_of) for p in sorted(source.positions, key=lambda p: p.ticker)]
    return pd.DataFrame(rows, columns=POSITION_COLUMNS)


def _position_row(p: Position, as_of: date | None) -> dict[str, Any]:
    close = p.last_close
    stop = p.protective_stop  # the resting stop: max(stop, trail) once the trail is on (R4.5.1)
    cost = p.entry_price * p.quantity
    return {"ticker": p.ticker, "sector": p.sector, "entry_date": p.entry_date.isoformat(),
            "entry_price": float(p.entry_price), "current_price": float(close),
            "shares": float(p.quantity), "value": float(p.market_value),
            "pnl": float(p.unrealized_pnl),
            "pnl_pct": float(p.unrealized_pnl / cost) if cost else 0.0,
            "days_held": (as_of - p.entry_date).days if as_of else None,
            "stop": float(p.stop_price), "target": float(p.target_price),
            "trailing_stop": None if p.trailing_stop is None else float(p.trailing_stop),
            "to_stop_pct": float(p.stop_price / close - 1),
            "to_target_pct": float(p.target_price / close - 1),
            "to_trailing_pct": None if p.trailing_stop is None else float(
                p.trailing_stop / close - 1),
            "risk_to_stop": float(max(close - stop, ZERO) * p.quantity)}


def position_history(source: Source, ticker: str) -> pd.DataFrame:
    """The daily marks of the open position in `ticker` since its entry (from the feed)."""
    pos = next((p for p in source.positions if p.ticker == ticker), None)
    rows = []
    for day in sorted(source.days, key=lambda d: d.day):
        if pos is not None and day.day < pos.entry_date:
            continue
        for m in day.document["marks"]:
            if m["ticker"] == ticker:
                rows.append({"date": day.day.isoformat(), "close": float(m["close"]),
                             "stop": float(m["stop_price"]), "target": float(m["target_price"]),
                             "trailing_stop": _opt(m["trailing_stop"]),
                             "shares": float(m["quantity"]),
                             "value": float(Decimal(m["close"]) * Decimal(m["quantity"]))})
    return pd.DataFrame(rows, columns=["date", "close", "stop", "target", "trailing_stop",
                                       "shares", "value"])


def _opt(v: Any) -> float | None:
    return None if v is None else float(v)


def bars_frame(source: Source, ticker: str) -> pd.DataFrame:
    """The recent bars the paper run kept for `ticker` (empty when none were kept)."""
    bars = (source.bars or {}).get("bars", {}).get(ticker, [])
    frame = pd.DataFrame(bars, columns=["date", "open", "high", "low", "close"])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


# ---------------------------------------------------------------- trades
def trades_frame(source: Source) -> pd.DataFrame:
    """Closed trades, newest exit first."""
    closed = [t for t in source.trades if t.exit_date is not None]
    rows = [_trade_row(t) for t in sorted(closed, key=lambda t: (t.exit_date, t.ticker),
                                          reverse=True)]
    return pd.DataFrame(rows, columns=TRADE_COLUMNS)


def _trade_row(t: Trade) -> dict[str, Any]:
    return {"ticker": t.ticker, "asset_type": t.asset_type.value, "sector": t.sector,
            "entry_date": t.entry_date.isoformat(), "entry_price": float(t.entry_price),
            "exit_date": t.exit_date.isoformat() if t.exit_date else None,
            "exit_price": float(t.exit_price) if t.exit_price is not None else None,
            "quantity": float(t.quantity),
            "exit_reason": t.exit_reason.value if t.exit_reason else "",
            "pnl": float(t.pnl) if t.pnl is not None else None,
            "pnl_pct": float(t.return_pct) if t.return_pct is not None else None,
            "days_held": t.days_held}


def filter_trades(frame: pd.DataFrame, start: date | None = None, end: date | None = None,
                  tickers: list[str] | None = None,
                  reasons: list[str] | None = None) -> pd.DataFrame:
    """The trades whose exit falls in [start, end], of the given tickers and exit reasons."""
    keep = pd.Series(True, index=frame.index)
    if start is not None:
        keep &= frame["exit_date"] >= start.isoformat()
    if end is not None:
        keep &= frame["exit_date"] <= end.isoformat()
    if tickers:
        keep &= frame["ticker"].isin(tickers)
    if reasons:
        keep &= frame["exit_reason"].isin(reasons)
    return frame[keep].reset_index(drop=True)


def trade_statistics(frame: pd.DataFrame) -> pd.DataFrame:
    """Count, win rate, average P&L, expectancy, profit factor, days held: per reason and all."""
    groups = [(reason, part) for reason, part in frame.groupby("exit_reason", sort=True)]
    rows = [_stats_row(str(reason), part) for reason, part in groups]
    rows.append(_stats_row("all", frame))
    return pd.DataFrame(rows, columns=["exit_reason", "count", "win_rate", "average_pnl",
                                       "expectancy_pct", "profit_factor", "average_days_held"])


def _stats_row(label: str, part: pd.DataFrame) -> dict[str, Any]:
    pnl = part["pnl"].astype(float)
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    n = len(part)
    return {"exit_reason": label, "count": n,
            "win_rate": len(wins) / n if n else None,
            "average_pnl": float(pnl.mean()) if n else None,
            "expectancy_pct": float(part["pnl_pct"].astype(float).mean()) if n else None,
            "profit_factor": float(wins.sum() / -losses.sum()) if len(losses) else None,
            "average_days_held": float(part["days_held"].astype(float).mean()) if n else None}


# ---------------------------------------------------------------- signals
def signals_frame(days: list[DayFeed], count: int) -> pd.DataFrame:
    """Each recent day's candidates with scores, whether each signalled, was taken or rejected."""
    rows = []
    for feed in latest(days, count):
        doc = feed.document
        taken = {e["ticker"] for e in doc["entries"]}
        rejected = {j["ticker"]: j for j in doc["rejections"] if j.get("day") == doc["date"]}
        for c in sorted(doc["candidates"], key=lambda c: -c["score"]):
            status, rule, detail = _status(c, taken, rejected)
            rows.append({"date": doc["date"], "ticker": c["ticker"], "sector": c["sector"],
                         "score": c["score"], "momentum": c["momentum"], "rsi14": c["rsi14"],
                         "surge_ratio": c["surge_ratio"], "close": c["close"],
                         "signal": bool(c["signal"]), "status": status, "rule": rule,
                         "detail": detail})
    return pd.DataFrame(rows, columns=["date", "ticker", "sector", "score", "momentum", "rsi14",
                                       "surge_ratio", "close", "signal", "status", "rule",
                                       "detail"])


def _status(c: dict[str, Any], taken: set[str],
            rejected: dict[str, dict[str, Any]]) -> tuple[str, str, str]:
    if c["ticker"] in taken:
        return "taken", "", ""
    if c["ticker"] in rejected:
        j = rejected[c["ticker"]]
        return "rejected", j["rule"], j["detail"]
    return ("signal" if c["signal"] else "no signal"), "", ""


def rejection_counts(rejections: list[dict[str, str]], start: date | None,
                     end: date | None) -> pd.DataFrame:
    """Rejections by reason and rule within [start, end], most frequent first."""
    counts = Counter((r["reason"], r.get("rule", "")) for r in rejections
                     if (start is None or r["date"] >= start.isoformat())
                     and (end is None or r["date"] <= end.isoformat()))
    rows = [{"reason": reason, "rule": rule, "count": n}
            for (reason, rule), n in counts.most_common()]
    return pd.DataFrame(rows, columns=["reason", "rule", "count"])


# ---------------------------------------------------------------- risk
def risk_limits(source: Source, near: float) -> pd.DataFrame:
    """Each R6 limit: used, cap, the fraction of it used, and whether it is near a breach."""
    risk = source.strategy.get("risk", {})
    info = overview(source)
    equity = info["equity"]
    rows = [("gross exposure (R6.4)", float(info["exposure"]),
             risk.get("max_portfolio_exposure")),
            ("open positions (R6.2)", float(len(source.positions) + len(source.pending)),
             risk.get("max_positions"))]
    for sector, value in sector_exposure(source).items():
        rows.append((f"sector {sector} (R6.5)", value, risk.get("max_sector_exposure")))
    baseline = source.curve[-2].equity if len(source.curve) > 1 else None
    loss = float(max(baseline - equity, ZERO) / baseline) if baseline else 0.0
    rows.append(("daily loss (R6.1)", loss, risk.get("max_daily_loss")))
    frame = pd.DataFrame(rows, columns=["limit", "used", "cap"])
    frame["usage"] = [u / c if c else None for u, c in zip(frame["used"], frame["cap"],
                                                          strict=True)]
    frame["near_breach"] = [bool(x is not None and x >= near) for x in frame["usage"]]
    return frame


def halts(source: Source) -> list[str]:
    """R6.1: once the day's loss reaches max_daily_loss, no new entry is taken that day."""
    limits = risk_limits(source, 1.0)
    row = limits[limits["limit"] == "daily loss (R6.1)"]
    usage = row["usage"].iloc[0] if not row.empty else None
    if usage is not None and not pd.isna(usage) and usage >= 1:
        return [f"New entries halted on {source.as_of}: the day's loss reached the daily loss "
                f"limit (R6.1)."]
    return []


def sector_exposure(source: Source) -> dict[str, float]:
    """Market value per sector over equity, largest first."""
    equity = source.curve[-1].equity if source.curve else source.initial_capital
    values: dict[str, Decimal] = {}
    for p in source.positions:
        values[p.sector] = values.get(p.sector, ZERO) + p.market_value
    return {k: float(v / equity) for k, v in sorted(values.items(), key=lambda kv: -kv[1])}


# ---------------------------------------------------------------- performance
def benchmark_frame(source: Source) -> pd.DataFrame:
    """The benchmark's closes scaled to the starting equity (paper feed only)."""
    bench = (source.bars or {}).get("benchmark") or {}
    closes = bench.get("closes") or []
    if not closes or not source.curve:
        return pd.DataFrame(columns=["date", "benchmark"])
    base = float(closes[0][1])
    start = float(source.curve[0].equity)
    return pd.DataFrame({"date": pd.to_datetime([d for d, _ in closes]),
                         "benchmark": [start * float(c) / base for _, c in closes]})


def monthly_table(source: Source) -> pd.DataFrame:
    """Monthly returns as a year x month table (fractions)."""
    months = monthly_returns(source.curve)
    frame = pd.DataFrame([{"year": y, "month": m, "return": r} for (y, m), r in months.items()],
                         columns=["year", "month", "return"])
    table = frame.pivot(index="year", columns="month", values="return")
    return table.reindex(columns=range(1, 13))


def metrics_table(source: Source) -> pd.DataFrame:
    """The R8 metrics of the curve and the closed trades, one row each."""
    curve = source.curve
    returns = daily_returns(curve) if len(curve) > 1 else []
    dd = max_drawdown(curve) if curve else None
    stats = trade_stats(source.trades)
    rows = [("total return", total_return(curve) if curve else None),
            ("Sharpe ratio", sharpe_ratio(returns)),
            ("max drawdown", dd.depth if dd else None),
            ("max drawdown peak", dd.peak_date.isoformat() if dd and dd.peak_date else None),
            ("max drawdown trough", dd.trough_date.isoformat() if dd and dd.trough_date else None),
            ("closed trades", stats.closed), ("win rate", stats.win_rate),
            ("profit factor", stats.profit_factor),
            ("average win", _f(stats.average_win)), ("average loss", _f(stats.average_loss)),
            ("expectancy per trade", _f(stats.expectancy)),
            ("average days held", stats.average_days_held),
            ("realized P&L", float(stats.realized_pnl))]
    return pd.DataFrame([{"metric": k, "value": v} for k, v in rows])


def _f(v: Decimal | None) -> float | None:
    return None if v is None else float(v)
