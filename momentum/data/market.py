"""The in-memory market: every asset's bars and indicators, and point-in-time views of it.

``Market`` loads each asset's whole history once and computes its indicators once (R1.4, R2).
``Market.until(day)`` returns a ``MarketView`` that can only hand out bars and indicator values
dated <= day (R1.2), so nothing built on a view can look ahead by accident.
"""
from __future__ import annotations

import bisect
import difflib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from momentum.core.calendar import step_days
from momentum.core.domain import Asset, AssetType
from momentum.core.errors import ConfigError, DataError
from momentum.data.base import MarketDataSource, PriceBars, price_bars_of
from momentum.data.indicators import IndicatorSet, compute_indicators, indicator_block
from momentum.data.market_block import (CLOSE, VOLUME, all_bars_usable, asof_index, bar_block,
                                        has_score, shared_block)
from momentum.data.step_index import StepIndex

if TYPE_CHECKING:
    import pandas as pd

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


class BarPoint(NamedTuple):
    """One bar of a held or ordered asset, with the RSI known at its close.

    Immutable; a NamedTuple because one is built per bar of every held asset, each step.
    """

    day: date
    open: float
    high: float
    low: float
    close: float
    rsi14: float


@dataclass(frozen=True, slots=True)
class ScanSnapshot:
    """Indicator values on one day of every asset of one class that has a bar that day (R3.0)."""

    asset_type: AssetType
    bar_date: date
    columns: np.ndarray     # market column of each asset (see MarketView.columns_of)
    assets: np.ndarray      # Asset objects
    tickers: np.ndarray     # str
    market_cap: np.ndarray  # float, NaN when unknown
    momentum: np.ndarray
    adv20_usd: np.ndarray
    rsi14: np.ndarray
    surge_ratio: np.ndarray
    close: np.ndarray
    has_score: np.ndarray  # R2.7


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
        self._flat = _FlatArrays.build(ordered)
        self._momentum = self._flat.values[:, _MOMENTUM]  # a view: M of every bar
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

    def until(self, day: date) -> "MarketView":
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


class MarketView:
    """The market as it was known at the end of `day`: nothing dated later is reachable."""

    def __init__(self, market: Market, day: date) -> None:
        self._market = market
        self.day = day
        # A view lives for one step: rows and snapshots asked for again that day are reused.
        self._rows: dict[date, int] = {}
        self._on_day: dict[AssetType, tuple[np.ndarray, np.ndarray]] = {}
        self._snapshots: dict[AssetType, ScanSnapshot] = {}
        # The bar date each class is decided on: `day`, or yesterday for crypto while today's UTC
        # bar is still forming at the source (a 16:05 ET run sees yesterday's crypto bar).
        self._current = dict.fromkeys(AssetType, day)
        cut = market.complete_through.get(AssetType.CRYPTO)
        self._one_day = cut is None or cut != day - timedelta(days=1)  # always in a backtest
        if not self._one_day:
            self._current[AssetType.CRYPTO] = cut

    def history(self, ticker: str) -> AssetHistory:
        """The asset's bars and indicators up to its class's current date (never later: R1.2)."""
        market = self._market
        h = market.histories.get(ticker)
        if h is None:
            if ticker in market.skipped:
                raise DataError(f"{ticker} could not be loaded: {market.skipped[ticker]}")
            close = difflib.get_close_matches(ticker, market.tickers, n=1)
            hint = f" (did you mean {close[0]}?)" if close else " (no similar ticker)"
            raise DataError(f"unknown ticker {ticker!r}: it is not in the market data{hint}")
        n = self._index_at(ticker, self._current[h.asset.asset_type]) + 1
        ind = h.indicators
        return AssetHistory(asset=h.asset, dates=h.dates[:n], open=h.open[:n], high=h.high[:n],
                            low=h.low[:n], close=h.close[:n], volume=h.volume[:n],
                            indicators=IndicatorSet(ind.rsi14[:n], ind.momentum[:n],
                                                    ind.adv20_usd[:n], ind.surge_ratio[:n]))

    @property
    def skipped(self) -> dict[str, str]:
        """Assets whose data could not be loaded for this run: ticker -> why."""
        return self._market.skipped

    def current_date(self, asset_type: AssetType) -> date:
        """The bar date decisions on this class use today (R3.0)."""
        return self._current[asset_type]

    def _index_at(self, ticker: str, day: date) -> int:
        """Index of the asset's last bar dated <= min(day, view day), or -1."""
        row = self._row(min(day, self.day))
        return -1 if row < 0 else self._market._asof.item(row, self._market._column[ticker])

    def _row(self, day: date) -> int:
        row = self._rows.get(day)
        if row is None:
            row = self._rows[day] = self._market._row(day)
        return row

    def last_bar(self, ticker: str) -> BarPoint | None:
        """The asset's latest bar dated <= the view's day."""
        if ticker not in self._market.histories:
            return None
        i = self._index_at(ticker, self.day)
        return None if i < 0 else self._point(ticker, i)

    def bar_on(self, ticker: str, day: date) -> BarPoint | None:
        """The asset's bar dated exactly `day` (<= the view's day), or None."""
        if ticker not in self._market.histories or day > self.day:
            return None
        i = self._index_at(ticker, day)
        h = self._market.histories[ticker]
        return self._point(ticker, i) if i >= 0 and h.dates.item(i) == day else None

    def bars_after(self, ticker: str, after: date | None) -> Iterator[BarPoint]:
        """The asset's bars dated after `after` up to its class's current date, oldest first."""
        h = self._market.histories.get(ticker)
        if h is None:
            return
        hi = self._index_at(ticker, self._current[h.asset.asset_type])
        lo = -1 if after is None else self._index_at(ticker, after)
        for i in range(lo + 1, hi + 1):
            yield self._point(ticker, i)

    def _point(self, ticker: str, i: int) -> BarPoint:
        h = self._market.histories[ticker]
        # positional: day, open, high, low, close, rsi14 (a bar of every held asset, each step)
        return BarPoint(h.dates.item(i), h.open.item(i), h.high.item(i), h.low.item(i),
                        h.close.item(i), h.indicators.rsi14.item(i))

    def bar_count(self, ticker: str) -> int:
        """How many bars of the asset are dated <= the view's day."""
        return 0 if ticker not in self._market.histories else self._index_at(ticker, self.day) + 1

    def _on_current(self, asset_type: AssetType) -> tuple[np.ndarray, np.ndarray]:
        """Columns and flat indexes of the class's assets with a bar on its current date."""
        found = self._on_day.get(asset_type)
        if found is None:
            found = self._on_day[asset_type] = self._find_on_current(asset_type)
        return found

    def _find_on_current(self, asset_type: AssetType) -> tuple[np.ndarray, np.ndarray]:
        m = self._market
        day = self._current[asset_type]
        cols = m._type_columns[asset_type]
        row = self._row(day)
        if row < 0 or not len(cols) or m._ordinals[row] != day.toordinal():
            return cols[:0], cols[:0]
        cols = cols[m._exact[row][cols]]
        return cols, m._flat.offsets[cols] + m._asof[row][cols]

    def listed_count(self, asset_type: AssetType) -> int:
        """How many assets of the class have any bar up to its current date."""
        firsts = self._market.step_index.first_ordinals[asset_type]
        return bisect.bisect_right(firsts, min(self._current[asset_type], self.day).toordinal())

    def type_has_bar(self, asset_type: AssetType) -> bool:
        """True when some asset of this class has a bar on the class's current date."""
        return len(self._on_current(asset_type)[0]) > 0

    def snapshot(self, asset_type: AssetType) -> ScanSnapshot:
        """Indicators of every asset of the class with a bar on its current date (R3.0)."""
        snap = self._snapshots.get(asset_type)
        if snap is None:
            snap = self._snapshots[asset_type] = self._take_snapshot(asset_type)
        return snap

    # ------------------------------------------------ by market column (the rescore days, R3.5)
    def columns_by_type(self, tickers: tuple[str, ...]) -> dict[AssetType, np.ndarray]:
        """The market columns of those tickers the market has, ascending, per asset class."""
        return self._market.step_index.columns_by_type(tickers)

    def columns_of(self, tickers: Iterable[str]) -> list[int]:
        """The market columns of those tickers the market has."""
        return self._market.step_index.columns(tickers)

    @property
    def ticker_rank(self) -> np.ndarray:
        """Per market column, the position of its ticker in ascending ticker order."""
        return self._market.step_index.ticker_rank

    def column_tickers(self, columns: np.ndarray) -> np.ndarray:
        return self._market._ticker_array[columns]

    def scorable_momentum(self, asset_type: AssetType,
                          columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Of the class's `columns`, those with a bar on its current date (R3.0) and a score
        (R2.7), with their M of that bar."""
        m = self._market
        day = self._current[asset_type]
        row = self._row(day)
        if row < 0 or not len(columns) or m._ordinals[row] != day.toordinal():
            return columns[:0], np.empty(0)
        cols = columns[m._exact[row, columns]]
        flat = m._flat.offsets[cols] + m._asof[row, cols]
        scored = m._flat.has_score[flat]
        if scored.all():  # the usual case: the stored candidates had a score at the full scan
            return cols, m._momentum[flat]
        flat = flat[scored]
        return cols[scored], m._momentum[flat]

    def scan_values(self, columns: np.ndarray) -> list[tuple]:
        """(asset, bar date, momentum, adv20_usd, rsi14, surge_ratio, close) of each column on its
        class's current date; each must have a bar that day (see scorable_momentum)."""
        m = self._market
        index = m.step_index
        cols = columns.tolist()
        days = [self._current[index.asset_type[c]] for c in cols]
        if self._one_day:
            flat = m._flat.offsets[columns] + m._asof[self._row(self.day), columns]
        else:
            flat = m._flat.offsets[columns] + m._asof[[self._row(d) for d in days], columns]
        values = m._flat.values[flat].tolist()
        return [(index.assets[c], d, *v) for c, d, v in zip(cols, days, values, strict=True)]

    def _take_snapshot(self, asset_type: AssetType) -> ScanSnapshot:
        m = self._market
        cols, flat = self._on_current(asset_type)
        momentum, adv20_usd, rsi14, surge_ratio, close = m._flat.values[flat].T
        return ScanSnapshot(
            asset_type=asset_type, bar_date=self._current[asset_type],
            columns=cols, assets=m._assets[cols], tickers=m._ticker_array[cols],
            market_cap=m._caps[cols], momentum=momentum, adv20_usd=adv20_usd, rsi14=rsi14,
            surge_ratio=surge_ratio, close=close, has_score=m._flat.has_score[flat],
        )


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
