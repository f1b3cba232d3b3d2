"""The Dask side: a client (a LocalCluster, or a running scheduler), one market per worker.

A task carries only a trial's parameter overrides and dates and returns its metrics: the
market (hundreds of assets, ten years) is loaded once per worker by `TrialContext`, a worker
plugin keyed by the data source and its settings, and reused by every trial on that worker.
Workers must be able to import `momentum` (start `dask worker` in the repo folder).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin
from pydantic import ValidationError

from momentum.core.calendar import completed_through
from momentum.core.config import StrategyConfig
from momentum.core.domain import AssetType
from momentum.core.errors import ConfigError, MomentumError
from momentum.data.market import Market
from momentum.data.sources import build_source, choose_source
from momentum.research.objective import trial_metrics
from momentum.research.space import apply_overrides
from momentum.rules.metrics import benchmark_stats
from momentum.run.backtester import run_backtest

logger = logging.getLogger(__name__)
CONNECT_TIMEOUT = "15s"  # how long to wait for --scheduler before saying it is unreachable


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """What decides the bars a trial sees: the data settings, --data-dir, the last day, `now`."""

    config: StrategyConfig
    data_dir: str | None
    end: date
    now: datetime

    @property
    def key(self) -> str:
        """A stable id of the market: same key, same bars (the plugin's name uses it)."""
        source = choose_source(self.config, self.data_dir).name
        data = self.config.data.model_dump(mode="json")
        text = json.dumps([source, data, self.data_dir, self.end.isoformat(),
                           self.now.isoformat()], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def load(self) -> Market:
        """Load every asset up to `end` exactly as `backtest` does (R1.4)."""
        source = build_source(self.config, self.now, self.data_dir)
        through = {t: completed_through(t, self.now) for t in AssetType}
        return Market.load(source, start=None, end=self.end, complete_through=through)


def market_fingerprint(market: Market) -> str:
    """A hash of every ticker's dates and closes: two workers agree iff they saw the same bars."""
    digest = hashlib.sha256()
    for ticker in market.tickers:
        history = market.histories[ticker]
        digest.update(ticker.encode())
        digest.update(history.dates.tobytes())
        digest.update(history.close.tobytes())
    return digest.hexdigest()[:16]


class TrialContext(WorkerPlugin):
    """A worker plugin: the base config and the market, loaded on the worker's first trial."""

    def __init__(self, base: StrategyConfig, spec: MarketSpec) -> None:
        self.base = base
        self.spec = spec
        self._market: Market | None = None
        self._fingerprint = ""
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"base": self.base, "spec": self.spec}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["base"], state["spec"])

    @property
    def name(self) -> str:
        return f"momentum-market-{self.spec.key}"

    def setup(self, worker: Any) -> None:
        """Nothing to do yet: the market loads lazily, so registering never blocks on it."""

    def market(self) -> tuple[Market, str]:
        """The worker's one market and its fingerprint (loaded once, then shared by trials)."""
        with self._lock:
            if self._market is None:
                started = time.perf_counter()
                self._market = self.spec.load()
                self._fingerprint = market_fingerprint(self._market)
                logger.info("worker %s loaded %d assets in %.1f s", os.getpid(),
                            len(self._market.tickers), time.perf_counter() - started)
            return self._market, self._fingerprint


def _context(name: str) -> TrialContext:
    from distributed import get_worker
    return get_worker().plugins[name]


def run_trial(name: str, overrides: dict[str, Any], start: date, end: date,
              capital: str | None = None, want_curve: bool = False) -> dict[str, Any]:
    """Run one backtest with `overrides` on the worker's market (the one daily step, R7)."""
    started = time.perf_counter()
    context = _context(name)
    market, fingerprint = context.market()
    out: dict[str, Any] = {"fingerprint": fingerprint, "pid": os.getpid()}
    try:
        cfg = apply_overrides(context.base, overrides)
        result = run_backtest(market, cfg, start, end,
                              capital=None if capital is None else Decimal(capital))
    except ValidationError as e:
        out["error"] = e.errors()[0]["msg"].removeprefix("Value error, ")
    except MomentumError as e:
        out["error"] = str(e).splitlines()[0]
    else:
        out["metrics"] = trial_metrics(result, market)
        if want_curve:
            out["curve"] = [(p.day.isoformat(), str(p.equity))
                            for p in result.state.equity_curve]
    out["duration_s"] = time.perf_counter() - started
    return out


def benchmark_curve(name: str, first: date, last: date, capital: str) -> dict[str, Any]:
    """Buy-and-hold of the benchmark from `first` to `last` with `capital` (R8)."""
    market, _ = _context(name).market()
    stats = benchmark_stats(market, first, last, Decimal(capital))
    return {"ticker": stats.ticker, "reason": stats.reason,
            "curve": [(p.day.isoformat(), str(p.equity)) for p in stats.curve]}


@contextmanager
def dask_client(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    """A Client on `scheduler`, or on a LocalCluster of single-threaded worker processes."""
    from distributed import Client, LocalCluster
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as e:
            kind = e.__class__.__name__
            raise ConfigError(f"cannot reach the Dask scheduler at {scheduler} ({kind}); start "
                              f"it with `dask scheduler` or fix --scheduler") from None
        try:
            yield client
        finally:
            client.close()
        return
    count = workers or os.cpu_count() or 1
    with LocalCluster(n_workers=count, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", silence_logs=logging.WARNING) as cluster, \
            Client(cluster) as client:
        yield client


@contextmanager
def installed(client: Any, context: TrialContext) -> Iterator[str]:
    """Register the worker plugin (also on workers that join later), yield its name, and
    unregister it after, so a long-lived cluster does not keep one market per past run."""
    client.register_plugin(context, name=context.name)
    try:
        yield context.name
    finally:
        try:
            client.unregister_worker_plugin(context.name)
        except Exception as e:  # a cluster already gone: nothing is left to free
            logger.debug("could not unregister %s: %s", context.name, e)


def absolute(path: str | Path | None) -> str | None:
    """--data-dir as an absolute path, so every worker reads the same folder."""
    return None if path is None else str(Path(path).resolve())
