"""When the scheduler fires: `run_at` in `timezone` on every NYSE session (spec 7.2.4).

Every function takes the instant it reasons about (timezone-aware); none reads the clock or
the machine's time zone, so a test can walk a fortnight minute by minute without sleeping.
Early-close sessions fire at the usual time; holidays and special closures never fire.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from momentum.core.calendar import is_nyse_early_close, nyse_closure_name, nyse_sessions
from momentum.core.ops_config import SchedulerConfig

_LOOKBACK_DAYS = 10  # longer than any NYSE closure (9/11 closed it 4 sessions)


@dataclass(frozen=True, slots=True)
class Firing:
    """One weekday of the schedule: when it fires, or why it is skipped."""

    session: date
    at: datetime                 # aware, in the configured zone
    skipped: str | None = None   # the holiday's name when the NYSE is closed
    early_close: bool = False


def zone(cfg: SchedulerConfig) -> ZoneInfo:
    """The configured time zone."""
    return ZoneInfo(cfg.timezone)


def firing_time(day: date, cfg: SchedulerConfig) -> datetime:
    """The instant of the firing of `day`: run_at on that date in the configured zone."""
    return datetime.combine(day, cfg.run_time(), tzinfo=zone(cfg))


def local_date(now: datetime, cfg: SchedulerConfig) -> date:
    """The date in the configured zone at `now`."""
    return now.astimezone(zone(cfg)).date()


def due_session(now: datetime, cfg: SchedulerConfig) -> date | None:
    """The latest NYSE session whose firing time is at or before `now`."""
    today = local_date(now, cfg)
    for day in _recent_sessions(today):
        if firing_time(day, cfg) <= now:
            return day
    return None


@lru_cache(maxsize=32)
def _recent_sessions(today: date) -> tuple[date, ...]:
    # Cached: the loop asks every poll, and the answer changes once a day.
    return tuple(reversed(nyse_sessions(today - timedelta(days=_LOOKBACK_DAYS), today)))


def next_firing(now: datetime, cfg: SchedulerConfig) -> Firing:
    """The first firing strictly after `now` (holidays skipped)."""
    return upcoming(now, cfg, 1)[-1]


def upcoming(now: datetime, cfg: SchedulerConfig, count: int = 10,
             include_skipped: bool = False) -> list[Firing]:
    """The next `count` firings after `now`; with include_skipped, weekday holidays too."""
    found: list[Firing] = []
    day, fired = local_date(now, cfg), 0
    while fired < count:
        at = firing_time(day, cfg)
        if at > now and day.weekday() < 5:
            closed = nyse_closure_name(day)
            if closed is None:
                found.append(Firing(day, at, early_close=is_nyse_early_close(day)))
                fired += 1
            elif include_skipped:
                found.append(Firing(day, at, skipped=closed))
        day += timedelta(days=1)
    return found


def describe(firing: Firing) -> str:
    """One dry-run line: `Fri 2026-11-27 16:05 EST  run (early close 13:00)`."""
    when = f"{firing.at:%a %Y-%m-%d %H:%M %Z}"
    if firing.skipped:
        return f"{when}  skipped: NYSE closed ({firing.skipped})"
    return f"{when}  run" + ("  (early close 13:00; runs as usual)" if firing.early_close else "")
