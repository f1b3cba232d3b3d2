"""Tiingo REST client: auth header, timeouts, retries with backoff, a client-side request budget.

    DataError                 permanent: never retried
    ├── TiingoAuthError      bad or missing API key (fatal: every request would fail)
    ├── PlanError            the plan does not include this endpoint, HTTP 403 (fatal for it)
    ├── UnknownTickerError   HTTP 404, or 200 with [] where data was expected
    ├── InvalidSeries        well-formed rows with impossible values (validation failed)
    ├── MalformedResponse    transient: not JSON, truncated, wrong shape, bad numbers or dates
    └── DataUnavailable      transient
        ├── RateLimited      HTTP 429 after retries, or the monthly symbol cap (200 plain text)
        └── ServerUnavailable connection error, timeout or 5xx after retries

Transient failures (``DataError.transient``) are retried with backoff inside the request budget;
a body is parsed inside the retry loop, so a garbled answer is asked again like a 500.

``fatal`` on an error tells ``Market.load`` to stop instead of skipping the asset. The API key
travels only in the ``Authorization: Token`` header; it is masked in every message and log line,
including error text a server echoes back. Waits (budget, Retry-After, backoff) go through the
injected ``sleep``/``clock`` and report a countdown through ``on_wait``.
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

import requests
from pydantic import SecretStr

from momentum.core.config import PUBLIC_TIINGO_URL, display_url
from momentum.core.domain import validate_ticker
from momentum.core.errors import DataError
from momentum.core.safeload import safe_json
from momentum.data.tiingo.limits import (DAY_S, HOUR_S, Clock, RateLimiter, Sleep, WaitCallback,
                                         format_duration, log_countdown, parse_retry_after)
from momentum.data.tiingo.parse import (InvalidSeries, MalformedResponse, PlanError, PriceRow,
                                        RateLimited,
                                        ServerUnavailable, TiingoAuthError, UnknownTickerError,
                                        _by_ticker, _expect_list, _number, _parse_date, _snippet,
                                        parse_crypto_rows, parse_daily_rows)

# Re-exported: callers import the client's whole vocabulary from momentum.data.tiingo.client.
__all__ = ["TiingoClient", "RateLimiter", "PriceRow", "TiingoAuthError", "PlanError",
           "InvalidSeries",
           "UnknownTickerError", "MalformedResponse", "RateLimited", "ServerUnavailable",
           "parse_daily_rows", "parse_crypto_rows", "parse_retry_after", "log_countdown",
           "format_duration", "HOUR_S", "DAY_S", "Sleep", "Clock", "WaitCallback",
           "CRYPTO_BATCH", "DataError"]

logger = logging.getLogger(__name__)

MAX_RETRY_AFTER_S = 3900.0   # an hourly allocation frees within the hour; longer is a daily limit
CRYPTO_BATCH = 100           # tickers per /tiingo/crypto/prices call (Tiingo's documented maximum)
CRYPTO_ROW_CAP = 5000        # Tiingo truncates long crypto answers near 5,001 bars: page past it
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_SYMBOL_CAP = re.compile(r"symbol look ?up|run over your \d+ symbol", re.I)
_AUTH_WORDS = re.compile(r"token|authenticat|credential|api key", re.I)
_DROPPED = re.compile(r"reset by peer|connection aborted|remote end closed", re.I)



class TiingoClient:
    """Typed access to the Tiingo endpoints the momentum system needs."""

    def __init__(self, api_key: str | SecretStr, base_url: str = PUBLIC_TIINGO_URL,
                 session: requests.Session | None = None, *, timeout_seconds: float = 30.0,
                 max_retries: int = 4, backoff_seconds: float = 1.0,
                 limiter: RateLimiter | None = None, sleep: Sleep = time.sleep,
                 clock: Clock = time.time, on_wait: WaitCallback = log_countdown) -> None:
        """Build a client; `limiter` defaults to Starter's 50/hour and 1,000/day budgets."""
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        if not key:
            raise TiingoAuthError("no Tiingo API key: export TIINGO_API_KEY=<your token>")
        self._key = key
        self._base = base_url.rstrip("/")
        self._session = session if session is not None else requests.Session()
        self._timeout = (min(10.0, timeout_seconds), timeout_seconds)  # (connect, read)
        self._max_retries = max_retries
        self._backoff = backoff_seconds
        self._limiter = limiter or RateLimiter(50, 1000, sleep=sleep, clock=clock, on_wait=on_wait)
        self._clock = clock
        self._count = 0
        self._failures_in_row = 0

    def __repr__(self) -> str:
        return f"TiingoClient(base_url={display_url(self._base)!r}, api_key='***')"

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far, retries included (each one counts against the plan)."""
        return self._count

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()

    # ------------------------------------------------------------------ endpoints
    def test_connection(self) -> str:
        """Check the server and the key with GET /api/test; return Tiingo's message."""
        return self._get("/api/test", None, "the connection test", parse=_test_message)

    def daily_prices(self, ticker: str, start: date, end: date) -> list[PriceRow]:
        """Daily stock/ETF rows with start <= date <= end, oldest first ([] = none in range)."""
        symbol = tiingo_symbol(ticker)
        params = {"startDate": start.isoformat(), "endDate": end.isoformat(),
                  "resampleFreq": "daily", "format": "json"}
        what = f"daily prices of {symbol}"
        return self._get(f"/tiingo/daily/{quote(symbol, safe='')}/prices", params, what, symbol,
                         parse=lambda data: parse_daily_rows(_expect_list(data, what), what))

    def ticker_meta(self, ticker: str) -> dict[str, Any]:
        """Metadata of one stock/ETF: name, exchangeCode, startDate, endDate."""
        symbol = tiingo_symbol(ticker)
        what = f"metadata of {symbol}"
        return self._get(f"/tiingo/daily/{quote(symbol, safe='')}", None, what, symbol,
                         parse=lambda data: _expect_object(data, what))

    def crypto_prices(self, tickers: Sequence[str], start: date, end: date
                      ) -> dict[str, list[PriceRow]]:
        """Daily (1day, UTC) bars of many pairs; a pair Tiingo does not know is left out."""
        symbols = [crypto_symbol(t) for t in tickers]
        out: dict[str, list[PriceRow]] = {}
        for i in range(0, len(symbols), CRYPTO_BATCH):
            out.update(self._crypto_batch(symbols[i:i + CRYPTO_BATCH], start, end))
        return out

    def _crypto_batch(self, symbols: list[str], start: date, end: date
                      ) -> dict[str, list[PriceRow]]:
        page = self._crypto_page(symbols, start, end)
        if sum(map(len, page.values())) < CRYPTO_ROW_CAP:
            return page
        # Tiingo cut the answer short (keeping the oldest bars): complete each pair on its own.
        out = {s: self._complete_pair(s, page.get(s, []), start, end) for s in symbols}
        return {s: rows for s, rows in out.items() if rows}

    def _complete_pair(self, symbol: str, rows: list[PriceRow], start: date, end: date
                       ) -> list[PriceRow]:
        rows = list(rows)
        while not rows or rows[-1].day < end:
            since = rows[-1].day + timedelta(days=1) if rows else start
            more = [r for r in self._crypto_page([symbol], since, end).get(symbol, [])
                    if r.day >= since]
            rows += more
            if not more or len(more) < CRYPTO_ROW_CAP:
                break
        return rows

    def _crypto_page(self, symbols: list[str], start: date, end: date
                     ) -> dict[str, list[PriceRow]]:
        what = f"crypto prices of {','.join(s.upper() for s in symbols)}"
        params = {"tickers": ",".join(symbols), "startDate": start.isoformat(),
                  "endDate": end.isoformat(), "resampleFreq": "1day"}
        return self._get("/tiingo/crypto/prices", params, what,
                         parse=lambda data: _parse_crypto_answer(data, what))

    def fundamentals_meta(self, tickers: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Fundamentals metadata (sector, industry, ...) by upper-case ticker; a paid add-on."""
        symbols = [tiingo_symbol(t) for t in tickers]
        what = "fundamentals metadata"
        params = {"tickers": ",".join(symbols), "format": "json"}
        data = self._get("/tiingo/fundamentals/meta", params, what,
                         parse=lambda data: _by_ticker(_expect_list(data, what), what))
        return {k.upper(): v for k, v in data.items()}

    def market_caps(self, ticker: str, start: date, end: date) -> list[tuple[date, float]]:
        """Daily market cap in dollars from the fundamentals add-on, oldest first."""
        symbol = tiingo_symbol(ticker)
        what = f"daily fundamentals of {symbol}"
        params = {"startDate": start.isoformat(), "endDate": end.isoformat(), "format": "json"}
        path = f"/tiingo/fundamentals/{quote(symbol, safe='')}/daily"
        return self._get(path, params, what, symbol,
                         parse=lambda data: _parse_caps(_expect_list(data, what), what))

    # ------------------------------------------------------------------ transport
    def _get(self, path: str, params: dict[str, str] | None, what: str,
             ticker: str | None = None, parse: Callable[[Any], Any] = lambda data: data) -> Any:
        url = self._base + path
        for attempt in range(self._max_retries + 1):
            outcome = self._attempt(url, params, what, attempt)
            if isinstance(outcome, requests.Response):
                try:
                    data = parse(self._decode(outcome, what, ticker))
                except MalformedResponse as exc:  # garbled or cut short: ask again (transient)
                    outcome = exc, self._backoff * 2 ** attempt
                else:
                    self._failures_in_row = 0
                    return data
            error, delay = outcome
            if attempt == self._max_retries or delay is None:
                self._failures_in_row += 1
                if isinstance(error, ServerUnavailable) and self._failures_in_row >= 2:
                    error.fatal = True  # two requests in a row gave up: the server is down
                raise error
            logger.warning("%s; retry %d of %d in %s", error, attempt + 1, self._max_retries,
                           format_duration(delay))
            self._limiter.wait(delay, f"retrying {what}")
        raise AssertionError("unreachable")  # the loop always returns or raises

    def _attempt(self, url: str, params: dict[str, str] | None, what: str, attempt: int
                 ) -> requests.Response | tuple[DataError, float | None]:
        self._limiter.acquire()
        self._count += 1
        logger.debug("GET %s %s", url[len(self._base):], params or "")
        backoff = self._backoff * 2 ** attempt
        try:
            response = self._session.get(url, params=params, headers=self._headers(),
                                         timeout=self._timeout)
        except requests.Timeout:
            return ServerUnavailable(f"{what}: no answer within {self._timeout[1]:g} s; "
                                     "Tiingo may be slow or down, try again later"), backoff
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            return self._connection_error(exc, what), backoff
        if response.status_code not in _RETRY_STATUSES:
            return response
        return self._retryable_status(response, what, backoff)

    def _connection_error(self, exc: Exception, what: str) -> DataError:
        if isinstance(exc, requests.exceptions.ChunkedEncodingError):
            return MalformedResponse(f"{what}: the response was cut off before its end "
                                     "(truncated body); try again later")
        host = self._base.split("://", 1)[-1]
        if _DROPPED.search(str(exc)):  # connected, then cut off: the server, not the address
            return ServerUnavailable(f"{what}: {host} dropped the connection (reset before an "
                                     "answer); try again later")
        return ServerUnavailable(f"{what}: cannot connect to {host} ({type(exc).__name__}); "
                                 "check the network and tiingo_base_url", fatal=True)

    def _retryable_status(self, response: requests.Response, what: str, backoff: float
                          ) -> tuple[DataError, float | None]:
        status = response.status_code
        detail = self._detail(response)
        retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock())
        if status == 429:
            error: DataError = RateLimited(
                f"{what}: Tiingo says the request allowance is used up (HTTP 429: {detail}); "
                "wait for the next hour or day, or raise api.requests_per_hour to your plan's")
        else:
            error = ServerUnavailable(f"{what}: Tiingo server error (HTTP {status}: {detail}); "
                                      "try again later")
        if retry_after is not None and retry_after > MAX_RETRY_AFTER_S:
            return error, None  # e.g. a daily limit: waiting hours inside one run helps nobody
        return error, retry_after if retry_after is not None else backoff

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self._key}", "Content-Type": "application/json",
                "Accept": "application/json"}

    # ------------------------------------------------------------------ decoding
    def _mask(self, text: str) -> str:
        return text.replace(self._key, "***") if len(self._key) >= 4 else text

    def _detail(self, response: requests.Response) -> str:
        text = response.text.strip()
        try:
            body = safe_json(text)
            if isinstance(body, dict) and "detail" in body:
                text = str(body["detail"])
        except ValueError:
            pass  # a plain-text body (e.g. the symbol-cap message) is shown as it is
        return self._mask(text)[:200] or "empty body"

    def _decode(self, response: requests.Response, what: str, ticker: str | None) -> Any:
        if response.status_code >= 400:
            raise self._http_error(response.status_code, self._detail(response), what, ticker)
        try:
            data = safe_json(response.content)  # deep nesting: ValueError, not a crash
        except ValueError:
            text = self._mask(response.text.strip())
            if _SYMBOL_CAP.search(text):
                raise _symbol_cap_error(what, text) from None
            raise MalformedResponse(f"{what}: the answer is not JSON ({len(response.content)} "
                                    f"bytes: {text[:80]!r}); try again later") from None
        if isinstance(data, dict) and "detail" in data and len(data) == 1:
            raise self._http_error(response.status_code, self._mask(str(data["detail"])),
                                   what, ticker)
        return data

    def _http_error(self, status: int, detail: str, what: str, ticker: str | None) -> DataError:
        if _SYMBOL_CAP.search(detail):
            return _symbol_cap_error(what, detail)
        if status == 401 or (status in (200, 403) and _AUTH_WORDS.search(detail)):
            return TiingoAuthError(f"Tiingo rejected the API key ({what}: HTTP {status}: "
                                   f"{detail}); check TIINGO_API_KEY")
        if status == 403:
            return PlanError(f"{what}: not included in your Tiingo plan (HTTP 403: {detail}); "
                             "upgrade the plan or use another data source")
        if status == 404 and ticker is not None:
            return UnknownTickerError(f"unknown ticker {ticker!r}: Tiingo has no {what} "
                                      f"(HTTP 404: {detail}); check the symbol in the universe")
        return DataError(f"{what}: Tiingo answered HTTP {status}: {detail}")


def _symbol_cap_error(what: str, text: str) -> RateLimited:
    # Only new symbols are refused until the month ends, so other tickers may still work.
    return RateLimited(f"{what}: Tiingo's monthly allowance of distinct symbols is used up "
                       f"({text[:120]}); wait for next month or upgrade the plan", fatal=False)


def tiingo_symbol(ticker: str) -> str:
    """Validate a stock ticker and write it Tiingo's way: BRK.B becomes BRK-B."""
    return validate_ticker(ticker).replace(".", "-")


def crypto_symbol(ticker: str) -> str:
    """Validate a crypto pair and write it Tiingo's way: one lower-case word (BTCUSD -> btcusd)."""
    return validate_ticker(ticker).lower()


def _test_message(data: Any) -> str:
    if not isinstance(data, dict) or "message" not in data:
        raise MalformedResponse(f"the connection test: unexpected answer {_snippet(data)}")
    return str(data["message"])


def _expect_object(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise MalformedResponse(f"{what}: expected a JSON object, got {_snippet(data)}")
    return data


def _parse_crypto_answer(data: Any, what: str) -> dict[str, list[PriceRow]]:
    out: dict[str, list[PriceRow]] = {}
    for item in _expect_list(data, what):
        if not isinstance(item, dict) or not isinstance(item.get("ticker"), str):
            raise MalformedResponse(f"{what}: expected one object per pair, got {_snippet(item)}")
        symbol = item["ticker"].lower()
        rows = _expect_list(item.get("priceData"), f"{what}: priceData of {symbol}")
        out[symbol] = parse_crypto_rows(rows, f"crypto prices of {symbol.upper()}")
    return out


def _parse_caps(data: list[Any], what: str) -> list[tuple[date, float]]:
    out = []
    for item in data:
        if isinstance(item, dict) and item.get("marketCap") is not None:
            out.append((_parse_date(item.get("date"), what), _number(item, "marketCap", what)))
    return sorted(out)
