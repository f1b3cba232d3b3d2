"""Tiingo response bodies: typed errors and strict parsing of price rows.

A body that fails these checks is an error and is never cached.
"""
from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from datetime import date
from typing import Any, NamedTuple

from momentum.core.errors import DataError, DataUnavailable, ExitCode

logger = logging.getLogger("momentum.data.tiingo.client")

_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:T00:00:00(?:\.0+)?(?:Z|[+-]00:?00)?)?$")


class TiingoAuthError(DataError):
    """Tiingo rejected the API key or none was sent."""

    fatal = True


class PlanError(DataError):
    """The account's plan does not include this endpoint (HTTP 403)."""

    fatal = True


class UnknownTickerError(DataError):
    """Tiingo has no data for this ticker."""

    fatal = False


class MalformedResponse(DataError):
    """A body that is not JSON, is cut short or has the wrong shape: retried, never cached."""

    fatal = False
    transient = True  # a proxy or an overloaded server garbles answers; the next one is fine
    exit_code = ExitCode.TRY_LATER


class InvalidSeries(DataError):
    """Well-formed rows with impossible values: a final answer, the asset is left out."""

    fatal = False


class RateLimited(DataUnavailable):
    """Tiingo refused the request because a request or symbol allowance is used up."""

    def __init__(self, message: str, *, fatal: bool = True) -> None:
        super().__init__(message)
        self.fatal = fatal


class ServerUnavailable(DataUnavailable):
    """Tiingo could not be reached or kept failing after the retries."""

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


class PriceRow(NamedTuple):
    """One daily bar as Tiingo sends it: raw, adjusted (R1.1) and the corporate-action fields."""

    day: date
    open: float
    high: float
    low: float
    close: float
    volume: float
    adj_open: float
    adj_high: float
    adj_low: float
    adj_close: float
    adj_volume: float
    div_cash: float = 0.0
    split_factor: float = 1.0


def _expect_list(data: Any, what: str) -> list[Any]:
    if not isinstance(data, list):
        raise MalformedResponse(f"{what}: expected a JSON array, got {_snippet(data)}")
    return data


def _by_ticker(data: list[Any], what: str) -> dict[str, dict[str, Any]]:
    out = {}
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("ticker"), str):
            raise MalformedResponse(f"{what}: expected objects with a ticker, got {_snippet(item)}")
        out[item["ticker"].lower()] = item
    return out


def _snippet(data: Any) -> str:
    text = json.dumps(data)[:80] if not isinstance(data, str) else data[:80]
    return f"{type(data).__name__} {text}"


def _parse_date(value: Any, what: str) -> date:
    # Tiingo writes '2015-01-02T00:00:00.000Z' (history), '2018-04-12T00:00:00+00:00' (latest)
    # and '2015-01-02' (CSV); all are calendar dates: converting to New York would shift them.
    match = _DATE.match(value) if isinstance(value, str) else None
    try:
        if match:
            return date.fromisoformat(match.group(1))
    except ValueError:
        pass  # e.g. 2020-02-30: reported below like any other bad date
    raise MalformedResponse(f"{what}: date {value!r} is not a daily date")


def _number(row: dict[str, Any], key: str, what: str) -> float:
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MalformedResponse(f"{what}: {key} {value!r} on {row.get('date')!r} is not a number")
    return float(value)


_PRICE_KEYS = ("open", "high", "low", "close")


def _complete_rows(data: list[Any], keys: Sequence[str], what: str) -> list[dict[str, Any]]:
    good = [r for r in data if isinstance(r, dict) and all(r.get(k) is not None for k in keys)]
    if data and not good:
        # Not one usable row: the answer has the wrong shape, it is not a series with gaps.
        raise MalformedResponse(f"{what}: expected rows with {', '.join(keys)}, got "
                                f"{_snippet(data[0])}; try again later")
    if len(good) < len(data):
        # Tiingo leaves fields null on some fresh rows; one such row must not cost the ticker.
        logger.warning("%s: skipped %d incomplete row(s)", what, len(data) - len(good))
    return good


def _checked(rows: list[PriceRow], what: str) -> list[PriceRow]:
    for row in rows:
        if min(row[1:5] + row[6:10]) <= 0 or min(row.volume, row.adj_volume) < 0 \
                or row.split_factor <= 0:
            raise InvalidSeries(f"{what}: impossible values on {row.day}: {tuple(row)[1:]}")
    return sorted({row.day: row for row in rows}.values())  # one row per day, oldest first


def parse_daily_rows(data: list[Any], what: str) -> list[PriceRow]:
    """Turn /tiingo/daily/<t>/prices rows into PriceRows (adjusted fields kept, R1.1)."""
    keys = ("date", *_PRICE_KEYS, "volume", "adjOpen", "adjHigh", "adjLow", "adjClose", "adjVolume")
    out = []
    for raw in _complete_rows(data, keys, what):
        nums = [_number(raw, k, what) for k in keys[1:]]
        div = _number(raw, "divCash", what) if raw.get("divCash") is not None else 0.0
        split = _number(raw, "splitFactor", what) if raw.get("splitFactor") is not None else 1.0
        out.append(PriceRow(_parse_date(raw["date"], what), *nums, div, split))
    return _checked(out, what)


def parse_crypto_rows(data: list[Any], what: str) -> list[PriceRow]:
    """Turn crypto priceData into PriceRows: unadjusted, volume in coin units (R1.1)."""
    keys = ("date", *_PRICE_KEYS, "volume")
    out = []
    for raw in _complete_rows(data, keys, what):
        nums = [_number(raw, k, what) for k in keys[1:]]
        out.append(PriceRow(_parse_date(raw["date"], what), *nums, *nums))
    return _checked(out, what)
