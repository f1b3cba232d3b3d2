"""The market-data interface every source implements (synthetic, CSV directory, Tiingo).

A source answers three questions: which assets exist, what each one is (type, sector, market cap),
and what its daily bars were between two dates. Bars come back as a DataFrame indexed by
``date`` (datetime64, midnight, ascending, unique) with float64 columns ``open high low close
volume``; stocks are split/dividend adjusted and crypto volume is in coin units (R1.1).
A source hands out completed bars only: never the still-forming bar of the current day.
"""
from __future__ import annotations

from datetime import date
from typing import Protocol, runtime_checkable

import pandas as pd

from momentum.core.domain import Asset

BAR_COLUMNS = ("open", "high", "low", "close", "volume")


@runtime_checkable
class MarketDataSource(Protocol):
    """Where bars and asset metadata come from."""

    name: str

    def assets(self) -> list[Asset]:
        """Every asset the source knows, tradable ones and benchmarks (etf), sorted by ticker."""
        ...

    def bars(self, ticker: str, start: date | None = None, end: date | None = None) -> pd.DataFrame:
        """Daily bars of one ticker with start <= date <= end (None = unbounded), oldest first."""
        ...


def empty_bars() -> pd.DataFrame:
    """A bar frame with no rows, in the shape every source returns."""
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in BAR_COLUMNS})
    frame.index = pd.DatetimeIndex([], name="date")
    return frame


def slice_bars(frame: pd.DataFrame, start: date | None, end: date | None) -> pd.DataFrame:
    """Rows of a bar frame (ascending dates, as every source returns) with start <= date <= end."""
    index = frame.index
    lo = 0 if start is None else int(index.searchsorted(pd.Timestamp(start), side="left"))
    hi = len(index) if end is None else int(index.searchsorted(pd.Timestamp(end), side="right"))
    # Positions, not a boolean mask: no copy of a 10-year frame to keep all of it.
    return frame if (lo, hi) == (0, len(index)) else frame.iloc[lo:hi]
