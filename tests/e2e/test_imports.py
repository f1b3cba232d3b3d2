"""A command imports only what it uses: `--help` and `paper --report` load no plotting or HTTP."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("plotly", "requests", "exchange_calendars")
PROBE = """
import runpy, sys
sys.path.insert(0, {root!r})
sys.argv = ["main.py", *sys.argv[1:]]
try:
    runpy.run_path({main!r}, run_name="__main__")
except SystemExit as e:
    code = e.code
else:
    code = 0
print("LOADED", sorted(m for m in {heavy!r} if m in sys.modules), "EXIT", code)
"""


def loaded(argv: list[str], cwd: Path) -> str:
    probe = PROBE.format(root=str(ROOT), main=str(ROOT / "main.py"), heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", probe, *argv], cwd=cwd, capture_output=True,
                          text=True, timeout=120)
    line = next(x for x in done.stdout.splitlines() if x.startswith("LOADED"))
    return line


@pytest.mark.parametrize("argv", [["--help"], ["backtest", "--help"], ["paper", "--help"]])
def test_help_imports_no_plotting_http_or_calendar(argv: list[str], tmp_path: Path):
    assert loaded(argv, tmp_path) == "LOADED [] EXIT 0"


def test_paper_report_imports_no_plotting_http_or_calendar(tmp_path: Path):
    state = str(tmp_path / "state")
    init = loaded(["paper", "--init", "--date", "2024-03-01", "--state-dir", state, "-q"], tmp_path)
    assert init.endswith("EXIT 0")
    assert loaded(["paper", "--report", "--state-dir", state, "-q"], tmp_path) == \
        "LOADED [] EXIT 0"
