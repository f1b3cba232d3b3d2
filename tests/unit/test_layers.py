"""Imports go one way: core <- data <- rules <- run <- reports, notify <- ops, research <- entry.

Each subpackage of `momentum/` is a layer and may import only the layers below it (STYLE.md
section 2). Imports under `if TYPE_CHECKING:` are for annotations only and are not counted.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "momentum"

# Each layer and the layers it may import (besides itself).
LAYERS: dict[str, set[str]] = {
    "core": set(),
    "data": {"core"},
    "rules": {"core", "data"},
    "run": {"core", "data", "rules"},
    "reports": {"core", "data", "rules", "run"},
    "notify": {"core", "data", "rules", "run"},
    "ops": {"core", "data", "rules", "run", "reports", "notify"},
    "research": {"core", "data", "rules", "run", "reports", "notify"},
}

# Finer rules inside a layer: module -> the momentum modules it may import (prefix match).
WITHIN: dict[str, tuple[str, ...]] = {
    # the Tiingo edge knows the data interface and the core types, nothing else of data/
    "data.tiingo": ("core", "data.base", "data.tiingo"),
    # the rules never run the engine's runners or read a source
    "rules": ("core", "data.base", "data.market", "data.indicators", "rules"),
}

# Modules of the dashboard read files only: never the engine, the broker or the network.
DASHBOARD_FORBIDDEN = ("momentum.run.engine", "momentum.rules.broker", "momentum.run.paper",
                       "momentum.run.backtester", "momentum.data.tiingo", "requests")


def imported_modules(source: str) -> set[str]:
    """Return the absolute module names a source imports outside `if TYPE_CHECKING:` blocks."""
    tree = ast.parse(source)
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for child in node.body for n in ast.walk(child)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from pkg import module` names the module itself
                full = f"{node.module}.{alias.name}"
                found.add(full if is_module(full) else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def violations(name: str, source: str) -> list[str]:
    """Return each import of module `name` that breaks the layer table."""
    parts = name.split(".")
    if len(parts) < 2:
        return []
    layer = parts[1]
    allowed = LAYERS[layer] | {layer}
    bad = []
    for target in sorted(imported_modules(source)):
        tparts = target.split(".")
        if tparts[0] != "momentum" or len(tparts) < 2:
            continue
        if tparts[1] not in allowed:
            bad.append(f"{name} imports {target} (layer {layer} may import {sorted(allowed)})")
            continue
        rel = ".".join(tparts[1:])
        for prefix, may in WITHIN.items():
            own = ".".join(parts[1:])
            if (own == prefix or own.startswith(prefix + ".")) and not rel.startswith(may):
                bad.append(f"{name} imports {target} ({prefix} may import only {list(may)})")
    return bad


def package_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py"))


def test_every_subpackage_is_a_layer_with_a_docstring():
    folders = {p.parent for p in package_modules() if p.parent != PACKAGE}
    tops = {f.relative_to(PACKAGE).parts[0] for f in folders}
    assert tops <= set(LAYERS), f"add {sorted(tops - set(LAYERS))} to the layer table"
    for folder in folders:
        init = folder / "__init__.py"
        assert init.exists(), f"{folder} has no __init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and "import" in doc, f"{init} must say what the layer may import"


def test_no_module_sits_outside_a_layer():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    assert not loose, f"put {loose} into a layer's folder"


def test_imports_follow_the_layers():
    bad = [v for p in package_modules() for v in violations(module_name(p), p.read_text())]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name, source", [
    ("momentum.core.money", "from momentum.rules.portfolio import Portfolio\n"),
    ("momentum.data.market", "import momentum.run.engine\n"),
    ("momentum.rules.risk", "from momentum.reports.console import make_console\n"),
    ("momentum.run.engine", "from momentum.notify.alerts import Alert\n"),
    ("momentum.reports.daily", "from momentum.notify import alerts\n"),
    ("momentum.data.tiingo.client", "from momentum.data.market import Market\n"),
])
def test_the_checker_flags_an_upward_or_sideways_import(name, source):
    assert violations(name, source), f"{name}: {source!r} should be refused"


def test_the_checker_ignores_type_checking_imports():
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
              "    from momentum.run.backtester import BacktestResult\n")
    assert violations("momentum.rules.metrics", source) == []


def test_rules_never_read_the_clock_or_environment():
    paths = sorted((PACKAGE / "rules").glob("*.py")) + [PACKAGE / "run" / "engine.py"]
    for path in paths:
        text = path.read_text()
        for forbidden in ("datetime.now", "date.today", "os.environ", "time.time(", "requests."):
            assert forbidden not in text, f"{path.relative_to(ROOT)} uses {forbidden}"


def test_no_mode_switches_in_the_package():
    for path in package_modules():
        assert "mode ==" not in path.read_text(), f"{path.name} branches on the run mode"


def test_the_dashboard_reads_files_only():
    sources = [ROOT / "dashboard.py", *sorted((PACKAGE / "dashboard").rglob("*.py")),
               *sorted((PACKAGE / "reports" / "dashboard").rglob("*.py"))]
    sources = [p for p in sources if p.exists()]
    assert ROOT / "dashboard.py" in sources and len(sources) > 1, "the dashboard is missing"
    for path in sources:
        for target in imported_modules(path.read_text()):
            assert not target.startswith(DASHBOARD_FORBIDDEN), \
                f"{path.relative_to(ROOT)} imports {target}: the dashboard reads files only"


def test_entry_points_import_the_package_by_full_path():
    for name in ("main.py", "validate_paper_trading.py", "logging_config.py", "scheduler.py",
                 "dashboard.py"):
        for target in imported_modules((ROOT / name).read_text()):
            if target.startswith("momentum."):
                assert target.split(".")[1] in LAYERS, f"{name} imports {target}"
