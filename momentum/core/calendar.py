"""Trading calendars: NYSE sessions (exchange_calendars XNYS) and crypto's every-UTC-day.

Dates within the shipped table (momentum/core/nyse_closures.py, 1990-2040) are answered from it
with plain datetime; only dates outside it import pandas and exchange_calendars (~0.8 s of CPU).
"""
from __future__ import annotations

import warnings
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from momentum.core import nyse_closures
from momentum.core.domain import AssetType

if TYPE_CHECKING:  # pandas + exchange_calendars cost ~0.8 s of CPU: only dates outside the table
    import exchange_calendars as xcals

NEW_YORK = ZoneInfo("America/New_York")
_CAL_FIRST, _CAL_LAST = "1990-01-02", "2040-12-31"
STOCK_CLOSE_ET = time(16, 0)


@lru_cache(maxsize=1)
def _xnys() -> xcals.ExchangeCalendar:
    import exchange_calendars as xcals

    # exchange_calendars still calls a pandas API that pandas 3 deprecates; the warning is theirs.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Series.values", category=FutureWarning)
        warnings.filterwarnings("ignore", message="Series.values", category=DeprecationWarning)
        return xcals.get_calendar("XNYS", start=_CAL_FIRST, end=_CAL_LAST)


@lru_cache(maxsize=1)
def _closures() -> frozenset[date]:
    return nyse_closures.closures()


@lru_cache(maxsize=1)
def _closure_names() -> dict[date, str]:
    return nyse_closures.closure_names()


@lru_cache(maxsize=1)
def _early_closes() -> frozenset[date]:
    return nyse_closures.early_closes()


def _in_table(start: date, end: date) -> bool:
    return nyse_closures.FIRST <= start and end <= nyse_closures.LAST


def nyse_sessions(start: date, end: date) -> list[date]:
    """NYSE sessions with start <= session <= end (holidays and special closures dropped)."""
    if end < start:
        return []
    if _in_table(start, end):  # weekdays minus the XNYS closures table: no calendar to build
        closed = _closures()
        return [d for d in calendar_days(start, end) if d.weekday() < 5 and d not in closed]
    import pandas as pd

    sessions = _xnys().sessions
    lo = sessions.searchsorted(pd.Timestamp(start), side="left")
    hi = sessions.searchsorted(pd.Timestamp(end), side="right")
    return [ts.date() for ts in sessions[lo:hi]]


def is_nyse_session(day: date) -> bool:
    """True when the NYSE trades on `day`."""
    if _in_table(day, day):
        return day.weekday() < 5 and day not in _closures()
    import pandas as pd

    return _xnys().is_session(pd.Timestamp(day))


def calendar_days(start: date, end: date) -> list[date]:
    """Every calendar day from start to end inclusive."""
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def step_days(start: date, end: date, has_stocks: bool) -> list[date]:
    """The daily-step dates of R7: NYSE sessions when stocks are traded, else every day."""
    return nyse_sessions(start, end) if has_stocks else calendar_days(start, end)


def completed_through(asset_type: AssetType, now: datetime) -> date:
    """The last bar date of this asset type that is complete at `now` (timezone-aware).

    A stock's bar of day D is complete after the 16:00 ET close; a crypto bar is the UTC day,
    so at 16:05 ET the crypto bar of today is still forming and yesterday's is the last one.
    """
    if asset_type is AssetType.CRYPTO:
        return now.astimezone(timezone.utc).date() - timedelta(days=1)
    local = now.astimezone(NEW_YORK)
    return local.date() if local.time() >= STOCK_CLOSE_ET else local.date() - timedelta(days=1)


def nyse_closure_name(day: date) -> str | None:
    """The name of the NYSE holiday on `day` ('special closure' when unnamed), else None."""
    if day.weekday() >= 5 or is_nyse_session(day):
        return None
    if _in_table(day, day):
        return _closure_names()[day]
    import pandas as pd

    stamp = pd.Timestamp(day)
    named = _xnys().regular_holidays.holidays(stamp, stamp, return_name=True)
    return str(named.iloc[0]) if len(named) else "special closure"


def is_nyse_early_close(day: date) -> bool:
    """True when `day` is a session that closes early (13:00 ET)."""
    if _in_table(day, day):
        return is_nyse_session(day) and day in _early_closes()
    import pandas as pd

    return is_nyse_session(day) and pd.Timestamp(day) in _xnys().early_closes
