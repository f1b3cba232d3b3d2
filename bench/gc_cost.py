"""What Python's cycle collector costs a whole `main.py backtest`, with main.py's threshold and
with the interpreter's default one.

    python bench/gc_cost.py [--runs 3] [--data-dir DIR] [--start ...] [--end ...]

Each run is a fresh process that runs main.py as a program (so its `gc.set_threshold` applies)
with a gc.callbacks hook timing every collection; "default" runs make that call a no-op. The
W1 directory is written first when no --data-dir is given (bench/make_csv_dir.py).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from make_csv_dir import ROOT, WORK, w1_dir

_CHILD = r"""
import gc, json, os, runpy, sys, time
per, start = {0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]}, [0.0]
def hook(phase, info):
    if phase == "start":
        start[0] = time.perf_counter()
    else:
        row = per[info["generation"]]; row[0] += 1; row[1] += time.perf_counter() - start[0]
gc.callbacks.append(hook)
main, default, argv = sys.argv[1], sys.argv[2] == "default", sys.argv[3:]
if default:
    gc.set_threshold = lambda *a: None
sys.argv = [main, *argv]
sys.path.insert(0, os.path.dirname(main))  # as `python main.py` has it
try:
    runpy.run_path(main, run_name="__main__")
except SystemExit as done:
    if done.code not in (None, 0):  # a failed backtest measures nothing: say so
        raise
print(json.dumps(per), file=sys.stderr)
"""


def one_run(mode: str, argv: list[str], cwd: Path) -> dict[int, tuple[int, float]]:
    done = subprocess.run([sys.executable, "-c", _CHILD, str(ROOT / "main.py"), mode, *argv],
                          cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"main.py {' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    per = json.loads(done.stderr.strip().splitlines()[-1])
    return {int(g): (n, s) for g, (n, s) in per.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--start", default="2015-06-01")
    parser.add_argument("--end", default="2024-12-31")
    args = parser.parse_args()
    work, data = WORK, w1_dir(args.data_dir)
    argv = ["backtest", "--start", args.start, "--end", args.end, "--data-dir", str(data),
            "--output", str(work / "out_gc"), "-q"]
    one_run("main", argv, work)  # fills the parsed-CSV cache: every measured run reads it
    print(f"{'threshold':<12}{'collections':>12}{'gen 0/1/2':>16}{'seconds':>10}   "
          f"(median of {args.runs})")
    for mode in ("default", "main"):
        runs = [one_run(mode, argv, work) for _ in range(args.runs)]
        counts = [sum(n for n, _ in r.values()) for r in runs]
        seconds = [sum(s for _, s in r.values()) for r in runs]
        split = "/".join(str(runs[0][g][0]) for g in (0, 1, 2))
        print(f"{mode:<12}{statistics.median(counts):>12.0f}{split:>16}"
              f"{statistics.median(seconds):>10.3f}")


if __name__ == "__main__":
    main()
