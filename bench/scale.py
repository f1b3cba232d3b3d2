"""Scale series: 100 / 500 / 1,000 / 3,000 stocks (+10% crypto) x 10 years, whole process.

    python bench/scale.py [--sizes 100,500,1000,3000] [--runs 3] [--work DIR]

Each size is a seeded CSV directory (make_csv_dir.py) and a `main.py backtest` of
2015-06-01..2024-12-31 with every output, the parsed-CSV cache emptied before each run. Prints
median wall and CPU seconds, peak RSS, and each per 1,000 assets, so linear growth shows as a
flat column; then "again": the same run with the parsed cache the cold runs filled.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from make_csv_dir import write_csv_dir
from workloads import Workload, run_workload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,500,1000,3000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "momentum_bench")
    args = parser.parse_args()
    print(f"{'stocks':>7}{'crypto':>7}{'bars':>11}{'wall s':>9}{'cpu s':>8}{'peak MiB':>10}"
          f"{'cpu s/1k assets':>17}{'MiB/1k assets':>15}{'again s':>9}{'again MiB':>10}")
    for stocks in (int(s) for s in args.sizes.split(",")):
        crypto = stocks // 10
        data = args.work / "data" / f"scale_{stocks}"
        bars = write_csv_dir(data, stocks, crypto, 10, 7)
        argv = ["backtest", "--start", "2015-06-01", "--end", "2024-12-31", "--data-dir",
                str(data), "--output", str(args.work / "out"), "-q"]
        cold = Workload(f"scale-{stocks}", argv,
                        lambda: shutil.rmtree(args.work / ".cache" / "csv", ignore_errors=True))
        row = run_workload(cold, args.runs, args.work)
        again = run_workload(Workload(f"scale-{stocks}-again", argv), args.runs, args.work)
        per = 1000 / (stocks + crypto)
        print(f"{stocks:>7}{crypto:>7}{bars:>11,}{row['wall_s']:>9.2f}{row['cpu_s']:>8.2f}"
              f"{row['peak_rss_mib']:>10.0f}{row['cpu_s'] * per:>17.2f}"
              f"{row['peak_rss_mib'] * per:>15.0f}{again['wall_s']:>9.2f}"
              f"{again['peak_rss_mib']:>10.0f}", flush=True)


if __name__ == "__main__":
    main()
