"""Point-in-time views of the market (R1.2): ``MarketView`` and the values it hands out.

A ``MarketView`` (``Market.until(day)``) can only reach bars and indicator values dated <= its
day; ``BarPoint`` is one bar of a held asset, ``ScanSnapshot`` one class's indicators on a day.
Re-exported by data/market.py, where ``Market`` is.
"""
from __future__ import annotations

import bisect
import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np

from momentum.core.domain import Asset, AssetType
from momentum.core.errors import DataError
from momentum.core.slots import direct_init
from momentum.data.indicators import IndicatorSet

if TYPE_CHECKING:
    from momentum.data.market import AssetHistory, Market


@direct_init
@dataclass(frozen=True, slots=True)
class BarPoint:
    """One bar of a held or ordered asset, with the RSI known at its close."""

    day: date
    open: float
    high: float
    low: float
    close: float
    rsi14: float


@dataclass(frozen=True, slots=True)
class ScanSnapshot:
    """Indicator values on one day of every asset of one class that has a bar that day (R3.0).

    A full scan reads M and ADV20 of every asset; RSI, surge and close are gathered when asked
    (a scan needs them for its few candidates only, which it reads through scan_values).
    """

    asset_type: AssetType
    bar_date: date
    columns: np.ndarray     # market column of each asset (see MarketView.columns_of)
    assets: np.ndarray      # Asset objects
    tickers: np.ndarray     # str
    market_cap: np.ndarray  # float, NaN when unknown
    momentum: np.ndarray
    adv20_usd: np.ndarray
    has_score: np.ndarray   # R2.7
    flat: np.ndarray        # each asset's bar that day in the market's flat arrays
    fields: np.ndarray      # those arrays, field by field (Market._by_field)

    @property
    def rsi14(self) -> np.ndarray:
        return self.fields[_RSI].take(self.flat)

    @property
    def surge_ratio(self) -> np.ndarray:
        return self.fields[_SURGE].take(self.flat)

    @property
    def close(self) -> np.ndarray:
        return self.fields[_CLOSE].take(self.flat)


_MOMENTUM, _ADV, _RSI, _SURGE, _CLOSE = range(5)  # rows of Market._by_field (market._FIELDS)



class MarketView:
    """The market as it was known at the end of `day`: nothing dated later is reachable."""

    def __init__(self, market: Market, day: date) -> None:
        self._market = market
        self.day = day
        # A view lives for one step: snapshots asked for again that day are reused. The row of a
        # date is the same for every view (callers clamp the date to the view's day first), so
        # the market keeps one table of them.
        self._rows: dict[date, int] = market._rows_of_days
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
        # every field but the asset cut at n: an AssetHistory like the stored one
        return replace(h, dates=h.dates[:n], open=h.open[:n], high=h.high[:n], low=h.low[:n],
                       close=h.close[:n], volume=h.volume[:n],
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

    @property
    def ticker_array(self) -> np.ndarray:
        """The ticker of each market column (index it with columns)."""
        return self._market._ticker_array

    def scorable_momentum(self, asset_type: AssetType,
                          columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Of the class's `columns`, those with a bar on its current date (R3.0) and a score
        (R2.7), with their M of that bar."""
        m = self._market
        day = self._current[asset_type]
        row = self._row(day)
        if row < 0 or not len(columns) or m._ordinals[row] != day.toordinal():
            return columns[:0], np.empty(0)
        # [row][cols]: a row view, then a 1-D gather, is ~3x cheaper than [row, cols] here
        cols = columns[m._exact[row][columns]]
        flat = m._flat.offsets[cols] + m._asof[row][cols]
        scored = m._flat.has_score[flat]
        if scored.all():  # the usual case: the stored candidates had a score at the full scan
            return cols, m._momentum[flat]
        flat = flat[scored]
        return cols[scored], m._momentum[flat]

    def scan_values(self, columns: np.ndarray) -> tuple[list[Asset], list[date], list[list[float]]]:
        """Each column's asset and the bar date of its class's current date, and by field
        (momentum, adv20_usd, rsi14, surge_ratio, close) their values on that bar; each must
        have a bar that day (see scorable_momentum)."""
        m = self._market
        index = m.step_index
        cols = columns.tolist()
        if self._one_day:
            days = [self.day] * len(cols)
            flat = m._flat.offsets[columns] + m._asof[self._row(self.day)][columns]
        else:
            days = [self._current[index.asset_type[c]] for c in cols]
            flat = m._flat.offsets[columns] + m._asof[[self._row(d) for d in days], columns]
        return [index.assets[c] for c in cols], days, m._by_field.take(flat, axis=1).tolist()

    def _take_snapshot(self, asset_type: AssetType) -> ScanSnapshot:
        m = self._market
        cols, flat = self._on_current(asset_type)
        fields = m._by_field
        return ScanSnapshot(
            asset_type=asset_type, bar_date=self._current[asset_type],
            columns=cols, assets=m._assets[cols], tickers=m._ticker_array[cols],
            market_cap=m._caps[cols], momentum=fields[_MOMENTUM].take(flat),
            adv20_usd=fields[_ADV].take(flat), has_score=m._flat.has_score[flat], flat=flat,
            fields=fields)
