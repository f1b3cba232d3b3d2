"""Imports go one way: types <- rules <- engine <- runners <- main; edges import only types.

Each module of `momentum/` may import only the modules its layer allows (STYLE.md section 2).
Imports under `if TYPE_CHECKING:` are for annotations only and are not counted.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "momentum"

TYPES = {"errors", "domain", "money", "config", "clock", "files"}
RULES = {"indicators", "market", "scanner", "signals", "risk", "broker", "portfolio", "metrics"}
ENGINE = {"engine"}
RUNNERS = {"backtester", "paper"}
DATA = {"data", "calendar"}

ALLOWED: dict[str, set[str]] = {
    # types
    "errors": set(), "clock": set(), "files": set(), "domain": {"errors"}, "money": {"domain"},
    "config": {"domain", "errors"},
    # pure rules: types and other rules; `market` builds itself from a source's frames
    **{m: TYPES | RULES | {"data"} for m in RULES},
    # the one daily step
    "engine": TYPES | RULES,
    # runners
    **{m: TYPES | RULES | ENGINE | {"calendar", "state", "state_codec", "data"} for m in RUNNERS},
    # edges: types, the data protocol and the calendar, and their own helpers
    "data": TYPES, "calendar": TYPES,
    "csv_source": TYPES | DATA, "synthetic": TYPES | DATA,
    "tiingo_parse": TYPES, "tiingo_limits": set(),
    "tiingo": TYPES | DATA | {"tiingo_parse", "tiingo_limits"},
    "tiingo_cache": TYPES | DATA | {"tiingo"},
    "tiingo_source": TYPES | DATA | {"tiingo", "tiingo_cache"},
    "sources": TYPES | DATA | {"csv_source", "synthetic", "tiingo_source"},
    # presentation of results: read domain objects and metrics, never run the engine
    "backtest_report": TYPES | {"metrics", "report_charts", "market"},
    "report_charts": TYPES | {"metrics", "market", "signals"},
    "console": TYPES | {"scanner"},
    "daily_report": TYPES,
    "alerts": TYPES,
    "alert_delivery": TYPES | {"alerts"},
    # what-if analysis of one ticker: rules applied to a view, nothing written
    "analysis": TYPES | RULES,
    "analysis_view": TYPES | RULES | {"analysis", "report_charts", "console", "state"},
    # paper-vs-backtest comparison: reads day results and states
    "validation": TYPES | RULES | ENGINE | {"state_codec"},
    "validation_report": TYPES | {"validation"},
    # saved state: encodes the engine's state objects; only runners use it
    "state_codec": TYPES | RULES | ENGINE,
    "state": TYPES | RULES | ENGINE | {"state_codec"},
}
ALLOWED_EXTRA: dict[str, set[str]] = {}


def momentum_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for child in node.body for n in ast.walk(child)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("momentum."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("momentum.")}
    return found


def test_every_module_has_a_layer():
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert modules <= set(ALLOWED), f"add a layer for {sorted(modules - set(ALLOWED))}"


def test_imports_follow_the_layers():
    bad = []
    for path in sorted(PACKAGE.glob("*.py")):
        if path.stem == "__init__":
            continue
        extra = momentum_imports(path) - ALLOWED.get(path.stem, set()) - {path.stem}
        if extra:
            bad.append(f"{path.stem} imports {sorted(extra)}")
    assert not bad, "; ".join(bad)


def test_rules_never_read_the_clock_or_environment():
    for name in RULES | ENGINE:
        text = (PACKAGE / f"{name}.py").read_text()
        for forbidden in ("datetime.now", "date.today", "os.environ", "time.time(", "requests."):
            assert forbidden not in text, f"{name}.py uses {forbidden}"


def test_no_mode_switches_in_the_package():
    for path in PACKAGE.glob("*.py"):
        assert "mode ==" not in path.read_text(), f"{path.name} branches on the run mode"
