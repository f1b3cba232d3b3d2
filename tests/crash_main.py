"""Run main.main() with a SIGKILL planted at one point, for crash-resume tests.

    CRASH_AT=<point>:<n> python tests/crash_main.py <main.py arguments>

Points: `run_day` (entering the n-th daily step), `replace` (the n-th atomic rename: state file
and pointer renames alternate, after reports), `report` (writing the n-th daily report),
`alerts` (sending the n-th batch of alerts). The process dies with SIGKILL: no cleanup runs.
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import main as cli  # noqa: E402
import momentum.core.files as files  # noqa: E402
import momentum.run.paper as paper  # noqa: E402


def plant(point: str, n: int) -> None:
    calls = {"count": 0}

    def hit() -> None:
        calls["count"] += 1
        if calls["count"] == n:
            os.kill(os.getpid(), signal.SIGKILL)

    def wrap(owner, name):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            hit()
            return original(*args, **kwargs)

        setattr(owner, name, wrapper)

    targets = {"run_day": (paper, "run_day"), "replace": (files.os, "replace"),
               "report": (cli, "write_daily_report"),
               "alerts": (cli.MomentumStrategy, "send_alerts")}
    wrap(*targets[point])


if __name__ == "__main__":
    point, _, n = os.environ["CRASH_AT"].partition(":")
    plant(point, int(n))
    sys.exit(cli.main(sys.argv[1:]))
