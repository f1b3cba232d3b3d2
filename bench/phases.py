"""Per-phase breakdown of one backtest in one process: imports, load, indicators, steps, outputs.

    python bench/phases.py [DATA_DIR] [--start 2015-06-01 --end 2024-12-31] [--cold]

DATA_DIR defaults to the W1 directory (written by make_csv_dir.py if missing). The phases follow
`main.py backtest`: import main, build the CSV source, read + validate every price file, compute
indicators and the point-in-time index (Market), run the daily steps, write the five outputs
(report.html alone is timed too). CPU seconds are printed beside wall seconds: on a shared machine
the wall time is inflated by the load. --cold empties the parsed-CSV cache first.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
from datetime import date
from pathlib import Path

from make_csv_dir import ROOT, WORK, w1_dir

_rows: list[tuple[str, float, float]] = []


class phase:
    """Time a block: wall and CPU (user + sys) seconds of this process."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __enter__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def __exit__(self, *exc: object) -> None:
        _rows.append((self.label, time.perf_counter() - self.wall, time.process_time() - self.cpu))


class _Loaded:
    """The source's assets with the bars already read, so Market.load is timed on its own.

    Arrays (price_bars) when the source offers them, as Market.load then reads, else frames.
    """

    name = "loaded"

    def __init__(self, source, frames: dict) -> None:
        self._source, self._frames = source, frames
        if hasattr(source, "price_bars"):
            self.price_bars = lambda ticker, start=None, end=None: self._frames[ticker]

    def assets(self):
        return self._source.assets()

    def bars(self, ticker: str, start=None, end=None):
        return self._frames[ticker]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", type=Path)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2015, 6, 1))
    parser.add_argument("--end", type=date.fromisoformat, default=date(2024, 12, 31))
    parser.add_argument("--cold", action="store_true")
    args = parser.parse_args()
    work, data = WORK, w1_dir(args.data_dir)
    os.chdir(work)  # outputs, logs and .cache/ of the run land in the bench folder
    if args.cold:
        shutil.rmtree(work / ".cache" / "csv", ignore_errors=True)
    sys.path.insert(0, str(ROOT))
    total = time.perf_counter(), time.process_time()
    with phase("imports (main.py and what it imports)"):
        import main as cli  # noqa: PLC0415
        from momentum.data.market import Market  # noqa: PLC0415
        from momentum.reports.backtest import report_html, write_backtest_outputs  # noqa: PLC0415
        from momentum.rules.metrics import summarize  # noqa: PLC0415
        from momentum.run.backtester import run_backtest  # noqa: PLC0415
    strategy = cli.MomentumStrategy(data_dir=data, mode="backtest")
    with phase("CSV source: meta.csv, list files"):
        source = strategy.require_components()
    with phase("read + validate every price file"):
        read = getattr(source, "price_bars", source.bars)
        if hasattr(source, "prefetch"):  # as Market.load does: every file in one batch
            source.prefetch([a.ticker for a in source.assets()])
        frames = {a.ticker: read(a.ticker, None, args.end) for a in source.assets()}
    with phase("indicators + point-in-time index (Market)"):
        market = Market.load(_Loaded(source, frames), end=args.end)
        del frames
    with phase(f"daily steps {args.start}..{args.end}"):
        result = run_backtest(market, strategy.config, args.start, args.end)
    with phase("summary metrics"):
        summary = summarize(result, market)
    with phase("report.html alone"):
        page = report_html(result, market, summary, strategy.config.signals.exit,
                           cache_dir=work / ".cache")
    with phase("all five outputs written"):
        write_backtest_outputs(result, market, work / "out_phases",
                               config_summary=strategy.config.redacted(),
                               exit_config=strategy.config.signals.exit, summary=summary,
                               cache_dir=work / ".cache")  # as main.py backtest does
    wall, cpu = time.perf_counter() - total[0], time.process_time() - total[1]
    print(f"{'phase':<48}{'wall s':>8}{'cpu s':>8}")
    for label, w, c in _rows:
        print(f"{label:<48}{w:>8.3f}{c:>8.3f}")
    print(f"{'total (in process, after interpreter start)':<48}{wall:>8.3f}{cpu:>8.3f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"steps {len(result.days)}, trades {len(result.state.portfolio.trades())}, "
          f"report.html {len(page) / 1e6:.2f} MB, peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
