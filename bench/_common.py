"""Shared set-up for the benchmark scripts: a large synthetic market, cached on disk."""
from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from momentum.core.config import SyntheticConfig  # noqa: E402
from momentum.data.synthetic import SyntheticMarket  # noqa: E402

CACHE = ROOT / ".cache" / "bench"
# A fixed 'now' keeps the history identical from run to run: 2015-01-02 .. 2025-12-31.
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def big_config(n_stocks: int, n_crypto: int) -> SyntheticConfig:
    return SyntheticConfig(seed=7, n_stocks=n_stocks, n_crypto=n_crypto)


def timed(label: str, fn):
    t0 = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - t0
    print(f"{label:<48} {seconds:8.3f} s")
    return value, seconds


def synthetic(n_stocks: int, n_crypto: int) -> SyntheticMarket:
    return SyntheticMarket(big_config(n_stocks, n_crypto), now=NOW, cache_dir=CACHE)
