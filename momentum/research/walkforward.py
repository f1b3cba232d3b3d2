"""`main.py walk-forward`: optimize on each train window, trade the choice on the next test window.

Windows (R1.4: a decision on D sees only bars <= D): the train part ends the day before its test
part starts, so no test bar is ever in the data a choice was made on. Test windows follow each
other without overlap, and each starts with the exact final equity of the one before
(the stitched out-of-sample curve). Walk-forward efficiency = out-of-sample CAGR of the
stitched curve / mean in-sample CAGR of the chosen trials.
"""
from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from momentum.core.calendar import nyse_sessions
from momentum.core.errors import ConfigError
from momentum.rules.metrics import cagr

_SPAN_RE = re.compile(r"^\s*(\d+)\s*([dwmy])\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Span:
    """A calendar length: N days, weeks, months or years."""

    count: int
    unit: str

    def add(self, day: date) -> date:
        """`day` moved forward by the span (month ends clip: Jan 31 + 1m = Feb 28)."""
        if self.unit == "d":
            return day + timedelta(days=self.count)
        if self.unit == "w":
            return day + timedelta(weeks=self.count)
        months = self.count * (12 if self.unit == "y" else 1)
        year, month = divmod(day.month - 1 + months, 12)
        year += day.year
        month += 1
        for d in (day.day, 30, 29, 28):
            try:
                return date(year, month, d)
            except ValueError:
                continue
        raise AssertionError("unreachable: day 28 exists in every month")

    def sub(self, day: date) -> date:
        """`day` moved back by the span."""
        return Span(-self.count, self.unit).add(day)

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"


def parse_span(text: str) -> Span:
    """argparse-friendly parse of `3y`, `6m`, `12w`, `90d`."""
    m = _SPAN_RE.match(text)
    if not m or int(m.group(1)) <= 0:
        raise ConfigError(f"invalid length {text!r}: write a positive number and d, w, m or y, "
                          f"e.g. 3y or 6m")
    return Span(int(m.group(1)), m.group(2).lower())


@dataclass(frozen=True, slots=True)
class Window:
    """One walk-forward step: train_start..train_end, then test_start..test_end."""

    index: int
    train_start: date
    train_end: date
    test_start: date
    test_end: date


def make_windows(start: date, end: date, train: Span, test: Span, step: Span | None = None,
                 anchored: bool = False) -> list[Window]:
    """Rolling (or anchored at `start`) windows; the last test part is clipped at `end`."""
    step = step or test
    if step.add(start) < test.add(start):
        raise ConfigError(f"--step {step} is shorter than --test {test}: the test windows would "
                          f"overlap and equity could not be carried; use --step >= --test")
    out: list[Window] = []
    test_start = train.add(start)
    while test_start <= end:
        train_start = start if anchored else train.sub(test_start)
        test_end = min(test.add(test_start) - timedelta(days=1), end)
        out.append(Window(len(out) + 1, train_start, test_start - timedelta(days=1),
                          test_start, test_end))
        test_start = step.add(out[-1].test_start)
    if not out:
        raise ConfigError(f"--start {start} to --end {end} is shorter than --train {train}: no "
                          f"test window fits; choose an earlier --start or a shorter --train")
    return out


def with_sessions(windows: list[Window]) -> list[Window]:
    """Drop test windows that hold no NYSE session (a clipped last window on a holiday).

    Numbered again from 1. Only a clipped final window can be empty; a crypto-only universe
    would also trade its weekend days, which this drops as well: at most two days of test data.
    """
    kept = [w for w in windows if nyse_sessions(w.test_start, w.test_end)]
    if not kept:
        raise ConfigError("no test window holds a trading session; choose a later --end")
    return [replace(w, index=i) for i, w in enumerate(kept, start=1)]


@dataclass(frozen=True, slots=True)
class _Point:
    day: date
    equity: Decimal


def stitch(curves: list[list[tuple[str, str]]]) -> list[tuple[str, str]]:
    """Join the test windows' equity curves (each already starts from the previous final)."""
    out: list[tuple[str, str]] = []
    for curve in curves:
        out.extend(curve)
    return out


def curve_cagr(curve: list[tuple[str, str]]) -> float | None:
    """R8 CAGR of a curve of (ISO date, equity)."""
    points = [_Point(date.fromisoformat(d), Decimal(e)) for d, e in curve]
    return cagr(points)


def efficiency(oos_cagr: float | None, is_cagrs: list[float | None]) -> float | None:
    """Walk-forward efficiency: out-of-sample CAGR over the mean in-sample CAGR."""
    values = [v for v in is_cagrs if v is not None]
    if oos_cagr is None or not values:
        return None
    mean = statistics.fmean(values)
    return None if mean <= 0 else oos_cagr / mean


def window_row(window: Window, params: dict[str, Any], is_metrics: dict[str, Any],
               oos_metrics: dict[str, Any]) -> dict[str, Any]:
    """One row of windows.csv / the report: dates, choice, in- vs out-of-sample metrics."""
    is_cagr, oos_cagr = is_metrics.get("cagr"), oos_metrics.get("cagr")
    return {"window": window.index, "train_start": window.train_start.isoformat(),
            "train_end": window.train_end.isoformat(),
            "test_start": window.test_start.isoformat(),
            "test_end": window.test_end.isoformat(), "params": params,
            "is_cagr": is_cagr, "oos_cagr": oos_cagr, "is_sharpe": is_metrics.get("sharpe"),
            "oos_sharpe": oos_metrics.get("sharpe"),
            "oos_start_equity": None, "oos_final_equity": oos_metrics.get("final_equity"),
            "efficiency": efficiency(oos_cagr, [is_cagr])}
