"""The shipped NYSE tables (closures, names, early closes) against exchange_calendars."""
from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import exchange_calendars as xcals
import pandas as pd
import pytest

from momentum.core import calendar, nyse_closures

ROOT = Path(__file__).resolve().parents[2]


# exchange_calendars still calls a pandas API that pandas 3 deprecates; the warning is theirs.
@pytest.mark.filterwarnings("ignore:Series.values")
def test_table_sessions_equal_exchange_calendars_xnys_sessions():
    cal = xcals.get_calendar("XNYS", start=nyse_closures.FIRST.isoformat(),
                             end=nyse_closures.LAST.isoformat())
    expected = [ts.date() for ts in cal.sessions]
    got = calendar.nyse_sessions(nyse_closures.FIRST, nyse_closures.LAST)
    assert got == expected, ("the closures table is out of date: regenerate it with "
                             "`python -m momentum.core.nyse_closures > "
                             "momentum/core/nyse_closures.py`")


def test_known_closures_and_sessions():
    assert not calendar.is_nyse_session(date(2025, 1, 9))    # national day of mourning
    assert not calendar.is_nyse_session(date(2012, 10, 30))  # hurricane Sandy
    assert not calendar.is_nyse_session(date(2024, 7, 6))    # a Saturday
    assert calendar.is_nyse_session(date(2024, 7, 5))
    assert calendar.nyse_sessions(date(2024, 12, 23), date(2024, 12, 27)) == [
        date(2024, 12, 23), date(2024, 12, 24), date(2024, 12, 26), date(2024, 12, 27)]


def test_a_range_beyond_the_table_is_answered_by_exchange_calendars():
    start, end = date(2040, 12, 20), date(2041, 1, 10)
    sessions = calendar._xnys().sessions  # the calendar the table was made from
    lo = sessions.searchsorted(pd.Timestamp(start))
    hi = sessions.searchsorted(pd.Timestamp(end), side="right")
    expected = [ts.date() for ts in sessions[lo:hi]]
    assert expected and calendar.nyse_sessions(start, end) == expected


def _xnys_answers(day: date) -> tuple[bool, str | None, bool]:
    """What exchange_calendars itself says of `day` (the slow path, kept as the reference)."""
    cal, stamp = calendar._xnys(), pd.Timestamp(day)
    session = bool(cal.is_session(stamp))
    name = None
    if day.weekday() < 5 and not session:
        named = cal.regular_holidays.holidays(stamp, stamp, return_name=True)
        name = str(named.iloc[0]) if len(named) else "special closure"
    return session, name, session and stamp in cal.early_closes


def test_table_answers_equal_exchange_calendars_on_every_day_of_the_range():
    # Every day 1990..2040: session, holiday name and early close as exchange_calendars says.
    closed = pd.bdate_range(nyse_closures.FIRST, nyse_closures.LAST).difference(
        calendar._xnys().sessions)
    early = {ts.date() for ts in calendar._xnys().early_closes}
    names = nyse_closures.closure_names()
    assert set(names) == {ts.date() for ts in closed}
    assert nyse_closures.early_closes() == {d for d in early
                                            if nyse_closures.FIRST <= d <= nyse_closures.LAST}
    for day in calendar.calendar_days(nyse_closures.FIRST, nyse_closures.LAST):
        expected = (day.weekday() < 5 and day not in names, None, False)
        if day in names or day in early:  # the only days the slow path answers differently
            expected = _xnys_answers(day)
        got = (calendar.is_nyse_session(day), calendar.nyse_closure_name(day),
               calendar.is_nyse_early_close(day))
        assert got == expected, day


def test_holiday_names_and_early_closes():
    assert calendar.nyse_closure_name(date(2024, 7, 4)) == "July 4th"
    assert calendar.nyse_closure_name(date(2025, 1, 9)) == "special closure"
    assert calendar.nyse_closure_name(date(2024, 7, 5)) is None
    assert calendar.nyse_closure_name(date(2024, 7, 6)) is None  # a weekend is not a holiday
    assert calendar.is_nyse_early_close(date(2024, 7, 3))
    assert calendar.is_nyse_early_close(date(2024, 11, 29))
    assert not calendar.is_nyse_early_close(date(2024, 7, 5))
    assert not calendar.is_nyse_early_close(date(2024, 7, 4))


def test_the_table_path_imports_neither_pandas_nor_exchange_calendars():
    probe = ("import sys; from datetime import date; from momentum.core import calendar as c; "
             "c.nyse_sessions(date(2000, 1, 1), date(2030, 1, 1)); "
             "c.nyse_closure_name(date(2024, 7, 4)); c.is_nyse_early_close(date(2024, 7, 3)); "
             "print(sorted(m for m in ('pandas', 'numpy', 'exchange_calendars') "
             "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"
