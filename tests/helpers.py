"""Builders for small hand-made markets used across tests."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd

from momentum.core.domain import Asset, AssetType
from momentum.data.market import AssetHistory, Market


def bar_frame(days: Sequence[date], opens, highs, lows, closes, volumes) -> pd.DataFrame:
    frame = pd.DataFrame({"open": opens, "high": highs, "low": lows, "close": closes,
                          "volume": volumes}, dtype="float64")
    frame.index = pd.DatetimeIndex(pd.to_datetime(list(days)), name="date")
    return frame


def trend_frame(days: Sequence[date], start: float, daily_return: float,
                volume: float = 1e6, seed: int = 0) -> pd.DataFrame:
    """A gently noisy trend: close grows by `daily_return` a day, OHLC consistent."""
    rng = np.random.default_rng(seed)
    n = len(days)
    noise = rng.normal(0, 0.002, n)
    close = start * np.cumprod(1 + daily_return + noise)
    open_ = np.concatenate(([start], close[:-1]))
    high = np.maximum(open_, close) * 1.005
    low = np.minimum(open_, close) * 0.995
    return bar_frame(days, open_, high, low, close, np.full(n, volume))


def weekdays(start: date, n: int) -> list[date]:
    out, d = [], start
    while len(out) < n:
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(days=1)
    return out


def every_day(start: date, n: int) -> list[date]:
    return [start + timedelta(days=i) for i in range(n)]


def stock(ticker: str, sector: str = "Information Technology", cap: float | None = 1e10) -> Asset:
    return Asset(ticker, AssetType.STOCK, sector, cap)


def crypto(ticker: str) -> Asset:
    return Asset(ticker, AssetType.CRYPTO, "Crypto", 1e10)


def make_market(items: dict[Asset, pd.DataFrame], **kwargs) -> Market:
    return Market([AssetHistory.from_frame(a, f) for a, f in items.items()], **kwargs)


class FrameSource:
    """A MarketDataSource over in-memory frames (for runners that take a source)."""

    name = "frames"

    def __init__(self, items: dict[Asset, pd.DataFrame]) -> None:
        self._items = {a.ticker: (a, f) for a, f in items.items()}

    def assets(self) -> list[Asset]:
        return [self._items[t][0] for t in sorted(self._items)]

    def bars(self, ticker, start=None, end=None) -> pd.DataFrame:
        frame = self._items[ticker][1]
        if start is not None:
            frame = frame[frame.index >= pd.Timestamp(start)]
        if end is not None:
            frame = frame[frame.index <= pd.Timestamp(end)]
        return frame
