"""The shipped NYSE closures table against exchange_calendars, over its whole range."""
from __future__ import annotations

from datetime import date

import exchange_calendars as xcals
import pandas as pd

from momentum.core import calendar, nyse_closures


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
