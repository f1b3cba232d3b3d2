"""Every comparison of R4 (entry window, levels, trailing stop, R4.5 checks) on its boundary.

Each case puts the value exactly on the threshold, and one tick (a cent, or 1e-6 for RSI and the
surge ratio) on the other side; the expected outcome is worked out by hand in the comment. The
shipped rules are used: stop 8% / target 20% (stocks), 12% / 30% (crypto), trailing stop active at
+10% and 8% below the highest high, momentum fade below RSI 40, time exit at 30 calendar days,
entry on 50 <= RSI14 <= 70 with a volume surge >= 1.5.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from momentum.core.config import StrategyConfig
from momentum.core.domain import AssetType, Candidate, ExitReason, Position
from momentum.data.market import BarPoint
from momentum.rules.signals import (SignalGenerator, check_exit, exit_levels, is_entry_signal,
                                    update_trailing)

CFG = StrategyConfig()
EXIT, ENTRY = CFG.signals.exit, CFG.signals.entry
ENTERED = date(2024, 3, 4)
NEXT = date(2024, 3, 5)


def held(entry: str = "100", trail: str | None = None, high: str | None = None,
         entered: date = ENTERED, asset_type: AssetType = AssetType.STOCK) -> Position:
    stop, target = exit_levels(D(entry), asset_type, EXIT)
    return Position(ticker="AAA", asset_type=asset_type, sector="Tech", entry_date=entered,
                    entry_price=D(entry), quantity=D("10"), entry_commission=D(0),
                    stop_price=stop, target_price=target, highest_high=D(high or entry),
                    trailing_stop=None if trail is None else D(trail), last_close=D(entry),
                    last_bar_date=entered)


def bar(o: float, h: float, lo: float, c: float, rsi: float = 55.0, day: date = NEXT) -> BarPoint:
    return BarPoint(day=day, open=o, high=h, low=lo, close=c, rsi14=rsi)


def outcome(pos: Position, b: BarPoint) -> tuple[ExitReason, D | None] | None:
    check = check_exit(pos, b, EXIT)
    return None if check is None else (check.reason, check.price)


# ---------------------------------------------------------------- R4.2 levels
def test_exit_levels_are_the_fill_price_times_the_configured_fractions():
    # stock 54.00: stop 54.00 * 0.92 = 49.6800, target 54.00 * 1.20 = 64.8000
    assert exit_levels(D("54.00"), AssetType.STOCK, EXIT) == (D("49.68"), D("64.80"))
    # crypto 250: stop 250 * 0.88 = 220, target 250 * 1.30 = 325
    assert exit_levels(D("250"), AssetType.CRYPTO, EXIT) == (D("220"), D("325"))


# ---------------------------------------------------------------- R4.5.1 protective stop
def test_stop_fills_when_the_low_touches_the_stop_exactly():
    # F = 54.00, stop 49.68 (whole cents); low 49.68 <= 49.68 -> fill min(open 50.50, 49.68)
    assert outcome(held("54.00"), bar(50.50, 51, 49.68, 50)) == (ExitReason.STOP_LOSS, D("49.68"))


def test_stop_does_not_fill_when_the_low_stays_a_cent_above():
    # low 49.69 > 49.68; high 51 < target 64.80; RSI 55 >= 40; held 1 day < 30: nothing
    assert outcome(held("54.00"), bar(50.50, 51, 49.69, 50)) is None


def test_stop_through_a_gap_fills_at_the_open_a_cent_below_the_level():
    # open 49.67 < stop 49.68: fill min(49.67, 49.68) = 49.67
    assert outcome(held("54.00"), bar(49.67, 50, 49.00, 49.5)) == (ExitReason.STOP_LOSS,
                                                                    D("49.67"))


def test_trailing_stop_fills_when_the_low_touches_the_active_trail_exactly():
    # F 100: stop 92; trail 105 (> 92) is the resting level; low 105 <= 105 -> fill min(108, 105)
    pos = held(trail="105", high="114.13")
    assert outcome(pos, bar(108, 109, 105, 106)) == (ExitReason.TRAILING_STOP, D("105"))
    assert outcome(pos, bar(108, 109, 105.01, 106)) is None  # a cent above the trail


def test_trail_equal_to_the_stop_is_reported_as_the_stop():
    # trail 92 == stop 92: max(stop, trail) = 92, the trail is not above the stop, so the reason
    # is stop_loss (R4.5.1: trailing_stop only when the active trail is the level)
    assert outcome(held(trail="92"), bar(95, 96, 92, 93)) == (ExitReason.STOP_LOSS, D("92"))


def test_trail_a_cent_above_the_stop_is_the_level_and_the_reason():
    # trail 92.01 > stop 92.00: level 92.01; low 92.01 touches it -> trailing_stop at 92.01
    assert outcome(held(trail="92.01"), bar(95, 96, 92.01, 93)) == (ExitReason.TRAILING_STOP,
                                                                     D("92.01"))
    # and the stop 92 is not reached by a low of 92.005, but the trail 92.01 is
    assert outcome(held(trail="92.01"), bar(95, 96, 92.005, 93)) == (ExitReason.TRAILING_STOP,
                                                                      D("92.01"))


def test_trail_below_the_stop_leaves_the_stop_resting():
    # trail 91.99 < stop 92: level 92; low 91.995 <= 92 -> stop_loss at 92 (not at the trail)
    assert outcome(held(trail="91.99"), bar(95, 96, 91.995, 93)) == (ExitReason.STOP_LOSS,
                                                                      D("92"))
    assert outcome(held(trail="91.99"), bar(95, 96, 92.001, 93)) is None


# ---------------------------------------------------------------- R4.5.2 profit target
def test_target_fills_when_the_high_touches_the_target_exactly():
    # F 100: target 120.00; high 120.00 >= 120.00 -> fill max(open 110, 120) = 120
    assert outcome(held(), bar(110, 120.00, 109, 119)) == (ExitReason.PROFIT_TARGET, D("120"))
    # F 54.00: target 64.80; high 64.80 touches it
    assert outcome(held("54.00"), bar(60, 64.80, 59, 64)) == (ExitReason.PROFIT_TARGET,
                                                              D("64.80"))


def test_target_does_not_fill_a_cent_below():
    assert outcome(held(), bar(110, 119.99, 109, 119)) is None


def test_target_through_a_gap_fills_at_the_better_open():
    # open 120.01 > target 120: fill max(120.01, 120) = 120.01
    assert outcome(held(), bar(120.01, 121, 119.5, 120.5)) == (ExitReason.PROFIT_TARGET,
                                                               D("120.01"))


def test_target_beats_momentum_fade_and_time_in_the_same_bar():
    old = held(entered=NEXT - timedelta(days=45))
    assert outcome(old, bar(110, 120, 109, 119, rsi=10.0)) == (ExitReason.PROFIT_TARGET, D("120"))


# ---------------------------------------------------------------- R4.5.3 momentum fade
@pytest.mark.parametrize("rsi,expect", [(40.0, None), (39.999999, ExitReason.MOMENTUM_FADE),
                                        (40.000001, None), (float("nan"), None)])
def test_momentum_fade_below_rsi_40_only(rsi, expect):
    # RSI14 < 40 -> market order next open (price None); exactly 40 is not below 40
    got = outcome(held(), bar(100, 101, 99, 100, rsi=rsi))
    assert got == (None if expect is None else (expect, None))


def test_momentum_fade_beats_the_time_exit():
    old = held(entered=NEXT - timedelta(days=30))
    assert outcome(old, bar(100, 101, 99, 100, rsi=39.0)) == (ExitReason.MOMENTUM_FADE, None)


# ---------------------------------------------------------------- R4.5.4 time
@pytest.mark.parametrize("age_days,expect", [(30, ExitReason.TIME_EXIT), (29, None),
                                             (31, ExitReason.TIME_EXIT)])
def test_time_exit_at_exactly_max_holding_days(age_days, expect):
    # B - entry_date >= 30 calendar days -> market order next open
    pos = held(entered=NEXT - timedelta(days=age_days))
    got = outcome(pos, bar(100, 101, 99, 100))
    assert got == (None if expect is None else (expect, None))


# ---------------------------------------------------------------- R4.3 trailing stop
def test_trailing_stop_activates_when_the_high_reaches_ten_percent_exactly():
    # F 100: activation at 100 * 1.10 = 110.00; high 110.00 -> trail 110 * 0.92 = 101.20
    pos = update_trailing(held(), bar(105, 110.00, 104, 109), EXIT)
    assert (pos.highest_high, pos.trailing_stop) == (D("110.00"), D("101.20"))


def test_trailing_stop_stays_off_a_cent_below_activation():
    pos = update_trailing(held(), bar(105, 109.99, 104, 109), EXIT)
    assert (pos.highest_high, pos.trailing_stop) == (D("109.99"), None)


def test_trailing_stop_counts_the_highest_high_so_far_not_only_the_bar():
    # the highest high 110 was reached before (trail not set yet, e.g. on the entry bar);
    # a lower bar (high 105) must still activate from the highest high: 110 * 0.92 = 101.20
    pos = update_trailing(held(high="110"), bar(104, 105, 103, 104), EXIT)
    assert (pos.highest_high, pos.trailing_stop) == (D("110"), D("101.20"))


def test_trailing_stop_never_moves_down_and_moves_up_by_exactly_the_new_high():
    pos = held(trail="105.80", high="115")
    lower = update_trailing(pos, bar(110, 112, 109, 110), EXIT)   # 112 * 0.92 = 103.04 < 105.80
    assert (lower.highest_high, lower.trailing_stop) == (D("115"), D("105.80"))
    same = update_trailing(pos, bar(110, 115, 109, 110), EXIT)    # 115 * 0.92 = 105.80: equal
    assert same.trailing_stop == D("105.80")
    higher = update_trailing(pos, bar(115, 115.01, 114, 115), EXIT)   # 115.01 * 0.92 = 105.8092
    assert (higher.highest_high, higher.trailing_stop) == (D("115.01"), D("105.8092"))


def test_crypto_trailing_stop_uses_the_same_activation_and_distance():
    # F 250 (crypto): activation 275; high 275 -> trail 275 * 0.92 = 253.00, above stop 220
    pos = update_trailing(held("250", asset_type=AssetType.CRYPTO), bar(260, 275, 255, 270),
                          EXIT)
    assert pos.trailing_stop == D("253.00")


# ---------------------------------------------------------------- R4.1 entry window
def candidate(rsi: float = 60.0, surge: float = 2.0, score: float = 80.0,
              ticker: str = "AAA") -> Candidate:
    return Candidate(ticker, AssetType.STOCK, "Tech", score, 0.3, rsi, 1e7, surge, 50.0, ENTERED)


@pytest.mark.parametrize("rsi,ok", [(50.0, True), (70.0, True), (49.999999, False),
                                    (70.000001, False), (50.000001, True), (69.999999, True),
                                    (float("nan"), False)])
def test_entry_rsi_window_is_inclusive_at_50_and_70(rsi, ok):
    assert is_entry_signal(candidate(rsi=rsi), ENTRY) is ok


@pytest.mark.parametrize("surge,ok", [(1.5, True), (1.499999, False), (1.500001, True),
                                      (float("inf"), True), (float("nan"), False)])
def test_entry_volume_surge_of_exactly_1_5_passes(surge, ok):
    assert is_entry_signal(candidate(surge=surge), ENTRY) is ok


def test_entry_without_the_surge_requirement_ignores_the_ratio():
    entry = ENTRY.model_copy(update={"require_volume_surge": False})
    assert is_entry_signal(candidate(surge=float("nan")), entry) is True
    assert is_entry_signal(candidate(surge=0.0), entry) is True
    assert is_entry_signal(candidate(rsi=49.999999, surge=2.0), entry) is False


def test_entry_signals_are_sorted_by_strength_then_ticker():
    gen = SignalGenerator(ENTRY, EXIT)
    signals = gen.entry_signals([candidate(ticker="BBB", score=75.0),
                                 candidate(ticker="AAA", score=75.0),
                                 candidate(ticker="CCC", score=90.0),
                                 candidate(ticker="OUT", rsi=49.0, score=99.0)])
    assert [(s.ticker, s.strength) for s in signals] == [("CCC", 90.0), ("AAA", 75.0),
                                                         ("BBB", 75.0)]


def test_trailing_stop_never_moves_down_even_when_the_distance_widens():
    # R4.3 "only ever moves up": a trail of 105.80 set at 8% below 115, then the distance is
    # widened to 10% (a config change between paper sessions). The bar's high 116 gives a
    # candidate of 116 * 0.90 = 104.40 < 105.80: the trail stays 105.80.
    wider = EXIT.model_copy(update={"trailing_stop_distance": 0.10})
    pos = update_trailing(held(trail="105.80", high="115"), bar(115, 116, 114, 115.5), wider)
    assert (pos.highest_high, pos.trailing_stop) == (D("116"), D("105.80"))
    # a high of 118: 118 * 0.90 = 106.20 > 105.80 moves it up
    pos = update_trailing(pos, bar(116, 118, 115, 117), wider)
    assert pos.trailing_stop == D("106.20")
