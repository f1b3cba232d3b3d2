"""Data-layer timings for ~500 tickers x ~10 years: synthetic generation, CSV load, indicators.

    python bench/bench_data.py [--stocks 450 --crypto 50]
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
from _common import CACHE, big_config, synthetic, timed

from momentum.data.csv_source import CsvDirectorySource
from momentum.data.indicators import compute_indicators
from momentum.data.market import Market
from momentum.data.synthetic import cache_path, generate


def write_csv_dir(source, root: Path) -> int:
    """Write every series of a source as the CSV-directory layout; return the bar count."""
    dirs = {"stock": "stocks", "crypto": "crypto", "etf": "benchmark"}
    lines = ["ticker,asset_type,sector,market_cap"]
    bars = 0
    for asset in source.assets():
        frame = source.bars(asset.ticker)
        folder = root / dirs[asset.asset_type.value]
        folder.mkdir(parents=True, exist_ok=True)
        out = frame.copy()
        out.index = out.index.strftime("%Y-%m-%d")
        out.to_csv(folder / f"{asset.ticker}.csv", index_label="date", float_format="%.10g")
        cap = "" if asset.market_cap is None else f"{asset.market_cap:.0f}"
        lines.append(f"{asset.ticker},{asset.asset_type.value},{asset.sector},{cap}")
        bars += len(frame)
    (root / "meta.csv").write_text("\n".join(lines) + "\n")
    return bars


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stocks", type=int, default=450)
    parser.add_argument("--crypto", type=int, default=50)
    args = parser.parse_args()
    cfg = big_config(args.stocks, args.crypto)
    print(f"universe: {args.stocks} stocks + {args.crypto} crypto + SPY, "
          f"bars 2015-01-02..2025-12-31")
    timed("synthetic generation (in memory, no cache)", lambda: generate(cfg))
    cache_path(cfg, CACHE).unlink(missing_ok=True)
    timed("synthetic first run (generate + write cache)",
          lambda: synthetic(args.stocks, args.crypto))
    source, _ = timed("synthetic load from cache", lambda: synthetic(args.stocks, args.crypto))
    tmp = Path(tempfile.mkdtemp(prefix="bench_csv_"))
    try:
        bars, _ = timed("write the market as a CSV directory", lambda: write_csv_dir(source, tmp))
        csv_source, _ = timed("CSV: read meta.csv and match files", lambda: CsvDirectorySource(tmp))
        timed("CSV: parse + validate every price file", csv_source.validate_all)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    series = [(f["close"].to_numpy(), f["volume"].to_numpy())
              for f in (source.bars(a.ticker) for a in source.assets())]
    timed(f"indicators for {len(series)} series (R2, vectorized)",
          lambda: [compute_indicators(c, v) for c, v in series])
    market, _ = timed("Market.load (bars + indicators + index)", lambda: Market.load(source))
    print(f"{bars:,} bars in {len(series)} series; {market.last_date} last bar; "
          f"{np.mean([len(c) for c, _ in series]):.0f} bars per series on average")


if __name__ == "__main__":
    main()
