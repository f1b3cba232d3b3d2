"""No look-ahead (R1.2): a backtest's days up to D are identical whatever happens after D."""
from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from momentum.core.config import StrategyConfig
from momentum.data.csv_source import CsvDirectorySource
from momentum.data.market import Market
from momentum.run.backtester import run_backtest
from tests.helpers import FrameSource

START, D, END = date(2018, 1, 2), date(2019, 6, 28), date(2019, 12, 31)


@pytest.fixture(scope="module")
def frames(shared_data):
    source = CsvDirectorySource(shared_data)
    return {a: source.bars(a.ticker, None, END) for a in source.assets()}


def altered_after(frames, day, seed=7):
    rng = np.random.default_rng(seed)
    out = {}
    for asset, frame in frames.items():
        frame = frame.copy()
        later = frame.index > np.datetime64(day)
        k = int(later.sum())
        factor = rng.uniform(0.5, 2.0, k)
        for col in ("open", "high", "low", "close"):
            frame.loc[later, col] = frame.loc[later, col].to_numpy() * factor
        frame.loc[later, "volume"] = frame.loc[later, "volume"].to_numpy() * rng.uniform(0, 5, k)
        out[asset] = frame
    return out


def run(items, end, cfg):
    return run_backtest(Market.load(FrameSource(items)), cfg, START, end)


def days_up_to(result, day):
    return [repr(d) for d in result.days if d.day <= day]


def test_backtest_up_to_d_ignores_removed_or_altered_later_bars(frames):
    cfg = StrategyConfig()
    full = run(frames, END, cfg)
    truncated = run({a: f[f.index <= np.datetime64(D)] for a, f in frames.items()}, D, cfg)
    altered = run(altered_after(frames, D), END, cfg)
    expected = days_up_to(full, D)
    assert sum(len(d.fills) for d in full.days if d.day <= D) > 10  # the window really trades
    assert days_up_to(truncated, D) == expected
    assert days_up_to(altered, D) == expected
    assert days_up_to(altered, END) != days_up_to(full, END)  # the alteration did matter later
