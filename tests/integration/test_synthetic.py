"""SyntheticMarket: seeded, cached, calendar-true bars, handed out only when complete at `now`."""
from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from momentum.core.calendar import calendar_days, nyse_sessions
from momentum.core.config import SyntheticConfig
from momentum.core.domain import AssetType
from momentum.core.errors import DataError, TickerError
from momentum.data import indicators as ind
from momentum.data.base import BAR_COLUMNS, MarketDataSource
from momentum.data.synthetic import HORIZON, SECTORS, SyntheticMarket

NEW_YORK = ZoneInfo("America/New_York")
LATE = datetime(2030, 1, 2, 12, 0, tzinfo=UTC)  # every bar through 2029-12-31
DEFAULT = SyntheticConfig()  # 80 stocks, 12 crypto, seed 42, from 2015-01-02
SMALL = SyntheticConfig(n_stocks=12, n_crypto=2)


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("synthetic-cache")


@pytest.fixture(scope="module")
def market(shared_cache: Path) -> SyntheticMarket:
    return SyntheticMarket(DEFAULT, LATE, shared_cache)


@pytest.fixture(scope="module")
def frames(market: SyntheticMarket) -> dict[str, pd.DataFrame]:
    return {a.ticker: market.bars(a.ticker) for a in market.assets()}


def of_type(market: SyntheticMarket, kind: AssetType) -> list[str]:
    return [a.ticker for a in market.assets() if a.asset_type is kind]


def same_market(a: SyntheticMarket, b: SyntheticMarket) -> bool:
    if a.assets() != b.assets():
        return False
    return all(a.bars(x.ticker).equals(b.bars(x.ticker)) for x in a.assets())


# ---------------------------------------------------------------- determinism and cache

def test_market_same_seed_without_cache_identical_frames(market: SyntheticMarket) -> None:
    again = SyntheticMarket(DEFAULT, LATE)
    assert not again.loaded_from_cache
    assert same_market(market, again)


def test_market_other_seed_different_bars(market: SyntheticMarket) -> None:
    other = SyntheticMarket(DEFAULT.model_copy(update={"seed": 43}), LATE)
    assert not market.bars("BTCUSD").equals(other.bars("BTCUSD"))
    assert [a.ticker for a in market.assets()] != [a.ticker for a in other.assets()]


def test_market_implements_protocol_and_bar_shape(frames: dict[str, pd.DataFrame]) -> None:
    assert isinstance(SyntheticMarket(SMALL, LATE), MarketDataSource)
    spy = frames["SPY"]
    assert tuple(spy.columns) == BAR_COLUMNS
    assert spy.index.name == "date" and isinstance(spy.index, pd.DatetimeIndex)
    assert all(spy[c].dtype == np.float64 for c in BAR_COLUMNS)
    assert spy.index.is_monotonic_increasing and spy.index.is_unique


def test_cache_second_instance_loads_identical_data(tmp_path: Path,
                                                    market: SyntheticMarket) -> None:
    first = SyntheticMarket(DEFAULT, LATE, tmp_path)
    second = SyntheticMarket(DEFAULT, LATE, tmp_path)
    assert not first.loaded_from_cache and second.loaded_from_cache
    assert same_market(second, market)
    assert [p.name for p in tmp_path.iterdir()] == [first.cache_path.name]  # no temp file left


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped byte"])
def test_cache_corrupt_file_regenerated_with_warning(
        tmp_path: Path, market: SyntheticMarket, caplog: pytest.LogCaptureFixture,
        damage: str) -> None:
    path = SyntheticMarket(DEFAULT, LATE, tmp_path).cache_path
    data = bytearray(path.read_bytes())
    if damage == "garbage":
        data = bytearray(b"not a zip file")
    elif damage == "truncated":
        data = data[:len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF  # inside the bar array: only the zip CRC can tell
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="momentum.data.synthetic"):
        repaired = SyntheticMarket(DEFAULT, LATE, tmp_path)
    assert not repaired.loaded_from_cache
    assert "regenerating" in caplog.text and path.name in caplog.text
    assert same_market(repaired, market)
    assert SyntheticMarket(DEFAULT, LATE, tmp_path).loaded_from_cache  # rewritten, good again


def test_cache_unwritable_dir_warns_and_still_serves_bars(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    with caplog.at_level(logging.WARNING, logger="momentum.data.synthetic"):
        source = SyntheticMarket(SMALL, LATE, blocker / "cache")
    assert "cannot write" in caplog.text
    assert len(source.bars("SPY")) > 3000


def test_cache_other_config_uses_other_file(tmp_path: Path) -> None:
    a = SyntheticMarket(SMALL, LATE, tmp_path)
    b = SyntheticMarket(SMALL.model_copy(update={"seed": 7}), LATE, tmp_path)
    assert a.cache_path != b.cache_path and not b.loaded_from_cache


# ---------------------------------------------------------------- universe

def test_assets_universe_sorted_with_sectors_caps_and_benchmark(market: SyntheticMarket) -> None:
    assets = market.assets()
    tickers = [a.ticker for a in assets]
    assert tickers == sorted(tickers) and len(set(tickers)) == 80 + 12 + 1
    stocks = [a for a in assets if a.asset_type is AssetType.STOCK]
    assert {a.sector for a in stocks} == set(SECTORS)
    assert all(3 <= len(a.ticker) <= 4 and a.ticker.isalpha() for a in stocks)
    caps = np.array([a.market_cap for a in stocks])
    assert caps.min() < 5e8 and caps.max() > 1e12 and 1.5e8 < caps.min() and caps.max() < 2.5e12
    assert 0.08 <= np.mean(caps < 5e8) <= 0.18
    crypto = [a for a in assets if a.asset_type is AssetType.CRYPTO]
    assert {a.ticker for a in crypto} >= {"BTCUSD", "ETHUSD", "SOLUSD", "DOGEUSD", "XLMUSD"}
    assert all(a.sector == "Crypto" and a.market_cap for a in crypto)
    spy = next(a for a in assets if a.ticker == "SPY")
    assert (spy.asset_type, spy.sector, spy.market_cap) == (AssetType.ETF, "ETF", None)


def test_assets_many_crypto_generated_names_valid_and_unique() -> None:
    source = SyntheticMarket(SyntheticConfig(n_stocks=11, n_crypto=60), LATE)
    crypto = of_type(source, AssetType.CRYPTO)
    assert len(set(crypto)) == 60 and all(t.endswith("USD") and t.isalpha() for t in crypto)
    assert "XLMUSD" in crypto and len(source.bars(crypto[-1])) > 5000


# ---------------------------------------------------------------- bars

def test_bars_every_asset_consistent_ohlc_positive_volume(frames: dict[str, pd.DataFrame]) -> None:
    for ticker, f in frames.items():
        body_low = np.minimum(f["open"], f["close"])
        body_high = np.maximum(f["open"], f["close"])
        assert (f["low"] > 0).all() and (f["low"] <= body_low).all(), ticker
        assert (body_high <= f["high"]).all() and (f["volume"] > 0).all(), ticker
        assert np.isfinite(f.to_numpy()).all(), ticker


def test_bars_stock_dates_equal_nyse_sessions_within_life(frames: dict[str, pd.DataFrame],
                                                          market: SyntheticMarket) -> None:
    for ticker in of_type(market, AssetType.STOCK) + ["SPY"]:
        index = frames[ticker].index
        sessions = nyse_sessions(index[0].date(), index[-1].date())
        assert [d.date() for d in index] == sessions, ticker
    spy_days = set(frames["SPY"].index.date)
    assert date(2018, 12, 5) not in spy_days and date(2023, 7, 4) not in spy_days
    assert frames["SPY"].index[0].date() == date(2015, 1, 2)


def test_bars_crypto_every_calendar_day(frames: dict[str, pd.DataFrame],
                                        market: SyntheticMarket) -> None:
    for ticker in of_type(market, AssetType.CRYPTO):
        index = frames[ticker].index
        assert [d.date() for d in index] == calendar_days(date(2015, 1, 2), date(2030, 1, 1))


def test_bars_late_starts_and_delistings_follow_docstring(frames: dict[str, pd.DataFrame]) -> None:
    first = {"IPOA": date(2017, 6, 20), "IPOB": date(2019, 2, 11), "IPOC": date(2020, 6, 24),
             "IPOD": date(2021, 7, 29)}
    last = {"DLSA": date(2019, 8, 29), "DLSB": date(2021, 11, 5), "DLSC": date(2023, 3, 21)}
    for ticker, day in first.items():
        assert frames[ticker].index[0].date() == day
        assert frames[ticker].index[-1].date() == date(2029, 12, 31)
    for ticker, day in last.items():
        assert frames[ticker].index[0].date() == date(2015, 1, 2)
        assert frames[ticker].index[-1].date() == day
    others = [f for t, f in frames.items() if t not in first and t not in last]
    assert all(f.index[0].date() == date(2015, 1, 2) for f in others)


def test_bars_before_ipo_empty_frame(shared_cache: Path) -> None:
    early = SyntheticMarket(DEFAULT, datetime(2018, 1, 1, tzinfo=UTC), shared_cache)
    assert early.bars("IPOB").empty and tuple(early.bars("IPOB").columns) == BAR_COLUMNS
    assert early.bars("DLSA").index[-1].date() == date(2017, 12, 29)


@pytest.mark.parametrize(("local_time", "stock_last", "crypto_last"), [
    ((16, 5), date(2024, 3, 8), date(2024, 3, 7)),
    ((10, 0), date(2024, 3, 7), date(2024, 3, 7)),
])
def test_bars_now_truncation_only_complete_bars(shared_cache: Path, local_time: tuple[int, int],
                                                stock_last: date, crypto_last: date) -> None:
    now = datetime(2024, 3, 8, *local_time, tzinfo=NEW_YORK)
    source = SyntheticMarket(DEFAULT, now, shared_cache)
    assert source.loaded_from_cache
    assert source.bars("SPY").index[-1].date() == stock_last
    assert source.bars("IPOA").index[-1].date() == stock_last
    assert source.bars("BTCUSD").index[-1].date() == crypto_last


def test_bars_prefix_does_not_depend_on_now(shared_cache: Path,
                                            frames: dict[str, pd.DataFrame]) -> None:
    early = SyntheticMarket(DEFAULT, datetime(2020, 6, 1, 21, tzinfo=UTC), shared_cache)
    for ticker in ("SPY", "BTCUSD", "IPOB", "DLSA", early.assets()[0].ticker):
        short = early.bars(ticker)
        assert short.index[-1].date() <= date(2020, 6, 1)
        pd.testing.assert_frame_equal(short, frames[ticker].loc[:short.index[-1]])


def test_bars_after_horizon_end_at_horizon(shared_cache: Path) -> None:
    source = SyntheticMarket(DEFAULT, datetime(2040, 1, 1, tzinfo=UTC), shared_cache)
    assert source.bars("BTCUSD").index[-1].date() == HORIZON
    assert source.bars("SPY").index[-1].date() == HORIZON  # 2035-12-31 is a Monday session


def test_bars_start_end_slice_inclusive(market: SyntheticMarket) -> None:
    part = market.bars("spy", start=date(2020, 3, 2), end=date(2020, 3, 6))
    assert [d.date().day for d in part.index] == [2, 3, 4, 5, 6]
    assert part.equals(market.bars("SPY").loc["2020-03-02":"2020-03-06"])
    assert market.bars("BTCUSD", start=date(2020, 3, 7), end=date(2020, 3, 8)).shape == (2, 5)
    assert market.bars("SPY", start=date(2020, 3, 8), end=date(2020, 3, 1)).empty


def test_bars_returned_frame_is_a_copy(market: SyntheticMarket) -> None:
    frame = market.bars("ETHUSD")
    frame.iloc[0, 0] = -1.0
    assert market.bars("ETHUSD").iloc[0, 0] > 0


def test_bars_unknown_ticker_data_error_with_hint(market: SyntheticMarket) -> None:
    with pytest.raises(DataError, match=r"unknown ticker 'BTCUSE'.*did you mean BTCUSD"):
        market.bars("BTCUSE")


@pytest.mark.parametrize("bad", ["", "../etc", "A B", "-X"])
def test_bars_invalid_ticker_ticker_error(market: SyntheticMarket, bad: str) -> None:
    with pytest.raises(TickerError):
        market.bars(bad)


def test_market_naive_now_value_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SyntheticMarket(SMALL, datetime(2024, 1, 1))


# ---------------------------------------------------------------- realism

def test_bars_annual_volatility_realistic_by_type(frames: dict[str, pd.DataFrame],
                                                  market: SyntheticMarket) -> None:
    def ann_vol(ticker: str, days: float) -> float:
        return float(np.diff(np.log(frames[ticker]["close"].to_numpy())).std() * np.sqrt(days))
    stocks = [ann_vol(t, 252) for t in of_type(market, AssetType.STOCK)]
    crypto = [ann_vol(t, 365) for t in of_type(market, AssetType.CRYPTO)]
    assert 0.18 <= min(stocks) and max(stocks) <= 0.65
    assert 0.55 <= min(crypto) and max(crypto) <= 1.25
    assert 0.12 <= ann_vol("SPY", 252) <= 0.25


def test_bars_volume_surges_line_up_with_large_moves(frames: dict[str, pd.DataFrame]) -> None:
    big, quiet = [], []
    for f in frames.values():
        move = np.abs(np.diff(np.log(f["close"].to_numpy()), prepend=np.nan))
        surge = ind.volume_surge_ratio(f["volume"].to_numpy())
        ok = np.isfinite(surge) & np.isfinite(move)
        big.append(surge[ok & (move >= np.nanquantile(move, 0.97))])
        quiet.append(surge[ok & (move <= np.nanquantile(move, 0.50))])
    assert np.median(np.concatenate(big)) >= 2.0
    assert np.median(np.concatenate(quiet)) <= 1.0


def test_bars_small_caps_fall_under_adv_filter(frames: dict[str, pd.DataFrame],
                                               market: SyntheticMarket) -> None:
    adv = {a.ticker: np.nanmedian(ind.average_dollar_volume(frames[a.ticker]["close"].to_numpy(),
                                                            frames[a.ticker]["volume"].to_numpy()))
           / a.market_cap for a in market.assets() if a.asset_type is AssetType.STOCK}
    turnover = np.array(list(adv.values()))
    assert 0.0015 <= turnover.min() and turnover.max() <= 0.015  # ~0.2-1% of the cap a day
    small = [a for a in market.assets() if a.market_cap and a.market_cap < 1e9
             and a.asset_type is AssetType.STOCK]
    assert any(adv[a.ticker] * a.market_cap < 5e6 for a in small)


def entry_events_per_year(frames: dict[str, pd.DataFrame], tickers: list[str]) -> pd.Series:
    """(asset, day) pairs in the top 30% by momentum with RSI in [50, 70] and surge >= 1.5."""
    panel: dict[str, dict[str, pd.Series]] = {"M": {}, "entry": {}}
    for t in tickers:
        f = frames[t]
        s = ind.compute_indicators(f["close"].to_numpy(), f["volume"].to_numpy())
        panel["M"][t] = pd.Series(np.where(s.has_score, s.momentum, np.nan), f.index)
        window = (s.rsi14 >= 50) & (s.rsi14 <= 70) & (s.surge_ratio >= 1.5)
        panel["entry"][t] = pd.Series(window, f.index)
    momentum = pd.DataFrame(panel["M"])
    top = momentum.rank(axis=1, pct=True) > 0.70
    events = top & pd.DataFrame(panel["entry"]).fillna(False).astype(bool)
    return events.sum(axis=1).groupby(events.index.year).sum()


def test_entry_events_happen_every_year(frames: dict[str, pd.DataFrame],
                                        market: SyntheticMarket) -> None:
    stocks = entry_events_per_year(frames, of_type(market, AssetType.STOCK)).loc[2016:2029]
    crypto = entry_events_per_year(frames, of_type(market, AssetType.CRYPTO)).loc[2016:2029]
    assert stocks.min() >= 100 and crypto.min() >= 25


def test_momentum_winners_keep_outperforming(frames: dict[str, pd.DataFrame],
                                             market: SyntheticMarket) -> None:
    closes = pd.DataFrame({t: frames[t]["close"] for t in of_type(market, AssetType.STOCK)})
    past, future = closes / closes.shift(126) - 1, closes.shift(-63) / closes - 1
    monthly = past.index[126:-63:21]
    rank = past.loc[monthly].rank(axis=1, pct=True)
    spread = (future.loc[monthly][rank > 0.7].mean(axis=1)
              - future.loc[monthly][rank < 0.3].mean(axis=1))
    assert spread.mean() > 0.02 and (spread > 0).mean() > 0.6  # regimes make trends persist
