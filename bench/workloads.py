"""Time the performance issue's workloads as whole processes: median of N runs, CPU, peak RSS.

    python bench/workloads.py [--runs 5] [--only W1,W1-again,...] [--json FILE] [--work DIR]

Each run is a fresh `python main.py ...` under GNU time (`/usr/bin/time`, as `time -v` reports
it): wall seconds, CPU seconds (user + sys) and peak resident memory. On a shared machine wall time
is inflated by the load; CPU time is the steadier figure. PYTHONDONTWRITEBYTECODE is removed from
the children's environment: with it set (some sandboxes do) every run recompiles our sources, which
no user install does. Workloads:

    W1          backtest 2015-06-01..2024-12-31 on 500 stocks + 50 crypto x 10 y (CSV dir), all
                outputs, parsed-CSV cache emptied before each run
    W1-again    the same on the unchanged directory (the cache filled by the previous run)
    W2          backtest of 200 stocks + 20 crypto x 5 y (CSV dir), cache emptied before each run
    W2-again    the same on the unchanged directory
    paper-run   `paper --run` of one new day on the default (synthetic) universe, warm cache
    paper-report, help   `paper --report`, `main.py --help`
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from make_csv_dir import ROOT, write_csv_dir

MAIN = str(ROOT / "main.py")
TIME = "/usr/bin/time"
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


@dataclass
class Workload:
    name: str
    argv: list[str]
    before_each: Callable[[], None] = lambda: None


def measure(argv: list[str], cwd: Path) -> tuple[float, float, float]:
    """One whole-process run: (wall s, cpu s, peak RSS MiB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        cmd = [TIME, "-f", "%e %U %S %M", "-o", out.name, sys.executable, MAIN, *argv]
        done = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, env=ENV)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
        wall, user, system, rss_kib = out.read().split()[-4:]
    return float(wall), float(user) + float(system), int(rss_kib) / 1024


def run_workload(w: Workload, runs: int, cwd: Path) -> dict:
    samples = []
    for _ in range(runs):
        w.before_each()
        samples.append(measure(w.argv, cwd))
    walls, cpus, rss = zip(*samples, strict=True)
    return {"name": w.name, "wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus),
            "peak_rss_mib": max(rss), "runs": runs, "walls": walls}


def workloads(work: Path) -> list[Workload]:
    data = work / "data"
    w1, w2 = data / "w1", data / "w2"
    write_csv_dir(w1, 500, 50, 10, 7)
    write_csv_dir(w2, 200, 20, 5, 7)
    cache = work / ".cache"

    def cold() -> None:  # the parsed-CSV cache (if any) and nothing else
        shutil.rmtree(cache / "csv", ignore_errors=True)

    state = _prepare_paper(work)

    def fresh_state() -> None:
        shutil.rmtree(work / "paper", ignore_errors=True)
        shutil.copytree(state, work / "paper")

    out = ["--output", str(work / "out"), "-q"]
    return [
        Workload("W1", ["backtest", "--start", "2015-06-01", "--end", "2024-12-31",
                        "--data-dir", str(w1), *out], cold),
        Workload("W1-again", ["backtest", "--start", "2015-06-01", "--end", "2024-12-31",
                              "--data-dir", str(w1), *out]),
        Workload("W2", ["backtest", "--start", "2015-06-01", "--end", "2019-12-31",
                        "--data-dir", str(w2), *out], cold),
        Workload("W2-again", ["backtest", "--start", "2015-06-01", "--end", "2019-12-31",
                              "--data-dir", str(w2), *out]),
        Workload("paper-run", ["paper", "--run", "--date", PAPER_DAY, "--state-dir",
                               str(work / "paper"), "-q"], fresh_state),
        Workload("paper-report", ["paper", "--report", "--state-dir", str(work / "paper"), "-q"]),
        Workload("help", ["--help"]),
    ]


PAPER_DAY = "2025-06-02"


def _prepare_paper(work: Path) -> Path:
    """A paper portfolio run up to the session before PAPER_DAY (kept as a template)."""
    template = work / "paper_template"
    if not (template / ".ready").exists():
        shutil.rmtree(template, ignore_errors=True)
        for argv in (["paper", "--init", "--date", "2025-03-03"],
                     ["paper", "--run", "--date", "2025-05-30"]):
            subprocess.run([sys.executable, MAIN, *argv, "--state-dir", str(template), "-q"],
                           cwd=work, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=ENV)
        (template / ".ready").touch()
    return template


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated workload names")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "momentum_bench")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    chosen = set(filter(None, args.only.split(",")))
    rows = []
    print(f"{'workload':<14}{'wall s':>9}{'cpu s':>9}{'peak MiB':>10}   (median of {args.runs})")
    for w in workloads(args.work):
        if chosen and w.name not in chosen:
            continue
        row = run_workload(w, args.runs, args.work)
        rows.append(row)
        print(f"{w.name:<14}{row['wall_s']:>9.2f}{row['cpu_s']:>9.2f}{row['peak_rss_mib']:>10.0f}",
              flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
