"""AssetScanner (STRATEGY R3): eligibility, momentum score, full scans, the rescan cache, top-N."""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from momentum.config import ScannerConfig
from momentum.domain import AssetType, Candidate
from momentum.market import MarketView, ScanSnapshot

logger = logging.getLogger(__name__)
SCANNED_TYPES = (AssetType.STOCK, AssetType.CRYPTO)


@dataclass(frozen=True, slots=True)
class ScanCache:
    """What a full scan stores for the days until the next one (R3.4, R3.5)."""

    full_scan_date: date
    candidates: tuple[str, ...]                    # before R3.6 removes held assets
    refs: Mapping[AssetType, tuple[float, ...]]    # sorted M of each class's eligible assets


@dataclass(frozen=True, slots=True)
class ScanResult:
    """The candidates of one day and how the universe was filtered to them."""

    day: date
    full_scan: bool
    candidates: tuple[Candidate, ...]   # after R3.6: not held, by score, at most max_candidates
    passed: tuple[Candidate, ...]       # every asset at or above the threshold, before R3.6
    eligible: Mapping[AssetType, int]
    filtered: Mapping[str, int] = field(default_factory=dict)  # reason -> number of assets
    cache: ScanCache | None = None


def momentum_score(m: np.ndarray | float, ref_sorted: np.ndarray) -> np.ndarray:
    """R3.3: 50 * (2*#{ref < M} + #{ref == M}) / |ref|, so 7 of 10 is exactly 70."""
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
    caps = np.array([np.nan if a.market_cap is None else a.market_cap for a in snap.assets],
                    dtype=np.float64)
    cap_ok = caps >= cfg.stock_min_market_cap          # unknown (NaN) cap fails
    adv_ok = snap.adv20_usd >= cfg.stock_min_volume
    why["market cap below minimum or unknown"] += int((scored & ~cap_ok).sum())
    why["ADV20 below minimum"] += int((scored & cap_ok & ~adv_ok).sum())
    return scored & cap_ok & adv_ok, why


def _top_crypto(snap: ScanSnapshot, scored: np.ndarray, top_n: int, why: Counter[str]) -> np.ndarray:
    idx = np.flatnonzero(scored)
    # ADV20 descending, ties by ticker ascending (R3.2)
    order = sorted(idx, key=lambda i: (-snap.adv20_usd[i], snap.assets[i].ticker))
    mask = np.zeros(len(snap.assets), dtype=bool)
    mask[order[:top_n]] = True
    why[f"outside the top {top_n} crypto by ADV20"] += max(0, len(order) - top_n)
    return mask


class AssetScanner:
    """Finds each day's momentum candidates (R3) from a point-in-time market view."""

    def __init__(self, cfg: ScannerConfig) -> None:
        self.cfg = cfg

    def run_daily_scan(self, view: MarketView, cache: ScanCache | None,
                       exclude: Collection[str] = ()) -> ScanResult:
        """Scan on the view's day: a full scan when due, else re-score the cached candidates."""
        full = is_full_scan_day(view.day, cache, self.cfg.rescan_interval_days)
        if full:
            passed, eligible, why, new_cache = self._full_scan(view)
            logger.debug("full scan on %s: %d passed", view.day, len(passed))
        else:
            passed, eligible, why, new_cache = self._rescore(view, cache)
            logger.debug("cache hit on %s (full scan %s)", view.day, cache.full_scan_date)
        kept = sorted((c for c in passed if c.ticker not in exclude),
                      key=lambda c: (-c.score, c.ticker))
        why["already held or ordered"] += len(passed) - len(kept)
        return ScanResult(day=view.day, full_scan=full,
                          candidates=tuple(kept[: self.cfg.max_candidates]),
                          passed=tuple(sorted(passed, key=lambda c: (-c.score, c.ticker))),
                          eligible=eligible, filtered=dict(why), cache=new_cache)

    def _full_scan(self, view: MarketView):
        passed: list[Candidate] = []
        eligible: dict[AssetType, int] = {}
        refs: dict[AssetType, tuple[float, ...]] = {}
        why: Counter[str] = Counter()
        for asset_type in SCANNED_TYPES:
            snap = view.snapshot(asset_type)
            why["no bar on the day (R3.0)"] += view.listed_count(asset_type) - len(snap.assets)
            mask, reasons = eligible_mask(snap, self.cfg)
            why.update(reasons)
            ref = np.sort(snap.momentum[mask])
            refs[asset_type] = tuple(float(x) for x in ref)
            eligible[asset_type] = int(mask.sum())
            passed += self._above_threshold(snap, mask, ref, why)
        cache = ScanCache(full_scan_date=view.day,
                          candidates=tuple(sorted(c.ticker for c in passed)), refs=refs)
        return passed, eligible, why, cache

    def _rescore(self, view: MarketView, cache: ScanCache | None):
        assert cache is not None  # only called on cache-hit days
        stored = set(cache.candidates)
        passed: list[Candidate] = []
        why: Counter[str] = Counter()
        for asset_type in SCANNED_TYPES:
            snap = view.snapshot(asset_type)
            mask = np.array([a.ticker in stored for a in snap.assets], dtype=bool) & snap.has_score
            ref = np.asarray(cache.refs.get(asset_type, ()), dtype=np.float64)
            passed += self._above_threshold(snap, mask, ref, why)
        eligible = {t: len(cache.refs.get(t, ())) for t in SCANNED_TYPES}
        return passed, eligible, why, cache

    def _above_threshold(self, snap: ScanSnapshot, mask: np.ndarray, ref: np.ndarray,
                         why: Counter[str]) -> list[Candidate]:
        idx = np.flatnonzero(mask)
        if not len(idx) or not len(ref):
            return []
        scores = momentum_score(snap.momentum[idx], ref)
        keep = scores >= self.cfg.momentum_threshold
        why["score below threshold"] += int((~keep).sum())
        return [_candidate(snap, int(i), float(s)) for i, s, k in zip(idx, scores, keep) if k]


def _candidate(snap: ScanSnapshot, i: int, score: float) -> Candidate:
    a = snap.assets[i]
    return Candidate(ticker=a.ticker, asset_type=a.asset_type, sector=a.sector, score=score,
                     momentum=float(snap.momentum[i]), rsi14=float(snap.rsi14[i]),
                     adv20_usd=float(snap.adv20_usd[i]), surge_ratio=float(snap.surge_ratio[i]),
                     close=float(snap.close[i]), bar_date=snap.bar_date)
