"""Indicators (R2): hand-computed values, a slow loop reference on real data, prefix invariance."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from momentum.data.indicators import (average_dollar_volume, composite_momentum, compute_indicators,
                                      roc, rsi_wilder, sma, volume_surge_ratio)


# ---------------------------------------------------------------- slow loop references (R2 text)
def loop_sma(x, n):
    return [sum(x[i - n + 1:i + 1]) / n if i >= n - 1 else math.nan for i in range(len(x))]


def loop_rsi(close, period=14):
    out = [math.nan] * len(close)
    if len(close) <= period:
        return out
    changes = [close[i] - close[i - 1] for i in range(1, len(close))]
    gains = [max(c, 0.0) for c in changes]
    losses = [max(-c, 0.0) for c in changes]
    avg_g = sum(gains[:period]) / period
    avg_l = sum(losses[:period]) / period
    for i in range(period, len(close)):
        if i > period:
            avg_g = (avg_g * (period - 1) + gains[i - 1]) / period
            avg_l = (avg_l * (period - 1) + losses[i - 1]) / period
        out[i] = 100.0 if avg_l == 0 else 100 - 100 / (1 + avg_g / avg_l)
    return out


def loop_roc(close, n):
    return [close[i] / close[i - n] - 1 if i >= n else math.nan for i in range(len(close))]


def loop_surge(volume, n=20):
    out = []
    for i in range(len(volume)):
        if i < n:
            out.append(math.nan)
            continue
        mean = sum(volume[i - n:i]) / n
        if mean == 0:
            out.append(math.inf if volume[i] > 0 else math.nan)
        else:
            out.append(volume[i] / mean)
    return out


def assert_close(fast, slow, rel=1e-9):
    fast, slow = np.asarray(fast, dtype=float), np.asarray(slow, dtype=float)
    assert fast.shape == slow.shape
    assert np.array_equal(np.isnan(fast), np.isnan(slow))
    ok = ~np.isnan(slow)
    np.testing.assert_allclose(fast[ok], slow[ok], rtol=rel, atol=1e-9)


# ---------------------------------------------------------------- hand-computed values
def test_sma_hand_values():
    out = sma(np.array([1.0, 2.0, 3.0, 4.0]), 3)
    assert np.isnan(out[:2]).all()
    assert out[2:].tolist() == [2.0, 3.0]


def test_rsi_first_value_is_simple_average_of_first_14_changes():
    # 14 changes: 10 gains of +1 and 4 losses of -0.5 -> avg gain 10/14, avg loss 2/14 -> RS 5
    close = [100.0]
    for c in [1] * 10 + [-0.5] * 4:
        close.append(close[-1] + c)
    out = rsi_wilder(np.array(close))
    assert np.isnan(out[:14]).all()
    assert out[14] == pytest.approx(100 - 100 / (1 + 5), abs=1e-12)  # 83.333...


def test_rsi_wilder_recursion_on_the_15th_change():
    close = [100.0]
    for c in [1] * 10 + [-0.5] * 4 + [-2.0]:
        close.append(close[-1] + c)
    out = rsi_wilder(np.array(close))
    avg_g = (10 / 14 * 13 + 0) / 14
    avg_l = (2 / 14 * 13 + 2) / 14
    assert out[15] == pytest.approx(100 - 100 / (1 + avg_g / avg_l), abs=1e-12)


def test_rsi_no_losses_gives_100_and_flat_gives_100():
    assert rsi_wilder(np.arange(1.0, 20.0))[14:].tolist() == [100.0] * 5
    assert rsi_wilder(np.full(20, 5.0))[14:].tolist() == [100.0] * 6


def test_rsi_undefined_for_short_series():
    assert np.isnan(rsi_wilder(np.arange(1.0, 15.0))).all()


def test_roc_and_momentum_hand_values():
    close = np.arange(1.0, 201.0)  # close[i] = i + 1
    assert roc(close, 21)[21] == pytest.approx(22 / 1 - 1)
    i = 150
    expected = 0.5 * ((i + 1) / (i - 125) - 1) + 0.3 * ((i + 1) / (i - 62) - 1) + 0.2 * ((i + 1) / (i - 20) - 1)
    assert composite_momentum(close)[i] == pytest.approx(expected, rel=1e-12)
    assert np.isnan(composite_momentum(close)[125]) and np.isfinite(composite_momentum(close)[126])


def test_adv20_is_mean_dollar_volume_including_today():
    close = np.full(25, 10.0)
    volume = np.arange(25.0)
    out = average_dollar_volume(close, volume)
    assert np.isnan(out[18]) and out[19] == pytest.approx(10 * np.mean(np.arange(20.0)))
    assert out[24] == pytest.approx(10 * np.mean(np.arange(5.0, 25.0)))


def test_surge_ratio_excludes_today_and_handles_zero_mean():
    volume = np.array([100.0] * 20 + [300.0])
    assert volume_surge_ratio(volume)[20] == pytest.approx(3.0)
    assert np.isnan(volume_surge_ratio(volume)[19])
    zeros = np.zeros(22)
    zeros[21] = 5.0
    out = volume_surge_ratio(zeros)
    assert np.isnan(out[20]) and out[21] == np.inf


# ---------------------------------------------------------------- against the loop on real data
def _all_series(shared_data):
    for path in sorted(shared_data.glob("*/*.csv")):
        frame = pd.read_csv(path)
        yield path.stem, frame["close"].to_numpy(float), frame["volume"].to_numpy(float)


def test_indicators_match_slow_loop_on_every_shared_series(shared_data):
    count = 0
    for name, close, volume in _all_series(shared_data):
        ind = compute_indicators(close, volume)
        c, v = close.tolist(), volume.tolist()
        assert_close(ind.rsi14, loop_rsi(c))
        slow_m = [0.5 * a + 0.3 * b + 0.2 * d for a, b, d in zip(loop_roc(c, 126), loop_roc(c, 63), loop_roc(c, 21))]
        assert_close(ind.momentum, slow_m)
        assert_close(ind.adv20_usd, loop_sma([a * b for a, b in zip(c, v)], 20))
        assert_close(ind.surge_ratio, loop_surge(v))
        count += 1
    assert count == 233


# ---------------------------------------------------------------- prefix invariance
series = st.lists(st.floats(min_value=0.5, max_value=500, allow_nan=False), min_size=130, max_size=260)


@settings(max_examples=40, deadline=None)
@given(close=series, cut=st.integers(min_value=1, max_value=129), seed=st.integers(0, 2**32 - 1))
def test_indicators_at_d_ignore_every_later_bar(close, cut, seed):
    close = np.array(close)
    rng = np.random.default_rng(seed)
    volume = rng.uniform(0, 1e6, len(close))
    d = len(close) - cut
    full = compute_indicators(close, volume)
    altered_close = close.copy()
    altered_close[d + 1:] = rng.uniform(0.5, 500, len(close) - d - 1)
    altered_volume = volume.copy()
    altered_volume[d + 1:] = rng.uniform(0, 1e6, len(close) - d - 1)
    for variant in (compute_indicators(close[:d + 1], volume[:d + 1]),
                    compute_indicators(altered_close, altered_volume)):
        for name in ("rsi14", "momentum", "adv20_usd", "surge_ratio"):
            a = getattr(full, name)[:d + 1]
            b = getattr(variant, name)[:d + 1]
            np.testing.assert_array_equal(a, b)
