"""A command imports only what it uses: `--help` loads no data, config or plotting stack, and
`paper --report` (on a real paper portfolio) no market data, plotting, HTTP or calendar library,
nor rich (its plain text goes to a pipe as it is); `backtest` and `paper --run` never pandas.

Each command runs in a fresh interpreter (runpy of main.py), which then prints which of the heavy
packages ended up in sys.modules.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pandas", "numpy", "pydantic", "yaml", "plotly", "requests", "exchange_calendars",
         "streamlit", "dask", "pyarrow", "rich")
HELP_NEVER = ("pandas", "numpy", "pydantic", "plotly", "requests", "exchange_calendars",
              "streamlit", "dask", "pyarrow")
REPORT_NEVER = ("pandas", "numpy", "plotly", "requests", "exchange_calendars", "streamlit",
                "dask", "pyarrow", "rich")  # rich: a plain report to a pipe is written as is
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
print("LOADED", ",".join(sorted(m for m in {heavy!r} if m in sys.modules)), "EXIT", code)
"""


def loaded(argv: list[str], cwd: Path) -> tuple[set[str], str]:
    """The heavy packages a main.py command imported, and its exit code."""
    probe = PROBE.format(root=str(ROOT), main=str(ROOT / "main.py"), heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", probe, *argv], cwd=cwd, capture_output=True,
                          text=True, timeout=120)
    line = next((x for x in done.stdout.splitlines() if x.startswith("LOADED")), None)
    assert line is not None, done.stderr
    _, names, _, code = line.split(" ")
    return set(filter(None, names.split(","))), code


@pytest.mark.parametrize("argv", [["--help"], ["backtest", "--help"], ["paper", "--help"],
                                  ["scan", "--help"], ["analyze-trade", "--help"]])
def test_help_imports_no_data_config_plotting_http_or_calendar(argv: list[str], tmp_path: Path):
    names, code = loaded(argv, tmp_path)
    assert code == "0"
    assert names.isdisjoint(HELP_NEVER), sorted(names & set(HELP_NEVER))


def test_paper_report_imports_no_market_data_plotting_http_or_calendar(tmp_path: Path):
    state = str(tmp_path / "state")
    for argv in (["paper", "--init", "--date", "2024-03-01"],
                 ["paper", "--run", "--date", "2024-03-06"]):
        assert loaded([*argv, "--state-dir", state, "-q"], tmp_path)[1] == "0"
    assert len(list((tmp_path / "state").glob("*.json"))) > 1  # a portfolio that has run days
    names, code = loaded(["paper", "--report", "--state-dir", state, "-q"], tmp_path)
    assert code == "0"
    assert names.isdisjoint(REPORT_NEVER), sorted(names & set(REPORT_NEVER))
    assert "pydantic" in names  # the probe sees imports: the config


def test_the_names_main_imported_at_the_top_are_still_its_attributes():
    # Tests and scripts read (and patch) main.X; the imports moved into the commands keep them.
    probe = ("import sys; sys.path.insert(0, {root!r}); import main; "
             "[getattr(main, n) for n in main._LAZY]; "
             "print(main.to_money('1.5'), main.load_config.__module__, hasattr(main, 'nope'))")
    done = subprocess.run([sys.executable, "-c", probe.format(root=str(ROOT))], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["1.5", "momentum.core.config", "False"]


SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.mark.parametrize("source", ["synthetic", "csv"])
def test_backtest_and_paper_run_never_import_pandas(source: str, tmp_path: Path):
    # The daily path reads arrays (PriceBars) and computes indicators without pandas: importing
    # it alone would cost ~0.5 s of every run. pyarrow may parse CSV text; numpy is the engine's.
    data = []
    if source == "csv":
        if not SHARED_DATA.is_dir():
            pytest.skip("../shared/data is not beside the checkout")
        data = ["--data-dir", str(SHARED_DATA)]
    names, code = loaded(["backtest", "--start", "2019-01-02", "--end", "2019-06-28", *data,
                          "--output", "out", "-q"], tmp_path)  # (a short line: no wrapping)
    assert code == "0"
    assert "numpy" in names  # the probe sees the engine's imports
    assert "pandas" not in names and "exchange_calendars" not in names, sorted(names)
    assert "rich" not in names  # the summary table to a pipe is written as rich would write it
    state = ["--state-dir", str(tmp_path / "state"), *data, "-q"]
    for argv in (["paper", "--init", "--date", "2019-03-01"],
                 ["paper", "--run", "--date", "2019-03-06"]):
        names, code = loaded([*argv, *state], tmp_path)
        assert code == "0"
        assert "pandas" not in names and "exchange_calendars" not in names, sorted(names)
