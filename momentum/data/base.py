"""The market-data interface every source implements (synthetic, CSV directory, Tiingo).

A source answers three questions: which assets exist, what each one is (type, sector, market cap),
and what its daily bars were between two dates. Bars come back as a DataFrame indexed by
``date`` (datetime64, midnight, ascending, unique) with float64 columns ``open high low close
volume``; stocks are split/dividend adjusted and crypto volume is in coin units (R1.1).
A source hands out completed bars only: never the still-forming bar of the current day.

A source may also offer ``price_bars(ticker, start, end)``: the same bars as plain arrays
(``PriceBars``). ``Market.load`` uses it when present, so loading a market neither builds a
DataFrame per asset nor imports pandas.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from momentum.core.domain import Asset

if TYPE_CHECKING:
    import pandas as pd

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


@dataclass(frozen=True, slots=True)
class PriceBars:
    """One ticker's daily bars as arrays: what ``bars`` returns, without the DataFrame.

    ``dates`` is datetime64[D], ascending and unique; ``values`` is (len(dates), 5) float64 in
    BAR_COLUMNS order. Both may be read-only views of the source's own copy: never edit them.
    """

    dates: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.dates)

    def between(self, start: date | None, end: date | None) -> PriceBars:
        """The bars with start <= date <= end (positions, not a mask: no copy)."""
        lo = 0 if start is None else int(np.searchsorted(self.dates, np.datetime64(start, "D"),
                                                         side="left"))
        hi = len(self.dates) if end is None else int(
            np.searchsorted(self.dates, np.datetime64(end, "D"), side="right"))
        if (lo, hi) == (0, len(self.dates)):
            return self
        return PriceBars(self.dates[lo:hi], self.values[lo:hi])

    def to_frame(self) -> pd.DataFrame:
        """The bars as the DataFrame ``bars`` returns (a copy: editing it cannot touch the
        source)."""
        import pandas as pd  # noqa: PLC0415 - only callers that want frames pay for pandas

        index = pd.DatetimeIndex(self.dates.astype(frame_date_dtype()), name="date")
        return pd.DataFrame(np.array(self.values, dtype=np.float64), index=index,
                            columns=list(BAR_COLUMNS))


def ascend_between_starts(days: np.ndarray, starts: np.ndarray, lo: int, hi: int) -> bool:
    """Whether the day numbers (int64) of several series laid end to end rise strictly from each
    row k to k + 1, for k in lo..hi - 1, except where k + 1 is a series' first row (`starts`):
    nothing orders one series' last day against the next one's first. Checked a slice at a time
    by the callers, so the pair across two slices is this slice's last."""
    rising = np.diff(days[lo:hi + 1]) > 0
    rising[starts[(starts > lo) & (starts <= hi)] - lo - 1] = True
    return bool(rising.all())


def price_bars_of(frame: pd.DataFrame) -> PriceBars:
    """A bar frame (any column order) as PriceBars in BAR_COLUMNS order."""
    columns = list(frame.columns)
    values = frame.to_numpy(dtype=np.float64)[:, [columns.index(c) for c in BAR_COLUMNS]]
    return PriceBars(frame.index.to_numpy().astype("datetime64[D]"), values)


_DATE_DTYPE: list[np.dtype] = []


def frame_date_dtype() -> np.dtype:
    """The index unit a reference reader's pd.to_datetime gives (ns in pandas 2, us in 3)."""
    if not _DATE_DTYPE:
        import pandas as pd  # noqa: PLC0415

        _DATE_DTYPE.append(pd.to_datetime(pd.Series(["2024-01-02"]), format="%Y-%m-%d").dtype)
    return _DATE_DTYPE[0]


def empty_bars() -> pd.DataFrame:
    """A bar frame with no rows, in the shape every source returns."""
    import pandas as pd  # noqa: PLC0415

    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in BAR_COLUMNS})
    frame.index = pd.DatetimeIndex([], name="date")
    return frame


def slice_bars(frame: pd.DataFrame, start: date | None, end: date | None) -> pd.DataFrame:
    """Rows of a bar frame (ascending dates, as every source returns) with start <= date <= end."""
    import pandas as pd  # noqa: PLC0415

    index = frame.index
    lo = 0 if start is None else int(index.searchsorted(pd.Timestamp(start), side="left"))
    hi = len(index) if end is None else int(index.searchsorted(pd.Timestamp(end), side="right"))
    # Positions, not a boolean mask: no copy of a 10-year frame to keep all of it.
    return frame if (lo, hi) == (0, len(index)) else frame.iloc[lo:hi]
