"""Checks of user-given paths, run before any work so a mistake costs seconds, not a backtest.

Each raises ConfigError (exit 2) with one line: the flag or key, the path, the problem, the fix.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from momentum.core.errors import ConfigError


def _nearest_existing(path: Path) -> Path:
    probe = path.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def _writable_parent(path: Path, what: str) -> None:
    base = _nearest_existing(path.parent if not path.exists() else path)
    if not base.is_dir():
        raise ConfigError(f"{what} {path}: {base} is a file, not a folder; choose another path")
    if not os.access(base, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {path}: {base} is not writable; choose a folder you can write "
                          f"to or fix its permissions")


def check_output_dir(path: str | Path, what: str) -> Path:
    """A folder to write into: absent (it will be made) or a writable directory."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path}: is a file, not a folder; pass a folder path")
    _writable_parent(path, what)
    return path


def check_output_file(path: str | Path, what: str) -> Path:
    """A file to write: absent or a writable regular file, in a folder that can be written."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{what} {path}: is a folder; pass a file name, e.g. {path}/chart.html")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"{what} {path}: is not writable; fix its permissions")
    _writable_parent(path.parent, what)
    return path


def check_input_file(path: str | Path, what: str) -> Path:
    """A file to read: exists, is a regular file, and is readable."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{what} {path}: does not exist; check the path")
    if not path.is_file():
        raise ConfigError(f"{what} {path}: is not a regular file; pass a file path")
    if not os.access(path, os.R_OK):
        raise ConfigError(f"{what} {path}: is not readable; fix its permissions")
    return path


def check_input_dir(path: str | Path, what: str) -> Path:
    """A folder to read: exists and is a readable directory."""
    path = Path(path)
    if not path.is_dir():
        problem = "does not exist" if not path.exists() else "is a file, not a folder"
        raise ConfigError(f"{what} {path}: {problem}; pass an existing folder")
    if not os.access(path, os.R_OK | os.X_OK):
        raise ConfigError(f"{what} {path}: is not readable; fix its permissions")
    return path


def check_command_paths(args: Any, log_dir: Path, report_dir: Path) -> None:
    """Check the paths of one parsed command line (argparse namespace) and its config's folders."""
    def arg(name: str) -> Any:
        return getattr(args, name, None)

    writes_state = arg("command") == "paper" and bool(arg("init") or arg("run"))
    state_dir = arg("state_dir")
    if state_dir is not None and not writes_state and not Path(state_dir).exists():
        state_dir = None  # reading a portfolio that is not there: the store says how to make one
    checks = [(check_output_dir, "logging.log_file folder", log_dir),
              (check_output_dir, "--output", arg("output")),
              (check_output_dir, "--export", arg("export")),
              (check_output_file, "--html", arg("html")),
              (check_input_dir, "--backtest", arg("backtest")),
              (check_input_dir, "--data-dir", arg("data_dir")),
              (check_input_file, "--from-snapshot", arg("from_snapshot")),
              (check_output_dir if writes_state else check_input_dir, "--state-dir", state_dir),
              (check_output_dir, "report folder", report_dir if writes_state else None)]
    for check, what, path in checks:
        if path is not None:
            check(path, what)
