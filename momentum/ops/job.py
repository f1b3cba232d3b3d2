"""One firing: run the command with a timeout, retry on exit 75, keep its output (spec 7.2.4).

The command (``scheduler.command``, default ``main.py paper --run``) runs with the scheduler's
own interpreter in the project folder; stdout and stderr go to one log file per run, each
attempt under a header line. Exit 75 (ExitCode.TRY_LATER: data not complete yet) is retried
every ``retry_minutes`` up to ``max_retries`` times; any other code is final.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO

from momentum.core.clock import Clock
from momentum.core.ops_config import SchedulerConfig
from momentum.core.errors import ExitCode
from momentum.notify.alerts import mask_secrets, secret_variants

logger = logging.getLogger(__name__)
TAIL_LINES = 50
_KILL_GRACE_SECONDS = 10


class Outcome(StrEnum):
    OK = "ok"
    FAILED = "failed"                         # an exit code other than 0 and 75
    TIMEOUT = "timeout"                       # stopped after timeout_minutes
    RETRIES_EXHAUSTED = "retries_exhausted"   # exit 75 after max_retries retries


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    started: datetime
    finished: datetime
    exit_code: int | None   # None when stopped by the timeout


@dataclass(frozen=True, slots=True)
class RunRecord:
    """What one firing did; `tail` is the last lines of the last attempt, secrets masked."""

    session: date | None
    command: tuple[str, ...]
    attempts: tuple[Attempt, ...]
    outcome: Outcome
    log_file: Path
    tail: str

    @property
    def started(self) -> datetime:
        return self.attempts[0].started

    @property
    def finished(self) -> datetime:
        return self.attempts[-1].finished

    @property
    def exit_code(self) -> int | None:
        return self.attempts[-1].exit_code

    @property
    def duration_seconds(self) -> float:
        return (self.finished - self.started).total_seconds()

    def process_exit_code(self) -> int:
        """The code `scheduler.py --once` exits with: the run's own, 75 for a timeout."""
        return ExitCode.TRY_LATER if self.exit_code is None else self.exit_code


class CommandRunner:
    """Start a command in its own process group, copy its output to a file, enforce a timeout.

    The output goes through the scheduler line by line with the secrets masked, so the per-run
    log never holds a key even when the command prints one (a traceback, a debug print).
    """

    def __init__(self, argv: Sequence[str], cwd: Path, timeout_seconds: float,
                 secrets: Sequence[str] = ()) -> None:
        self.argv, self.cwd, self.timeout_seconds = list(argv), Path(cwd), timeout_seconds
        self._secrets = secret_variants(secrets)

    def run(self, log_file: Path) -> int | None:
        """Run once; return the exit code, or None when the timeout stopped it."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # the tail shows the last lines written
        with open(log_file, "ab") as out:
            proc = subprocess.Popen(self.argv, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=(os.name != "nt"))
            copier = threading.Thread(target=self._copy, args=(proc.stdout, out), daemon=True)
            copier.start()
            try:
                return proc.wait(timeout=self.timeout_seconds)
            except subprocess.TimeoutExpired:
                _stop(proc)
                return None
            except BaseException:  # Ctrl-C or a stop signal: never leave the child behind
                _stop(proc)
                raise
            finally:
                copier.join(timeout=_KILL_GRACE_SECONDS)  # a grandchild may hold the pipe

    def _copy(self, stream: IO[bytes], out: IO[bytes]) -> None:
        with stream:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", errors="replace")
                out.write(mask_secrets(line, self._secrets).encode("utf-8"))
                out.flush()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole group (main.py saves nothing half-way), then SIGKILL."""
    if os.name == "nt":
        proc.kill()
        proc.wait()
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=_KILL_GRACE_SECONDS)
            break
        except subprocess.TimeoutExpired:
            continue
    proc.wait()


def run_job(session: date | None, runner: CommandRunner, cfg: SchedulerConfig, clock: Clock,
            log_file: Path, secrets: Sequence[str] = (),
            sleep: Callable[[float], None] | None = None) -> RunRecord:
    """Run the command, retrying exit 75 up to max_retries times; return what happened."""
    wait = sleep or time.sleep  # tests pass a sleep that moves their clock
    log_file.parent.mkdir(parents=True, exist_ok=True)
    attempts: list[Attempt] = []
    offset = 0
    for number in range(1, cfg.max_retries + 2):
        offset = _header(log_file, number, clock.now(), runner.argv)
        started = clock.now()
        code = runner.run(log_file)
        attempts.append(Attempt(number, started, clock.now(), code))
        if code != ExitCode.TRY_LATER or number > cfg.max_retries:
            break
        logger.warning("session %s: exit 75 (data not complete yet); try %d of %d in %g min",
                       session, number + 1, cfg.max_retries + 1, cfg.retry_minutes)
        wait(cfg.retry_minutes * 60)
    return RunRecord(session, tuple(runner.argv), tuple(attempts), _outcome(attempts[-1]),
                     log_file, read_tail(log_file, offset, secrets))


def _outcome(last: Attempt) -> Outcome:
    if last.exit_code is None:
        return Outcome.TIMEOUT
    if last.exit_code == ExitCode.OK:
        return Outcome.OK
    if last.exit_code == ExitCode.TRY_LATER:
        return Outcome.RETRIES_EXHAUSTED
    return Outcome.FAILED


def _header(log_file: Path, number: int, now: datetime, argv: Sequence[str]) -> int:
    with open(log_file, "ab") as out:
        out.write(f"=== attempt {number} at {now.isoformat(timespec='seconds')}: "
                  f"{' '.join(argv)}\n".encode())
        return out.tell()


def read_tail(log_file: Path, offset: int, secrets: Sequence[str] = (),
              lines: int = TAIL_LINES) -> str:
    """The last `lines` lines written after `offset`, secrets masked."""
    try:
        with open(log_file, "rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", errors="replace")
    except OSError as e:
        return f"(output not readable: {type(e).__name__})"
    tail = "\n".join(text.splitlines()[-lines:])
    return mask_secrets(tail, secret_variants(secrets))
