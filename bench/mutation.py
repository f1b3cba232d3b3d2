"""Mutation testing of the rules and the daily step with mutmut (issue #16); not part of CI.

    python bench/mutation.py                      # every module of [tool.mutmut] only_mutate
    python bench/mutation.py --module signals risk --max-children 2
    python bench/mutation.py --keep --module risk # re-run one module, keep the others' results
    python bench/mutation.py --report-only        # re-read mutants/ and rewrite the files

mutmut copies the package to mutants/, plants one small change at a time (`<=` -> `<`, `+` -> `-`,
a constant changed, a call dropped...) and runs the unit tests that reach the changed function
(pyproject.toml `[tool.mutmut]`: tests/unit only, so a mutant takes about a second). A mutant no
test notices "survived". Each survivor must be killed by a new test or listed, with the reason it
cannot change behaviour, in bench/mutation_equivalent.txt (and docs/TESTING.md).

Writes bench/mutation_survivors.txt (every survivor with its diff, marked equivalent or not) and
prints killed / survived / equivalent per module. Exit 1 if a survivor is not explained.
"""
from __future__ import annotations

import argparse
import re
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SURVIVORS = ROOT / "bench" / "mutation_survivors.txt"
EQUIVALENT = ROOT / "bench" / "mutation_equivalent.txt"
MODULES = {  # short name -> dotted module (mutant names start with it); run in this order
    "signals": "momentum.rules.signals", "risk": "momentum.rules.risk",
    "broker": "momentum.rules.broker", "engine": "momentum.run.engine",
    "portfolio": "momentum.rules.portfolio", "scanner": "momentum.rules.scanner",
    "money": "momentum.core.money", "indicators": "momentum.data.indicators",
}
RESULT = re.compile(r"^\s*(\S+): (.+)$")


def mutmut(*args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=timeout)


def run_module(module: str, max_children: int, timeout: float) -> float:
    """Run every mutant of one module; return the wall seconds it took."""
    t0 = time.perf_counter()
    done = mutmut("run", "--max-children", str(max_children), f"{module}.*", timeout=timeout)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-2000:]
        raise SystemExit(f"mutmut run {module} failed (exit {done.returncode}):\n{tail}")
    return time.perf_counter() - t0


def results() -> dict[str, str]:
    """mutant name -> status (killed, survived, no tests, timeout, ...)."""
    out = {}
    for line in mutmut("results", "--all", "true").stdout.splitlines():
        m = RESULT.match(line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def equivalents() -> dict[str, str]:
    """Mutants explained as equivalent: `name  reason` lines of bench/mutation_equivalent.txt."""
    out = {}
    if EQUIVALENT.is_file():
        for line in EQUIVALENT.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                name, _, reason = line.partition(" ")
                out[name] = reason.strip()
    return out


def report(modules: list[str]) -> int:
    status, explained = results(), equivalents()
    modules = [m for m in MODULES.values() if any(k.startswith(m + ".") for k in status)] or modules
    lines, unexplained = [], 0
    print(f"{'module':<28} {'mutants':>7} {'killed':>7} {'survived':>8} {'equiv.':>6} "
          f"{'other':>6}")
    for module in modules:
        mine = {k: v for k, v in status.items() if k.startswith(module + ".")}
        count = Counter(v for v in mine.values())
        survivors = sorted(k for k, v in mine.items() if v == "survived")
        equiv = [k for k in survivors if k in explained]
        other = len(mine) - count["killed"] - count["survived"]
        print(f"{module:<28} {len(mine):>7} {count['killed']:>7} "
              f"{len(survivors) - len(equiv):>8} {len(equiv):>6} {other:>6}")
        for name in survivors:
            why = explained.get(name)
            unexplained += why is None
            lines.append(f"## {name}: {'equivalent: ' + why if why else 'SURVIVED (unexplained)'}")
            lines.append(mutmut("show", name).stdout.rstrip())
            lines.append("")
        for name, v in sorted(mine.items()):
            if v not in ("killed", "survived"):
                lines.append(f"## {name}: {v}")
    SURVIVORS.write_text("\n".join(lines) + "\n")
    print(f"survivors written to {SURVIVORS.relative_to(ROOT)}; {unexplained} unexplained")
    return 1 if unexplained else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", nargs="+", choices=list(MODULES), default=list(MODULES))
    parser.add_argument("--max-children", type=int, default=1,
                        help="parallel mutants (default 1: the machine is shared)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per module")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--keep", action="store_true",
                        help="keep mutants/ from the last run (re-runs only the given modules)")
    args = parser.parse_args(argv)
    modules = [MODULES[m] for m in args.module]
    if not args.report_only:
        if not args.keep:   # a fresh copy, so no verdict of an older source or test survives
            shutil.rmtree(ROOT / "mutants", ignore_errors=True)
        for module in modules:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall = run_module(module, args.max_children, args.timeout)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            print(f"{module}: {wall:.0f} s wall, {cpu:.0f} s CPU (user+sys)", flush=True)
    return report(modules)


if __name__ == "__main__":
    sys.exit(main())
