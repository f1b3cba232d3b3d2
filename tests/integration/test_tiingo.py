"""TiingoClient, cache and TiingoSource against a local HTTP server serving the recorded fixtures.

Every test runs with fake sleep/clock (no real waiting) and checks that the API key never shows
up in captured logs; error tests also check the exception text.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

import momentum.data.tiingo.client
from momentum.core.config import ApiConfig, DataConfig, StrategyConfig, UniverseConfig
from momentum.core.errors import DataError
from momentum.data.base import BAR_COLUMNS, MarketDataSource
from momentum.data.market import Market
from momentum.data.tiingo.cache import SqliteCache, cache_file
from momentum.data.tiingo.client import (HOUR_S, InvalidSeries, MalformedResponse, PlanError,
                                         RateLimited, RateLimiter, ServerUnavailable,
                                         TiingoAuthError,
                                         TiingoClient, UnknownTickerError, log_countdown,
                                         parse_crypto_rows, parse_daily_rows, parse_retry_after)
from momentum.data.tiingo.source import TiingoSource
from tests.conftest import ROOT
from tests.tiingo_server import SYMBOL_CAP_TEXT, Fault, TiingoTestServer

KEY = "0123456789abcdef0123456789abcdef01234567"  # 40 hex characters, like a real token
AFTER_CLOSE_0717 = datetime(2020, 7, 17, 22, 0, tzinfo=UTC)   # Fri 18:00 ET
START = date(2019, 7, 21)


class FakeTime:
    """An injectable clock whose sleep advances time instantly."""

    def __init__(self, start: float = 1_600_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def _key_never_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    assert KEY not in caplog.text


@pytest.fixture
def server(tiingo_fixtures: Path) -> Iterator[TiingoTestServer]:
    with TiingoTestServer(tiingo_fixtures, KEY) as srv:
        srv.alias_daily("SPY", "MSFT")  # the benchmark TiingoSource adds next to stocks
        yield srv


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


def make_client(server: TiingoTestServer, fake: FakeTime, per_hour: int = 50,
                per_day: int = 1000, max_retries: int = 2, timeout_s: float = 2.0,
                key: str = KEY, on_wait=log_countdown, stamps: list[float] | None = None
                ) -> TiingoClient:
    limiter = RateLimiter(per_hour, per_day, sleep=fake.sleep, clock=fake.clock, on_wait=on_wait,
                          on_record=None if stamps is None else stamps.append)
    return TiingoClient(key, server.url, timeout_seconds=timeout_s, max_retries=max_retries,
                        limiter=limiter, clock=fake.clock)


def make_config(server: TiingoTestServer, tmp_path: Path, stocks=("AAPL", "MSFT"),
                crypto=("BTCUSD",), file: str | None = None, cache: bool = True,
                per_hour: int = 50) -> StrategyConfig:
    return StrategyConfig(
        api=ApiConfig(tiingo_api_key=KEY, tiingo_base_url=server.url, requests_per_hour=per_hour,
                      timeout_seconds=2.0, max_retries=2),
        data=DataConfig(source="tiingo", cache_dir=str(tmp_path / "cache"), cache_enabled=cache,
                        history_start=START,
                        universe=UniverseConfig(stocks=stocks, crypto=crypto, file=file)))


def make_source(cfg: StrategyConfig, fake: FakeTime, now: datetime = AFTER_CLOSE_0717,
                on_wait=log_countdown) -> TiingoSource:
    return TiingoSource.from_config(cfg, now=now, sleep=fake.sleep, clock=fake.clock,
                                    on_wait=on_wait)


def assert_clean(exc: BaseException) -> None:
    assert KEY not in str(exc) and KEY not in repr(exc.args)


# ---------------------------------------------------------------------- client: auth and shape


def test_client_key_travels_in_header_never_in_url(server, fake):
    client = make_client(server, fake)
    assert client.test_connection() == "You successfully sent a request"
    client.daily_prices("AAPL", date(2020, 7, 1), date(2020, 7, 10))
    assert server.count() == 2 == client.request_count
    for request in server.requests:
        assert request.headers["authorization"] == f"Token {KEY}"
        assert KEY not in request.raw_target and "token" not in request.query
    assert KEY not in repr(client)


def test_client_daily_rows_keep_raw_adjusted_and_corporate_actions(server, fake):
    rows = make_client(server, fake).daily_prices("AAPL", date(2019, 7, 21), date(2020, 7, 20))
    assert len(rows) == 251
    first = rows[0]
    assert (first.day, first.close, first.adj_close) == (date(2019, 7, 22), 207.22, 204.782812658)
    assert [r.day for r in rows if r.div_cash] == [date(2019, 8, 9), date(2019, 11, 7),
                                                   date(2020, 2, 7), date(2020, 5, 8)]


def test_parse_rows_reads_every_recorded_date_format(tiingo_fixtures):
    def load(name: str):
        return json.loads((tiingo_fixtures / name).read_text())
    history = parse_daily_rows(load("daily_prices_googl_2015-01-01_2015-01-05.json"), "h")
    latest = parse_daily_rows(load("daily_prices_googl_latest.json"), "l")
    crypto = parse_crypto_rows(load("crypto_prices_btcusd_1day_2020-07-10_2020-07-19.json")[0]
                               ["priceData"], "c")
    assert [r.day for r in history] == [date(2015, 1, 2), date(2015, 1, 5)]  # ...T00:00:00.000Z
    assert [r.day for r in latest] == [date(2018, 4, 12)]                    # ...T00:00:00+00:00
    assert crypto[0].day == date(2020, 7, 10) and len(crypto) == 10


def test_client_crypto_pages_past_the_row_cap(server, fake, monkeypatch):
    monkeypatch.setattr(momentum.data.tiingo.client, "CRYPTO_ROW_CAP", 100)
    server.crypto_row_cap = 100
    server.alias_crypto("ethusd")
    out = make_client(server, fake).crypto_prices(["BTCUSD", "ETHUSD"], date(2019, 7, 21),
                                                  date(2020, 7, 20))
    assert [len(out[p]) for p in ("btcusd", "ethusd")] == [366, 366]
    assert all(a.day < b.day for a, b in zip(out["ethusd"], out["ethusd"][1:], strict=False))
    assert server.count() == 8  # 1 cut answer, then 3 pages for btcusd and 4 for ethusd


def test_client_crypto_sends_1day_dates_and_lowercase_batch(server, fake):
    server.alias_crypto("ethusd")
    out = make_client(server, fake).crypto_prices(["BTCUSD", "ETHUSD", "NOPEUSD"],
                                                  date(2020, 7, 10), date(2020, 7, 19))
    assert set(out) == {"btcusd", "ethusd"} and len(out["btcusd"]) == 10
    (request,) = server.requests
    assert request.query == {"tickers": "btcusd,ethusd,nopeusd", "startDate": "2020-07-10",
                             "endDate": "2020-07-19", "resampleFreq": "1day"}


def test_client_ticker_meta_and_unknown_meta(server, fake):
    client = make_client(server, fake)
    meta = client.ticker_meta("aapl")
    assert (meta["ticker"], meta["endDate"]) == ("AAPL", "2020-07-17")
    with pytest.raises(UnknownTickerError, match="'NOPE'"):
        client.ticker_meta("NOPE")
    assert [r.path for r in server.requests] == ["/tiingo/daily/AAPL", "/tiingo/daily/NOPE"]


@pytest.mark.parametrize("ticker", ["../etc", "AA PL", "AAPL?x=1", ""])
def test_client_rejects_bad_ticker_before_any_request(server, fake, ticker):
    with pytest.raises(DataError):
        make_client(server, fake).daily_prices(ticker, date(2020, 1, 1), date(2020, 1, 2))
    assert server.count() == 0


# ---------------------------------------------------------------------- client: errors


def test_client_bad_key_is_fatal_auth_error(server, fake):
    with pytest.raises(TiingoAuthError) as info:
        make_client(server, fake, key="f" * 40).test_connection()
    assert info.value.fatal and "TIINGO_API_KEY" in str(info.value)
    assert_clean(info.value)


def test_client_missing_token_message_is_auth_error(server, fake):
    server.inject(Fault(status=403, body='{"detail":"Please supply a token"}'))
    with pytest.raises(TiingoAuthError):
        make_client(server, fake).test_connection()


def test_client_404_is_unknown_ticker_not_fatal(server, fake):
    with pytest.raises(UnknownTickerError) as info:
        make_client(server, fake).daily_prices("BADTICKER", date(2020, 1, 1), date(2020, 1, 5))
    assert not info.value.fatal and "'BADTICKER'" in str(info.value)
    assert server.count() == 1  # a 404 is never retried


def test_client_403_is_plan_error(server, fake, tiingo_fixtures):
    body = (tiingo_fixtures / "error_403_news_bulk_no_permission.json").read_text()
    server.inject(Fault(status=403, body=body), path="/prices")
    with pytest.raises(PlanError) as info:
        make_client(server, fake).daily_prices("AAPL", date(2020, 1, 1), date(2020, 1, 5))
    assert info.value.fatal and "permission" in str(info.value)


@pytest.mark.parametrize("fault", [
    Fault(body=SYMBOL_CAP_TEXT, content_type="text/plain"),
    Fault(body=json.dumps({"detail": SYMBOL_CAP_TEXT})),
], ids=["plain-text-200", "json-detail-200"])
def test_client_monthly_symbol_cap_is_rate_limited_not_fatal(server, fake, fault):
    server.inject(fault, path="/prices")
    with pytest.raises(RateLimited) as info:
        make_client(server, fake).daily_prices("AAPL", date(2020, 1, 1), date(2020, 1, 5))
    assert not info.value.fatal and "monthly" in str(info.value)
    assert server.count() == 1


def test_client_429_honours_retry_after_then_succeeds(server, fake, caplog):
    server.inject(Fault(status=429, body='{"detail":"Error: You have run over your hourly '
                        'request allocation."}', headers={"Retry-After": "7"}))
    rows = make_client(server, fake).daily_prices("AAPL", date(2020, 7, 1), date(2020, 7, 2))
    assert len(rows) == 2 and server.count() == 2
    assert sum(fake.sleeps) == pytest.approx(7.0)
    assert "retry 1 of 2" in caplog.text


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2020, 7, 20, 12, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Mon, 20 Jul 2020 12:01:30 GMT", now) == 90.0
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None


def test_client_429_with_day_long_retry_after_fails_at_once(server, fake):
    server.inject(Fault(status=429, body="{}", headers={"Retry-After": "40000"}), times=5)
    with pytest.raises(RateLimited) as info:
        make_client(server, fake).daily_prices("AAPL", date(2020, 7, 1), date(2020, 7, 2))
    assert info.value.fatal and server.count() == 1 and fake.sleeps == []


def test_client_500_then_success_backs_off(server, fake):
    server.inject(Fault(status=500, body="oops"), times=2)
    rows = make_client(server, fake).daily_prices("AAPL", date(2020, 7, 1), date(2020, 7, 2))
    assert len(rows) == 2 and server.count() == 3
    assert fake.sleeps == [1.0, 2.0]  # exponential backoff


def test_client_server_down_after_retries(server, fake):
    server.inject(Fault(status=503, body="down"), times=99)
    client = make_client(server, fake, max_retries=2)
    with pytest.raises(ServerUnavailable) as first:
        client.daily_prices("AAPL", date(2020, 7, 1), date(2020, 7, 2))
    assert server.count() == 3 and not first.value.fatal
    with pytest.raises(ServerUnavailable) as second:
        client.daily_prices("MSFT", date(2020, 7, 1), date(2020, 7, 2))
    assert second.value.fatal  # two tickers in a row: stop the run instead of burning budget


def test_client_timeout_then_success(server, fake):
    server.inject(Fault(delay_s=1.0), path="/prices")
    client = make_client(server, fake, timeout_s=0.3)
    rows = client.daily_prices("AAPL", date(2020, 7, 1), date(2020, 7, 2))
    assert len(rows) == 2 and client.request_count == 2


def test_client_timeout_every_time_is_server_unavailable(server, fake):
    server.inject(Fault(delay_s=0.6), times=2)
    with pytest.raises(ServerUnavailable, match="no answer within"):
        make_client(server, fake, timeout_s=0.2, max_retries=1).test_connection()


def test_client_connection_refused_is_fatal(fake, tiingo_fixtures):
    with TiingoTestServer(tiingo_fixtures, KEY) as srv:
        url = srv.url
    client = TiingoClient(KEY, url, max_retries=1, limiter=RateLimiter(
        50, 1000, sleep=fake.sleep, clock=fake.clock), clock=fake.clock)
    with pytest.raises(ServerUnavailable) as info:
        client.test_connection()
    assert info.value.fatal and "cannot connect" in str(info.value)


@pytest.mark.parametrize("body", ['[{"date": "2020-07-01T00:00:00.000Z", "close": 1', "<html>",
                                  '{"unexpected": "object"}', "",
                                  '[{"date": "yesterday", "open": 1, "high": 1, "low": 1, '
                                  '"close": 1, "volume": 1, "adjOpen": 1, "adjHigh": 1, '
                                  '"adjLow": 1, "adjClose": 1, "adjVolume": 1}]'])
def test_client_malformed_body_is_retried_as_transient(server, fake, body):
    server.inject(Fault(body=body), path="/prices")
    client = make_client(server, fake)
    assert len(client.daily_prices("AAPL", date(2020, 7, 1), date(2020, 7, 2))) == 2
    assert server.count() == 2 and fake.sleeps == [1.0]  # a garbled answer is asked again
    server.inject(Fault(body=body), path="/prices", times=3)
    with pytest.raises(MalformedResponse) as info:
        client.daily_prices("AAPL", date(2020, 7, 1), date(2020, 7, 2))
    assert info.value.transient and not info.value.fatal and server.count() == 5


def test_client_impossible_values_are_a_final_answer(server, fake):
    row = {"date": "2020-07-01", "open": -1, "high": 1, "low": 1, "close": 1, "volume": 1,
           "adjOpen": -1, "adjHigh": 1, "adjLow": 1, "adjClose": 1, "adjVolume": 1}
    server.inject(Fault(body=json.dumps([row])), path="/prices")
    with pytest.raises(InvalidSeries) as info:
        make_client(server, fake).daily_prices("AAPL", date(2020, 7, 1), date(2020, 7, 2))
    assert not info.value.transient and server.count() == 1  # validation failed: not retried


def test_client_truncated_body_retries_then_succeeds_or_fails(server, fake):
    server.inject(Fault(truncate=True), path="/prices")
    client = make_client(server, fake, max_retries=1)
    assert len(client.daily_prices("AAPL", date(2020, 7, 1), date(2020, 7, 2))) == 2
    server.inject(Fault(truncate=True), path="/prices", times=2)
    with pytest.raises(MalformedResponse, match="truncated"):
        client.daily_prices("AAPL", date(2020, 7, 1), date(2020, 7, 2))


def test_client_masks_key_echoed_by_server(server, fake, caplog):
    echo = json.dumps({"detail": f"Invalid token {KEY} for this request"})
    server.inject(Fault(status=400, body=echo), path="/prices")
    server.inject(Fault(status=500, body=f"upstream error token={KEY}"), path="/api/test")
    client = make_client(server, fake, max_retries=1)
    with pytest.raises(DataError) as bad_request:
        client.daily_prices("AAPL", date(2020, 7, 1), date(2020, 7, 2))
    assert_clean(bad_request.value)
    assert "***" in str(bad_request.value)
    client.test_connection()  # the 500 is logged as a retry warning: masked there too
    assert "upstream error token=***" in caplog.text


# ---------------------------------------------------------------------- rate limiter


def test_limiter_hourly_budget_waits_instead_of_failing(server, fake):
    waits: list[tuple[float, str]] = []
    stamps: list[float] = []
    client = make_client(server, fake, per_hour=3, on_wait=lambda s, why: waits.append((s, why)),
                         stamps=stamps)
    for _ in range(7):
        client.test_connection()
    assert server.count() == 7
    assert all(sum(t - HOUR_S < s <= t for s in stamps) <= 3 for t in stamps)
    assert waits and "hourly budget of 3" in waits[0][1]
    assert [w[0] for w in waits[:3]] == pytest.approx([HOUR_S, HOUR_S - 10, HOUR_S - 20])


def test_limiter_daily_budget_waits_a_day(server, fake):
    waits: list[str] = []
    client = make_client(server, fake, per_hour=100, per_day=2,
                         on_wait=lambda s, why: waits.append(why))
    for _ in range(3):
        client.test_connection()
    assert sum(fake.sleeps) == pytest.approx(86400.0)
    assert "daily budget of 2" in waits[0]


def test_limiter_default_countdown_logs_info_every_10s(fake, caplog):
    limiter = RateLimiter(1, 100, sleep=fake.sleep, clock=fake.clock)
    limiter.acquire()
    fake.now += 3570.0
    limiter.acquire()  # 30 s left in the hour
    lines = [r for r in caplog.records
             if r.name == "momentum.data.tiingo.client" and r.levelno == logging.INFO]
    why = "Tiingo hourly budget of 1 requests is used up"
    assert [r.getMessage() for r in lines] == [f"waiting {t}: {why}" for t in ("30s", "20s", "10s")]


def test_limiter_counts_requests_of_earlier_runs(server, fake, tmp_path):
    cfg = make_config(server, tmp_path, stocks=("AAPL",), crypto=(), per_hour=3)
    first = make_source(cfg, fake)
    first.assets()                               # sectors (403 here)
    first.bars("AAPL")                           # AAPL: two of the hour's three
    waits: list[str] = []
    second = make_source(cfg, fake, on_wait=lambda s, why: waits.append(why))
    second.check_connection()                    # third of the hour
    second.check_connection()                    # the fourth waits for the budget
    assert waits and "hourly" in waits[0]


# ---------------------------------------------------------------------- source: bars


def test_source_satisfies_protocol_and_maps_adjusted_fields(server, fake, tmp_path):
    source = make_source(make_config(server, tmp_path), fake)
    assert isinstance(source, MarketDataSource) and source.name == "tiingo"
    frame = source.bars("AAPL")
    assert list(frame.columns) == list(BAR_COLUMNS) and frame.index.name == "date"
    raw = server.daily["AAPL"][0]
    assert frame.iloc[0].tolist() == [raw["adjOpen"], raw["adjHigh"], raw["adjLow"],
                                      raw["adjClose"], raw["adjVolume"]]
    assert frame.index[0] == pd.Timestamp("2019-07-22") and len(frame) == 251
    btc = source.bars("BTCUSD")
    first = server.crypto["btcusd"][0]
    assert btc.iloc[0]["volume"] == first["volume"]  # coin units (R1.1)


def test_source_drops_forming_crypto_bar_and_unclosed_stock_day(server, fake, tmp_path):
    server.ignore_end_date = True  # the server also sends today's bars
    now = datetime(2020, 7, 17, 19, 0, tzinfo=UTC)  # 15:00 ET: the stock day is not closed
    cfg = make_config(server, tmp_path)
    source = make_source(cfg, fake, now=now)
    assert source.bars("BTCUSD").index[-1] == pd.Timestamp("2020-07-16")
    assert source.bars("AAPL").index[-1] == pd.Timestamp("2020-07-16")
    cache = SqliteCache(cache_file(cfg.data.cache_dir, server.url))
    assert cache.info("BTCUSD").last_day == date(2020, 7, 16)  # never stored either


def test_source_bars_history_is_independent_of_start(server, fake, tmp_path):
    source = make_source(make_config(server, tmp_path), fake)
    late = source.bars("AAPL", start=date(2020, 6, 1), end=date(2020, 6, 30))
    full = source.bars("AAPL")
    assert late.index[0] >= pd.Timestamp("2020-06-01")
    assert late.index[-1] <= pd.Timestamp("2020-06-30")
    assert full.index[0] == pd.Timestamp("2019-07-22")
    assert server.count("/tiingo/daily/AAPL") == 1
    assert server.requests[-1].query["startDate"] == START.isoformat()


def test_source_empty_list_is_unknown_ticker_and_run_goes_on(server, fake, tmp_path):
    server.inject(Fault(body="[]"), path="/tiingo/daily/MSFT/prices")
    source = make_source(make_config(server, tmp_path, crypto=("BTCUSD", "NOPEUSD")), fake)
    with pytest.raises(UnknownTickerError):
        source.bars("MSFT")
    with pytest.raises(UnknownTickerError):
        source.bars("NOPEUSD")
    market = Market.load(source)
    assert set(market.histories) == {"AAPL", "BTCUSD", "SPY"}
    assert set(market.skipped) == {"NOPEUSD", "MSFT"} and not market.unavailable  # permanent
    assert server.count("/MSFT/") == 1 and server.count("/crypto/") == 1  # not asked again
    # A final answer is remembered until the next close: the same day asks nothing again...
    again = make_source(make_config(server, tmp_path, crypto=("BTCUSD", "NOPEUSD")), fake)
    with pytest.raises(UnknownTickerError, match="asked again after the next close"):
        again.bars("MSFT")
    assert server.count("/MSFT/") == 1 and again.request_count == 0
    # ...and the next day asks again (MSFT answers normally now).
    later = make_source(make_config(server, tmp_path, crypto=("BTCUSD", "NOPEUSD")), fake,
                        now=datetime(2020, 7, 20, 22, 0, tzinfo=UTC))
    assert len(later.bars("MSFT")) > 200 and server.count("/MSFT/") == 2


def test_source_bad_key_stops_market_load(server, fake, tmp_path):
    server.api_key = "another-key-entirely-0000000000000000000"
    source = make_source(make_config(server, tmp_path, crypto=()), fake)
    with pytest.raises(TiingoAuthError) as info:
        Market.load(source)
    assert_clean(info.value)


def test_source_batches_crypto_pairs_in_one_request(server, fake, tmp_path):
    server.alias_crypto("ethusd")
    server.alias_crypto("solusd")
    source = make_source(make_config(server, tmp_path, stocks=(),
                                     crypto=("BTCUSD", "ETHUSD", "SOLUSD")), fake)
    for pair in ("BTCUSD", "ETHUSD", "SOLUSD"):
        assert len(source.bars(pair)) == 362  # 2019-07-21 .. 2020-07-16 (leap year)
    assert server.count("/tiingo/crypto/prices") == 1 == source.request_count


# ---------------------------------------------------------------------- source: cache


def run_scan(source: TiingoSource) -> Market:
    source.check_connection()
    return Market.load(source)


def test_source_warm_cache_same_day_costs_nothing(server, fake, tmp_path):
    cfg = make_config(server, tmp_path)
    cold = make_source(cfg, fake)
    assert cold.estimate_requests() == cold.estimate_cold_start_requests() == 6
    run_scan(cold)
    assert cold.request_count == 6  # test, sectors (403), AAPL, MSFT, SPY, 1 for crypto
    warm = make_source(cfg, fake)
    assert warm.estimate_requests() == 1  # only the connection test
    market = run_scan(warm)
    assert warm.request_count == 1
    assert market.history("AAPL").dates[-1] == pd.Timestamp("2020-07-17").to_datetime64()


def test_source_next_day_fetches_only_missing_days(server, fake, tmp_path):
    cfg = make_config(server, tmp_path)
    run_scan(make_source(cfg, fake, now=datetime(2020, 6, 30, 22, tzinfo=UTC)))
    server.reset_requests()
    later = make_source(cfg, fake, now=datetime(2020, 7, 2, 22, tzinfo=UTC))
    assert later.estimate_requests() == 1 + 3 + 1
    market = run_scan(later)
    daily = [r for r in server.requests if "/prices" in r.path]
    assert len(daily) == 4 and later.request_count == 5
    assert {r.query["startDate"] for r in daily} == {"2020-06-30", "2020-06-29"}  # crypto: UTC
    fresh = make_source(make_config(server, tmp_path / "other"), fake,
                        now=datetime(2020, 7, 2, 22, tzinfo=UTC))
    pd.testing.assert_frame_equal(later.bars("AAPL"), fresh.bars("AAPL"))
    assert market.history("AAPL").dates[-1] == pd.Timestamp("2020-07-02").to_datetime64()


def _scale_adjusted_before(rows: list[dict], day: str, factor: float) -> list[dict]:
    """The history as Tiingo served it before a dividend: other adjusted values."""
    out = []
    for row in rows:
        row = dict(row)
        if row["date"][:10] < day:
            for key in ("adjOpen", "adjHigh", "adjLow", "adjClose"):
                row[key] *= factor
        out.append(row)
    return out


def test_source_dividend_in_new_rows_refetches_whole_history(server, fake, tmp_path):
    original = server.daily["AAPL"]
    server.daily["AAPL"] = _scale_adjusted_before(original, "2020-05-08", 1.01)
    cfg = make_config(server, tmp_path, stocks=("AAPL",), crypto=())
    first = make_source(cfg, fake, now=datetime(2020, 5, 6, 22, tzinfo=UTC))
    assert first.bars("AAPL").loc["2019-07-22", "close"] == pytest.approx(204.782812658 * 1.01)
    server.daily["AAPL"] = original       # 2020-05-08 carries divCash 0.82
    server.reset_requests()
    second = make_source(cfg, fake, now=datetime(2020, 5, 12, 22, tzinfo=UTC))
    frame = second.bars("AAPL")
    starts = [r.query["startDate"] for r in server.requests if "/AAPL/prices" in r.path]
    assert starts == ["2020-05-06", START.isoformat()]
    assert frame.loc["2019-07-22", "close"] == 204.782812658   # today's adjustment everywhere
    assert frame.index[-1] == pd.Timestamp("2020-05-12")


def test_source_split_in_new_rows_refetches_and_plain_rows_do_not(server, fake, tmp_path):
    cfg = make_config(server, tmp_path, stocks=("AAPL",), crypto=())
    make_source(cfg, fake, now=datetime(2020, 6, 1, 22, tzinfo=UTC)).bars("AAPL")
    server.reset_requests()
    make_source(cfg, fake, now=datetime(2020, 6, 3, 22, tzinfo=UTC)).bars("AAPL")
    assert server.count("/AAPL/prices") == 1                   # no corporate action
    next(r for r in server.daily["AAPL"] if r["date"].startswith("2020-06-05"))["splitFactor"] = 4.0
    server.reset_requests()
    make_source(cfg, fake, now=datetime(2020, 6, 5, 22, tzinfo=UTC)).bars("AAPL")
    assert server.count("/AAPL/prices") == 2                   # the split: whole history again


def test_source_cache_off_keeps_nothing_on_disk(server, fake, tmp_path):
    cfg = make_config(server, tmp_path, cache=False)
    run_scan(make_source(cfg, fake))
    again = make_source(cfg, fake)
    run_scan(again)
    assert again.request_count == 6  # everything fetched again: nothing was stored
    assert not (tmp_path / "cache").exists()


def test_source_corrupt_cache_file_is_rebuilt(server, fake, tmp_path):
    cfg = make_config(server, tmp_path, stocks=("AAPL",), crypto=())
    path = cache_file(cfg.data.cache_dir, server.url)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database" * 100)
    assert len(make_source(cfg, fake).bars("AAPL")) == 251
    assert path.with_name(path.name + ".corrupt").exists()


# ---------------------------------------------------------------------- source: universe


def test_source_universe_file_sectors_caps_and_benchmark(server, fake, tmp_path):
    universe = tmp_path / "universe.csv"
    universe.write_text("# caps are approximate\nticker,asset_type,sector,market_cap\n"
                        "AAPL,stock,Information Technology,3000000000000\n"
                        "BTCUSD,crypto,,\n", encoding="utf-8")
    source = make_source(make_config(server, tmp_path, stocks=("MSFT",), crypto=(),
                                     file=str(universe)), fake)
    assets = {a.ticker: a for a in source.assets()}
    assert list(assets) == ["AAPL", "BTCUSD", "MSFT", "SPY"]
    assert (assets["AAPL"].sector, assets["AAPL"].market_cap) == ("Information Technology", 3e12)
    assert (assets["MSFT"].sector, assets["MSFT"].market_cap) == ("Unknown", None)
    assert (assets["BTCUSD"].sector, assets["SPY"].asset_type.value) == ("Crypto", "etf")


def test_source_fundamentals_sectors_and_caps_when_plan_has_them(server, fake, tmp_path):
    server.fundamentals = True
    server.alias_daily("PG")
    server.alias_daily("CAT")
    cfg = make_config(server, tmp_path, stocks=("PG", "CAT"), crypto=())
    now = datetime(2020, 4, 1, 22, tzinfo=UTC)  # inside the recorded fundamentals window
    assets = {a.ticker: a for a in make_source(cfg, fake, now=now).assets()}
    assert assets["PG"].sector == "Consumer Staples"      # Tiingo's 'Consumer Defensive'
    assert assets["CAT"].sector == "Industrials"
    assert assets["PG"].market_cap == pytest.approx(server.fundamentals_daily[-1]["marketCap"])
    assert server.count("/fundamentals/meta") == 1 and server.count("/daily") == 2


def test_source_unknown_fundamentals_of_one_stock_leaves_it_without_cap(server, fake, tmp_path):
    server.fundamentals = True
    server.alias_daily("PG")
    server.alias_daily("CAT")
    server.inject(Fault(status=404, body='{"detail":"Not found."}'), path="/fundamentals/CAT/")
    cfg = make_config(server, tmp_path, stocks=("PG", "CAT"), crypto=())
    now = datetime(2020, 4, 1, 22, tzinfo=UTC)
    assets = {a.ticker: a for a in make_source(cfg, fake, now=now).assets()}
    assert assets["CAT"].market_cap is None and assets["PG"].market_cap is not None
    assert assets["CAT"].sector == "Industrials"  # the add-on still counts as available
    server.reset_requests()
    make_source(cfg, fake, now=now).assets()
    assert server.count() == 0  # sectors and caps are kept for 30 days


def test_source_fundamentals_failure_uses_cached_cap_and_reports_its_age(server, fake, tmp_path,
                                                                          caplog):
    server.fundamentals = True
    server.alias_daily("PG")
    server.alias_daily("CAT")
    cfg = make_config(server, tmp_path, stocks=("PG", "CAT"), crypto=())
    now = datetime(2020, 4, 1, 22, tzinfo=UTC)
    first = {a.ticker: a.market_cap for a in make_source(cfg, fake, now=now).assets()}
    fake.now += 31 * 86400  # past the 30-day TTL: sectors and caps are asked for again
    server.inject(Fault(status=500, body="busy"), path="/fundamentals/PG/", times=99)
    source = make_source(cfg, fake, now=now)
    assets = {a.ticker: a for a in source.assets()}
    assert assets["PG"].market_cap == first["PG"]  # the last cached value
    assert "using the market cap cached 31.0 days ago" in caplog.text
    assert assets["CAT"].market_cap is not None  # one failure does not switch fundamentals off
    assert server.count("/fundamentals/CAT/") == 2 and not source._plan_lacks_fundamentals()
    # Nothing cached: the cap is unknown for this run only, so the day is incomplete.
    server.inject(Fault(status=500, body="busy"), path="/fundamentals/PG/", times=99)
    cold = make_source(make_config(server, tmp_path / "cold", stocks=("PG", "CAT"), crypto=()),
                       fake, now=now)
    market = Market.load(cold)
    assert market.unavailable == {"PG"} and "market cap is unknown this run" in market.skipped["PG"]
    server._faults.clear()  # healed
    later = make_source(make_config(server, tmp_path / "cold", stocks=("PG", "CAT"), crypto=()),
                        fake, now=now)
    assert {a.ticker: a.market_cap for a in later.assets()}["PG"] == first["PG"]  # asked again


def test_source_plan_refusal_of_caps_switches_fundamentals_off(server, fake, tmp_path):
    server.fundamentals = True
    server.alias_daily("PG")
    server.alias_daily("CAT")
    server.inject(Fault(status=403, body='{"detail": "not in your plan"}'),
                  path="/fundamentals/CAT/")
    cfg = make_config(server, tmp_path, stocks=("PG", "CAT"), crypto=())
    source = make_source(cfg, fake, now=datetime(2020, 4, 1, 22, tzinfo=UTC))
    assets = {a.ticker: a for a in source.assets()}
    assert assets["CAT"].market_cap is None and assets["PG"].market_cap is None  # not asked
    assert server.count("/fundamentals/PG/") == 0 and source._plan_lacks_fundamentals()
    assert not Market.load(source).unavailable  # a permanent answer does not block the day


def test_source_ended_series_is_not_asked_again_the_same_day(server, fake, tmp_path):
    server.daily["OLD"] = [r for r in server.daily["AAPL"] if r["date"][:10] <= "2020-06-30"]
    cfg = make_config(server, tmp_path, stocks=("OLD",), crypto=())
    assert make_source(cfg, fake).bars("OLD").index[-1] == pd.Timestamp("2020-06-30")
    again = make_source(cfg, fake)  # the same day: the series ended, nothing to ask
    assert again.estimate_requests() == 3  # connection test, sectors, SPY; none for OLD
    assert len(again.bars("OLD")) > 200 and server.count("/OLD/") == 1
    next_day = make_source(cfg, fake, now=datetime(2020, 7, 20, 22, 0, tzinfo=UTC))
    next_day.bars("OLD")
    assert server.count("/OLD/") == 2  # asked again after the next close
    make_source(cfg, fake, now=datetime(2020, 7, 20, 22, 0, tzinfo=UTC)).bars("OLD")
    assert server.count("/OLD/") == 2


def test_source_without_fundamentals_falls_back_and_remembers(server, fake, tmp_path, caplog):
    cfg = make_config(server, tmp_path)
    make_source(cfg, fake).assets()
    assert "not in this plan" in caplog.text and server.count("/fundamentals") == 1
    make_source(cfg, fake).assets()
    assert server.count("/fundamentals") == 1  # not asked again for a week


def test_source_bigger_universe_than_hourly_budget_waits(server, fake, tmp_path):
    tickers = tuple(f"T{i:02d}" for i in range(8))
    for ticker in tickers:
        server.alias_daily(ticker)
    waits: list[str] = []
    source = make_source(make_config(server, tmp_path, stocks=tickers, crypto=(), per_hour=4),
                         fake, on_wait=lambda s, why: waits.append(why))
    market = Market.load(source)
    assert len(market.histories) == 9 and not market.skipped
    assert source.request_count == 10 and any("hourly" in w for w in waits)


def test_scan_request_counts_for_20_tickers(server, fake, tmp_path):
    stocks = tuple(f"S{i:02d}" for i in range(18))
    for ticker in stocks:
        server.alias_daily(ticker, "MSFT")
    server.alias_crypto("ethusd")
    cfg = make_config(server, tmp_path, stocks=stocks, crypto=("BTCUSD", "ETHUSD"))
    cold = make_source(cfg, fake, now=datetime(2020, 7, 16, 22, tzinfo=UTC))
    estimate = cold.estimate_requests()
    run_scan(cold)
    warm_same_day = make_source(cfg, fake, now=datetime(2020, 7, 16, 22, tzinfo=UTC))
    run_scan(warm_same_day)
    warm_next_day = make_source(cfg, fake, now=datetime(2020, 7, 17, 22, tzinfo=UTC))
    next_estimate = warm_next_day.estimate_requests()
    run_scan(warm_next_day)
    # cold: test + sectors + 18 stocks + SPY + 1 crypto batch; next day: test + 19 + 1
    assert (estimate, cold.request_count) == (22, 22)
    assert warm_same_day.request_count == 1
    assert (next_estimate, warm_next_day.request_count) == (21, 21)


# ---------------------------------------------------------------------- end to end


def test_main_scan_subprocess_against_local_server(server, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "api:\n  tiingo_api_key: ${TIINGO_API_KEY}\n  max_retries: 1\n"
        f"data:\n  source: tiingo\n  cache_dir: {tmp_path / 'cache'}\n"
        "  history_start: 2019-07-21\n"
        "  universe:\n    stocks: [AAPL, MSFT]\n    crypto: [BTCUSD]\n", encoding="utf-8")
    env = {**os.environ, "TIINGO_API_KEY": KEY, "TIINGO_BASE_URL": server.url}
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "scan", "--config", str(config)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert "Momentum candidates on" in done.stdout
    assert KEY not in done.stdout + done.stderr
    made = len(server.requests)
    assert f"tiingo requests made by this command: {made}" in done.stderr
    assert f"this scan made {made} requests; a cold start of this universe costs" in done.stdout
    assert server.count("/tiingo/daily/") == 3 and server.count("/tiingo/crypto/prices") == 1
    assert all(r.headers.get("authorization") == f"Token {KEY}" for r in server.requests)
