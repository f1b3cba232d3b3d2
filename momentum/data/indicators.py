"""Indicators (STRATEGY R2): vectorized, causal, computed once per asset over its whole history.

Every function takes one asset's bars, oldest first, and returns an array of the same length whose
value at index i depends only on bars 0..i (prefix invariance). Undefined values are NaN.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

RSI_PERIOD = 14
ADV_WINDOW = 20
SURGE_WINDOW = 20
MIN_SCORE_BARS = 127  # R2.7: ROC_126 needs 127 bars


def sma(x: np.ndarray, n: int) -> np.ndarray:
    """R2.1: mean of the last n values including today; NaN for the first n-1."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    if len(x) >= n:
        out[n - 1:] = sliding_window_view(x, n).mean(axis=1)
    return out


def rsi_wilder(close: np.ndarray, period: int = RSI_PERIOD) -> np.ndarray:
    """R2.2: Wilder's RSI; the first average is the simple mean of the first `period` changes."""
    close = np.asarray(close, dtype=np.float64)
    out = np.full(close.shape, np.nan)
    if len(close) <= period:
        return out
    change = np.diff(close)
    gain, loss = np.maximum(change, 0.0), np.maximum(-change, 0.0)
    avg_gain = _wilder_average(gain, period)
    avg_loss = _wilder_average(loss, period)
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    rsi[avg_loss == 0] = 100.0  # no losses in the window (R2.2)
    out[period:] = rsi
    return out


def _wilder_average(values: np.ndarray, period: int) -> np.ndarray:
    """Seed with the simple mean of the first `period` values, then avg = (prev*(p-1) + x)/p."""
    seeded = np.concatenate(([values[:period].mean()], values[period:]))
    # ewm(alpha=1/p, adjust=False) is exactly Wilder's recursion, run in compiled code.
    return pd.Series(seeded).ewm(alpha=1.0 / period, adjust=False).mean().to_numpy()


def roc(close: np.ndarray, n: int) -> np.ndarray:
    """R2.3: close / close n bars ago - 1."""
    close = np.asarray(close, dtype=np.float64)
    out = np.full(close.shape, np.nan)
    if len(close) > n:
        out[n:] = close[n:] / close[:-n] - 1.0
    return out


def composite_momentum(close: np.ndarray) -> np.ndarray:
    """R2.4: M = 0.5*ROC_126 + 0.3*ROC_63 + 0.2*ROC_21."""
    return 0.5 * roc(close, 126) + 0.3 * roc(close, 63) + 0.2 * roc(close, 21)


def average_dollar_volume(close: np.ndarray, volume: np.ndarray, n: int = ADV_WINDOW) -> np.ndarray:
    """R2.5: mean of close*volume over the last n bars including today."""
    return sma(np.asarray(close, dtype=np.float64) * np.asarray(volume, dtype=np.float64), n)


def volume_surge_ratio(volume: np.ndarray, n: int = SURGE_WINDOW) -> np.ndarray:
    """R2.6: volume today / mean of the n bars before today; 0 mean -> +inf (volume>0) or NaN."""
    volume = np.asarray(volume, dtype=np.float64)
    out = np.full(volume.shape, np.nan)
    if len(volume) <= n:
        return out
    prior_mean = sliding_window_view(volume[:-1], n).mean(axis=1)
    today = volume[n:]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = today / prior_mean
    zero = prior_mean == 0
    ratio[zero & (today > 0)] = np.inf
    ratio[zero & (today <= 0)] = np.nan
    out[n:] = ratio
    return out


@dataclass(frozen=True, slots=True)
class IndicatorSet:
    """All R2 indicators of one asset, aligned with its bars."""

    rsi14: np.ndarray
    momentum: np.ndarray
    adv20_usd: np.ndarray
    surge_ratio: np.ndarray

    @property
    def has_score(self) -> np.ndarray:
        """R2.7: at least 127 bars and a finite M."""
        ok = np.isfinite(self.momentum)
        ok[:MIN_SCORE_BARS - 1] = False
        return ok


def compute_indicators(close: np.ndarray, volume: np.ndarray) -> IndicatorSet:
    """Compute every R2 indicator for one asset's whole history."""
    return IndicatorSet(
        rsi14=rsi_wilder(close),
        momentum=composite_momentum(close),
        adv20_usd=average_dollar_volume(close, volume),
        surge_ratio=volume_surge_ratio(volume),
    )
