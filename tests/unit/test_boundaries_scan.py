"""Every comparison of R2 (indicator windows) and R3 (eligibility, score, top-N) on its boundary.

Flat series make the money exact: a close of 50.00 on 100,000 shares is an ADV20 of exactly
5,000,000 (the shipped minimum), and every M is 0. The score cases use a ref set of 5, where the
4th of 5 scores 50 * (2*3 + 1) / 5 = 70 exactly.
"""
from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from momentum.core.config import ScannerConfig
from momentum.core.domain import AssetType
from momentum.data.indicators import (MIN_SCORE_BARS, compute_indicators, roc, rsi_wilder, sma,
                                      volume_surge_ratio)
from momentum.rules.scanner import AssetScanner, ScanCache, is_full_scan_day, momentum_score
from tests.helpers import bar_frame, crypto, every_day, make_market, stock, trend_frame, weekdays

DAYS = weekdays(date(2023, 1, 2), 200)
STOCK, CRYPTO = AssetType.STOCK, AssetType.CRYPTO


def cfg(**kw) -> ScannerConfig:
    return ScannerConfig(**kw)   # the shipped values unless given


def flat(days, close: float = 50.0, volume: float = 1e5):
    n = len(days)
    return bar_frame(days, [close] * n, [close] * n, [close] * n, [close] * n, [volume] * n)


# ---------------------------------------------------------------- R2.7 / R2.2 / R2.6 windows
def test_score_needs_exactly_127_bars():
    # ROC_126 needs bar 0 and bar 126: defined from the 127th bar on (index 126)
    ind = compute_indicators(np.linspace(10, 20, 130), np.full(130, 1e6))
    assert MIN_SCORE_BARS == 127
    assert ind.has_score.tolist()[125:128] == [False, True, True]


def test_rsi_is_defined_from_the_15th_bar():
    # 14 changes need 15 closes: index 14 is the first RSI (all gains -> 100)
    rsi = rsi_wilder(np.arange(1.0, 17.0))
    assert np.isnan(rsi[13]) and rsi[14] == 100.0 and rsi[15] == 100.0
    assert np.isnan(rsi_wilder(np.arange(1.0, 15.0))).all()   # 14 closes: never defined


def test_surge_ratio_needs_20_prior_bars_and_splits_the_zero_mean():
    vol = np.array([1e6] * 20 + [1.5e6])
    # 1.5e6 / mean(20 x 1e6) = 1.5 exactly, on index 20; index 19 has only 19 prior bars
    ratio = volume_surge_ratio(vol)
    assert np.isnan(ratio[19]) and ratio[20] == 1.5
    zero = volume_surge_ratio(np.array([0.0] * 20 + [1.0, 0.0]))
    # zero mean: volume 1 > 0 -> +inf; at index 21 the mean is 1/20 > 0 -> 0 / 0.05 = 0
    assert zero[20] == np.inf and zero[21] == 0.0
    assert np.isnan(volume_surge_ratio(np.zeros(21))[20])   # 0 / 0: undefined, fails R4.1


def test_windows_of_exactly_their_length():
    # SMA_3 of 3 values: defined on the last one only, (1 + 2 + 6) / 3 = 3
    assert np.isnan(sma(np.array([1.0, 2.0, 6.0]), 3)[:2]).all()
    assert sma(np.array([1.0, 2.0, 6.0]), 3)[2] == 3.0
    assert np.isnan(sma(np.array([1.0, 2.0]), 3)).all()
    # 20 volumes: no bar has 20 bars before it; 21: the last one does
    assert np.isnan(volume_surge_ratio(np.ones(20))).all()
    assert volume_surge_ratio(np.ones(21))[20] == 1.0
    # ROC_3 of 3 closes: undefined; of 4: 8 / 2 - 1 = 3
    assert np.isnan(roc(np.array([2.0, 4.0, 6.0]), 3)).all()
    assert roc(np.array([2.0, 4.0, 6.0, 8.0]), 3)[3] == 3.0


# ---------------------------------------------------------------- R3.3 score
@pytest.mark.parametrize("m,expect", [(3.0, 70.0), (2.999999, 60.0), (3.000001, 80.0),
                                      (0.0, 0.0), (6.0, 100.0)])
def test_score_against_a_ref_of_five(m, expect):
    ref = np.array([1.0, 2.0, 2.5, 3.0, 5.0])
    # M = 3: less 3, equal 1 -> 50 * 7 / 5 = 70; just below 3: less 3, equal 0 -> 60;
    # just above: less 4 -> 80; 0 -> 0; 6 -> 100
    assert momentum_score(m, ref)[0] == expect


# ---------------------------------------------------------------- R3.1 stock eligibility
def test_market_cap_and_adv20_exactly_at_the_minimum_are_eligible():
    days = DAYS[:130]
    items = {stock("CAP_AT", cap=5e8): flat(days),            # 5e8 >= 5e8, ADV 5e6 >= 5e6
             stock("CAP_BELOW", cap=5e8 - 1): flat(days),
             stock("ADV_BELOW", cap=1e10): flat(days, volume=99_999.0),  # ADV 4,999,950
             stock("NOCAP", cap=None): flat(days)}
    result = AssetScanner(cfg(momentum_threshold=0)).run_daily_scan(
        make_market(items).until(days[-1]), None)
    assert result.eligible[STOCK] == 1
    assert [t for t, _ in result.passed] == ["CAP_AT"]
    assert result.filtered["market cap below minimum or unknown"] == 2
    assert result.filtered["ADV20 below minimum"] == 1


# ---------------------------------------------------------------- R3.2 crypto top N
def test_crypto_top_n_exactly_n_eligible_and_ties_by_ticker():
    days = every_day(date(2023, 1, 1), 130)
    # ADV20 BBB 1e7 > AAA = CCC 5e6 (tie) > DDD 1e6; top 2: BBB, then AAA before CCC
    items = {crypto("AAAUSD"): flat(days, 50, 1e5), crypto("BBBUSD"): flat(days, 50, 2e5),
             crypto("CCCUSD"): flat(days, 50, 1e5), crypto("DDDUSD"): flat(days, 50, 2e4)}
    result = AssetScanner(cfg(crypto_top_n=2, momentum_threshold=0)).run_daily_scan(
        make_market(items).until(days[-1]), None)
    assert result.eligible[CRYPTO] == 2
    assert sorted(t for t, _ in result.passed) == ["AAAUSD", "BBBUSD"]
    assert result.filtered["outside the top 2 crypto by ADV20"] == 2
    # top 4 of 4: all eligible, nobody outside
    result = AssetScanner(cfg(crypto_top_n=4, momentum_threshold=0)).run_daily_scan(
        make_market(items).until(days[-1]), None)
    assert result.eligible[CRYPTO] == 4
    assert result.filtered.get("outside the top 4 crypto by ADV20", 0) == 0


# ---------------------------------------------------------------- R3.4 threshold in a full scan
def ladder(n: int = 5):
    """n stocks, S00 weakest ... S04 strongest (daily drift -0.1% ... +0.1%)."""
    return make_market({stock(f"S{i:02d}", sector=f"Sector{i}"): trend_frame(
        DAYS, 50, 0.0005 * i - 0.001, volume=1e6, seed=i) for i in range(n)})


def test_score_of_exactly_70_is_a_candidate():
    # 5 eligible: S04 50 * 9 / 5 = 90, S03 50 * 7 / 5 = 70 (>= 70 passes), S02 50
    result = AssetScanner(cfg()).run_daily_scan(ladder().until(DAYS[150]), None)
    assert [(c.ticker, c.score) for c in result.candidates] == [("S04", 90.0), ("S03", 70.0)]
    assert result.cache.candidates == ("S03", "S04")
    assert result.filtered["score below threshold"] == 3
    # the candidate carries its own numbers: S04's ADV20 = mean(close * 1e6) of its last 20 bars
    frame = trend_frame(DAYS, 50, 0.001, volume=1e6, seed=4)
    top = result.candidates[0]
    adv = float(np.mean(frame["close"].to_numpy()[131:151] * 1e6))
    assert (top.sector, top.asset_type, top.bar_date) == ("Sector4", STOCK, DAYS[150])
    assert top.adv20_usd == pytest.approx(adv, rel=1e-12)
    assert top.close == frame["close"].iloc[150]


def test_threshold_a_hair_above_70_drops_the_fourth():
    result = AssetScanner(cfg(momentum_threshold=70.000001)).run_daily_scan(
        ladder().until(DAYS[150]), None)
    assert [c.ticker for c in result.candidates] == ["S04"]


def test_cache_hit_score_exactly_at_the_threshold_stays():
    scanner = AssetScanner(cfg())
    first = scanner.run_daily_scan(ladder().until(DAYS[150]), None)
    m = {c.ticker: c.momentum for c in
         AssetScanner(cfg(momentum_threshold=0)).run_daily_scan(ladder().until(DAYS[151]),
                                                                  None).candidates}
    # a stored ref where S03's M of DAYS[151] ranks 4th of 5 (score 70) and S04's is above all
    ref = (m["S00"], m["S01"], m["S02"], m["S03"], m["S04"] + 1.0)
    cache = ScanCache(first.cache.full_scan_date, ("S03", "S04"), {STOCK: ref, CRYPTO: ()})
    hit = scanner.run_daily_scan(ladder().until(DAYS[151]), cache)
    assert not hit.full_scan
    # S04 below the top ref entry: less 4 -> 80; S03 equal to the 4th: 50 * (6 + 1) / 5 = 70
    assert [(c.ticker, c.score) for c in hit.candidates] == [("S04", 80.0), ("S03", 70.0)]


@pytest.mark.parametrize("days_since,full", [(4, False), (5, True), (6, True)])
def test_rescan_exactly_at_the_interval(days_since, full):
    cache = ScanCache(date(2024, 1, 1), (), {})
    assert is_full_scan_day(date(2024, 1, 1 + days_since), cache, 5) is full


# ---------------------------------------------------------------- R3.6 held and top N
def test_max_candidates_keeps_exactly_n_after_removing_held():
    scanner = AssetScanner(cfg(momentum_threshold=0, max_candidates=2))
    result = scanner.run_daily_scan(ladder().until(DAYS[150]), None, exclude={"S04"})
    # all five pass at threshold 0; S04 is held: the next two by score are kept
    assert [c.ticker for c in result.candidates] == ["S03", "S02"]
    assert result.filtered["already held or ordered"] == 1
    assert len(result.cache.candidates) == 5   # stored before the held asset is removed


# ---------------------------------------------------------------- what a scan reports
def test_scan_counts_every_filtered_asset_of_both_classes():
    # stocks: S00..S04 (S02..S00 below 70) plus LATE, listed but without a bar on the day;
    # crypto: two coins, the weaker scores 50 * (0 + 1) / 2 = 25 < 70
    items = {stock(f"S{i:02d}", sector=f"Sector{i}"): trend_frame(
        DAYS, 50, 0.0005 * i - 0.001, volume=1e6, seed=i) for i in range(5)}
    items[stock("LATE")] = trend_frame(DAYS[:100], 50, 0.001, seed=9)
    days = every_day(DAYS[0], 300)
    items[crypto("AUSD")] = trend_frame(days, 10, 0.002, volume=1e6, seed=7)
    items[crypto("BUSD")] = trend_frame(days, 10, -0.002, volume=1e6, seed=8)
    result = AssetScanner(cfg()).run_daily_scan(make_market(items).until(DAYS[150]), None,
                                                exclude={"S04", "S03"})
    assert result.day == DAYS[150]
    assert result.filtered["no bar on the day (R3.0)"] == 1
    assert result.filtered["score below threshold"] == 3 + 1
    assert result.filtered["already held or ordered"] == 2        # S04 and S03 both counted
    assert [c.ticker for c in result.candidates] == ["AUSD"]        # 50 * 3 / 2 = 75


def test_cache_hit_reports_the_stored_class_sizes_as_eligible():
    scanner = AssetScanner(cfg())
    first = scanner.run_daily_scan(ladder().until(DAYS[150]), None)
    hit = scanner.run_daily_scan(ladder().until(DAYS[151]), first.cache)
    assert (hit.full_scan, hit.day, hit.eligible) == (False, DAYS[151], {STOCK: 5, CRYPTO: 0})


def test_held_scores_rank_held_assets_against_the_stored_ref():
    from momentum.rules.scanner import held_scores
    market = ladder()
    first = AssetScanner(cfg()).run_daily_scan(market.until(DAYS[150]), None)
    view = market.until(DAYS[150])
    # the ref is the 5 Ms of DAYS[150]: S04 tops it (90), S00 is the lowest (10); GONE unknown
    assert held_scores(view, first.cache, ["S04", "S00", "GONE"]) == \
        {"S04": 90.0, "S00": 10.0, "GONE": None}
    assert held_scores(view, None, ["S04"]) == {"S04": None}
