"""A Tiingo stand-in serving a seeded synthetic market, with seeded random faults.

It is the TiingoTestServer of ``tests/tiingo_server.py`` (127.0.0.1, port 0, a thread) with its
recorded fixtures replaced by the synthetic market's bars written in Tiingo's response shapes
(daily prices with adjusted fields, crypto priceData), so it needs no ../shared. On top of the
armed faults it answers a share `fault_rate` of all requests with a fault drawn from a seeded
random generator, one of FAULT_KINDS:

    500        HTTP 500 with a JSON detail
    429        HTTP 429 with Retry-After: 1
    reset      the connection is reset before any answer (TCP RST)
    truncated  a 200 whose JSON body is cut in half (Content-Length matches the cut body)
    shape      a 200 with valid JSON of the wrong shape (the answer wrapped in an object)

`failing` names tickers whose every request fails with HTTP 500 (a ticker that keeps failing);
clear it to heal the server. `injected` counts the faults sent, by kind.

    with FaultyTiingoServer(KEY, market_bars(...), fault_rate=0.25, seed=7) as server:
        ... TIINGO at server.url ...
"""
from __future__ import annotations

import json
import random
import socket
import struct
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pandas as pd

from tests.tiingo_server import Fault, TiingoTestServer

FAULT_KINDS = ("500", "429", "reset", "truncated", "shape")


def market_bars(n_stocks: int = 20, n_crypto: int = 2, seed: int = 42,
                now: datetime | None = None) -> tuple[dict[str, pd.DataFrame], list[Any]]:
    """Bars and assets of the synthetic market (SPY included), for serving and a universe file."""
    from momentum.core.config import SyntheticConfig
    from momentum.data.synthetic import SyntheticMarket
    market = SyntheticMarket(SyntheticConfig(seed=seed, n_stocks=n_stocks, n_crypto=n_crypto),
                             now=now or datetime.fromisoformat("2024-04-02T00:00:00+00:00"))
    assets = market.assets()
    return {a.ticker: market.bars(a.ticker) for a in assets}, assets


def write_universe(path: Path, assets: Iterable[Any]) -> Path:
    """A universe file with the synthetic sectors and caps (so no fundamentals are needed)."""
    lines = ["ticker,asset_type,sector,market_cap"]
    for a in assets:
        cap = "" if a.market_cap is None else repr(float(a.market_cap))
        lines.append(f"{a.ticker},{a.asset_type.value},{a.sector},{cap}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _daily_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for day, o, h, lo, c, v in frame.itertuples(name=None):
        rows.append({"date": f"{day:%Y-%m-%d}T00:00:00.000Z", "open": o, "high": h, "low": lo,
                     "close": c, "volume": v, "adjOpen": o, "adjHigh": h, "adjLow": lo,
                     "adjClose": c, "adjVolume": v, "divCash": 0.0, "splitFactor": 1.0})
    return rows


def _crypto_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{"date": f"{day:%Y-%m-%d}T00:00:00+00:00", "open": o, "high": h, "low": lo,
             "close": c, "volume": v, "volumeNotional": v * c, "tradesDone": 1.0}
            for day, o, h, lo, c, v in frame.itertuples(name=None)]


class FaultyTiingoServer(TiingoTestServer):
    """Serve synthetic bars like Tiingo and inject seeded random faults; see the module doc."""

    def __init__(self, api_key: str, bars: dict[str, pd.DataFrame], crypto: Iterable[str],
                 fault_rate: float = 0.0, seed: int = 0,
                 kinds: Iterable[str] = FAULT_KINDS) -> None:
        self._bars, self._crypto_tickers = bars, set(crypto)
        super().__init__(Path("."), api_key)
        self.fault_rate = fault_rate
        self.kinds = tuple(kinds)
        self.failing: set[str] = set()
        self.injected: Counter[str] = Counter()
        self._random = random.Random(seed)

    def _load_fixtures(self) -> None:
        for ticker, frame in self._bars.items():
            if ticker in self._crypto_tickers:
                self.crypto[ticker.lower()] = _crypto_rows(frame)
            else:
                self.daily[ticker.upper()] = _daily_rows(frame)
        self.meta = {}

    def _take_fault(self, path: str) -> Fault | None:
        armed = super()._take_fault(path)
        if armed is not None:
            return armed
        if any(f"/{t}/" in path.upper() + "/" for t in self.failing):
            self.injected["failing"] += 1
            return Fault(status=500, body='{"detail": "Internal Server Error"}')
        with self._lock:
            if self._random.random() >= self.fault_rate:
                return None
            kind = self._random.choice(self.kinds)
            self.injected[kind] += 1
        return _FAULTS[kind]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        base = super()._handler_class()

        class Handler(base):  # type: ignore[misc, valid-type]
            def _send(self, status: int, body: str | bytes, content_type: str,
                      headers: dict[str, str], truncate: bool) -> None:
                kind = headers.get("X-Test-Fault")
                if kind == "reset":
                    # SO_LINGER 0 makes close() send a TCP RST: the client sees a reset.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                if kind == "truncated" and status == 200:
                    data = body.encode() if isinstance(body, str) else body
                    body = data[: len(data) // 2]
                elif kind == "shape" and status == 200:
                    body = json.dumps({"data": json.loads(body)})
                super()._send(status, body, content_type, headers, truncate)

        return Handler


_FAULTS = {
    "500": Fault(status=500, body='{"detail": "Internal Server Error"}'),
    "429": Fault(status=429, body='{"detail": "Too many requests"}',
                 headers={"Retry-After": "1"}),
    "reset": Fault(headers={"X-Test-Fault": "reset"}),
    "truncated": Fault(headers={"X-Test-Fault": "truncated"}),
    "shape": Fault(headers={"X-Test-Fault": "shape"}),
}
