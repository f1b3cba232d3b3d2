"""Whole-backtest benchmark: 500 stocks + 50 crypto over 10 years on the synthetic market.

    python bench/bench_backtest.py [--stocks 500 --crypto 50] [--start 2016-01-01 --end 2025-12-31]

Data generation is excluded (it is cached first); loading the bars, computing the indicators and
running every daily step are included. Peak memory is the resident peak of the timed process.
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from datetime import date

from _common import synthetic

from momentum.core.config import StrategyConfig
from momentum.data.market import Market
from momentum.run.backtester import run_backtest


def timed_run(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    source = synthetic(args.stocks, args.crypto)
    market = Market.load(source, end=date.fromisoformat(args.end))
    t_load = time.perf_counter() - t0
    result = run_backtest(market, StrategyConfig(), date.fromisoformat(args.start),
                          date.fromisoformat(args.end))
    wall = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    start, end = result.start, result.end
    asset_bars = sum(int(((h.dates >= start) & (h.dates <= end)).sum())
                     for h in market.histories.values())
    trades = result.state.portfolio.trades()
    print(f"assets            {len(market.histories)} "
          f"({args.stocks} stocks, {args.crypto} crypto, SPY)")
    print(f"period            {start} .. {end}, {len(result.days)} steps")
    print(f"load + indicators {t_load:8.3f} s")
    print(f"daily steps       {wall - t_load:8.3f} s")
    print(f"wall time         {wall:8.3f} s   (target < 5 s)")
    print(f"asset-bars        {asset_bars:,} in the period, {asset_bars / wall:,.0f} per second")
    print(f"peak memory       {peak_mib:8.1f} MiB (target < 1024 MiB)")
    final = result.state.equity_curve[-1].equity
    print(f"trades            {len(trades)}; final equity {final:,.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stocks", type=int, default=500)
    parser.add_argument("--crypto", type=int, default=50)
    parser.add_argument("--start", default="2016-01-01")
    parser.add_argument("--end", default="2025-12-31")
    parser.add_argument("--timed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.timed:
        timed_run(args)
        return
    t0 = time.perf_counter()
    synthetic(args.stocks, args.crypto)  # generate and cache outside the measurement
    print(f"(data generation / cache check: {time.perf_counter() - t0:.2f} s, excluded)")
    # A fresh process, so its peak memory is the backtest's own and not the generator's.
    subprocess.run([sys.executable, __file__, "--timed", *sys.argv[1:]], check=True)


if __name__ == "__main__":
    main()
