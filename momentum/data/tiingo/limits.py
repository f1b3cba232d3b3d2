"""Tiingo request budgets: a client-side rate limiter that waits (with a countdown), never fails."""
from __future__ import annotations

import email.utils
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable

logger = logging.getLogger("momentum.data.tiingo.client")

HOUR_S, DAY_S = 3600.0, 86400.0
COUNTDOWN_EVERY_S = 10.0

Sleep = Callable[[float], None]
Clock = Callable[[], float]
WaitCallback = Callable[[float, str], None]


def log_countdown(seconds: float, reason: str) -> None:
    """Default wait callback: one INFO line per countdown step saying how long and why."""
    logger.info("waiting %s: %s", format_duration(seconds), reason)


def format_duration(seconds: float) -> str:
    """Show a wait as '1h 02m 05s', '3m 20s' or '7s'."""
    total = max(0, math.ceil(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


class RateLimiter:
    """At most `per_hour` requests in any 3600 s and `per_day` in any 86400 s; waits, never fails.

    A sliding window is at least as strict as Tiingo's hourly reset and midnight-EST daily reset.
    `history` seeds it with earlier requests (from other runs); `on_record` persists new ones.
    """

    def __init__(self, per_hour: int, per_day: int, *, sleep: Sleep = time.sleep,
                 clock: Clock = time.time, on_wait: WaitCallback = log_countdown,
                 history: Iterable[float] = (), on_record: Callable[[float], None] | None = None
                 ) -> None:
        self.per_hour, self.per_day = per_hour, per_day
        self._sleep, self._clock, self._on_wait, self._on_record = sleep, clock, on_wait, on_record
        self._stamps: deque[float] = deque(sorted(t for t in history if t > clock() - DAY_S))

    def acquire(self) -> None:
        """Wait until one more request fits both budgets, then count it."""
        while (delay_reason := self._delay()) is not None:
            self.wait(*delay_reason)
        now = self._clock()
        self._stamps.append(now)
        if self._on_record is not None:
            self._on_record(now)

    def _delay(self) -> tuple[float, str] | None:
        now = self._clock()
        while self._stamps and self._stamps[0] <= now - DAY_S:
            self._stamps.popleft()
        if len(self._stamps) >= self.per_day:
            until = self._stamps[len(self._stamps) - self.per_day] + DAY_S
            return until - now, f"Tiingo daily budget of {self.per_day} requests is used up"
        in_hour = [t for t in self._stamps if t > now - HOUR_S]
        if len(in_hour) >= self.per_hour:
            until = in_hour[len(in_hour) - self.per_hour] + HOUR_S
            return until - now, f"Tiingo hourly budget of {self.per_hour} requests is used up"
        return None

    def wait(self, seconds: float, reason: str) -> None:
        """Sleep `seconds` in steps of COUNTDOWN_EVERY_S, reporting the time left before each."""
        deadline = self._clock() + seconds
        remaining = seconds
        while remaining > 0:
            self._on_wait(remaining, reason)
            step = min(COUNTDOWN_EVERY_S, remaining)
            self._sleep(step)
            # The clock decides; `remaining - step` guarantees progress with a frozen test clock.
            remaining = min(deadline - self._clock(), remaining - step)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)
