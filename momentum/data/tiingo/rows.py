"""Cached Tiingo rows: when an adjusted history must be fetched again, and rows as bars."""
from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd

from momentum.data.base import BAR_COLUMNS, empty_bars, slice_bars
from momentum.data.tiingo.parse import PriceRow


def needs_full_refetch(last_cached: PriceRow, fresh: list[PriceRow]) -> bool:
    """True when the adjusted history must be downloaded again (Tiingo rewrites it, pitfall 1).

    That is when a new row carries a dividend or a split factor != 1, or the overlapping last
    cached day now has another dividend/split or another adjustment factor adjClose/close.
    """
    for row in fresh:
        if row.day > last_cached.day and (row.div_cash != 0 or row.split_factor != 1):
            return True
        if row.day == last_cached.day and (
                row.div_cash != last_cached.div_cash
                or row.split_factor != last_cached.split_factor
                or not math.isclose(row.adj_close / row.close,
                                    last_cached.adj_close / last_cached.close, rel_tol=1e-6)):
            return True
    return False


def rows_to_frame(rows: list[PriceRow], adjusted: bool, start: date, end: date) -> pd.DataFrame:
    """Bars in the momentum.data.base shape: adjusted OHLCV for stocks (R1.1), raw for crypto."""
    if not rows:
        return empty_bars()
    fields = (slice(6, 11) if adjusted else slice(1, 6))
    values = np.array([row[fields] for row in rows], dtype=np.float64)
    index = pd.DatetimeIndex(pd.to_datetime([r.day.isoformat() for r in rows], format="%Y-%m-%d"),
                             name="date")
    return slice_bars(pd.DataFrame(values, index=index, columns=list(BAR_COLUMNS)), start, end)
