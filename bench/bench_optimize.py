"""Optimizer throughput: trials per second of a random search on 1 and 2 Dask workers.

    python bench/bench_optimize.py [--stocks 500 --crypto 50] [--start 2016-01-01
        --end 2025-12-31] [--trials 100] [--workers 1,2]

Each worker is a single-threaded process of a LocalCluster on 127.0.0.1 and loads the market
once (timed apart, as "market load"); the timed part is the sweep itself. Printed per worker
count: wall time, trials per second, the workers' CPU time (user + sys) during the sweep, and
each worker's peak resident memory (one market per worker, not per trial). On a shared machine
wall time is inflated by the other load: compare CPU time too.
"""
from __future__ import annotations

import argparse
import resource
import time
from datetime import date

from _common import CACHE, NOW, big_config

from momentum.core.config import StrategyConfig
from momentum.research.cluster import MarketSpec, TrialContext, installed
from momentum.research.objective import Constraints
from momentum.research.optimize import SearchSettings, open_log, prepare_dir, run_sweep
from momentum.research.search import SearchPlan
from momentum.research.space import parse_space

SPACE = ["signals.entry.rsi_min=45:55:1", "signals.exit.stop_loss_stock=0.05:0.12:0.005",
         "signals.exit.trailing_stop_distance=0.05:0.12:0.01", "risk.max_positions=4:12:1"]


def _usage(dask_worker) -> tuple[float, float]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024  # CPU s, peak MiB (KiB on Linux)


def _warm(dask_worker, name: str) -> int:
    market, _ = dask_worker.plugins[name].market()
    return len(market.tickers)


def bench(workers: int, cfg: StrategyConfig, args: argparse.Namespace, out_root) -> None:
    from distributed import Client, LocalCluster
    end = date.fromisoformat(args.end)
    spec = MarketSpec(cfg, None, end, NOW)
    plan = SearchPlan("random", tuple(parse_space(SPACE, cfg)), args.trials, seed=1)
    settings = SearchSettings(plan, "sharpe", Constraints(), date.fromisoformat(args.start), end)
    out = out_root / f"w{workers}"
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address="127.0.0.1:0",
                      memory_limit=0) as cluster, Client(cluster) as client, \
            installed(client, TrialContext(cfg, spec)) as name:
        t0 = time.perf_counter()
        assets = client.run(_warm, name=name)
        print(f"[{workers} worker(s)] market load {time.perf_counter() - t0:8.1f} s wall, "
              f"{next(iter(assets.values()))} assets per worker")
        before = client.run(_usage)
        prepare_dir(out, settings, cfg, resume=False)
        t0 = time.perf_counter()
        run_sweep(client, name, settings, open_log(out, settings), lambda _t: None)
        wall = time.perf_counter() - t0
        after = client.run(_usage)
    cpu = sum(after[w][0] - before[w][0] for w in after)
    peaks = ", ".join(f"{after[w][1]:.0f}" for w in sorted(after))
    print(f"[{workers} worker(s)] {args.trials} trials in {wall:8.1f} s wall = "
          f"{args.trials / wall:.3f} trials/s; worker CPU {cpu:.1f} s "
          f"({args.trials / cpu:.3f} trials per CPU-second); peak RSS per worker {peaks} MiB")


def main() -> None:
    import tempfile
    from pathlib import Path
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stocks", type=int, default=500)
    parser.add_argument("--crypto", type=int, default=50)
    parser.add_argument("--start", default="2016-01-01")
    parser.add_argument("--end", default="2025-12-31")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    syn = big_config(args.stocks, args.crypto)
    cfg = StrategyConfig.model_validate({"data": {
        "source": "synthetic", "cache_dir": str(CACHE), "synthetic": syn.model_dump()}})
    MarketSpec(cfg, None, date.fromisoformat(args.end), NOW).load()  # generate + cache first
    with tempfile.TemporaryDirectory() as tmp:
        for count in (int(w) for w in args.workers.split(",")):
            bench(count, cfg, args, Path(tmp))


if __name__ == "__main__":
    main()
