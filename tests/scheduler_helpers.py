"""Helpers of the scheduler tests: a fake clock, TZ switching, scripts standing in for main.py."""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path

import yaml

from momentum.core.config import DEFAULT_CONFIG_PATH

ROOT = Path(__file__).resolve().parents[1]

# Exits 75 for the first N runs (counted in a file), then 0; prints the TIINGO_API_KEY it sees
# so the tests can check that the alert and the status never carry it.
FLAKY = """import os, sys
from pathlib import Path
counter, fails = Path(sys.argv[1]), int(sys.argv[2])
n = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(n))
print(f"attempt {n}")
for i in range(80):
    print(f"progress line {i}")
print(f"key={os.environ.get('TIINGO_API_KEY', '')}")
if n <= fails:
    print("data not complete yet", file=sys.stderr)
    sys.exit(75)
print("all done")
"""

# Waits until a file appears (at most 60 s), then exits 0: a run that is still going.
WAITER = """import sys, time
from pathlib import Path
go = Path(sys.argv[1])
for _ in range(600):
    if go.exists():
        sys.exit(0)
    time.sleep(0.1)
sys.exit(3)
"""


class FakeClock:
    def __init__(self, instant: datetime) -> None:
        self.instant = instant

    def now(self) -> datetime:
        return self.instant

    def advance(self, **delta: float) -> None:
        self.instant += timedelta(**delta)


@contextmanager
def machine_tz(name: str) -> Iterator[None]:
    """Run the block with the process's local time zone set to `name`, then restore it."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


def write_script(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def scheduler_config(tmp_path: Path, scheduler: dict, alerts: dict | None = None,
                     absolute_logs: bool = True, **sections: dict) -> Path:
    """The shipped config on the synthetic market with a scheduler section, files in tmp_path."""
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["data"]["source"] = "synthetic"
    base = tmp_path if absolute_logs else Path()
    raw["logging"].update(log_file=str(base / "logs" / "momentum_strategy.log"),
                          snapshot_dir=str(base / "snapshots"), report_dir=str(base / "reports"))
    raw["scheduler"] = {**raw["scheduler"], **scheduler}
    raw["alerts"].update(alerts or {})
    for name, values in sections.items():
        raw[name].update(values)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def status_seed(path: Path, session: date) -> None:
    """A status file whose last run was `session` (what a scheduler leaves behind)."""
    import json
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 1, "last_run": {"session": session.isoformat()}}))


PYTHON = sys.executable
