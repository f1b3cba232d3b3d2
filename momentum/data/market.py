"""The in-memory market: every asset's bars and indicators, and point-in-time views of it.

``Market`` loads each asset's whole history once and computes its indicators once (R1.4, R2).
``Market.until(day)`` returns a ``MarketView`` that can only hand out bars and indicator values
dated <= day (R1.2), so nothing built on a view can look ahead by accident. ``MarketView``,
``BarPoint`` and ``ScanSnapshot`` live in data/market_view.py and are re-exported here.
"""
from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from momentum.core.calendar import step_days
from momentum.core.domain import Asset, AssetType
from momentum.core.errors import ConfigError, DataError
from momentum.data.base import MarketDataSource, PriceBars, price_bars_of
from momentum.data.indicators import IndicatorSet, compute_indicators, indicator_block
from momentum.data.market_block import (CLOSE, VOLUME, all_bars_usable, asof_index, bar_block,
                                        has_score, shared_block)
from momentum.data.market_view import BarPoint, MarketView, ScanSnapshot
from momentum.data.step_index import StepIndex

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["AssetHistory", "BarPoint", "Market", "MarketView", "ScanSnapshot",
           "last_step_day"]

logger = logging.getLogger(__name__)
_DAY = np.timedelta64(1, "D")
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@dataclass(frozen=True, slots=True)
class AssetHistory:
    """One asset's bars (oldest first) and its R2 indicators, aligned by index."""

    asset: Asset
    dates: np.ndarray      # datetime64[D]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    indicators: IndicatorSet

    @classmethod
    def from_frame(cls, asset: Asset, frame: pd.DataFrame) -> AssetHistory:
        bars = price_bars_of(frame)
        return cls.from_arrays(asset, bars.dates, bars.values)

    @classmethod
    def from_arrays(cls, asset: Asset, dates: np.ndarray, bars: np.ndarray) -> AssetHistory:
        """From dates and an (n, 5) float array of open, high, low, close, volume."""
        o, h, lo, c, v = (np.ascontiguousarray(bars[:, k]) for k in range(5))
        return cls(asset=asset, dates=dates, open=o, high=h, low=lo, close=c, volume=v,
                   indicators=compute_indicators(c, v))


def _histories_in_one_block(
        loaded: list[tuple[Asset, PriceBars]]) -> tuple[list[AssetHistory], dict[str, str]]:
    """AssetHistory objects whose arrays are views into one block (market_block), and why each
    asset whose bars cannot be used was left out (_bars_problem). Empties `loaded`.

    The indicators of all assets are computed together (indicators.indicator_block), bit for
    bit what AssetHistory.from_arrays computes for each alone.
    """
    if not loaded:
        return [], {}
    dates, block, starts, lengths = bar_block([bars for _, bars in loaded])
    if not all_bars_usable(dates, block, starts):  # rare: name the assets, then rebuild
        problems = {asset.ticker: why for asset, bars in loaded
                    if (why := _bars_problem(bars.dates, bars.values))}
        loaded[:] = [(a, b) for a, b in loaded if a.ticker not in problems]
        histories, _ = _histories_in_one_block(loaded)
        return histories, problems
    assets = [asset for asset, _ in loaded]
    loaded.clear()  # the source's arrays are copied: let them go before the indicators
    indicator_block(block[CLOSE], block[VOLUME], starts, lengths, out=block[:4])
    block.flags.writeable = False
    dates.flags.writeable = False
    histories = []
    for asset, lo, n in zip(assets, starts.tolist(), lengths.tolist(), strict=True):
        m, adv, rsi, surge, c, o, h, low, v = block[:, lo:lo + n]  # the order of BLOCK_ROWS
        histories.append(AssetHistory(asset=asset, dates=dates[lo:lo + n], open=o, high=h, low=low,
                                      close=c, volume=v,
                                      indicators=IndicatorSet(rsi14=rsi, momentum=m,
                                                              adv20_usd=adv, surge_ratio=surge)))
    return histories, {}


class Market:
    """Every asset's history, indexed for O(1) point-in-time lookups.

    The per-asset arrays are also kept concatenated ("flat") with an offset per asset, so a scan
    of hundreds of assets on one day is a handful of vectorized gathers, not a Python loop.
    """

    def __init__(self, histories: Iterable[AssetHistory],
                 complete_through: dict[AssetType, date] | None = None,
                 skipped: dict[str, str] | None = None,
                 unavailable: Iterable[str] = ()) -> None:
        self.histories: dict[str, AssetHistory] = {h.asset.ticker: h for h in histories}
        self.complete_through = dict(complete_through or {})
        self.skipped = dict(skipped or {})  # ticker -> why it could not be loaded
        # The skipped tickers whose failure was transient (asking later may work): a day that
        # would trade without them is not committed unless the user allows it.
        self.unavailable = frozenset(unavailable)
        self.tickers = sorted(self.histories)
        ordered = [self.histories[t] for t in self.tickers]
        self._column = {t: j for j, t in enumerate(self.tickers)}
        self._dates, self._asof, self._exact = _asof_index(ordered)
        # Python ints: a bisect on them beats building a datetime64 for every lookup.
        self._ordinals = (self._dates.astype(np.int64) + _EPOCH_ORDINAL).tolist()
        self._rows_of_days: dict[date, int] = {}  # _row of each date asked for (MarketView)
        self._flat = _FlatArrays.build(ordered)
        self._momentum = self._flat.values[:, _MOMENTUM]  # a view: M of every bar
        # Field by field (a view, (len(_FIELDS), bars)): take(flat, axis=1) gathers the bars
        # of a scan several times faster than fancy rows of the bar-by-bar values.
        self._by_field = self._flat.values.T
        self._type_columns = {
            t: np.array([j for j, h in enumerate(ordered) if h.asset.asset_type is t],
                        dtype=np.intp)
            for t in AssetType}
        self._assets = np.empty(len(ordered), dtype=object)
        self._assets[:] = [h.asset for h in ordered]
        self._ticker_array = np.array(self.tickers, dtype=str)
        self._caps = np.array([np.nan if h.asset.market_cap is None else h.asset.market_cap
                               for h in ordered], dtype=np.float64)

    @classmethod
    def load(cls, source: MarketDataSource, start: date | None = None, end: date | None = None,
             complete_through: dict[AssetType, date] | None = None,
             tickers: Iterable[str] | None = None) -> Market:
        """Load bars (start..end) and compute indicators; an asset with bad data is skipped."""
        wanted = None if tickers is None else set(tickers)
        loaded, skipped, unavailable = [], {}, set()
        # Arrays straight from the source when it offers them: no DataFrame per asset.
        read = getattr(source, "price_bars", None)
        prefetch = getattr(source, "prefetch", None)  # e.g. the CSV files read all at once
        if prefetch is not None:
            prefetch([a.ticker for a in source.assets()
                      if wanted is None or a.ticker in wanted])
        order = {}
        for asset in source.assets():
            if wanted is not None and asset.ticker not in wanted:
                continue
            order[asset.ticker] = len(order)
            try:
                bars = (read(asset.ticker, start, end) if read is not None
                        else price_bars_of(source.bars(asset.ticker, start, end)))
            except DataError as e:
                if getattr(e, "fatal", False):  # e.g. a rejected API key: every asset would fail
                    raise
                logger.warning("skipping %s: %s", asset.ticker, e)
                skipped[asset.ticker] = str(e)
                if e.transient:
                    unavailable.add(asset.ticker)
                continue
            if len(bars):
                loaded.append((asset, bars))
            del bars  # views of a batch the source read: none may outlive the block
        loaded.sort(key=lambda item: item[0].ticker)  # the market's column order
        histories, problems = _histories_in_one_block(loaded)
        for ticker, problem in problems.items():
            logger.warning("skipping %s: %s", ticker, problem)
        skipped = dict(sorted({**skipped, **problems}.items(), key=lambda kv: order[kv[0]]))
        return cls(histories, complete_through, skipped, unavailable)

    # ------------------------------------------------------------ queries
    @property
    def assets(self) -> list[Asset]:
        return [self.histories[t].asset for t in self.tickers]

    @property
    def first_date(self) -> date | None:
        return _to_date(self._dates[0]) if len(self._dates) else None

    @property
    def last_date(self) -> date | None:
        return _to_date(self._dates[-1]) if len(self._dates) else None

    def has_type(self, asset_type: AssetType) -> bool:
        return len(self._type_columns[asset_type]) > 0

    def history(self, ticker: str) -> AssetHistory:
        try:
            return self.histories[ticker]
        except KeyError:
            raise DataError(f"no data for ticker {ticker!r} in this market") from None

    def until(self, day: date) -> MarketView:
        """A view that sees only bars dated <= day (R1.2)."""
        return MarketView(self, day)

    @cached_property
    def step_index(self) -> StepIndex:
        """Day-independent lookups of the daily step, built on first use (data/step_index.py)."""
        return StepIndex(self)

    def _row(self, day: date) -> int:
        return bisect.bisect_right(self._ordinals, day.toordinal()) - 1


def _bars_problem(dates: np.ndarray, bars: np.ndarray) -> str | None:
    """Why a source's bars cannot be used (whatever the source checked), or None."""
    if len(dates) > 1 and not (np.diff(dates) > np.timedelta64(0, "D")).all():
        return "bar dates are not strictly ascending"
    prices, volume = bars[:, :4], bars[:, 4]
    if not np.isfinite(prices).all() or (prices <= 0).any():
        return "a price is missing, infinite or not positive"
    if not np.isfinite(volume).all() or (volume < 0).any():
        return "a volume is missing or negative"
    o, h, lo, c = prices.T
    if (lo > np.minimum(o, c)).any() or (h < np.maximum(o, c)).any():
        return "a bar has open or close outside [low, high]"
    return None


_FIELDS = ("momentum", "adv20_usd", "rsi14", "surge_ratio", "close")  # rows of _FlatArrays.values


@dataclass(frozen=True, slots=True)
class _FlatArrays:
    """Every asset's scan inputs end to end; one gather of `values` serves a whole snapshot."""

    offsets: np.ndarray
    dates: np.ndarray
    values: np.ndarray     # (total bars, len(_FIELDS)) float64: one bar's fields side by side
    has_score: np.ndarray  # R2.7 per bar: day-independent, so computed once here

    @classmethod
    def build(cls, ordered: list[AssetHistory]) -> _FlatArrays:
        lengths = np.array([len(h.dates) for h in ordered], dtype=np.intp)
        offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.intp)
        shared = shared_block(ordered, offsets)
        if shared is not None:  # Market.load's histories: views of one block, nothing copied
            block, dates = shared
            return cls(offsets=offsets, dates=dates, values=block[:len(_FIELDS)].T,
                       has_score=has_score(block[0], offsets, lengths))
        values = np.empty((int(lengths.sum()), len(_FIELDS)), dtype=np.float64)
        scored = np.empty(len(values), dtype=bool)
        for h, lo, n in zip(ordered, offsets.tolist(), lengths.tolist(), strict=True):
            ind = h.indicators
            values[lo:lo + n] = np.column_stack((ind.momentum, ind.adv20_usd, ind.rsi14,
                                                 ind.surge_ratio, h.close))
            scored[lo:lo + n] = ind.has_score
        dates = (np.concatenate([h.dates for h in ordered]) if ordered
                 else np.array([], dtype="datetime64[D]"))
        return cls(offsets=offsets, dates=dates.astype("datetime64[D]"), values=values,
                   has_score=scored)


def _asof_index(histories: list[AssetHistory]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Union of bar dates; per date and asset, the index of its last bar dated <= it (-1: none),
    and whether that bar is dated exactly that day."""
    return asof_index([h.dates for h in histories])


def _to_date(d: np.datetime64) -> date:
    return d.astype("datetime64[D]").item()


_MOMENTUM = _FIELDS.index("momentum")  # the column of M in _FlatArrays.values


def last_step_day(market: Market, day: date | None) -> date:
    """The latest step date (R7) on or before `day` for which the market has bars."""
    last = market.last_date
    assert last is not None
    end = min(day, last) if day else last
    start = market.first_date or end
    days = step_days(start, end, market.has_type(AssetType.STOCK))
    if not days:
        raise ConfigError(f"no trading day on or before {end} in the data (it starts {start})")
    return days[-1]
