"""AssetScanner (STRATEGY R3): eligibility, momentum score, full scans, the rescan cache, top-N."""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, NamedTuple

from momentum.core.config import ScannerConfig
from momentum.core.domain import AssetType, Candidate

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


@dataclass(frozen=True, slots=True)
class ScanResult:
    """The candidates of one day and how the universe was filtered to them."""

    day: date
    full_scan: bool
    candidates: tuple[Candidate, ...]   # after R3.6: not held, by score, at most max_candidates
    passed_tickers: np.ndarray          # every asset at or above the threshold, by score
    passed_scores: np.ndarray
    eligible: Mapping[AssetType, int]
    filtered: Mapping[str, int] = field(default_factory=dict)  # reason -> number of assets
    cache: ScanCache | None = None

    @property
    def passed(self) -> tuple[ScoredTicker, ...]:
        return tuple(ScoredTicker(t, s) for t, s in
                     zip(self.passed_tickers.tolist(), self.passed_scores.tolist()))


def momentum_score(m: np.ndarray | float, ref_sorted: np.ndarray) -> np.ndarray:
    """R3.3: 50 * (2*#{ref < M} + #{ref == M}) / |ref|, so 7 of 10 is exactly 70."""
    import numpy as np

    m = np.atleast_1d(np.asarray(m, dtype=np.float64))
    n = len(ref_sorted)
    if n == 0:
        return np.full(m.shape, np.nan)
    less = np.searchsorted(ref_sorted, m, side="left")
    equal = np.searchsorted(ref_sorted, m, side="right") - less
    return 50.0 * (2 * less + equal) / n


def is_full_scan_day(day: date, cache: ScanCache | None, rescan_interval_days: int) -> bool:
    """R3.4: the first step of a run, or `rescan_interval_days` calendar days since the last."""
    return cache is None or (day - cache.full_scan_date).days >= rescan_interval_days


def eligible_mask(snap: ScanSnapshot, cfg: ScannerConfig) -> tuple[np.ndarray, Counter[str]]:
    """R3.1/R3.2: which assets of the snapshot are eligible, and why the others are not."""
    why: Counter[str] = Counter()
    scored = snap.has_score
    why["short history (R2.7)"] += int((~scored).sum())
    if snap.asset_type is AssetType.CRYPTO:
        return _top_crypto(snap, scored, cfg.crypto_top_n, why), why
    cap_ok = snap.market_cap >= cfg.stock_min_market_cap          # unknown (NaN) cap fails
    adv_ok = snap.adv20_usd >= cfg.stock_min_volume
    why["market cap below minimum or unknown"] += int((scored & ~cap_ok).sum())
    why["ADV20 below minimum"] += int((scored & cap_ok & ~adv_ok).sum())
    return scored & cap_ok & adv_ok, why


def _top_crypto(snap: ScanSnapshot, scored: np.ndarray, top_n: int,
                why: Counter[str]) -> np.ndarray:
    import numpy as np

    idx = np.flatnonzero(scored)
    # ADV20 descending, ties by ticker ascending (R3.2)
    order = idx[np.lexsort((snap.tickers[idx], -snap.adv20_usd[idx]))]
    mask = np.zeros(len(snap.assets), dtype=bool)
    mask[order[:top_n]] = True
    why[f"outside the top {top_n} crypto by ADV20"] += max(0, len(order) - top_n)
    return mask


@dataclass(frozen=True, slots=True)
class _Passed:
    """The assets of one class at or above the threshold: snapshot rows and their scores."""

    snap: ScanSnapshot
    rows: np.ndarray
    scores: np.ndarray


class AssetScanner:
    """Finds each day's momentum candidates (R3) from a point-in-time market view."""

    def __init__(self, cfg: ScannerConfig) -> None:
        self.cfg = cfg
        # The last full scan's refs as arrays: the days until the next one reuse them (R3.5).
        self._refs: tuple[ScanCache, dict[AssetType, np.ndarray]] | None = None

    def _ref_arrays(self, cache: ScanCache) -> dict[AssetType, np.ndarray]:
        import numpy as np

        if self._refs is None or self._refs[0] is not cache:
            self._refs = (cache, {t: np.asarray(cache.refs.get(t, ()), dtype=np.float64)
                                  for t in SCANNED_TYPES})
        return self._refs[1]

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
        tickers, scores, pick = _ranked(groups)
        held = np.isin(tickers, list(exclude)) if exclude else np.zeros(len(tickers), bool)
        chosen = pick(np.flatnonzero(~held)[:self.cfg.max_candidates])
        why["already held or ordered"] += int(held.sum())
        return ScanResult(day=view.day, full_scan=full, candidates=tuple(chosen),
                          passed_tickers=tickers, passed_scores=scores,
                          eligible=eligible, filtered=dict(why), cache=new_cache)

    def _full_scan(self, view: MarketView):
        import numpy as np

        groups: list[_Passed] = []
        eligible: dict[AssetType, int] = {}
        refs: dict[AssetType, tuple[float, ...]] = {}
        arrays: dict[AssetType, np.ndarray] = {}
        why: Counter[str] = Counter()
        for asset_type in SCANNED_TYPES:
            snap = view.snapshot(asset_type)
            why["no bar on the day (R3.0)"] += view.listed_count(asset_type) - len(snap.assets)
            mask, reasons = eligible_mask(snap, self.cfg)
            why.update(reasons)
            ref = np.sort(snap.momentum[mask])
            refs[asset_type], arrays[asset_type] = tuple(ref.tolist()), ref
            eligible[asset_type] = int(mask.sum())
            groups.append(self._above_threshold(snap, mask, ref, why))
        stored = sorted(t for g in groups for t in g.snap.tickers[g.rows].tolist())
        cache = ScanCache(full_scan_date=view.day, candidates=tuple(stored), refs=refs)
        self._refs = (cache, arrays)
        return groups, eligible, why, cache

    def _rescore(self, view: MarketView, cache: ScanCache):
        stored = view.column_mask(cache.candidates)
        refs = self._ref_arrays(cache)
        groups: list[_Passed] = []
        why: Counter[str] = Counter()
        for asset_type in SCANNED_TYPES:
            snap = view.snapshot(asset_type, among=stored)
            mask = snap.has_score
            ref = refs[asset_type]
            groups.append(self._above_threshold(snap, mask, ref, why))
        eligible = {t: len(cache.refs.get(t, ())) for t in SCANNED_TYPES}
        return groups, eligible, why, cache

    def _above_threshold(self, snap: ScanSnapshot, mask: np.ndarray, ref: np.ndarray,
                         why: Counter[str]) -> _Passed:
        import numpy as np

        idx = np.flatnonzero(mask)
        if not len(idx) or not len(ref):
            return _Passed(snap, idx[:0], np.array([]))
        scores = momentum_score(snap.momentum[idx], ref)
        keep = scores >= self.cfg.momentum_threshold
        why["score below threshold"] += int((~keep).sum())
        return _Passed(snap, idx[keep], scores[keep])


def _ranked(groups: list[_Passed]):
    """Passed assets of every class by score descending, ticker ascending (R3.6).

    Returns (tickers, scores, pick) where pick(ranks) builds the Candidates of those ranks: only
    the few that are kept are ever built.
    """
    import numpy as np

    tickers = np.concatenate([g.snap.tickers[g.rows] for g in groups])
    scores = np.concatenate([g.scores for g in groups])
    owner = np.concatenate([np.full(len(g.rows), i, dtype=np.intp) for i, g in enumerate(groups)])
    within = np.concatenate([np.arange(len(g.rows), dtype=np.intp) for g in groups])
    order = np.lexsort((tickers, -scores))
    tickers, scores, owner, within = tickers[order], scores[order], owner[order], within[order]

    def pick(ranks: np.ndarray) -> list[Candidate]:
        out: list[Candidate] = [None] * len(ranks)  # type: ignore[list-item]
        for i, g in enumerate(groups):
            sel = np.flatnonzero(owner[ranks] == i)
            rows = g.rows[within[ranks[sel]]]
            for pos, c in zip(sel.tolist(), _candidates(g.snap, rows, scores[ranks[sel]]),
                              strict=True):
                out[pos] = c
        return out

    return tickers, scores, pick


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


def _candidates(snap: ScanSnapshot, rows: np.ndarray, scores: np.ndarray) -> list[Candidate]:
    # One gather per field for all the rows: a candidate is built from plain Python floats.
    fields = zip(snap.assets[rows].tolist(), scores.tolist(), snap.momentum[rows].tolist(),
                 snap.rsi14[rows].tolist(), snap.adv20_usd[rows].tolist(),
                 snap.surge_ratio[rows].tolist(), snap.close[rows].tolist(), strict=True)
    return [Candidate(ticker=a.ticker, asset_type=a.asset_type, sector=a.sector, score=score,
                      momentum=m, rsi14=rsi, adv20_usd=adv, surge_ratio=surge, close=close,
                      bar_date=snap.bar_date)
            for a, score, m, rsi, adv, surge, close in fields]
