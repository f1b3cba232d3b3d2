"""AssetScanner (STRATEGY R3): eligibility, momentum score, full scans, the rescan cache, top-N."""
from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, NamedTuple

from momentum.core.config import ScannerConfig
from momentum.core.domain import AssetType, Candidates
from momentum.core.slots import direct_init

# numpy is imported in the functions that compute: `paper --report` decodes a ScanCache from the
# saved state and builds an AssetScanner, and needs neither numpy (~0.15 s) nor pandas for that.
if TYPE_CHECKING:  # annotations only: importing this module loads no pandas (`paper --report`)
    import numpy as np

    from momentum.data.market import MarketView, ScanSnapshot

logger = logging.getLogger(__name__)
SCANNED_TYPES = (AssetType.STOCK, AssetType.CRYPTO)


@dataclass(frozen=True, slots=True)
class ScanCache:
    """What a full scan stores for the days until the next one (R3.4, R3.5)."""

    full_scan_date: date
    candidates: tuple[str, ...]                    # before R3.6 removes held assets
    refs: Mapping[AssetType, tuple[float, ...]]    # sorted M of each class's eligible assets


class ScoredTicker(NamedTuple):
    ticker: str
    score: float


@direct_init
@dataclass(frozen=True, slots=True)
class ScanResult:
    """The candidates of one day and how the universe was filtered to them."""

    day: date
    full_scan: bool
    candidates: Candidates              # after R3.6: not held, by score, at most max_candidates
    passed_columns: np.ndarray          # market columns of every asset at or above the
    passed_scores: np.ndarray           # threshold, by score (ticker ascending on ties)
    eligible: Mapping[AssetType, int]
    filtered: Mapping[str, int] = field(default_factory=dict)  # reason -> number of assets
    cache: ScanCache | None = None
    column_tickers: np.ndarray | None = None  # the market's ticker of each column

    @property
    def passed_tickers(self) -> np.ndarray:
        """The tickers of passed_columns (read by reports; the daily step needs only columns)."""
        assert self.column_tickers is not None
        return self.column_tickers[self.passed_columns]

    @property
    def passed(self) -> tuple[ScoredTicker, ...]:
        return tuple(ScoredTicker(t, s) for t, s in
                     zip(self.passed_tickers.tolist(), self.passed_scores.tolist(), strict=True))


def momentum_score(m: np.ndarray | float, ref_sorted: np.ndarray) -> np.ndarray:
    """R3.3: 50 * (2*#{ref < M} + #{ref == M}) / |ref|, so 7 of 10 is exactly 70."""
    import numpy as np

    if type(m) is not np.ndarray or m.ndim != 1 or m.dtype != np.float64:
        m = np.atleast_1d(np.asarray(m, dtype=np.float64))
    ref = np.asarray(ref_sorted)
    n = len(ref)
    if n == 0:
        return np.full(m.shape, np.nan)
    less = ref.searchsorted(m, side="left")
    less_or_equal = ref.searchsorted(m, side="right")
    return 50.0 * (less + less_or_equal) / n  # 2*less + equal, in whole numbers: exact


def _count(why: dict[str, int], reason: str, n: int) -> None:
    """Add n assets to a reason's count (a plain dict: a Counter costs more, every day)."""
    why[reason] = why.get(reason, 0) + n


def is_full_scan_day(day: date, cache: ScanCache | None, rescan_interval_days: int) -> bool:
    """R3.4: the first step of a run, or `rescan_interval_days` calendar days since the last."""
    return cache is None or (day - cache.full_scan_date).days >= rescan_interval_days


def eligible_mask(snap: ScanSnapshot, cfg: ScannerConfig) -> tuple[np.ndarray, dict[str, int]]:
    """R3.1/R3.2: which assets of the snapshot are eligible, and why the others are not."""
    import numpy as np

    why: dict[str, int] = {}
    scored = snap.has_score
    n_scored = int(np.count_nonzero(scored))
    _count(why, "short history (R2.7)", len(scored) - n_scored)
    if snap.asset_type is AssetType.CRYPTO:
        return _top_crypto(snap, scored, cfg.crypto_top_n, why), why
    cap_ok = scored & (snap.market_cap >= cfg.stock_min_market_cap)  # unknown (NaN) cap fails
    eligible = cap_ok & (snap.adv20_usd >= cfg.stock_min_volume)
    n_cap_ok = int(np.count_nonzero(cap_ok))
    _count(why, "market cap below minimum or unknown", n_scored - n_cap_ok)
    _count(why, "ADV20 below minimum", n_cap_ok - int(np.count_nonzero(eligible)))
    return eligible, why


def _top_crypto(snap: ScanSnapshot, scored: np.ndarray, top_n: int,
                why: dict[str, int]) -> np.ndarray:
    import numpy as np

    idx = np.flatnonzero(scored)
    # ADV20 descending, ties by ticker ascending (R3.2)
    order = idx[np.lexsort((snap.tickers[idx], -snap.adv20_usd[idx]))]
    mask = np.zeros(len(snap.assets), dtype=bool)
    mask[order[:top_n]] = True
    _count(why, f"outside the top {top_n} crypto by ADV20", max(0, len(order) - top_n))
    return mask


@direct_init
@dataclass(frozen=True, slots=True)
class _Passed:
    """The assets of one class at or above the threshold: market columns and their scores."""

    asset_type: AssetType
    columns: np.ndarray
    scores: np.ndarray


class AssetScanner:
    """Finds each day's momentum candidates (R3) from a point-in-time market view."""

    def __init__(self, cfg: ScannerConfig) -> None:
        self.cfg = cfg
        # The last full scan's refs as arrays: the days until the next one reuse them (R3.5).
        self._refs: tuple[ScanCache, dict[AssetType, np.ndarray]] | None = None
        # ... and the market columns of its stored candidates, per class, with the market's
        # ticker array they index (a scanner may be run on another market next).
        self._stored: tuple[ScanCache, np.ndarray, dict[AssetType, np.ndarray]] | None = None

    def _ref_arrays(self, cache: ScanCache) -> dict[AssetType, np.ndarray]:
        import numpy as np

        if self._refs is None or self._refs[0] is not cache:
            self._refs = (cache, {t: np.asarray(cache.refs.get(t, ()), dtype=np.float64)
                                  for t in SCANNED_TYPES})
        return self._refs[1]

    def _stored_columns(self, view: MarketView, cache: ScanCache) -> dict[AssetType, np.ndarray]:
        """The stored candidates' columns per class, ascending (as view.columns_by_type gives):
        kept from the full scan that stored them, looked up for a cache read from disk."""
        memo = self._stored
        if memo is None or memo[0] is not cache or memo[1] is not view.ticker_array:
            memo = self._stored = (cache, view.ticker_array,
                                   view.columns_by_type(cache.candidates))
        return memo[2]

    def run_daily_scan(self, view: MarketView, cache: ScanCache | None,
                       exclude: Collection[str] = ()) -> ScanResult:
        """Scan on the view's day: a full scan when due, else re-score the cached candidates."""
        import numpy as np

        full = is_full_scan_day(view.day, cache, self.cfg.rescan_interval_days)
        if full:
            groups, eligible, why, new_cache = self._full_scan(view)
            logger.debug("full scan on %s", view.day)
        else:
            assert cache is not None
            groups, eligible, why, new_cache = self._rescore(view, cache)
            logger.debug("cache hit on %s (full scan %s)", view.day, cache.full_scan_date)
        columns, scores = _ranked(groups, view.ticker_rank)
        ranked = columns.tolist()
        held = set(view.columns_of(exclude)).intersection(ranked) if exclude else set()
        chosen = np.asarray(_first_free(ranked, held, self.cfg.max_candidates), dtype=np.intp)
        _count(why, "already held or ordered", len(held))
        return ScanResult(day=view.day, full_scan=full,
                          candidates=_candidates(view, columns[chosen], scores[chosen].tolist()),
                          passed_columns=columns, passed_scores=scores, eligible=eligible,
                          filtered=dict(why), cache=new_cache,
                          column_tickers=view.ticker_array)

    def _full_scan(self, view: MarketView):
        import numpy as np

        groups: list[_Passed] = []
        eligible: dict[AssetType, int] = {}
        refs: dict[AssetType, tuple[float, ...]] = {}
        arrays: dict[AssetType, np.ndarray] = {}
        why: dict[str, int] = {}
        for asset_type in SCANNED_TYPES:
            snap = view.snapshot(asset_type)
            _count(why, "no bar on the day (R3.0)",
                   view.listed_count(asset_type) - len(snap.assets))
            mask, reasons = eligible_mask(snap, self.cfg)
            for reason, n in reasons.items():
                _count(why, reason, n)
            momentum = snap.momentum[mask]
            order = np.argsort(momentum)
            ref = momentum[order]
            refs[asset_type], arrays[asset_type] = tuple(ref.tolist()), ref
            eligible[asset_type] = len(ref)
            # every eligible asset is scored against the ref of them all, in ref order: sorted
            # keys make the two binary searches of R3.3 several times faster
            groups.append(self._above_threshold(asset_type, snap.columns[mask][order], ref, ref,
                                                why))
        stored = np.concatenate([g.columns for g in groups])
        stored = stored[np.argsort(view.ticker_rank[stored])]  # by ticker
        cache = ScanCache(full_scan_date=view.day,
                          candidates=tuple(view.column_tickers(stored).tolist()), refs=refs)
        self._refs = (cache, arrays)
        self._stored = (cache, view.ticker_array,
                        {g.asset_type: np.sort(g.columns) for g in groups})
        return groups, eligible, why, cache

    def _rescore(self, view: MarketView, cache: ScanCache):
        stored = self._stored_columns(view, cache)
        refs = self._ref_arrays(cache)
        groups: list[_Passed] = []
        why: dict[str, int] = {}
        for asset_type in SCANNED_TYPES:
            columns, momentum = view.scorable_momentum(asset_type, stored[asset_type])
            groups.append(self._above_threshold(asset_type, columns, momentum,
                                                refs[asset_type], why))
        eligible = {t: len(cache.refs.get(t, ())) for t in SCANNED_TYPES}
        return groups, eligible, why, cache

    def _above_threshold(self, asset_type: AssetType, columns: np.ndarray, momentum: np.ndarray,
                         ref: np.ndarray, why: dict[str, int]) -> _Passed:
        """Score the scorable assets of a class against `ref`; keep those >= the threshold."""
        import numpy as np

        if not len(columns) or not len(ref):
            return _Passed(asset_type, columns[:0], np.empty(0))
        scores = momentum_score(momentum, ref)
        keep = scores >= self.cfg.momentum_threshold
        kept = int(np.count_nonzero(keep))
        _count(why, "score below threshold", len(keep) - kept)
        if kept == len(keep):
            return _Passed(asset_type, columns, scores)
        return _Passed(asset_type, columns[keep], scores[keep])


def _ranked(groups: list[_Passed], ticker_rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Passed assets of every class by score descending, ticker ascending (R3.6): their market
    columns and scores."""
    import numpy as np

    filled = [g for g in groups if len(g.columns)]
    if len(filled) == 1:  # often one class passes alone: no copies into one array
        columns, scores = filled[0].columns, filled[0].scores
    else:
        columns = np.concatenate([g.columns for g in groups])
        scores = np.concatenate([g.scores for g in groups])
    order = np.lexsort((ticker_rank[columns], -scores))
    return columns[order], scores[order]


def _first_free(ranked: list[int], held: set[int], limit: int) -> list[int]:
    """R3.6: the ranks of the first `limit` assets that are not held or ordered."""
    chosen: list[int] = []
    for rank, column in enumerate(ranked):
        if len(chosen) >= limit:
            break
        if column not in held:
            chosen.append(rank)
    return chosen


def held_scores(view: MarketView, cache: ScanCache | None,
                tickers: Collection[str]) -> dict[str, float | None]:
    """Today's momentum score of each ticker against its class's stored ref (None: no score)."""
    import numpy as np

    out: dict[str, float | None] = {t: None for t in tickers}
    if cache is None:
        return out
    for asset_type in SCANNED_TYPES:
        snap = view.snapshot(asset_type)
        ref = np.asarray(cache.refs.get(asset_type, ()), dtype=np.float64)
        for i, ticker in enumerate(snap.tickers.tolist()):
            if ticker in out and snap.has_score[i] and len(ref):
                out[ticker] = float(momentum_score(snap.momentum[i], ref)[0])
    return out


def _candidates(view: MarketView, columns: np.ndarray, scores: list[float]) -> Candidates:
    """The Candidates of the chosen columns, in rank order (each built when first read)."""
    assets, days, values = view.scan_values(columns)
    return Candidates(assets, days, scores, values)
