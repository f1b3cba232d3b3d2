"""Write a seeded synthetic market as a CSV data directory (meta.csv, stocks/, crypto/, benchmark/).

    python bench/make_csv_dir.py OUT [--stocks 500 --crypto 50 --years 10 --seed 7]

W1 of the performance issue is the default: 500 stocks + 50 crypto + SPY, bars 2015-01-02 ..
2024-12-31 (about 1.45 M bars). The same arguments always write the same bytes; a directory that
already holds them (its stamp file matches) is left alone, so its files keep their mtime.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from momentum.core.config import SyntheticConfig  # noqa: E402
from momentum.data.synthetic import SyntheticMarket  # noqa: E402

WORK = Path(tempfile.gettempdir()) / "momentum_bench"  # the bench scripts' folder
_DIRS = {"stock": "stocks", "crypto": "crypto", "etf": "benchmark"}
_STAMP = ".bench_stamp.json"


def write_csv_dir(out: Path, stocks: int, crypto: int, years: int, seed: int) -> int:
    """Write the directory (unless its stamp already matches); return the number of bars."""
    stamp = {"stocks": stocks, "crypto": crypto, "years": years, "seed": seed, "version": 1}
    stamp_path = out / _STAMP
    if stamp_path.is_file() and json.loads(stamp_path.read_text()).get("spec") == stamp:
        return int(json.loads(stamp_path.read_text())["bars"])
    shutil.rmtree(out, ignore_errors=True)
    start = date(2015, 1, 2)
    end = date(2015 + years - 1, 12, 31)
    cfg = SyntheticConfig(seed=seed, n_stocks=stocks, n_crypto=crypto, start=start)
    source = SyntheticMarket(cfg, now=datetime(end.year + 1, 1, 2, 12, tzinfo=UTC))
    lines = ["ticker,asset_type,sector,market_cap"]
    bars = 0
    for asset in source.assets():
        frame = source.bars(asset.ticker, start, end)
        if frame.empty:
            continue
        folder = out / _DIRS[asset.asset_type.value]
        folder.mkdir(parents=True, exist_ok=True)
        frame = frame.copy()
        frame.index = frame.index.strftime("%Y-%m-%d")
        frame.to_csv(folder / f"{asset.ticker}.csv", index_label="date", float_format="%.10g")
        cap = "" if asset.market_cap is None else f"{asset.market_cap:.0f}"
        lines.append(f"{asset.ticker},{asset.asset_type.value},{asset.sector},{cap}")
        bars += len(frame)
    (out / "meta.csv").write_text("\n".join(lines) + "\n")
    stamp_path.write_text(json.dumps({"spec": stamp, "bars": bars}))
    return bars


def w1_dir(data_dir: Path | None = None) -> Path:
    """`data_dir`, or the W1 directory under WORK, written first when it is not there yet."""
    if data_dir is not None:
        return data_dir
    write_csv_dir(WORK / "data" / "w1", 500, 50, 10, 7)
    return WORK / "data" / "w1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--stocks", type=int, default=500)
    parser.add_argument("--crypto", type=int, default=50)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    bars = write_csv_dir(args.out, args.stocks, args.crypto, args.years, args.seed)
    print(f"{args.out}: {args.stocks} stocks + {args.crypto} crypto + SPY, {bars:,} bars")


if __name__ == "__main__":
    main()
