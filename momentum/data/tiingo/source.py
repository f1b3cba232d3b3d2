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

import logging
import math
import time
from datetime import date, datetime, timedelta

import pandas as pd
import requests

from momentum.core.calendar import completed_through, nyse_sessions
from momentum.core.config import StrategyConfig
from momentum.core.domain import Asset, AssetType, validate_ticker
from momentum.core.errors import ConfigError, DataError, DataUnavailable
from momentum.data.base import slice_bars
from momentum.data.tiingo.cache import TiingoCache, open_cache
from momentum.data.tiingo.client import (CRYPTO_BATCH, DAY_S, Clock, PriceRow,
                                         RateLimiter, Sleep, TiingoAuthError, TiingoClient,
                                         UnknownTickerError, WaitCallback, format_duration,
                                         log_countdown)
from momentum.data.tiingo.rows import needs_full_refetch, rows_to_frame
from momentum.data.tiingo.universe import Listing, load_universe

logger = logging.getLogger(__name__)

SECTORS_TTL_S = 30 * DAY_S       # sectors rarely change; a month keeps warm runs request-free
NO_PLAN_TTL_S = 7 * DAY_S        # ask again weekly in case the user bought the add-on
CAP_LOOKBACK_DAYS = 14
# Tiingo's fundamentals use Morningstar-style sector names; the engine groups by GICS names (R6.5).
GICS_SECTOR = {"Technology": "Information Technology", "Healthcare": "Health Care",
               "Financial Services": "Financials", "Consumer Cyclical": "Consumer Discretionary",
               "Consumer Defensive": "Consumer Staples", "Basic Materials": "Materials"}
_STOCKLIKE = (AssetType.STOCK, AssetType.ETF)


class TiingoSource:
    """A MarketDataSource over the Tiingo API with an incremental cache."""

    name = "tiingo"
    live_feed = True  # today's bars appear some time after the close (paper --run waits for them)

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
                              backoff_seconds=api.backoff_seconds,
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
        if symbol not in self._frames and symbol not in self._errors:
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
            return self._sectors_failed(exc, stocks)
        sectors = {t: _gics(m.get("sector")) for t, m in meta.items() if _gics(m.get("sector"))}
        self._cache.put_meta("fundamentals_sectors", {"tickers": stocks, "sectors": sectors},
                             self._clock())
        self._fundamentals_ok = True
        logger.info("sectors of %d of %d stocks from Tiingo fundamentals; the rest from the "
                    "universe file or 'Unknown'", len(sectors), len(stocks))
        return sectors

    def _sectors_failed(self, exc: DataError, stocks: list[str]) -> dict[str, str]:
        if not self._transient_fundamentals(exc):
            return {}
        stored = self._cache.get_meta("fundamentals_sectors")
        if stored is not None and set(stocks) <= set(stored[0]["tickers"]):
            logger.warning("Tiingo fundamentals failed (%s); using the sectors cached %s ago",
                           exc, _age(self._clock() - stored[1]))
            self._fundamentals_ok = True
            return stored[0]["sectors"]
        # No sector to fall back on: a stock whose sector is not in the file is unknown this run.
        for ticker in stocks:
            if self._listings[ticker].sector is None:
                self._errors[ticker] = _FundamentalsGap(f"its sector is unknown this run: {exc}")
        return {}

    def _transient_fundamentals(self, exc: DataError) -> bool:
        """True for a transient failure (fall back); a permanent refusal switches them off."""
        if isinstance(exc, TiingoAuthError) or getattr(exc, "fatal", False) and exc.transient:
            raise exc  # a bad key or a down server stops the run; a missing add-on does not
        if exc.transient:
            return True
        # 403 (plan), 400 or 404: the add-on is not part of this plan; remember that for a week.
        self._cache.put_meta("fundamentals_unavailable", {"why": str(exc)}, self._clock())
        self._fundamentals_ok = False
        logger.info("Tiingo fundamentals are not in this plan, so sectors and market caps come "
                    "from data.universe.file or config (%s)", exc)
        return False

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
            return self._cap_failed(ticker, exc)
        cap = caps[-1][1] if caps else None
        self._cache.put_meta(f"market_cap:{ticker}", {"cap": cap}, self._clock())
        return cap

    def _cap_failed(self, ticker: str, exc: DataError) -> float | None:
        if not self._transient_fundamentals(exc):
            return None  # switched off: the other stocks are not asked either
        stored = self._cache.get_meta(f"market_cap:{ticker}")
        if stored is not None:
            logger.warning("%s: Tiingo fundamentals failed (%s); using the market cap cached %s "
                           "ago", ticker, exc, _age(self._clock() - stored[1]))
            return stored[0]["cap"]
        self._errors[ticker] = _FundamentalsGap(f"its market cap is unknown this run: {exc}")
        return None

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
        if last is not None and self._checked_today(ticker):
            return False  # asked at this cutoff already and the series had ended
        # Up to date when no NYSE session lies between the last cached bar and the cutoff.
        return last is None or bool(self._missing_days(ticker, last))

    def _missing_days(self, ticker: str, last: date) -> list[date]:
        cutoff = self._cutoff[self._listings[ticker].asset_type]
        if self._listings[ticker].asset_type is AssetType.CRYPTO:
            return [last + timedelta(days=n) for n in range(1, (cutoff - last).days + 1)]
        return nyse_sessions(last + timedelta(days=1), cutoff)

    # ------------------------------------------------------------------ final answers
    def _checked_today(self, ticker: str) -> bool:
        stored = self._cache.get_meta(f"checked:{ticker}")
        cutoff = self._cutoff[self._listings[ticker].asset_type]
        return stored is not None and stored[0]["through"] == cutoff.isoformat()

    def _remember_check(self, ticker: str) -> None:
        """Remember a series that lags by 2+ days: it ended; ask again after the next close."""
        last = self._last_cached_day(ticker)
        # One missing day may be Tiingo publishing late, so that is asked again on every run.
        if last is not None and len(self._missing_days(ticker, last)) >= 2:
            cutoff = self._cutoff[self._listings[ticker].asset_type]
            self._cache.put_meta(f"checked:{ticker}", {"through": cutoff.isoformat(),
                                                       "last_day": last.isoformat()},
                                 self._clock())

    def _known_unknown(self, ticker: str) -> UnknownTickerError | None:
        stored = self._cache.get_meta(f"unknown:{ticker}")
        cutoff = self._cutoff[self._listings[ticker].asset_type]
        if stored is None or stored[0]["through"] != cutoff.isoformat():
            return None
        return UnknownTickerError(f"{stored[0]['why']} (answered {_age(self._clock() - stored[1])}"
                                  " ago; asked again after the next close)")

    def _remember_unknown(self, ticker: str, exc: UnknownTickerError) -> None:
        cutoff = self._cutoff[self._listings[ticker].asset_type]
        self._cache.put_meta(f"unknown:{ticker}", {"through": cutoff.isoformat(),
                                                   "why": str(exc)}, self._clock())

    # ------------------------------------------------------------------ stocks
    def _sync_stock(self, ticker: str) -> list[PriceRow]:
        known = self._known_unknown(ticker)
        if known is not None:
            raise known
        try:
            rows = self._fetch_stock(ticker)
        except UnknownTickerError as exc:
            self._remember_unknown(ticker, exc)
            raise
        self._remember_check(ticker)
        return rows

    def _fetch_stock(self, ticker: str) -> list[PriceRow]:
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
        if self._checked_today(ticker):
            return None  # asked at this cutoff already and the series had ended
        # Refetch the last cached day too: Tiingo may still revise the newest bar.
        return last if last < self._cutoff[AssetType.CRYPTO] else None

    def _sync_crypto(self) -> None:
        """Bring every pending crypto pair up to date with one request per 100 pairs."""
        pending = [t for t, x in sorted(self._listings.items()) if x.asset_type is
                   AssetType.CRYPTO and t not in self._frames and t not in self._errors]
        for ticker in pending:
            if (known := self._known_unknown(ticker)) is not None:
                self._errors[ticker] = known
        pending = [t for t in pending if t not in self._errors]
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
                if isinstance(exc, UnknownTickerError):
                    self._remember_unknown(ticker, exc)
                self._errors[ticker] = exc
                continue
            self._remember_check(ticker)
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


class _FundamentalsGap(DataUnavailable):
    """A market cap or sector missing after transient failures, with nothing cached."""

    fatal = False


def _age(seconds: float) -> str:
    return f"{seconds / DAY_S:.1f} days" if seconds >= DAY_S else format_duration(seconds)


def _gics(sector: object) -> str | None:
    # Tiingo's evaluation access fills fields with text like 'Field not available for free/...'.
    if not isinstance(sector, str) or not sector.strip() or "not available" in sector.lower():
        return None
    return GICS_SECTOR.get(sector.strip(), sector.strip())
