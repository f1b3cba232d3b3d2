"""Tiingo as a MarketDataSource: the same interface as the synthetic and CSV sources.

Universe: ``data.universe.stocks``/``crypto`` plus the optional ``data.universe.file``
(``ticker,asset_type,sector,market_cap``; lines starting with '#' are comments), and SPY as the
etf benchmark when stocks are traded. Sectors come from Tiingo's fundamentals add-on when the plan
has it (one batched request, kept 30 days), else from the file, else "Unknown" (R1.3). Market caps
come from the file or config; a stock without one gets Tiingo's latest daily market cap when the
plan has fundamentals, else none (not eligible).

Requests: a stock costs one request per run while its cache is behind (none when it is current),
all crypto pairs share one request per 100 pairs, and a dividend or split in the new rows costs one
more request for that ticker's whole adjusted history. ``bars`` always returns the history from
``data.history_start`` up to the last completed bar at ``now`` (never the forming crypto day).
"""
from __future__ import annotations

import csv
import logging
import math
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import requests

from momentum.core.calendar import completed_through, nyse_sessions
from momentum.core.config import DEFAULT_CONFIG_PATH, StrategyConfig, UniverseConfig
from momentum.core.domain import Asset, AssetType, validate_ticker
from momentum.core.errors import ConfigError, DataError, DataUnavailable, TickerError
from momentum.data.base import BAR_COLUMNS, empty_bars, slice_bars
from momentum.data.tiingo.cache import TiingoCache, open_cache
from momentum.data.tiingo.client import (CRYPTO_BATCH, DAY_S, Clock, MalformedResponse, PriceRow,
                                         RateLimiter, Sleep, TiingoAuthError, TiingoClient,
                                         UnknownTickerError, WaitCallback, log_countdown)

logger = logging.getLogger(__name__)

BENCHMARK = "SPY"
SECTORS_TTL_S = 30 * DAY_S       # sectors rarely change; a month keeps warm runs request-free
NO_PLAN_TTL_S = 7 * DAY_S        # ask again weekly in case the user bought the add-on
CAP_LOOKBACK_DAYS = 14
# Tiingo's fundamentals use Morningstar-style sector names; the engine groups by GICS names (R6.5).
GICS_SECTOR = {"Technology": "Information Technology", "Healthcare": "Health Care",
               "Financial Services": "Financials", "Consumer Cyclical": "Consumer Discretionary",
               "Consumer Defensive": "Consumer Staples", "Basic Materials": "Materials"}
_UNIVERSE_HEADER = ("ticker", "asset_type", "sector", "market_cap")
_STOCKLIKE = (AssetType.STOCK, AssetType.ETF)


@dataclass(frozen=True, slots=True)
class Listing:
    """One universe entry before Tiingo's fundamentals fill in what it lacks."""

    ticker: str
    asset_type: AssetType
    sector: str | None = None
    market_cap: float | None = None


class TiingoSource:
    """A MarketDataSource over the Tiingo API with an incremental cache."""

    name = "tiingo"

    def __init__(self, client: TiingoClient, cache: TiingoCache, listings: list[Listing], *,
                 history_start: date, now: datetime, clock: Clock = time.time) -> None:
        """Use `client` and `cache` for `listings`; `now` (timezone-aware) fixes completed bars."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware, e.g. datetime.now(timezone.utc)")
        self.client = client
        self._cache = cache
        self._listings = {x.ticker: x for x in listings}
        self._history_start = history_start
        self._cutoff = {t: completed_through(t, now) for t in (AssetType.STOCK, AssetType.CRYPTO)}
        self._cutoff[AssetType.ETF] = self._cutoff[AssetType.STOCK]
        self._clock = clock
        self._assets: dict[str, Asset] | None = None
        self._frames: dict[str, pd.DataFrame] = {}
        self._errors: dict[str, DataError] = {}
        self._connection_checked = False
        self._fundamentals_ok = False  # the add-on answered this run: worth asking for caps

    @classmethod
    def from_config(cls, cfg: StrategyConfig, now: datetime,
                    session: requests.Session | None = None, *, sleep: Sleep = time.sleep,
                    clock: Clock = time.time, on_wait: WaitCallback = log_countdown
                    ) -> TiingoSource:
        """Build client, rate limiter and cache from `cfg.api` and `cfg.data`."""
        api, data = cfg.api, cfg.data
        if api.tiingo_api_key is None:
            raise ConfigError("data.source is tiingo but TIINGO_API_KEY is not set; export "
                              "TIINGO_API_KEY=<your token>")
        listings = load_universe(data.universe)
        cache = open_cache(data.cache_dir, api.tiingo_base_url, data.cache_enabled)
        limiter = RateLimiter(api.requests_per_hour, api.requests_per_day, sleep=sleep,
                              clock=clock, on_wait=on_wait,
                              history=cache.request_times(clock() - DAY_S),
                              on_record=cache.record_request)
        client = TiingoClient(api.tiingo_api_key, api.tiingo_base_url, session,
                              timeout_seconds=api.timeout_seconds, max_retries=api.max_retries,
                              limiter=limiter, sleep=sleep, clock=clock, on_wait=on_wait)
        return cls(client, cache, listings, history_start=data.history_start, now=now, clock=clock)

    @property
    def request_count(self) -> int:
        """HTTP requests this source has sent (retries included)."""
        return self.client.request_count

    def check_connection(self) -> str:
        """Test the server and the API key (GET /api/test); raise a typed error if unusable."""
        self._connection_checked = True
        return self.client.test_connection()

    # ------------------------------------------------------------------ MarketDataSource
    def assets(self) -> list[Asset]:
        """Every asset of the universe, SPY included when stocks are traded, sorted by ticker."""
        if self._assets is None:
            sectors = self._fundamental_sectors()
            self._assets = {t: self._asset(x, sectors) for t, x in self._listings.items()}
        return [self._assets[t] for t in sorted(self._assets)]

    def bars(self, ticker: str, start: date | None = None, end: date | None = None) -> pd.DataFrame:
        """Completed daily bars from data.history_start, sliced to start..end (R1.1, R1.4)."""
        symbol = validate_ticker(ticker)
        listing = self._listings.get(symbol)
        if listing is None:
            raise DataError(f"unknown ticker {ticker!r}: not in the Tiingo universe; add it to "
                            "data.universe.stocks/crypto or the universe file")
        if symbol not in self._frames:
            if listing.asset_type is AssetType.CRYPTO:
                self._sync_crypto()
            else:
                self._frames[symbol] = self._frame(symbol, self._sync_stock(symbol))
        if symbol in self._errors:
            raise self._errors[symbol]
        return slice_bars(self._frames[symbol], start, end).copy(deep=False)

    # ------------------------------------------------------------------ request estimates
    def estimate_cold_start_requests(self) -> int:
        """Requests a run with an empty cache costs: test, sectors, stocks, crypto batches, caps."""
        stocks = sum(x.asset_type in _STOCKLIKE for x in self._listings.values())
        crypto = len(self._listings) - stocks
        # Plus one per stock without a market cap, but only on plans with fundamentals.
        return (1 + int(bool(self._stocks())) + stocks + math.ceil(crypto / CRYPTO_BATCH))

    def estimate_requests(self) -> int:
        """Requests the next scan costs with the current cache (each corporate action adds one)."""
        test = 0 if self._connection_checked else 1
        meta = 0 if self._assets is not None else (self._sectors_request_needed()
                                                   + len(self._caps_to_fetch()))
        todo = [t for t in self._listings if t not in self._frames and t not in self._errors]
        stocks = sum(self._stock_behind(t) for t in todo
                     if self._listings[t].asset_type in _STOCKLIKE)
        crypto = [t for t in todo if self._listings[t].asset_type is AssetType.CRYPTO
                  and self._crypto_start(t) is not None]
        return test + meta + stocks + math.ceil(len(crypto) / CRYPTO_BATCH)

    # ------------------------------------------------------------------ sectors and caps
    def _asset(self, x: Listing, sectors: dict[str, str]) -> Asset:
        if x.asset_type is AssetType.CRYPTO:
            return Asset(x.ticker, x.asset_type, "Crypto", x.market_cap)  # R1.3
        if x.asset_type is AssetType.ETF:
            return Asset(x.ticker, x.asset_type, x.sector or "ETF", x.market_cap)
        sector = sectors.get(x.ticker) or x.sector or "Unknown"
        cap = x.market_cap if x.market_cap is not None else self._fundamental_cap(x.ticker)
        return Asset(x.ticker, x.asset_type, sector, cap)

    def _stocks(self) -> list[str]:
        return sorted(t for t, x in self._listings.items() if x.asset_type is AssetType.STOCK)

    def _sectors_request_needed(self) -> int:
        if not self._stocks() or self._plan_lacks_fundamentals():
            return 0
        stored = self._fresh_meta("fundamentals_sectors", SECTORS_TTL_S)
        return int(stored is None or not set(self._stocks()) <= set(stored["tickers"]))

    def _plan_lacks_fundamentals(self) -> bool:
        return self._fresh_meta("fundamentals_unavailable", NO_PLAN_TTL_S) is not None

    def _fresh_meta(self, key: str, ttl_s: float) -> dict | None:
        stored = self._cache.get_meta(key)
        return stored[0] if stored is not None and self._clock() - stored[1] < ttl_s else None

    def _fundamental_sectors(self) -> dict[str, str]:
        """Sector by ticker from the fundamentals add-on; {} when the plan does not have it."""
        stocks = self._stocks()
        if not stocks or self._plan_lacks_fundamentals():
            return {}
        if not self._sectors_request_needed():
            self._fundamentals_ok = True
            return self._cache.get_meta("fundamentals_sectors")[0]["sectors"]
        try:
            meta = self.client.fundamentals_meta(stocks)
        except DataError as exc:
            self._fundamentals_failed(exc)
            return {}
        sectors = {t: _gics(m.get("sector")) for t, m in meta.items() if _gics(m.get("sector"))}
        self._cache.put_meta("fundamentals_sectors", {"tickers": stocks, "sectors": sectors},
                             self._clock())
        self._fundamentals_ok = True
        logger.info("sectors of %d of %d stocks from Tiingo fundamentals; the rest from the "
                    "universe file or 'Unknown'", len(sectors), len(stocks))
        return sectors

    def _fundamentals_failed(self, exc: DataError) -> None:
        if isinstance(exc, TiingoAuthError) or (isinstance(exc, DataUnavailable) and exc.fatal):
            raise exc  # a bad key or a down server stops the run; a missing add-on does not
        if isinstance(exc, (DataUnavailable, MalformedResponse)):
            logger.warning("Tiingo fundamentals failed (%s); sectors and market caps come from "
                           "the universe file this run", exc)
            return
        # 403 (plan), 400 or 404: the add-on is not part of this plan; remember that for a week.
        self._cache.put_meta("fundamentals_unavailable", {"why": str(exc)}, self._clock())
        logger.info("Tiingo fundamentals are not in this plan, so sectors and market caps come "
                    "from data.universe.file or config (%s)", exc)

    def _caps_to_fetch(self) -> list[str]:
        if self._fresh_meta("fundamentals_sectors", SECTORS_TTL_S) is None:
            return []  # the plan is not known to include fundamentals
        return [t for t in self._stocks() if self._listings[t].market_cap is None
                and self._fresh_meta(f"market_cap:{t}", SECTORS_TTL_S) is None]

    def _fundamental_cap(self, ticker: str) -> float | None:
        if not self._fundamentals_ok:
            return None
        stored = self._fresh_meta(f"market_cap:{ticker}", SECTORS_TTL_S)
        if stored is not None:
            return stored["cap"]
        end = self._cutoff[AssetType.STOCK]
        try:
            caps = self.client.market_caps(ticker, end - timedelta(days=CAP_LOOKBACK_DAYS), end)
        except UnknownTickerError:
            caps = []  # no fundamentals for this one ticker: no cap, so not eligible (R1.3)
        except DataError as exc:
            self._fundamentals_ok = False  # one refusal is enough: do not ask for every stock
            self._fundamentals_failed(exc)
            return None
        cap = caps[-1][1] if caps else None
        self._cache.put_meta(f"market_cap:{ticker}", {"cap": cap}, self._clock())
        return cap

    # ------------------------------------------------------------------ stocks
    def _last_cached_day(self, ticker: str) -> date | None:
        """The newest cached bar, or None when the whole history must be downloaded."""
        info = self._cache.info(ticker)
        # A history cached from a later start than configured cannot serve this run (R1.4).
        if info is None or info.history_start > self._history_start:
            return None
        return info.last_day

    def _stock_behind(self, ticker: str) -> bool:
        last = self._last_cached_day(ticker)
        # Up to date when no NYSE session lies between the last cached bar and the cutoff.
        return last is None or bool(nyse_sessions(last + timedelta(days=1),
                                                  self._cutoff[AssetType.STOCK]))

    def _sync_stock(self, ticker: str) -> list[PriceRow]:
        last = self._last_cached_day(ticker)
        if last is None:
            return self._download_stock(ticker)
        if not self._stock_behind(ticker):
            return self._cache.rows(ticker)
        # Start at the last cached day: the overlap shows whether its adjustment changed.
        cutoff = self._cutoff[AssetType.STOCK]
        fresh = [r for r in self.client.daily_prices(ticker, last, cutoff) if r.day <= cutoff]
        cached = self._cache.rows(ticker)
        if needs_full_refetch(cached[-1], fresh):
            logger.info("%s: dividend or split in the new rows; refetching its adjusted history",
                        ticker)
            return self._download_stock(ticker)
        self._cache.merge(ticker, fresh)
        return self._cache.rows(ticker)

    def _download_stock(self, ticker: str) -> list[PriceRow]:
        end = self._cutoff[AssetType.STOCK]
        # endDate is inclusive; the filter also guards against a server sending an unclosed day.
        rows = [r for r in self.client.daily_prices(ticker, self._history_start, end)
                if r.day <= end]
        if not rows:
            raise UnknownTickerError(f"unknown ticker {ticker!r}: Tiingo has no daily prices from "
                                     f"{self._history_start} to {end}; check the symbol")
        self._cache.replace(ticker, self._history_start, rows, self._clock())
        return rows

    # ------------------------------------------------------------------ crypto
    def _crypto_start(self, ticker: str) -> date | None:
        """The first day to fetch for a pair, or None when its cache is current."""
        last = self._last_cached_day(ticker)
        if last is None:
            return self._history_start
        # Refetch the last cached day too: Tiingo may still revise the newest bar.
        return last if last < self._cutoff[AssetType.CRYPTO] else None

    def _sync_crypto(self) -> None:
        """Bring every pending crypto pair up to date with one request per 100 pairs."""
        pending = [t for t, x in sorted(self._listings.items()) if x.asset_type is
                   AssetType.CRYPTO and t not in self._frames and t not in self._errors]
        starts = {t: self._crypto_start(t) for t in pending}
        todo = [t for t in pending if starts[t] is not None]
        fetched: dict[str, list[PriceRow]] = {}
        if todo:
            try:
                fetched = self.client.crypto_prices(todo, min(starts[t] for t in todo),
                                                    self._cutoff[AssetType.CRYPTO])
            except DataError as exc:
                if getattr(exc, "fatal", False):
                    raise
                self._errors.update({t: exc for t in todo})
        for ticker in pending:
            if ticker in self._errors:
                continue
            try:
                rows = self._store_crypto(ticker, fetched.get(ticker.lower()))
            except DataError as exc:
                self._errors[ticker] = exc
                continue
            self._frames[ticker] = self._frame(ticker, rows)

    def _store_crypto(self, ticker: str, fetched: list[PriceRow] | None) -> list[PriceRow]:
        cutoff = self._cutoff[AssetType.CRYPTO]
        start = self._crypto_start(ticker)
        if start is None:
            return self._cache.rows(ticker)
        # Never store the still-forming UTC day, even if the server sends it.
        rows = [r for r in fetched or [] if start <= r.day <= cutoff]
        if self._last_cached_day(ticker) is None:
            if not rows:
                raise UnknownTickerError(f"unknown crypto pair {ticker!r}: Tiingo has no prices "
                                         f"from {start} to {cutoff}; check the symbol")
            self._cache.replace(ticker, self._history_start, rows, self._clock())
            return rows
        self._cache.merge(ticker, rows)
        return self._cache.rows(ticker)

    # ------------------------------------------------------------------ frames
    def _frame(self, ticker: str, rows: list[PriceRow]) -> pd.DataFrame:
        asset_type = self._listings[ticker].asset_type
        return rows_to_frame(rows, adjusted=asset_type in _STOCKLIKE,
                             start=self._history_start, end=self._cutoff[asset_type])


def needs_full_refetch(last_cached: PriceRow, fresh: list[PriceRow]) -> bool:
    """True when the adjusted history must be downloaded again (Tiingo rewrites it, pitfall 1).

    That is when a new row carries a dividend or a split factor != 1, or the overlapping last
    cached day now has another dividend/split or another adjustment factor adjClose/close.
    """
    for row in fresh:
        if row.day > last_cached.day and (row.div_cash != 0 or row.split_factor != 1):
            return True
        if row.day == last_cached.day and (
                row.div_cash != last_cached.div_cash
                or row.split_factor != last_cached.split_factor
                or not math.isclose(row.adj_close / row.close,
                                    last_cached.adj_close / last_cached.close, rel_tol=1e-6)):
            return True
    return False


def rows_to_frame(rows: list[PriceRow], adjusted: bool, start: date, end: date) -> pd.DataFrame:
    """Bars in the momentum.data.base shape: adjusted OHLCV for stocks (R1.1), raw for crypto."""
    if not rows:
        return empty_bars()
    fields = (slice(6, 11) if adjusted else slice(1, 6))
    values = np.array([row[fields] for row in rows], dtype=np.float64)
    index = pd.DatetimeIndex(pd.to_datetime([r.day.isoformat() for r in rows], format="%Y-%m-%d"),
                             name="date")
    return slice_bars(pd.DataFrame(values, index=index, columns=list(BAR_COLUMNS)), start, end)


def _gics(sector: object) -> str | None:
    # Tiingo's evaluation access fills fields with text like 'Field not available for free/...'.
    if not isinstance(sector, str) or not sector.strip() or "not available" in sector.lower():
        return None
    return GICS_SECTOR.get(sector.strip(), sector.strip())


# ---------------------------------------------------------------------- universe


def load_universe(cfg: UniverseConfig) -> list[Listing]:
    """The tickers to trade: the universe file's rows, config lists, and SPY with stocks."""
    listings = _read_universe_file(_universe_path(cfg.file)) if cfg.file else {}
    for tickers, asset_type in ((cfg.stocks, AssetType.STOCK), (cfg.crypto, AssetType.CRYPTO)):
        for ticker in tickers:
            known = listings.setdefault(ticker, Listing(ticker, asset_type))
            if known.asset_type is not asset_type:
                raise ConfigError(f"data.universe: {ticker} is listed as {asset_type.value} but "
                                  f"is {known.asset_type.value} in {cfg.file}; keep one type")
    if not listings:
        raise ConfigError("data.universe is empty: list tickers under data.universe.stocks / "
                          "crypto or set data.universe.file (e.g. config/universe.csv)")
    if any(x.asset_type is AssetType.STOCK for x in listings.values()):
        listings.setdefault(BENCHMARK, Listing(BENCHMARK, AssetType.ETF, "ETF"))
    return [listings[t] for t in sorted(listings)]


def _universe_path(name: str) -> Path:
    path = Path(name)
    if not path.is_absolute() and not path.exists():
        beside_repo = DEFAULT_CONFIG_PATH.parent.parent / path  # config/universe.csv from anywhere
        if beside_repo.exists():
            return beside_repo
    return path


def _read_universe_file(path: Path) -> dict[str, Listing]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the universe file ({exc.strerror}); fix "
                          "data.universe.file") from None
    rows = [(n, line) for n, line in enumerate(text.splitlines(), 1)
            if line.strip() and not line.lstrip().startswith("#")]
    if not rows or tuple(c.strip() for c in rows[0][1].split(",")) != _UNIVERSE_HEADER:
        raise ConfigError(f"{path}: the first line that is not a comment must be the header "
                          f"'{','.join(_UNIVERSE_HEADER)}'")
    out: dict[str, Listing] = {}
    for n, line in rows[1:]:
        listing = _parse_listing(f"{path}: line {n}", next(csv.reader([line])))
        if listing.ticker in out:
            raise ConfigError(f"{path}: line {n}: duplicate ticker {listing.ticker}; keep one row")
        out[listing.ticker] = listing
    return out


def _parse_listing(where: str, fields: list[str]) -> Listing:
    if len(fields) != len(_UNIVERSE_HEADER):
        raise ConfigError(f"{where}: {len(fields)} fields; expected {','.join(_UNIVERSE_HEADER)}")
    ticker, kind, sector, cap = (f.strip() for f in fields)
    try:
        symbol, asset_type = validate_ticker(ticker), AssetType(kind)
    except (TickerError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}; asset_type is stock, crypto or etf") from None
    try:
        market_cap = float(cap) if cap else None
    except ValueError:
        market_cap = math.nan
    if market_cap is not None and not (math.isfinite(market_cap) and market_cap >= 0):
        raise ConfigError(f"{where}: market_cap {cap!r} of {symbol} is not a number of dollars; "
                          "write digits like 2500000000000, or leave it empty")
    return Listing(symbol, asset_type, sector or None, market_cap)
