"""A local stand-in for api.tiingo.com: stdlib http.server on 127.0.0.1, port 0, in a thread.

It serves the recorded bodies of ../shared/fixtures/tiingo by path and query (price histories are
filtered by startDate/endDate like the real API), records every request (path, query, headers)
and injects faults: a status with body and headers, a delay (client timeouts), a truncated body.

    with TiingoTestServer(fixtures_dir, api_key=KEY) as server:
        server.inject(Fault(status=429, headers={"Retry-After": "7"}), path="/prices")
        ... TiingoClient(KEY, server.url) ...
        assert server.count("/tiingo/daily/") == 2
"""
from __future__ import annotations

import copy
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

TEST_MESSAGE = {"message": "You successfully sent a request"}
SYMBOL_CAP_TEXT = ("You have run over your 500 symbol look up for this month. Please upgrade at "
                   "https://api.tiingo.com/pricing to have your limits increased.")
NO_FUNDAMENTALS = {"detail": "Error: Free and Power plans are limited to the DOW 30. "
                             "Upgrade at https://api.tiingo.com/pricing"}


@dataclass
class Fault:
    """One injected answer; `body=None` keeps the normal body (useful with `delay_s`)."""

    status: int = 200
    body: str | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    delay_s: float = 0.0      # sleep before answering: longer than the client timeout = timeout
    truncate: bool = False    # announce the full length, send half, close the connection


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it."""

    path: str                 # without the query, percent-decoded
    query: dict[str, str]
    headers: dict[str, str]
    raw_target: str           # the request target exactly as sent (path and query)
    at: float


@dataclass
class _Armed:
    fault: Fault
    path: str
    times: int


class TiingoTestServer:
    """Serve the Tiingo fixtures; see the module docstring."""

    def __init__(self, fixtures: Path, api_key: str) -> None:
        self.fixtures = Path(fixtures)
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self.fundamentals = False            # True: the plan has the fundamentals add-on
        self.ignore_end_date = False         # True: also send bars after endDate (forming day)
        self.crypto_row_cap: int | None = None  # keep only the oldest N bars per answer
        self.daily: dict[str, list[dict[str, Any]]] = {}
        self.crypto: dict[str, list[dict[str, Any]]] = {}
        self.fundamentals_meta: dict[str, dict[str, Any]] = {}
        self._faults: list[_Armed] = []
        self._lock = threading.Lock()
        self._load_fixtures()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        # A short poll interval makes shutdown() quick at the end of every test.
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> TiingoTestServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # ------------------------------------------------------------------ test controls
    def inject(self, fault: Fault, path: str = "", times: int = 1) -> None:
        """Answer the next `times` requests whose path contains `path` with `fault`."""
        with self._lock:
            self._faults.append(_Armed(fault, path, times))

    def alias_daily(self, ticker: str, source: str = "AAPL") -> None:
        """Serve `source`'s recorded daily rows under another ticker."""
        self.daily[ticker.upper()] = copy.deepcopy(self.daily[source.upper()])

    def alias_crypto(self, ticker: str, source: str = "btcusd") -> None:
        """Serve `source`'s recorded crypto bars under another pair."""
        self.crypto[ticker.lower()] = copy.deepcopy(self.crypto[source.lower()])

    def count(self, path_part: str = "") -> int:
        """How many requests had `path_part` in their path."""
        return sum(path_part in r.path for r in self.requests)

    def reset_requests(self) -> None:
        """Forget the recorded requests."""
        self.requests.clear()

    # ------------------------------------------------------------------ fixtures
    def _json(self, name: str) -> Any:
        return json.loads((self.fixtures / name).read_text(encoding="utf-8"))

    def _load_fixtures(self) -> None:
        for ticker in ("aapl", "msft"):
            name = f"daily_prices_{ticker}_2019-07-21_2020-07-20.json"
            self.daily[ticker.upper()] = self._json(name)
        self.daily["GOOGL"] = (self._json("daily_prices_googl_2015-01-01_2015-01-05.json")
                               + self._json("daily_prices_googl_2018-01-05_2018-01-19.json"))
        btc = self._json("crypto_prices_btcusd_1day_2019-07-21_2020-07-20.json")[0]
        self.crypto["btcusd"] = btc["priceData"]
        self.meta = {t.upper(): self._json(f"meta_{t}.json") for t in ("aapl", "msft", "googl")}
        self.fundamentals_meta = {m["ticker"].upper(): m
                                  for m in self._json("fundamentals_meta_pg_cat.json")}
        self.fundamentals_daily = self._json("fundamentals_daily_googl_2020-01-01_2020-04-01.json")

    # ------------------------------------------------------------------ routing
    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for armed in self._faults:
                if armed.times > 0 and armed.path in path:
                    armed.times -= 1
                    return armed.fault
        return None

    def _auth_error(self, headers: dict[str, str]) -> tuple[int, Any] | None:
        given = headers.get("authorization")
        if not given:
            return 403, {"detail": "Please supply a token"}
        if given != f"Token {self.api_key}":
            return 401, {"detail": "Invalid token."}
        return None

    def route(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        """The normal answer to GET `path`?`query`: (status, JSON-able body)."""
        parts = [p for p in path.split("/") if p]
        if parts == ["api", "test"]:
            return 200, TEST_MESSAGE
        if parts[:2] == ["tiingo", "daily"] and len(parts) == 4 and parts[3] == "prices":
            return self._daily_prices(parts[2].upper(), query)
        if parts[:2] == ["tiingo", "daily"] and len(parts) == 3:
            meta = self.meta.get(parts[2].upper())
            return (200, meta) if meta else (404, {"detail": "Not found."})
        if parts == ["tiingo", "crypto", "prices"]:
            return self._crypto_prices(query)
        if parts[:2] == ["tiingo", "fundamentals"]:
            return self._fundamentals(parts[2:], query)
        return 404, {"detail": "Not found."}

    def _window(self, rows: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
        start = query.get("startDate", "0000-00-00")
        end = "9999-99-99" if self.ignore_end_date else query.get("endDate", "9999-99-99")
        return [r for r in rows if start <= r["date"][:10] <= end]

    def _daily_prices(self, ticker: str, query: dict[str, str]) -> tuple[int, Any]:
        rows = self.daily.get(ticker)
        if rows is None:
            return 404, {"detail": f"Error: Ticker '{ticker}' not found"}
        if query.get("resampleFreq", "daily") != "daily":
            return 400, {"detail": "this test server only serves resampleFreq=daily"}
        if "startDate" not in query and "endDate" not in query:
            latest = dict(sorted(rows[-1].items()))  # the latest bar: sorted keys, +00:00 dates
            latest["date"] = latest["date"][:10] + "T00:00:00+00:00"
            return 200, [latest]
        return 200, self._window(rows, query)

    def _crypto_prices(self, query: dict[str, str]) -> tuple[int, Any]:
        if query.get("resampleFreq") != "1day" or "startDate" not in query:
            # The real default is 5-minute bars of today only: a client must never rely on it.
            return 400, {"detail": "send resampleFreq=1day and dates"}
        out, room = [], self.crypto_row_cap
        for ticker in query.get("tickers", "").split(","):
            rows = self.crypto.get(ticker)
            if rows is not None:
                rows = self._window(rows, query)[:room]  # like Tiingo: the oldest bars survive
                room = None if room is None else room - len(rows)
                out.append({"ticker": ticker, "baseCurrency": ticker[:-3], "quoteCurrency":
                            ticker[-3:], "priceData": rows})
        return 200, out

    def _fundamentals(self, parts: list[str], query: dict[str, str]) -> tuple[int, Any]:
        if not self.fundamentals:
            return 403, NO_FUNDAMENTALS
        if parts == ["meta"]:
            wanted = [t.upper() for t in query.get("tickers", "").split(",") if t]
            return 200, [self.fundamentals_meta[t] for t in wanted if t in self.fundamentals_meta]
        if len(parts) == 2 and parts[1] == "daily":
            return 200, self._window(self.fundamentals_daily, query)
        return 404, {"detail": "Not found."}

    # ------------------------------------------------------------------ HTTP plumbing
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # keep test output clean

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                split = urlsplit(self.path)
                query = dict(parse_qsl(split.query, keep_blank_values=True))
                headers = {k.lower(): v for k, v in self.headers.items()}
                path = unquote(split.path)
                server.requests.append(Recorded(path, query, headers, self.path, time.time()))
                fault = server._take_fault(path)
                if fault is not None and fault.delay_s:
                    time.sleep(fault.delay_s)
                if fault is not None and fault.body is not None:
                    self._send(fault.status, fault.body, fault.content_type, fault.headers,
                               fault.truncate)
                    return
                status, body = server._auth_error(headers) or server.route(path, query)
                if fault is not None and fault.status != 200:
                    status = fault.status
                extra = fault.headers if fault else {}
                self._send(status, json.dumps(body), "application/json", extra,
                           bool(fault and fault.truncate))

            def _send(self, status: int, body: str | bytes, content_type: str,
                      headers: dict[str, str], truncate: bool) -> None:
                data = body.encode() if isinstance(body, str) else body
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2] if truncate else data)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)
                if truncate:
                    self.close_connection = True

        return Handler
