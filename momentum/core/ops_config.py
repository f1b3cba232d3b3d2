"""Config sections of the operating tools: the scheduler (7.2.4) and the dashboard (7.2.5).

Part of the validated, frozen configuration of ``core.config``; kept apart so the strategy's own
sections stay in one readable file.
"""
# No `from __future__ import annotations`: pydantic then reads the field types as objects
# instead of evaluating each annotation string (~15 ms less at import and first validation).

import re
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


_HHMM_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


class SchedulerConfig(_Section):
    """When and how scheduler.py runs the daily paper step (spec 7.2.4)."""

    run_at: str = "16:05"                      # HH:MM, 24-hour clock, in `timezone`
    timezone: str = "America/New_York"         # IANA name; the firing follows its DST changes
    command: tuple[str, ...] = ("main.py", "paper", "--run")  # run with the same interpreter
    timeout_minutes: float = Field(default=60, gt=0)
    retry_minutes: float = Field(default=15, gt=0)    # wait between tries after exit 75
    max_retries: int = Field(default=12, ge=0)        # tries after the first one

    @field_validator("run_at", mode="before")
    @classmethod
    def _hh_mm(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):  # YAML 1.1 reads 16:05 as 965
            raise ValueError('put the time in quotes, e.g. run_at: "16:05"')
        if not isinstance(v, str) or not _HHMM_RE.match(v):
            raise ValueError("write the time as HH:MM on a 24-hour clock, e.g. 16:05")
        return v

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone; use an IANA name such as "
                             "America/New_York") from None
        return v

    @field_validator("command")
    @classmethod
    def _non_empty(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v or not all(isinstance(a, str) and a for a in v):
            raise ValueError("write the script and its arguments as a list, "
                             "e.g. [main.py, paper, --run]")
        return v

    def run_time(self) -> time:
        """The firing time of day, in `timezone`."""
        hours, minutes = self.run_at.split(":")
        return time(int(hours), int(minutes))

class DashboardConfig(_Section):
    """The monitoring dashboard (spec 7.2.5): it reads files only."""

    refresh_seconds: int = Field(default=300, ge=5, le=86400)  # auto-refresh period
    signal_days: int = Field(default=10, gt=0, le=365)         # recent days on the Signals tab
    bar_days: int = Field(default=120, gt=0, le=2000)          # bars kept per ticker for charts
    recent_trade_days: int = Field(default=60, ge=0, le=2000)  # charts kept after an exit
    near_limit: float = Field(default=0.8, gt=0, le=1)         # highlight a limit used >= this
    scheduler_status: str = "logs/scheduler_status.json"       # shown when the file exists
