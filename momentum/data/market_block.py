"""Array helpers that build a Market: every asset's bars and indicators in one block, checked at
once, and the point-in-time (as-of) index over all of them.

``Market.load`` lays the assets end to end in one (9, total bars) float64 block, rows
``BLOCK_ROWS``; each AssetHistory's arrays and the market's flat scan arrays are views of it,
so a bar is held once.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from momentum.data.base import BAR_COLUMNS, PriceBars, ascend_between_starts
from momentum.data.indicators import MIN_SCORE_BARS, set_first

# The first five rows are the scan fields of the flat arrays (momentum .. close), side by side.
BLOCK_ROWS = ("momentum", "adv20_usd", "rsi14", "surge_ratio", "close", "open", "high", "low",
              "volume")
CLOSE, VOLUME = BLOCK_ROWS.index("close"), BLOCK_ROWS.index("volume")


def bar_block(bars: Sequence[PriceBars]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(dates, block, starts, lengths): the bars end to end, the indicator rows still empty."""
    lengths = np.array([len(b) for b in bars], dtype=np.intp)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.intp)
    dates = np.concatenate([b.dates for b in bars]).astype("datetime64[D]", copy=False)
    block = np.empty((len(BLOCK_ROWS), len(dates)))
    for k, column in enumerate(BAR_COLUMNS):  # column by column: sources often hold columns
        np.concatenate([b.values[:, k] for b in bars], out=block[BLOCK_ROWS.index(column)])
    return dates, block, starts, lengths


def all_bars_usable(dates: np.ndarray, block: np.ndarray, starts: np.ndarray) -> bool:
    """Market._bars_problem would find nothing in any asset of the block."""
    numbers = dates.view(np.int64)
    total = block.shape[1]
    for lo in range(0, total, _CHECK_BARS):  # a slice at a time: the temporaries stay in cache
        hi = min(lo + _CHECK_BARS, total)
        bars = block[CLOSE:, lo:hi]  # close, open, high, low, volume
        if not np.isfinite(bars).all() or not (bars[:4] > 0).all() or not (bars[4] >= 0).all():
            return False
        c, o, h, low = bars[:4]
        if not ((low <= np.minimum(o, c)).all() and (h >= np.maximum(o, c)).all()):
            return False
        if not ascend_between_starts(numbers, starts, lo, hi):  # inside each asset
            return False
    return True


_CHECK_BARS = 1 << 18


def has_score(momentum: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """IndicatorSet.has_score of every asset end to end (R2.7)."""
    scored = np.isfinite(momentum)
    set_first(scored, (offsets.tolist(), lengths.tolist()), MIN_SCORE_BARS - 1, False)
    return scored


def shared_block(ordered: Sequence[Any],
                 offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(block, dates) when the histories `ordered` are exactly views of one block in its order
    (every array the right row and offset of it), else None."""
    if not ordered:
        return None
    block, dates = ordered[0].close.base, ordered[0].dates.base
    total = int(offsets[-1]) + len(ordered[-1].dates)
    if (not isinstance(block, np.ndarray) or block.shape != (len(BLOCK_ROWS), total)
            or not isinstance(dates, np.ndarray) or dates.shape != (total,)
            or dates.dtype != np.dtype("datetime64[D]")):
        return None
    row, item = block.strides[0], block.itemsize
    base, date_base = block.ctypes.data, dates.ctypes.data
    for h, lo in zip(ordered, offsets.tolist(), strict=True):
        ind = h.indicators
        arrays = (ind.momentum, ind.adv20_usd, ind.rsi14, ind.surge_ratio, h.close, h.open,
                  h.high, h.low, h.volume)
        for k, a in enumerate(arrays):
            if a.base is not block or a.ctypes.data != base + k * row + lo * item:
                return None
        if h.dates.base is not dates or h.dates.ctypes.data != date_base + lo * dates.itemsize:
            return None
    return block, dates


def asof_index(date_arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Union of the assets' bar dates; per date and asset, the index of its last bar dated <= it
    (-1: none), and whether that bar is dated exactly that day."""
    if not date_arrays:
        empty = np.zeros((0, 0), dtype=np.int32)
        return np.array([], dtype="datetime64[D]"), empty, empty.astype(bool)
    numbers = [np.asarray(d).astype("datetime64[D]").view(np.int64) for d in date_arrays]
    dates, rank = _union_days(numbers)
    # Built asset by date, one asset at a time (its bars land close together, and nothing the
    # size of all bars is allocated), then turned date by asset.
    by_asset = np.full((len(numbers), len(dates)), -1, dtype=np.int32)
    seen = np.zeros(by_asset.shape, dtype=bool)
    bar = np.arange(max(map(len, numbers)), dtype=np.int32)
    for j, days in enumerate(numbers):
        rows = rank(days)
        by_asset[j, rows] = bar[:len(days)]
        seen[j, rows] = True
    # Bar indexes grow with time, so a running maximum carries the last bar forward.
    np.maximum.accumulate(by_asset, axis=1, out=by_asset)
    return dates, np.ascontiguousarray(by_asset.T), np.ascontiguousarray(seen.T)


def _union_days(numbers: list[np.ndarray]) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """The sorted distinct days of all assets, and a function giving each day's position
    among them."""
    filled = [n for n in numbers if len(n)]
    if not filled:
        return np.array([], dtype="datetime64[D]"), lambda days: days.astype(np.intp)
    lo = min(int(n.min()) for n in filled)
    hi = max(int(n.max()) for n in filled)
    total = sum(len(n) for n in filled)
    if hi - lo > 4 * total + 100_000:  # a few dates centuries apart: sort instead
        dates = np.unique(np.concatenate(filled)).astype("datetime64[D]")
        return dates, lambda days: np.searchsorted(dates.view(np.int64), days)
    present = np.zeros(hi - lo + 1, dtype=bool)
    for n in filled:
        present[n - lo] = True
    position = np.cumsum(present, dtype=np.intp) - 1
    dates = (np.flatnonzero(present) + lo).astype("datetime64[D]")
    return dates, lambda days: position[days - lo]
