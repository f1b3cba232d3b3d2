"""One daily step as plain data: what `MomentumStrategy.run_daily` returns to a caller."""
from __future__ import annotations

from typing import Any

from momentum.core.domain import DayResult
from momentum.core.money import money_str


def day_summary(result: DayResult) -> dict[str, Any]:
    """A plain dict of one daily step: fills with reasons, entries, rejections, equity, P&L."""
    return {
        "date": result.day.isoformat(),
        "fills": [{"ticker": f.ticker, "side": f.side.value, "date": f.day.isoformat(),
                   "price": money_str(f.price), "quantity": money_str(f.quantity),
                   "commission": money_str(f.commission),
                   "reason": f.reason.value if f.reason else "entry"} for f in result.fills],
        "entries": [{"ticker": o.ticker, "quantity": money_str(o.quantity), "score": o.score,
                     "reference_close": money_str(o.reference_close)} for o in result.entries],
        "rejections": [{"ticker": r.ticker, "reason": r.reason.value, "rule": r.rule,
                        "detail": r.detail, "date": r.day.isoformat()} for r in result.rejections],
        "equity": money_str(result.equity), "cash": money_str(result.cash),
        "gross_exposure": money_str(result.gross_exposure),
        "sector_exposure": {s: money_str(v) for s, v in result.sector_exposure.items()},
        "daily_pnl": money_str(result.daily_pnl),
        "full_scan": result.full_scan,
        "candidates": [c.ticker for c in result.candidates],
        "data_dates": {k: v.isoformat() for k, v in result.data_dates.items()},
    }
