"""`python main.py preflight`: every checklist item a program can check, one line each.

    run_preflight(env) -> list[CheckResult]      each check is a small function of a PreflightEnv
    render(result) -> str                  'PASS  name  reason', 'FAIL  name  reason; fix: ...'
    exit_code(results) -> 0 when every check passed (n/a counts as passed), else 2

The slow or outside parts (subprocesses, the crontab, HTTP, the clock) are fields of the
PreflightEnv, so tests pass fakes for them and run the cheap checks for real. A check that is not
run (--skip-tests) is reported as such and makes the exit non-zero: a preflight that skipped
something cannot say the system is ready.
"""
from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.request import urlopen

from momentum.core.clock import Clock, SystemClock
from momentum.core.config import StrategyConfig
from momentum.core.errors import ConfigError, ExitCode

logger = logging.getLogger(__name__)


class Status(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    NA = "n/a"
    NOT_RUN = "not run"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of the preflight: a status, why, and what to do when it is not a pass."""

    name: str
    status: Status
    reason: str
    fix: str = ""
    details: tuple[str, ...] = ()   # printed below the line (e.g. the trades to review)

    @property
    def ok(self) -> bool:
        return self.status in (Status.PASS, Status.NA)


@dataclass(frozen=True, slots=True)
class CommandResult:
    returncode: int
    stdout: str = ""
    stderr: str = ""


Runner = Callable[[Sequence[str], Path, float], CommandResult]


def run_command(cmd: Sequence[str], cwd: Path, timeout_s: float) -> CommandResult:
    """Run a command to completion (its output captured); a timeout is exit code 124."""
    try:
        done = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return CommandResult(124, "", f"timed out after {timeout_s:.0f} s")
    except OSError as e:
        return CommandResult(127, "", f"{type(e).__name__}: {e}")
    return CommandResult(done.returncode, done.stdout, done.stderr)


def launch(cmd: Sequence[str], cwd: Path) -> Any:
    """Start a server process (the dashboard); the caller terminates it."""
    return subprocess.Popen(list(cmd), cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def http_status(url: str, timeout_s: float) -> int | None:
    """The HTTP status of a GET, or None when nothing answers."""
    try:
        with urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (127.0.0.1 only)
            return int(response.status)
    except URLError:
        return None
    except OSError:
        return None


def read_crontab() -> str | None:
    """`crontab -l`, or None when there is none (or no cron on this machine)."""
    result = run_command(["crontab", "-l"], Path.cwd(), 10)
    return result.stdout if result.returncode == 0 else None


@dataclass(slots=True)
class PreflightEnv:
    """Everything the checks read, and the edges they go through."""

    root: Path                       # the checkout: tests/, docs/, dashboard.py, main.py
    config_path: Path
    cfg: StrategyConfig
    state_dir: Path
    data_dir: Path | None = None
    start: date | None = None        # the backtest window (default: the last 3 years)
    end: date | None = None
    skip_tests: bool = False
    python: str = sys.executable
    clock: Clock = field(default_factory=SystemClock)
    run: Runner = run_command
    launch: Callable[[Sequence[str], Path], Any] = launch
    http_status: Callable[[str, float], int | None] = http_status
    crontab: Callable[[], str | None] = read_crontab
    dashboard_port: int = 0          # 0: a free port is picked
    sleep: Callable[[float], None] = time.sleep
    cwd: Path = field(default_factory=Path.cwd)  # where the config's relative paths start

    def command(self, script: str, *args: str) -> list[str]:
        """A script of this checkout with this config (and data dir), run from `cwd`."""
        extra = ["--data-dir", str(self.data_dir)] if self.data_dir else []
        return [self.python, str(self.root / script), *args, "--config", str(self.config_path),
                *extra]


Check = Callable[[PreflightEnv], CheckResult]


def run_preflight(env: PreflightEnv, checks: Sequence[Check] | None = None) -> list[CheckResult]:
    """Run every check in order; a check that raises is a failure naming the error, not a crash."""
    from momentum.ops.checks import ALL_CHECKS
    results = []
    for check in checks or ALL_CHECKS:
        try:
            results.append(check(env))
        except Exception as e:  # one broken check must not hide the others' answers
            logger.debug("preflight check %s raised", check.__name__, exc_info=True)
            name = check.__name__.removeprefix("check_")
            results.append(CheckResult(name, Status.FAIL, f"the check itself failed: "
                                       f"{type(e).__name__}: {e}", "report this with -v"))
    return results


def render(result: CheckResult, width: int = 22) -> str:
    """One line: status, name, reason, and the fix when it did not pass."""
    fix = f"; fix: {result.fix}" if result.fix and not result.ok else ""
    head = f"{result.status.value.upper():<8}{result.name:<{width}}{result.reason}{fix}"
    return "\n".join([head, *(f"{'':8}  {d}" for d in result.details)])


def exit_code(results: Sequence[CheckResult]) -> int:
    """0 only when every check passed or does not apply; else 2 (the fixes are the user's)."""
    return ExitCode.OK if all(r.ok for r in results) else ExitCode.USER_ERROR


def summary_line(results: Sequence[CheckResult]) -> str:
    """'11/14 checks passed: NOT READY'."""
    ready = exit_code(results) == ExitCode.OK
    return (f"{sum(r.ok for r in results)}/{len(results)} checks passed: "
            f"{'READY' if ready else 'NOT READY'}")


def select_checks(only: str | None) -> list[Check]:
    """Every check, or the comma-separated names of --only (ConfigError on an unknown one)."""
    from momentum.ops.checks import ALL_CHECKS
    names = {c.__name__.removeprefix("check_"): c for c in ALL_CHECKS}
    if not only:
        return list(ALL_CHECKS)
    wanted = {n.strip() for n in only.split(",") if n.strip()}
    unknown = sorted(wanted - set(names))
    if unknown:
        raise ConfigError(f"--only: unknown check(s) {', '.join(unknown)}; choose from "
                          f"{', '.join(names)}")
    return [c for n, c in names.items() if n in wanted]
