"""The scheduler: decide from the clock whether a firing is due, run it, record and alert.

``Scheduler.tick()`` is one decision (the unit the tests drive minute by minute with a fake
clock); ``run_forever`` polls it with the ``schedule`` library. Only the decision reads time,
and it reads it from the injected clock in the configured zone, so the machine's own time zone
and its DST rules never matter. A session whose firing passed while the scheduler was down is
run at the next start (``paper --run`` then catches up every missed session).
"""
from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import schedule

from momentum.core.calendar import nyse_closure_name
from momentum.core.clock import Clock
from momentum.core.config import StrategyConfig
from momentum.notify.alerts import Alert
from momentum.notify.delivery import dispatcher_from_config
from momentum.ops.failure import failure_alert, send_failure_alert
from momentum.ops.job import CommandRunner, Outcome, RunRecord, run_job
from momentum.ops.status import STATUS_FILE, StatusFile
from momentum.ops.timing import due_session, local_date, next_firing

logger = logging.getLogger(__name__)
POLL_SECONDS = 30


@dataclass(frozen=True, slots=True)
class SchedulerPaths:
    """Where the scheduler reads and writes, resolved against the project folder."""

    project: Path
    log_dir: Path
    status_file: Path
    lock_file: Path
    runs_dir: Path

    @classmethod
    def from_config(cls, cfg: StrategyConfig, project: Path) -> SchedulerPaths:
        """Beside main.py's own logs (the folder of logging.log_file)."""
        log_dir = project / Path(cfg.logging.log_file).parent
        return cls(project, log_dir, log_dir / STATUS_FILE, log_dir / "scheduler.lock",
                   log_dir / "runs")


Execute = Callable[[date | None], RunRecord]
Notify = Callable[[Alert], object]


class Scheduler:
    """Fire once per NYSE session at run_at; run, record, alert on failure."""

    def __init__(self, cfg: StrategyConfig, paths: SchedulerPaths, clock: Clock,
                 execute: Execute, notify: Notify, mode: str = "loop",
                 decide: Clock | None = None) -> None:
        self.cfg, self.paths, self.clock = cfg, paths, clock
        self.decide = decide or clock  # what the firing decision reads (--at pins it)
        self._execute, self._notify = execute, notify
        self.status = StatusFile(paths.status_file, mode)
        self.last_session = self.status.last_session()

    def tick(self) -> RunRecord | None:
        """Run the due session if it has not run yet; return its record, else None."""
        now = self.decide.now()
        session = due_session(now, self.cfg.scheduler)
        if session is None or (self.last_session is not None and session <= self.last_session):
            return None
        return self.fire(session)

    def once(self) -> int:
        """What a cron or Task Scheduler trigger does: skip a closed day, else run now."""
        now = self.decide.now()
        today = local_date(now, self.cfg.scheduler)
        closed = "weekend" if today.weekday() >= 5 else nyse_closure_name(today)
        if closed is not None:
            logger.info("%s: NYSE closed (%s); nothing to run", today, closed)
            self.status.set_next(next_firing(now, self.cfg.scheduler))
            self.status.save(self.clock.now())
            return 0
        return self.fire(due_session(now, self.cfg.scheduler)).process_exit_code()

    def fire(self, session: date | None) -> RunRecord:
        """Run the command for `session`, write the status, alert unless it succeeded."""
        logger.info("run for session %s starting", session)
        self.status.running(self.clock.now(), session)
        self.last_session = session  # used even if execute() raises: no retry storm each poll
        try:
            record = self._execute(session)
        except BaseException:
            self.status.idle(self.clock.now())
            raise
        level = logging.INFO if record.outcome is Outcome.OK else logging.ERROR
        logger.log(level, "run for session %s ended: %s, exit code %s, %.1f s, %d attempt(s), "
                   "log %s", session, record.outcome.value, record.exit_code,
                   record.duration_seconds, len(record.attempts), record.log_file)
        self.status.finished(self.clock.now(), record,
                             next_firing(self.decide.now(), self.cfg.scheduler))
        if record.outcome is not Outcome.OK:
            self._notify(failure_alert(record, self.cfg.scheduler.timeout_minutes,
                                       self.cfg.secrets()))
        return record


def build_scheduler(cfg: StrategyConfig, paths: SchedulerPaths, clock: Clock,
                    command: list[str], mode: str,
                    sleep: Callable[[float], None] | None = None,
                    decide: Clock | None = None) -> Scheduler:
    """The real scheduler: the command as a subprocess, alerts through the config's channels."""
    sc = cfg.scheduler
    runner = CommandRunner(command, paths.project, sc.timeout_minutes * 60, cfg.secrets())

    def execute(session: date | None) -> RunRecord:
        stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
        log_file = paths.runs_dir / f"paper_{session or 'none'}_{stamp}.log"
        return run_job(session, runner, sc, clock, log_file, cfg.secrets(), sleep)

    # Its own throttle file (in logs/, not beside the paper state): a long-lived scheduler
    # saving its copy would otherwise drop the entries main.py added meanwhile.
    dispatcher = dispatcher_from_config(cfg, paths.log_dir, clock, stream=sys.stderr)
    return Scheduler(cfg, paths, clock, execute,
                     lambda alert: send_failure_alert(alert, dispatcher), mode, decide)


def run_forever(scheduler: Scheduler, poll_seconds: float = POLL_SECONDS,
                sleep: Callable[[float], None] = time.sleep,
                keep_going: Callable[[], bool] = lambda: True) -> None:
    """Poll `tick` with the schedule library until keep_going() is false (or Ctrl-C)."""
    jobs = schedule.Scheduler()  # our own instance: no module-level job list
    jobs.every(poll_seconds).seconds.do(_safe_tick, scheduler)
    _safe_tick(scheduler)  # catch up a missed firing at start
    while keep_going():
        jobs.run_pending()
        idle = jobs.idle_seconds
        sleep(max(0.2, min(poll_seconds, idle if idle is not None else poll_seconds)))


def _safe_tick(scheduler: Scheduler) -> None:
    try:
        scheduler.tick()
    except Exception:  # a bug in one firing must not end the unattended loop
        logger.exception("scheduler tick failed; trying again at the next poll")
