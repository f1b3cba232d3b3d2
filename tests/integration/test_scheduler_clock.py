"""The scheduler's decisions on an injected clock (spec 7.2.4): no sleeping, any machine TZ.

A fake clock walks minute by minute through a fortnight around Thanksgiving 2026 and through
the weeks of both 2026 DST changes, with the process's own time zone set to UTC and to
Asia/Tokyo; the scheduler must fire at 16:05 New York time on every NYSE session and never on
a weekend or a holiday.
"""
from __future__ import annotations

import json
import time as real_time
from datetime import date, datetime, time, timedelta, UTC
from zoneinfo import ZoneInfo

import pytest

from momentum.core.config import StrategyConfig
from momentum.ops.job import Attempt, Outcome, RunRecord
from momentum.ops.loop import Scheduler, SchedulerPaths, run_forever
from tests.scheduler_helpers import FakeClock, machine_tz, status_seed

NY = ZoneInfo("America/New_York")
CFG = StrategyConfig()


@pytest.fixture(params=["UTC", "Asia/Tokyo"])
def tz(request):
    with machine_tz(request.param):
        yield request.param


class Recorder:
    """Stands in for the subprocess: records when it was asked to run which session."""

    def __init__(self, clock: FakeClock, tmp_path, outcome: Outcome = Outcome.OK) -> None:
        self.clock, self.tmp_path, self.outcome = clock, tmp_path, outcome
        self.calls: list[tuple[date | None, datetime]] = []
        self.alerts: list = []

    def execute(self, session: date | None) -> RunRecord:
        now = self.clock.now()
        self.calls.append((session, now))
        code = 0 if self.outcome is Outcome.OK else 2
        return RunRecord(session, ("main.py", "paper", "--run"), (Attempt(1, now, now, code),),
                         self.outcome, self.tmp_path / "run.log", "tail")


def make(tmp_path, start: datetime, outcome: Outcome = Outcome.OK,
         last_session: date | None = None) -> tuple[Scheduler, FakeClock, Recorder]:
    clock = FakeClock(start)
    paths = SchedulerPaths.from_config(CFG, tmp_path)
    if last_session is not None:
        status_seed(paths.status_file, last_session)
    rec = Recorder(clock, tmp_path, outcome)
    return Scheduler(CFG, paths, clock, rec.execute, rec.alerts.append), clock, rec


def walk(scheduler: Scheduler, clock: FakeClock, until: datetime) -> None:
    while clock.now() < until:
        scheduler.tick()
        clock.advance(minutes=1)


def at_1605(day: date) -> datetime:
    return datetime.combine(day, time(16, 5), tzinfo=NY)


def test_a_fortnight_around_thanksgiving_fires_once_per_session_at_16_05(tmp_path, tz):
    scheduler, clock, rec = make(tmp_path, datetime(2026, 11, 15, 12, 0, tzinfo=NY),
                                 last_session=date(2026, 11, 13))
    walk(scheduler, clock, datetime(2026, 11, 29, 23, 59, tzinfo=NY))
    sessions = [date(2026, 11, d) for d in (16, 17, 18, 19, 20, 23, 24, 25, 27)]
    assert [s for s, _ in rec.calls] == sessions  # no 11-26 (Thanksgiving), no weekend
    assert [at for _, at in rec.calls] == [at_1605(s) for s in sessions]
    assert all(at.astimezone(UTC).time() == time(21, 5) for _, at in rec.calls)
    status = json.loads(scheduler.paths.status_file.read_text())
    assert status["last_run"]["session"] == "2026-11-27"  # the early close ran
    assert status["next_run"]["session"] == "2026-11-30"
    assert status["next_run"]["at"] == "2026-11-30T16:05:00-05:00"


@pytest.mark.parametrize("start, end, switch, before_utc, after_utc", [
    (date(2026, 3, 2), date(2026, 3, 13), date(2026, 3, 8), time(21, 5), time(20, 5)),
    (date(2026, 10, 26), date(2026, 11, 6), date(2026, 11, 1), time(20, 5), time(21, 5)),
])
def test_weeks_across_a_dst_change_fire_at_16_05_new_york(tmp_path, tz, start, end, switch,
                                                          before_utc, after_utc):
    first = datetime.combine(start - timedelta(days=1), time(12, 0), tzinfo=NY)  # a Sunday
    scheduler, clock, rec = make(tmp_path, first, last_session=start - timedelta(days=3))
    walk(scheduler, clock, datetime.combine(end + timedelta(days=1), time(0, 0), tzinfo=NY))
    weekdays = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    sessions = [d for d in weekdays if d.weekday() < 5]
    assert [s for s, _ in rec.calls] == sessions and len(sessions) == 10
    for session, at in rec.calls:
        assert at.astimezone(NY).time() == time(16, 5)
        assert at.astimezone(UTC).time() == (before_utc if session < switch
                                                      else after_utc)


def test_a_missed_firing_is_caught_up_at_start_then_the_day_is_not_repeated(tmp_path, tz):
    # Down since Wednesday's run; started again on Monday morning.
    scheduler, clock, rec = make(tmp_path, datetime(2026, 11, 30, 9, 0, tzinfo=NY),
                                 last_session=date(2026, 11, 25))
    walk(scheduler, clock, datetime(2026, 11, 30, 16, 4, tzinfo=NY))
    assert rec.calls == [(date(2026, 11, 27), datetime(2026, 11, 30, 9, 0, tzinfo=NY))]
    walk(scheduler, clock, datetime(2026, 11, 30, 16, 6, tzinfo=NY))
    assert rec.calls[-1] == (date(2026, 11, 30), at_1605(date(2026, 11, 30)))


def test_a_restart_after_the_days_run_does_not_run_it_again(tmp_path, tz):
    scheduler, clock, rec = make(tmp_path, datetime(2026, 11, 27, 16, 5, tzinfo=NY))
    assert scheduler.tick() is not None
    again, clock2, rec2 = make(tmp_path, datetime(2026, 11, 27, 18, 0, tzinfo=NY))
    walk(again, clock2, datetime(2026, 11, 29, 23, 0, tzinfo=NY))
    assert rec2.calls == []


def test_a_failed_run_alerts_once_and_is_not_retried_at_every_tick(tmp_path, tz):
    scheduler, clock, rec = make(tmp_path, datetime(2026, 11, 24, 16, 0, tzinfo=NY),
                                 outcome=Outcome.FAILED, last_session=date(2026, 11, 23))
    walk(scheduler, clock, datetime(2026, 11, 24, 23, 0, tzinfo=NY))
    assert len(rec.calls) == 1 and len(rec.alerts) == 1
    alert = rec.alerts[0]
    assert "2026-11-24 failed with exit code 2" in alert.title
    assert "Exit code: 2" in alert.body and "tail" in alert.body


def test_once_on_thanksgiving_runs_nothing_and_on_the_early_close_runs(tmp_path, tz):
    scheduler, _, rec = make(tmp_path, datetime(2026, 11, 26, 16, 5, tzinfo=NY))
    assert scheduler.once() == 0 and rec.calls == []
    scheduler, _, rec = make(tmp_path, datetime(2026, 11, 27, 16, 5, tzinfo=NY))
    assert scheduler.once() == 0 and [s for s, _ in rec.calls] == [date(2026, 11, 27)]


def test_run_forever_polls_with_schedule_and_survives_a_failing_tick(tmp_path, caplog):
    scheduler, clock, rec = make(tmp_path, datetime(2026, 11, 23, 10, 0, tzinfo=NY),
                                 last_session=date(2026, 11, 19))
    real_execute = rec.execute
    calls = {"n": 0}

    def execute(session):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug in one firing")
        return real_execute(session)

    scheduler._execute = execute

    def sleep(seconds: float) -> None:
        clock.advance(hours=3)       # the fake clock moves on ...
        real_time.sleep(0.11)        # ... and schedule's own (real) poll interval passes

    deadline = real_time.monotonic() + 20
    run_forever(scheduler, poll_seconds=0.1, sleep=sleep,
                keep_going=lambda: not rec.calls and real_time.monotonic() < deadline)
    assert "scheduler tick failed" in caplog.text  # the catch-up firing at start raised
    assert json.loads(scheduler.paths.status_file.read_text())["state"] == "idle"
    assert [s for s, _ in rec.calls] == [date(2026, 11, 23)]  # the loop went on to 16:05


def test_the_alert_of_a_timeout_and_of_used_up_retries_says_which(tmp_path):
    from momentum.ops.failure import failure_alert
    now = datetime(2026, 11, 27, 16, 5, tzinfo=NY)
    later = now + timedelta(minutes=60)
    timeout = RunRecord(date(2026, 11, 27), ("main.py",), (Attempt(1, now, later, None),),
                        Outcome.TIMEOUT, tmp_path / "r.log", "last line key=SECRET-123456")
    alert = failure_alert(timeout, 60, ["SECRET-123456"])
    assert alert.title == ("Scheduled paper run for 2026-11-27 was stopped after the "
                           "60-minute timeout")
    assert "Exit code: none (timeout)" in alert.body and "Duration: 3600.0 s" in alert.body
    assert "SECRET-123456" not in alert.body and "key=***" in alert.body
    tries = tuple(Attempt(i, now, now, 75) for i in (1, 2, 3))
    gave_up = RunRecord(date(2026, 11, 27), ("main.py",), tries, Outcome.RETRIES_EXHAUSTED,
                        tmp_path / "r.log", "")
    assert failure_alert(gave_up, 60).title.endswith("(exit 75) after 3 tries")


def test_an_unreadable_status_file_is_ignored_with_a_warning(tmp_path, caplog):
    paths = SchedulerPaths.from_config(CFG, tmp_path)
    paths.status_file.parent.mkdir(parents=True)
    paths.status_file.write_text("{half a fi")
    scheduler, _, rec = make(tmp_path, datetime(2026, 11, 27, 16, 5, tzinfo=NY))
    assert scheduler.last_session is None and "unreadable status file" in caplog.text
    assert scheduler.tick() is not None
    assert json.loads(paths.status_file.read_text())["last_run"]["session"] == "2026-11-27"
