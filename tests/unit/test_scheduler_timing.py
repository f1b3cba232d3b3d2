"""When the scheduler fires (spec 7.2.4): run_at New York time on NYSE sessions, pure functions."""
from __future__ import annotations

from datetime import date, datetime, UTC
from zoneinfo import ZoneInfo

import pytest

from momentum.core.config import StrategyConfig
from momentum.core.ops_config import SchedulerConfig
from momentum.ops.timing import describe, due_session, firing_time, next_firing, upcoming

NY = ZoneInfo("America/New_York")
CFG = SchedulerConfig()


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


def test_firing_time_is_16_05_new_york_in_utc_across_dst():
    assert firing_time(date(2026, 3, 6), CFG).astimezone(UTC).hour == 21  # EST
    assert firing_time(date(2026, 3, 9), CFG).astimezone(UTC).hour == 20  # EDT
    assert firing_time(date(2026, 11, 2), CFG).astimezone(UTC).hour == 21


@pytest.mark.parametrize("now, expected", [
    (ny(2026, 11, 25, 16, 4, 59), date(2026, 11, 24)),   # one second early
    (ny(2026, 11, 25, 16, 5), date(2026, 11, 25)),       # on the minute
    (ny(2026, 11, 26, 18, 0), date(2026, 11, 25)),       # Thanksgiving: no new session
    (ny(2026, 11, 27, 16, 5), date(2026, 11, 27)),       # early close still fires at 16:05
    (ny(2026, 11, 29, 12, 0), date(2026, 11, 27)),       # Sunday
])
def test_due_session_is_the_last_session_whose_firing_passed(now, expected):
    assert due_session(now, CFG) == expected


def test_due_session_reads_the_instant_not_its_zone():
    instant = ny(2026, 11, 27, 16, 5)
    tokyo = instant.astimezone(ZoneInfo("Asia/Tokyo"))  # Saturday 06:05 there
    assert tokyo.date() == date(2026, 11, 28)
    assert due_session(tokyo, CFG) == due_session(instant, CFG) == date(2026, 11, 27)


def test_upcoming_marks_thanksgiving_and_the_early_close():
    firings = upcoming(ny(2026, 11, 24, 17, 0), CFG, 3, include_skipped=True)
    assert [(f.session, f.skipped, f.early_close) for f in firings] == [
        (date(2026, 11, 25), None, False), (date(2026, 11, 26), "Thanksgiving", False),
        (date(2026, 11, 27), None, True), (date(2026, 11, 30), None, False)]
    assert "skipped: NYSE closed (Thanksgiving)" in describe(firings[1])
    assert describe(firings[2]).startswith("Fri 2026-11-27 16:05 EST  run")


def test_upcoming_without_skipped_counts_only_runs_and_never_weekends():
    firings = upcoming(ny(2026, 12, 18, 17, 0), CFG, 10)
    assert len(firings) == 10
    days = [f.session for f in firings]
    assert date(2026, 12, 25) not in days and date(2027, 1, 1) not in days
    assert all(d.weekday() < 5 and f.skipped is None for d, f in zip(days, firings, strict=True))


def test_next_firing_after_the_firing_itself_is_the_next_session():
    assert next_firing(ny(2026, 11, 25, 16, 5), CFG).session == date(2026, 11, 27)


def test_another_zone_and_time_fire_there():
    cfg = SchedulerConfig(run_at="22:30", timezone="Europe/Paris")
    assert firing_time(date(2026, 11, 27), cfg) == datetime(2026, 11, 27, 22, 30,
                                                           tzinfo=ZoneInfo("Europe/Paris"))
    assert due_session(datetime(2026, 11, 27, 21, 29, tzinfo=UTC), cfg) \
        == date(2026, 11, 25)


@pytest.mark.parametrize("section, fragment", [
    ({"run_at": "4pm"}, "scheduler.run_at: write the time as HH:MM"),
    ({"run_at": "24:00"}, "scheduler.run_at: write the time as HH:MM"),
    ({"run_at": 965}, 'put the time in quotes'),
    ({"timezone": "America/New_Yrok"}, "scheduler.timezone: unknown time zone"),
    ({"timezone": "../../etc/passwd"}, "scheduler.timezone: unknown time zone"),
    ({"command": []}, "scheduler.command: write the script and its arguments as a list"),
    ({"retry_minutes": 0}, "scheduler.retry_minutes: Input should be greater than 0"),
    ({"max_retries": -1}, "scheduler.max_retries"),
    ({"run_at_time": "16:05"}, "scheduler.run_at_time: unknown key (did you mean 'run_at'?)"),
])
def test_a_bad_scheduler_section_is_one_config_line(tmp_path, section, fragment):
    import yaml

    from momentum.core.config import load_config
    from momentum.core.errors import ConfigError
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"scheduler": section}))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert fragment in str(err.value)
    assert len(str(err.value).splitlines()) == 1


def test_the_shipped_config_has_the_scheduler_defaults():
    from momentum.core.config import load_config
    cfg = load_config(environ={})
    assert cfg.scheduler == StrategyConfig().scheduler
    assert cfg.scheduler.run_at == "16:05" and cfg.scheduler.timezone == "America/New_York"
    assert cfg.scheduler.command == ("main.py", "paper", "--run")
