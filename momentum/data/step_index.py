"""Lookups the daily step repeats on every day, built once per Market (on first use).

Nothing here depends on a day: ticker order, the class of each column, the columns of a stored
candidate set, the first bar of each asset. Which bar is the latest on a day D is always
read through ``MarketView``, which clamps to D (R1.2), so these tables cannot carry a later bar
into a decision.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from momentum.core.domain import AssetType

if TYPE_CHECKING:
    from momentum.data.market import Market

_KEPT = 8  # column sets kept: the days between two full scans ask for the same stored set


class StepIndex:
    """Day-independent lookups of one Market."""

    def __init__(self, market: Market) -> None:
        tickers = market.tickers
        self._market = market
        self.column = {t: j for j, t in enumerate(tickers)}
        self.assets = [market.histories[t].asset for t in tickers]
        self.asset_type = [a.asset_type for a in self.assets]
        self._kind = np.array([list(AssetType).index(t) for t in self.asset_type], dtype=np.int8)
        # Position of each column's ticker in ascending ticker order (R3.6 ties), as an int key.
        rank = np.empty(len(tickers), dtype=np.intp)
        rank[sorted(range(len(tickers)), key=tickers.__getitem__)] = np.arange(len(tickers))
        self.ticker_rank = rank
        # Per class, the ordinal of each asset's first bar, ascending: how many are listed by D.
        firsts: dict[AssetType, list[int]] = {t: [] for t in AssetType}
        for asset in self.assets:
            first = market.histories[asset.ticker].dates[0].astype("datetime64[D]").item()
            firsts[asset.asset_type].append(first.toordinal())
        self.first_ordinals = {t: sorted(v) for t, v in firsts.items()}
        self._columns: dict[tuple[str, ...], dict[AssetType, np.ndarray]] = {}

    def columns_by_type(self, tickers: tuple[str, ...]) -> dict[AssetType, np.ndarray]:
        """The market columns of the known tickers, ascending, per asset class."""
        found = self._columns.get(tickers)
        if found is None:
            if len(self._columns) >= _KEPT:
                self._columns.pop(next(iter(self._columns)))
            found = self._columns[tickers] = self._split(self.columns(tickers))
        return found

    def columns(self, tickers: Iterable[str]) -> list[int]:
        """The market columns of those tickers that are in the market."""
        column = self.column
        return [column[t] for t in tickers if t in column]

    def _split(self, columns: list[int]) -> dict[AssetType, np.ndarray]:
        cols = np.array(sorted(columns), dtype=np.intp)
        kinds = self._kind[cols]
        return {t: cols[kinds == k] for k, t in enumerate(AssetType)}
