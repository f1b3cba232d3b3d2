"""Request counts of the shipped universe (config/universe.csv) against a local Tiingo stand-in.

    python bench/bench_tiingo_requests.py

The server is tests/fault_server.py on 127.0.0.1: synthetic bars served under the universe's
tickers (stock i gets synthetic stock i mod 40, the pairs get the synthetic pairs). Each run is
what `scan` does to the data: the connection test, the universe's sectors, every series.

    cold              empty cache, after the close of the last session
    warm, same day    the same again (a scheduler re-run, or scan after paper --run)
    warm, next day    after the next session's close: one incremental request per series
    + 2 dead tickers  warm same day, with one delisted stock and one unknown ticker added
    cold, 25% faults  empty cache, 25% of answers faulty (seeded); retries count as requests
"""
from __future__ import annotations

import logging
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from momentum.core.config import ApiConfig, DataConfig, StrategyConfig, UniverseConfig  # noqa: E402
from momentum.core.domain import AssetType  # noqa: E402
from momentum.data.market import Market  # noqa: E402
from momentum.data.tiingo.source import TiingoSource  # noqa: E402
from tests.fault_server import FaultyTiingoServer, market_bars  # noqa: E402

KEY = "0123456789abcdef0123456789abcdef01234567"
LAST = datetime(2024, 3, 28, 22, 0, tzinfo=UTC)    # Thu 18:00 ET: the 28th has closed
NEXT = datetime(2024, 4, 1, 22, 0, tzinfo=UTC)     # Mon after the Good Friday holiday


def serve(faults: float, extra: tuple[str, ...] = ()) -> FaultyTiingoServer:
    bars, assets = market_bars(n_stocks=40, n_crypto=5, now=datetime(2024, 4, 3, tzinfo=UTC))
    stocks = [a.ticker for a in assets if a.asset_type is AssetType.STOCK
              and len(bars[a.ticker].loc["2024-03-28":])]  # trading through the window
    pairs = [a.ticker for a in assets if a.asset_type is AssetType.CRYPTO]
    text = (ROOT / "config" / "universe.csv").read_text().splitlines()
    rows = [line.split(",") for line in text if line and not line.startswith(("#", "ticker"))]
    served, crypto = {}, []
    for i, (ticker, kind, *_rest) in enumerate(rows):
        if kind == "crypto":
            served[ticker] = bars[pairs[len(crypto) % len(pairs)]]
            crypto.append(ticker)
        else:
            served[ticker] = bars["SPY" if ticker == "SPY" else stocks[i % len(stocks)]]
    served["SPY"] = bars["SPY"]
    if "DEAD" in extra:
        served["DEAD"] = bars[stocks[0]].loc[:"2024-01-31"]  # delisted at the end of January
    return FaultyTiingoServer(KEY, served, crypto, fault_rate=faults, seed=5)


def config(server: FaultyTiingoServer, cache: Path, extra: tuple[str, ...]) -> StrategyConfig:
    return StrategyConfig(
        api=ApiConfig(tiingo_api_key=KEY, tiingo_base_url=server.url, requests_per_hour=10**6,
                      requests_per_day=10**7, timeout_seconds=5, max_retries=4),
        data=DataConfig(source="tiingo", cache_dir=str(cache), history_start=date(2023, 1, 3),
                        universe=UniverseConfig(file=str(ROOT / "config" / "universe.csv"),
                                                stocks=extra)))


def scan_requests(server: FaultyTiingoServer, cache: Path, now: datetime,
                  extra: tuple[str, ...] = ()) -> tuple[int, int]:
    source = TiingoSource.from_config(config(server, cache, extra), now=now,
                                      sleep=lambda s: None)
    before = len(server.requests)
    source.check_connection()
    market = Market.load(source)
    return len(server.requests) - before, len(market.skipped)


def main() -> None:
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with serve(0.0) as server:
            rows = [("cold", scan_requests(server, root / "a", LAST)),
                    ("warm, same day", scan_requests(server, root / "a", LAST)),
                    ("warm, next day", scan_requests(server, root / "a", NEXT))]
        dead = ("DEAD", "NOSUCH")
        with serve(0.0, dead) as server:
            scan_requests(server, root / "b", LAST, dead)
            rows.append(("+ 2 dead tickers, warm same day",
                         scan_requests(server, root / "b", LAST, dead)))
            rows.append(("+ 2 dead tickers, 3rd run same day",
                         scan_requests(server, root / "b", LAST, dead)))
        with serve(0.25) as server:
            rows.append(("cold, 25% faults", scan_requests(server, root / "c", LAST)))
    for label, (requests, skipped) in rows:
        print(f"{label:<36} {requests:4d} requests  {skipped:2d} assets skipped")


if __name__ == "__main__":
    main()
