"""AssetScanner (R3): score formula, eligibility, full scans vs cache hits, top-N, no look-ahead."""
from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from momentum.core.config import ScannerConfig
from momentum.core.domain import AssetType
from momentum.rules.scanner import AssetScanner, ScanCache, is_full_scan_day, momentum_score
from tests.helpers import crypto, every_day, make_market, stock, trend_frame, weekdays


def test_score_seven_of_ten_is_exactly_70():
    ref = np.array([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    assert momentum_score(7.5, ref)[0] == 70.0


def test_score_ties_count_half():
    ref = np.array([1.0, 2.0, 2.0, 2.0, 3.0])
    assert momentum_score(2.0, ref)[0] == 50.0  # 50 * (2*1 + 3) / 5
    assert momentum_score(3.0, ref)[0] == 90.0  # 50 * (2*4 + 1) / 5
    assert momentum_score(0.5, ref)[0] == 0.0
    assert momentum_score(9.0, ref)[0] == 100.0


def test_score_empty_ref_is_undefined():
    assert np.isnan(momentum_score(1.0, np.array([]))).all()


def test_full_scan_due_on_first_run_and_after_interval():
    assert is_full_scan_day(date(2024, 1, 2), None, 5)
    cache = ScanCache(date(2024, 1, 2), (), {})
    assert not is_full_scan_day(date(2024, 1, 6), cache, 5)
    assert is_full_scan_day(date(2024, 1, 7), cache, 5)


# ---------------------------------------------------------------- a small market
DAYS = weekdays(date(2023, 1, 2), 200)


def ladder_market(n: int = 10, extra: dict | None = None):
    """n stocks whose trends are ordered: S00 weakest ... S09 strongest."""
    items = {stock(f"S{i:02d}", sector=f"Sector{i % 3}"): trend_frame(DAYS, 50, 0.0005 * i - 0.001,
                                                                       volume=1e6, seed=i)
             for i in range(n)}
    items.update(extra or {})
    return make_market(items)


def cfg(**kw) -> ScannerConfig:
    base = dict(stock_min_market_cap=5e8, stock_min_volume=5e6, crypto_top_n=2,
                momentum_threshold=70, max_candidates=15, rescan_interval_days=5)
    base.update(kw)
    return ScannerConfig(**base)


def test_full_scan_ranks_by_momentum_and_keeps_threshold():
    market = ladder_market()
    day = DAYS[150]
    result = AssetScanner(cfg()).run_daily_scan(market.until(day), cache=None)
    assert result.full_scan
    assert [c.ticker for c in result.candidates] == ["S09", "S08", "S07"]
    assert [c.score for c in result.candidates] == [95.0, 85.0, 75.0]
    assert result.eligible[AssetType.STOCK] == 10
    assert len(result.cache.refs[AssetType.STOCK]) == 10


def test_scan_skips_short_history_small_cap_unknown_cap_and_thin_volume():
    extra = {
        stock("TINY", cap=1e8): trend_frame(DAYS, 50, 0.01, seed=20),
        stock("NOCAP", cap=None): trend_frame(DAYS, 50, 0.01, seed=21),
        stock("THIN"): trend_frame(DAYS, 50, 0.01, volume=1000, seed=22),
        stock("NEW"): trend_frame(DAYS[100:], 50, 0.01, seed=23),  # 51 bars by DAYS[150]
    }
    result = AssetScanner(cfg()).run_daily_scan(ladder_market(extra=extra).until(DAYS[150]), None)
    tickers = {c.ticker for c in result.passed}
    assert not tickers & {"TINY", "NOCAP", "THIN", "NEW"}
    assert result.filtered["market cap below minimum or unknown"] == 2
    assert result.filtered["ADV20 below minimum"] == 1
    assert result.filtered["short history (R2.7)"] == 1


def test_scan_needs_127_bars():
    days = DAYS[:127]
    market = make_market({stock("A"): trend_frame(days, 50, 0.01), stock("B"): trend_frame(days, 50, 0.0)})
    scanner = AssetScanner(cfg(momentum_threshold=0))
    assert scanner.run_daily_scan(market.until(days[125]), None).eligible[AssetType.STOCK] == 0
    assert scanner.run_daily_scan(market.until(days[126]), None).eligible[AssetType.STOCK] == 2


def test_crypto_eligibility_is_top_n_by_adv_with_ticker_ties():
    days = every_day(date(2023, 1, 1), 200)
    items = {crypto(t): trend_frame(days, 10, 0.003, volume=v, seed=i)
             for i, (t, v) in enumerate([("AAAUSD", 1e6), ("BBBUSD", 5e6), ("CCCUSD", 5e6), ("DDDUSD", 1e5)])}
    result = AssetScanner(cfg(crypto_top_n=2, momentum_threshold=0)).run_daily_scan(
        make_market(items).until(days[180]), None)
    assert result.eligible[AssetType.CRYPTO] == 2
    assert {c.ticker for c in result.passed} == {"BBBUSD", "CCCUSD"}


def test_stocks_and_crypto_are_ranked_separately():
    days = every_day(date(2023, 1, 1), 300)
    items = {crypto("XUSD"): trend_frame(days, 10, -0.002, seed=1),
             crypto("YUSD"): trend_frame(days, 10, -0.001, seed=2),
             stock("A"): trend_frame([d for d in days if d.weekday() < 5], 50, 0.003, volume=1e6, seed=3),
             stock("B"): trend_frame([d for d in days if d.weekday() < 5], 50, 0.001, volume=1e6, seed=4)}
    day = [d for d in days if d.weekday() < 5][-1]
    result = AssetScanner(cfg(momentum_threshold=70)).run_daily_scan(make_market(items).until(day), None)
    # YUSD is falling but is the best of its class: 75 within crypto
    assert {(c.ticker, c.score) for c in result.passed} == {("A", 75.0), ("YUSD", 75.0)}


def test_cache_hit_rescores_only_stored_candidates_against_stored_ref():
    market = ladder_market()
    scanner = AssetScanner(cfg())
    first = scanner.run_daily_scan(market.until(DAYS[150]), None)
    stored = set(first.cache.candidates)
    # A cache with a made-up ref shows the stored ref is used, not today's universe.
    fake = ScanCache(first.cache.full_scan_date, tuple(sorted(stored)),
                     {AssetType.STOCK: (-1.0, -1.0, -1.0, 10.0), AssetType.CRYPTO: ()})
    hit = scanner.run_daily_scan(market.until(DAYS[151]), fake)
    assert not hit.full_scan and hit.cache is fake
    assert {c.ticker for c in hit.candidates} == stored
    assert all(c.score == 75.0 for c in hit.candidates)  # 3 of 4 below M


def test_cache_hit_days_then_full_scan_after_interval():
    market = ladder_market()
    scanner = AssetScanner(cfg(rescan_interval_days=5))
    cache = None
    kinds = []
    for day in DAYS[150:160]:
        result = scanner.run_daily_scan(market.until(day), cache)
        kinds.append(result.full_scan)
        cache = result.cache
    # weekdays from Thu: full (Thu), Fri, Mon, Tue -> full on Tue (5 calendar days), ...
    full_days = [d for d, k in zip(DAYS[150:160], kinds) if k]
    assert full_days[0] == DAYS[150]
    assert all((b - a).days >= 5 for a, b in zip(full_days, full_days[1:]))
    assert all(not k for d, k in zip(DAYS[150:160], kinds) if d not in full_days)
    assert len(full_days) == 2


def test_cache_hit_candidate_below_threshold_drops_for_the_day_but_stays_stored():
    market = ladder_market()
    scanner = AssetScanner(cfg())
    first = scanner.run_daily_scan(market.until(DAYS[150]), None)
    ref_top = (0.0,) * 3 + (first.cache.refs[AssetType.STOCK][-1] + 1,)
    # S09's M is below the made-up top value: score 75; lifting the threshold to 80 drops everyone
    strict = AssetScanner(cfg(momentum_threshold=80))
    cache = ScanCache(first.cache.full_scan_date, first.cache.candidates, {AssetType.STOCK: ref_top})
    hit = strict.run_daily_scan(market.until(DAYS[151]), cache)
    assert hit.candidates == () and hit.cache.candidates == first.cache.candidates


def test_held_assets_are_removed_after_storing_and_top_n_kept():
    market = ladder_market()
    result = AssetScanner(cfg(max_candidates=2, momentum_threshold=50)).run_daily_scan(
        market.until(DAYS[150]), None, exclude={"S09"})
    assert [c.ticker for c in result.candidates] == ["S08", "S07"]
    assert "S09" in result.cache.candidates


def test_asset_without_bar_today_is_not_scanned():
    items = {stock(f"S{i}"): trend_frame(DAYS, 50, 0.001 * i, seed=i) for i in range(4)}
    items[stock("HALT")] = trend_frame(DAYS[:150], 50, 0.02, seed=9)  # last bar DAYS[149]
    result = AssetScanner(cfg(momentum_threshold=0)).run_daily_scan(make_market(items).until(DAYS[150]), None)
    assert "HALT" not in {c.ticker for c in result.passed}
    assert result.eligible[AssetType.STOCK] == 4


@pytest.mark.parametrize("cut", [150, 160, 199])
def test_scan_is_identical_when_later_bars_are_removed_or_altered(cut):
    day = DAYS[cut - 10] if cut > 150 else DAYS[140]
    full = ladder_market()
    items = {}
    for t, h in full.histories.items():
        frame = trend_frame(DAYS, 50, 0.0005 * int(t[1:]) - 0.001, volume=1e6, seed=int(t[1:]))
        altered = frame.copy()
        later = altered.index > str(day)
        altered.loc[later, ["open", "high", "low", "close"]] *= 3.0
        altered.loc[later, "volume"] *= 0.01
        items[h.asset] = altered
    truncated = make_market({h.asset: trend_frame(DAYS, 50, 0.0005 * int(t[1:]) - 0.001, volume=1e6,
                                                   seed=int(t[1:])).loc[:str(day)]
                             for t, h in full.histories.items()})
    scanner = AssetScanner(cfg(momentum_threshold=0))
    expected = scanner.run_daily_scan(full.until(day), None)
    for other in (make_market(items), truncated):
        got = scanner.run_daily_scan(other.until(day), None)
        assert got.candidates == expected.candidates
        assert got.cache == expected.cache


def test_cache_hit_class_missing_from_the_stored_refs_scores_nothing():
    # A stored candidate of a class the cache has no ref for (refs without CRYPTO) gets no score
    # on a cache-hit day: even at threshold 0 it is not a candidate, while A is scored against the
    # stored stock ref (above B's M, just below its own stored M: 50) (R3.5).
    days = every_day(date(2023, 1, 1), 300)
    weekdays_ = [d for d in days if d.weekday() < 5]
    items = {crypto("XUSD"): trend_frame(days, 10, -0.002, seed=1),
             crypto("YUSD"): trend_frame(days, 10, -0.001, seed=2),
             stock("A"): trend_frame(weekdays_, 50, 0.003, volume=1e6, seed=3),
             stock("B"): trend_frame(weekdays_, 50, 0.001, volume=1e6, seed=4)}
    market = make_market(items)
    first = AssetScanner(cfg()).run_daily_scan(market.until(weekdays_[-2]), None)
    assert first.cache.candidates == ("A", "YUSD")
    cache = ScanCache(first.cache.full_scan_date, first.cache.candidates,
                      {AssetType.STOCK: first.cache.refs[AssetType.STOCK]})
    hit = AssetScanner(cfg(momentum_threshold=0)).run_daily_scan(market.until(weekdays_[-1]), cache)
    assert not hit.full_scan and [(c.ticker, c.score) for c in hit.candidates] == [("A", 50.0)]
    assert hit.eligible == {AssetType.STOCK: 2, AssetType.CRYPTO: 0}
    # YUSD is not scored at all (no ref), so it is not counted as below the threshold either
    assert hit.filtered == {"score below threshold": 0, "already held or ordered": 0}


def test_cache_hit_day_is_identical_when_bars_or_assets_appear_after_it():
    # The rescore path reads the stored set through lookups built once per Market (columns,
    # classes, first bars): bars appended after D, a stored asset altered after D, or an asset
    # listed only after D cannot change D's candidates, counts or cache (R1.2, R3.5).
    full_scan, hit_day = DAYS[150], DAYS[151]
    base = {stock(f"S{i:02d}", sector=f"Sector{i % 3}"): trend_frame(
        DAYS[:152], 50, 0.0005 * i - 0.001, volume=1e6, seed=i) for i in range(10)}
    later = {a: trend_frame(DAYS, 50, 0.0005 * i - 0.001, volume=1e6, seed=i)
             for i, a in enumerate(base)}
    for frame in later.values():
        after = frame.index > str(hit_day)
        frame.loc[after, ["open", "high", "low", "close"]] *= 3.0
    later[stock("LATE")] = trend_frame(DAYS[160:], 50, 0.01, volume=1e6, seed=30)
    later[crypto("NEWUSD")] = trend_frame(every_day(DAYS[155], 40), 10, 0.01, seed=31)
    results = []
    for items in (base, later):
        market = make_market(items)
        scanner = AssetScanner(cfg(momentum_threshold=50))
        first = scanner.run_daily_scan(market.until(full_scan), None)
        hit = scanner.run_daily_scan(market.until(hit_day), first.cache, exclude={"S09"})
        assert not hit.full_scan and hit.candidates
        results.append((first.candidates, first.filtered, first.cache, hit.candidates,
                        hit.filtered, hit.eligible, hit.passed))
    assert results[0] == results[1]


def test_stored_columns_kept_from_a_full_scan_follow_the_market_they_index():
    """The rescore days reuse the full scan's columns; on another market (its columns in
    another order) the same cache is looked up again, and scores as a fresh scanner scores."""
    market = ladder_market()
    # one more stock, first by ticker: every stored candidate's column moves up by one
    shuffled = ladder_market(extra={stock("A00"): trend_frame(DAYS, 50, -0.001, volume=1e6,
                                                              seed=99)})
    assert shuffled.tickers[0] == "A00" and shuffled.tickers[1:] == market.tickers
    scanner = AssetScanner(cfg())
    first = scanner.run_daily_scan(market.until(DAYS[150]), None)
    same_day = [scanner.run_daily_scan(m.until(DAYS[151]), first.cache) for m in (market, shuffled)]
    fresh = [AssetScanner(cfg()).run_daily_scan(m.until(DAYS[151]), first.cache)
             for m in (market, shuffled)]
    for got, expected in zip(same_day, fresh, strict=True):
        assert not got.full_scan and got.candidates == expected.candidates
        assert got.filtered == expected.filtered
    assert [c.ticker for c in same_day[0].candidates] == [c.ticker for c in same_day[1].candidates]
    assert len(same_day[0].candidates) >= 2


def test_a_cache_the_scanner_did_not_store_is_rescored_on_its_own_candidates():
    """A cache read from a saved state (not the one this scanner's full scan stored) is scored
    on its own candidate list, never on the columns kept from the scanner's last full scan."""
    market = ladder_market()
    scanner = AssetScanner(cfg(momentum_threshold=0))
    first = scanner.run_daily_scan(market.until(DAYS[150]), None)
    assert len(first.cache.candidates) >= 3
    # threshold 0: every eligible asset passed the full scan; its own cache is rescored from
    # the kept columns, as a fresh scanner rescores it from the ticker list
    own = scanner.run_daily_scan(market.until(DAYS[151]), first.cache)
    fresh = AssetScanner(cfg(momentum_threshold=0)).run_daily_scan(market.until(DAYS[151]),
                                                                   first.cache)
    assert not own.full_scan and own.candidates == fresh.candidates and len(own.candidates) >= 3
    saved = ScanCache(first.cache.full_scan_date, first.cache.candidates[:2], first.cache.refs)
    hit = scanner.run_daily_scan(market.until(DAYS[152]), saved)
    assert not hit.full_scan
    assert {c.ticker for c in hit.candidates} == set(saved.candidates)
