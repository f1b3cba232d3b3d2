"""The embedded default market: seeded synthetic daily bars, no network and no API key.

One fixed history is generated from ``SyntheticConfig.start`` to HORIZON (2035-12-31) and handed
out only up to the bars complete at ``now`` (R1.2), so a bar's values never depend on the run date.

Universe (all seeded by ``SyntheticConfig.seed``):
- ``n_stocks`` US stocks over the 11 GICS sectors with fictional 3-4 letter tickers, market caps
  log-spread from ~200M to ~2T (about 13% below 500M); bars on NYSE sessions only; integer volume.
- ``n_crypto`` pairs BTCUSD, ETHUSD, SOLUSD, ... (sector "Crypto"), a bar every UTC day, volume in
  coin units (R1.1).
- SPY (etf, sector "ETF", no market cap): the market factor itself, on NYSE sessions.

Lifecycles with fixed tickers, so loaders and the engine always meet them (R1.4, R4.6). With
n_stocks >= 40 all seven exist; smaller universes keep the first n_stocks // 10 of each list.
Their dates are day offsets from ``start`` (LATE_STARTS, DELISTINGS); for the default start
2015-01-02:
- late start (IPO), first bar: IPOA 2017-06-20, IPOB 2019-02-11, IPOC 2020-06-24, IPOD 2021-07-29
- delisted, last bar: DLSA 2019-08-29, DLSB 2021-11-05, DLSC 2023-03-21

Model: daily log returns on calendar days = beta * market factor + sector factor + idiosyncratic
noise + regime drift + jumps. Every driver (market, crypto market, each sector, each asset) has its
own bull/flat/bear Markov chain lasting a few months, so 6-month trends and momentum really occur.
Stocks see the sum of the calendar days since their previous session; earnings-like quarterly jumps
land overnight, as gaps. Volume scales with market cap and surges 2-5x on large moves.
"""
from __future__ import annotations

import difflib
import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from momentum.core.calendar import completed_through, nyse_sessions
from momentum.core.config import SyntheticConfig
from momentum.core.domain import Asset, AssetType, validate_ticker
from momentum.core.errors import ConfigError, DataError
from momentum.data.base import BAR_COLUMNS, PriceBars, empty_bars, slice_bars
from momentum.data.indicators import ewm_mean, halflife_com

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 1  # bump when the generated numbers change: old cache files are then ignored
HORIZON = date(2035, 12, 31)
BENCHMARK = "SPY"
SECTORS = ("Communication Services", "Consumer Discretionary", "Consumer Staples", "Energy",
           "Financials", "Health Care", "Industrials", "Information Technology", "Materials",
           "Real Estate", "Utilities")
LATE_STARTS = (("IPOA", 900), ("IPOB", 1500), ("IPOC", 2000), ("IPOD", 2400))  # days after start
DELISTINGS = (("DLSA", 1700), ("DLSB", 2500), ("DLSC", 3000))
# (base, market cap, start price): the well-known pairs first; names past the list are generated.
_CRYPTO = (("BTC", 1.2e12, 300.0), ("ETH", 4.0e11, 3.0), ("SOL", 8.0e10, 0.8),
           ("XRP", 3.5e10, 0.02), ("ADA", 1.6e10, 0.03), ("DOGE", 2.2e10, 0.0003),
           ("LTC", 6.0e9, 3.0), ("DOT", 9.0e9, 2.5), ("LINK", 1.0e10, 0.2), ("AVAX", 1.3e10, 3.0),
           ("BCH", 8.0e9, 300.0), ("XLM", 3.5e9, 0.005))
_MORE_CRYPTO = ("UNI ATOM ETC XMR TRX NEAR ALGO FIL APT ARB ICP VET HBAR AAVE MKR SAND MANA AXS "
                "XTZ EOS GRT SNX CRV COMP ZEC DASH KSM ENJ BAT CHZ ZIL RUNE KAVA YFI CELO QTUM "
                "NEO IOTA").split()
_YEAR = 365.25
_REGIME_SHARE = np.array([0.40, 0.35, 0.25])  # stationary share of bull, flat, bear
# Annual log drift per regime (bull, flat, bear) and the constant long-run growth, per driver.
_DRIFT = {"market": (0.25, 0.05, -0.30), "crypto": (1.1, 0.0, -1.0),
          "sector": (0.12, 0.0, -0.15), "stock": (0.40, -0.05, -0.50), "coin": (0.8, 0.0, -0.8)}
_GROWTH = {"market": 0.06, "crypto": 0.12, "sector": 0.0, "stock": 0.0, "coin": 0.0}
_TREND_HALFLIFE_DAYS = 730.0
_BEAR_VOL = 1.4  # bear markets are more volatile
_CONSONANTS, _VOWELS = "BCDFGHJKLMNPRSTVWXZ", "AEIOU"
_PATTERNS = ("CVC", "CVCC", "CVCV", "VCVC", "CVVC", "CCVC")  # pronounceable, company-like


def cache_path(cfg: SyntheticConfig, cache_dir: Path | str) -> Path:
    """Return the cache file of this configuration: a hash of everything the bars depend on."""
    return Path(cache_dir) / f"synthetic-{_cache_key(cfg)[:16]}.npz"


def _cache_key(cfg: SyntheticConfig) -> str:
    raw = f"{cfg.seed}|{cfg.n_stocks}|{cfg.n_crypto}|{cfg.start.isoformat()}|{GENERATOR_VERSION}"
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class _Listing:
    asset: Asset
    block: str  # "stock" (stocks and SPY, NYSE sessions) or "crypto" (every day)
    column: int
    rows: slice  # rows of the block inside the asset's life and complete at `now`


class SyntheticMarket:
    """A MarketDataSource of seeded synthetic bars: stocks, crypto pairs and the SPY benchmark."""

    name = "synthetic"

    def __init__(self, cfg: SyntheticConfig, now: datetime, cache_dir: Path | None = None) -> None:
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(f"now must be timezone-aware, e.g. datetime.now(timezone.utc): "
                             f"{now!r}")
        if cfg.start >= HORIZON:
            raise ConfigError(f"data.synthetic.start: {cfg.start} is past the synthetic horizon "
                              f"{HORIZON}; use an earlier date")
        self.cache_path = None if cache_dir is None else cache_path(cfg, cache_dir)
        arrays = None if self.cache_path is None else _load(self.cache_path, cfg)
        self.loaded_from_cache = arrays is not None
        if arrays is None:
            arrays = generate(cfg)
            if self.cache_path is not None:
                _save(self.cache_path, arrays)
        self._blocks = {kind: (arrays[f"{kind}_dates"].astype("datetime64[D]"),
                               arrays[f"{kind}_bars"]) for kind in ("stock", "crypto")}
        for dates, bars in self._blocks.values():
            dates.flags.writeable = bars.flags.writeable = False  # price_bars hands out views
        self._indexes: dict[str, pd.DatetimeIndex] = {}
        visible = {"stock": completed_through(AssetType.STOCK, now),
                   "crypto": completed_through(AssetType.CRYPTO, now)}
        if visible["crypto"] > HORIZON:
            logger.warning("the synthetic market ends on %s; there are no bars after it", HORIZON)
        self._listings = _listings(arrays, visible)
        self._assets = sorted((x.asset for x in self._listings.values()), key=lambda a: a.ticker)

    def assets(self) -> list[Asset]:
        """Every asset, tradable ones and the SPY benchmark, sorted by ticker."""
        return list(self._assets)

    def bars(self, ticker: str, start: date | None = None, end: date | None = None) -> pd.DataFrame:
        """Complete daily bars of one ticker with start <= date <= end, oldest first."""
        import pandas as pd  # noqa: PLC0415 - price_bars, the market's path, needs no pandas

        listing = self._listing(ticker)
        rows = listing.rows
        if rows.stop <= rows.start:
            return empty_bars()
        index = self._indexes.get(listing.block)
        if index is None:
            dates = self._blocks[listing.block][0]
            index = self._indexes[listing.block] = pd.DatetimeIndex(dates, name="date")
        bars = self._blocks[listing.block][1]
        frame = pd.DataFrame({c: bars[k, rows, listing.column] for k, c in enumerate(BAR_COLUMNS)},
                             index=index[rows], copy=True)  # a copy: callers cannot edit the market
        return slice_bars(frame, start, end)

    def price_bars(self, ticker: str, start: date | None = None,
                   end: date | None = None) -> PriceBars:
        """The bars of ``bars`` as read-only array views (no DataFrame, no pandas)."""
        listing = self._listing(ticker)
        dates, bars = self._blocks[listing.block]
        rows = listing.rows if listing.rows.stop > listing.rows.start else slice(0, 0)
        return PriceBars(dates[rows], bars[:, rows, listing.column].T).between(start, end)

    def _listing(self, ticker: str) -> _Listing:
        symbol = validate_ticker(ticker)
        listing = self._listings.get(symbol)
        if listing is None:
            close = difflib.get_close_matches(symbol, list(self._listings), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise DataError(f"unknown ticker {symbol!r} in the synthetic market{hint}; "
                            f"pick one of its {len(self._listings)} tickers (stocks, crypto "
                            f"pairs and {BENCHMARK})")
        return listing


def _listings(arrays: dict[str, np.ndarray], visible: dict[str, date]) -> dict[str, _Listing]:
    out: dict[str, _Listing] = {}
    columns = {"stock": 0, "crypto": 0}
    for i, ticker in enumerate(arrays["tickers"].tolist()):
        kind = AssetType(str(arrays["types"][i]))
        block = "crypto" if kind is AssetType.CRYPTO else "stock"
        cap = float(arrays["caps"][i])
        asset = Asset(ticker, kind, str(arrays["sectors"][i]), None if np.isnan(cap) else cap)
        dates = arrays[f"{block}_dates"]
        last = min(arrays["last"][i], np.datetime64(visible[block], "D"))
        rows = slice(int(np.searchsorted(dates, arrays["first"][i], side="left")),
                     int(np.searchsorted(dates, last, side="right")))
        out[ticker] = _Listing(asset, block, columns[block], rows)
        columns[block] += 1
    return out


# ---------------------------------------------------------------- cache

def _load(path: Path, cfg: SyntheticConfig) -> dict[str, np.ndarray] | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}  # reading each member checks its zip CRC
        _check(arrays, cfg)
    except Exception as e:  # any failure to read means the file cannot be trusted
        logger.warning("synthetic market cache %s is unusable (%s: %s); regenerating it",
                       path, type(e).__name__, e)
        return None
    logger.debug("loaded the synthetic market from %s", path)
    return arrays


def _check(arrays: dict[str, np.ndarray], cfg: SyntheticConfig) -> None:
    if str(arrays["key"]) != _cache_key(cfg):
        raise ValueError("the file belongs to another configuration or generator version")
    n_stock_cols, n_assets = cfg.n_stocks + 1, cfg.n_stocks + 1 + cfg.n_crypto
    expected = {"stock_bars": (5, len(arrays["stock_dates"]), n_stock_cols),
                "crypto_bars": (5, len(arrays["crypto_dates"]), cfg.n_crypto)}
    expected |= dict.fromkeys(("tickers", "types", "sectors", "caps", "first", "last"), (n_assets,))
    for key, shape in expected.items():
        if arrays[key].shape != shape:
            raise ValueError(f"{key} has shape {arrays[key].shape}, expected {shape}")


def _save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    # Write atomically: a reader sees the old file or the complete new one, never a torn one.
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # uncompressed: loading is then a memcpy plus a CRC check
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as e:  # the cache only saves time; the generated market is still good
        logger.warning("cannot write the synthetic market cache %s (%s); continuing without it",
                       path, e)
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


# ---------------------------------------------------------------- universe

def _rng(seed: int, stream: int) -> np.random.Generator:
    # One independent stream per part, so changing one part leaves the others' numbers alone.
    return np.random.default_rng([seed % 2**64, stream])


def _universe(cfg: SyntheticConfig) -> dict[str, np.ndarray]:
    rng = _rng(cfg.seed, 1)
    n, start = cfg.n_stocks, np.datetime64(cfg.start, "D")
    late, gone = LATE_STARTS[:n // 10], DELISTINGS[:n // 10]
    fixed = [t for t, _ in late + gone]
    reserved = set(fixed) | {BENCHMARK, "USD"} | {b for b, _, _ in _CRYPTO} | set(_MORE_CRYPTO)
    stocks = fixed + _fictional_tickers(rng, n - len(fixed), reserved)
    first = np.full(n + 1 + cfg.n_crypto, start)
    last = np.full(first.shape, np.datetime64(HORIZON, "D"))
    first[:len(late)] = [start + days for _, days in late]
    last[len(late):len(fixed)] = [start + days for _, days in gone]
    coins, coin_caps = _crypto_names(rng, cfg.n_crypto)
    sectors = rng.permutation(np.resize(np.array(SECTORS), n))  # every sector when n >= 11
    caps = _stock_caps(rng, n)
    return {"tickers": np.array(stocks + [BENCHMARK] + coins),
            "types": np.array(["stock"] * n + ["etf"] + ["crypto"] * cfg.n_crypto),
            "sectors": np.concatenate([sectors, ["ETF"], ["Crypto"] * cfg.n_crypto]),
            "caps": np.concatenate([caps, [np.nan], coin_caps]), "first": first, "last": last}


def _fictional_tickers(rng: np.random.Generator, count: int, reserved: set[str]) -> list[str]:
    out: list[str] = []
    seen = set(reserved)
    while len(out) < count:
        pattern = _PATTERNS[rng.integers(len(_PATTERNS))]
        name = "".join(_CONSONANTS[rng.integers(len(_CONSONANTS))] if p == "C"
                       else _VOWELS[rng.integers(len(_VOWELS))] for p in pattern)
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out


def _stock_caps(rng: np.random.Generator, n: int) -> np.ndarray:
    # Quantiles of a skewed log-spread 2e8..2e12: about 13% below 500M and 7% above 1T.
    u = (np.arange(n) + 0.5) / n
    log10_cap = np.log10(2e8) + 4.0 * u**1.15 + rng.uniform(-0.02, 0.02, n)
    return rng.permutation(10.0**log10_cap)


def _crypto_names(rng: np.random.Generator, n: int) -> tuple[list[str], np.ndarray]:
    known = [b for b, _, _ in _CRYPTO] + _MORE_CRYPTO
    extra = _fictional_tickers(rng, max(0, n - len(known)), set(known))
    caps = [c for _, c, _ in _CRYPTO] + list(np.geomspace(3e9, 1e8, max(n, 13) - 12))
    return [b + "USD" for b in (known + extra)[:n]], np.array(caps[:n], dtype=np.float64)


# ---------------------------------------------------------------- bars

def generate(cfg: SyntheticConfig) -> dict[str, np.ndarray]:
    """Generate the whole market to HORIZON as arrays (the cache's content); pure and seeded."""
    meta = _universe(cfg)
    days = np.arange(np.datetime64(cfg.start, "D"), np.datetime64(HORIZON, "D") + 1)
    sessions = np.array(nyse_sessions(cfg.start, HORIZON), dtype="datetime64[D]")
    rng = _rng(cfg.seed, 2)
    market, crypto_market, sector = _factors(rng, len(days))
    rows = (sessions - days[0]).astype(np.int64)  # calendar-day row of each session
    stock_bars = _stock_bars(rng, meta, cfg.n_stocks, market, sector, rows)
    crypto_bars = _crypto_bars(rng, meta["caps"][cfg.n_stocks + 1:], market, crypto_market)
    return meta | {"key": np.array(_cache_key(cfg)), "stock_dates": sessions,
                   "stock_bars": stock_bars, "crypto_dates": days, "crypto_bars": crypto_bars}


def _regimes(rng: np.random.Generator, n_days: int, mean_days: float, n_cols: int) -> np.ndarray:
    # Each day a column re-draws its regime (0 bull, 1 flat, 2 bear) with probability 1/mean_days:
    # a Markov chain whose states persist for months, vectorized as "the state of the last switch".
    switch = rng.random((n_days, n_cols)) < 1.0 / mean_days
    switch[0] = True
    cumulative = np.cumsum(_REGIME_SHARE)
    drawn = np.searchsorted(cumulative, rng.random((n_days, n_cols)), side="right").astype(np.int8)
    last = np.where(switch, np.arange(n_days, dtype=np.int32)[:, None], np.int32(0))
    np.maximum.accumulate(last, axis=0, out=last)
    return np.take_along_axis(drawn, last, axis=0)


def _trend(rng: np.random.Generator, n_days: int, mean_days: float, n_cols: int,
           kind: str) -> tuple[np.ndarray, np.ndarray]:
    # Daily log returns of the regime drift plus long-run growth, and the regime states.
    state = _regimes(rng, n_days, mean_days, n_cols)
    level = np.cumsum(np.asarray(_DRIFT[kind])[state], axis=0) / _YEAR
    # Pull the accumulated drift back to its slow average: trends still run for months, but
    # decades of them no longer pile up into absurd prices (a 1e9 dollar BTC).
    # (pandas' ewm(halflife=..., adjust=False).mean(), bit for bit, without pandas)
    slow = ewm_mean(level, halflife_com(_TREND_HALFLIFE_DAYS))
    return np.diff(level - slow, axis=0, prepend=0.0) + _GROWTH[kind] / _YEAR, state


def _factors(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Daily log returns of the stock market, the crypto market and the 11 sectors.
    z = rng.standard_normal((n, 2 + len(SECTORS)))
    market, m_state = _trend(rng, n, 200.0, 1, "market")
    crypto, c_state = _trend(rng, n, 200.0, 1, "crypto")
    sector, _ = _trend(rng, n, 120.0, len(SECTORS), "sector")
    bear_vol = np.where(np.column_stack([m_state, c_state]) == 2, _BEAR_VOL, 1.0)
    market = market[:, 0] + 0.15 / np.sqrt(_YEAR) * bear_vol[:, 0] * z[:, 0]
    crypto = crypto[:, 0] + 0.55 / np.sqrt(_YEAR) * bear_vol[:, 1] * z[:, 1]
    return market, crypto, sector + 0.10 / np.sqrt(_YEAR) * z[:, 2:]


def _idiosyncratic(rng: np.random.Generator, shape: tuple[int, int], vol: np.ndarray, kind: str,
                   jump_rate: float, jump_sd: float) -> tuple[np.ndarray, np.ndarray]:
    # Regime drift + noise, and the jumps separately (they become overnight gaps for stocks).
    returns, _ = _trend(rng, shape[0], 100.0, shape[1], kind)
    returns += vol / np.sqrt(_YEAR) * rng.standard_normal(shape)
    jumps = np.zeros(shape)
    hit = rng.random(shape) < jump_rate
    jumps[hit] = jump_sd * rng.standard_normal(np.count_nonzero(hit))
    return returns, jumps


def _stock_bars(rng: np.random.Generator, meta: dict[str, np.ndarray], n: int, market: np.ndarray,
                sector: np.ndarray, rows: np.ndarray) -> np.ndarray:
    # Bars of the stocks and SPY (last column) on the NYSE sessions at calendar-day `rows`.
    caps = meta["caps"][:n]
    size = (np.log10(caps) - np.log10(2e8)) / 4.0  # 0 smallest .. 1 largest: small caps swing more
    vol = np.clip(0.45 - 0.30 * size + rng.uniform(-0.05, 0.05, n), 0.10, 0.50)
    beta = rng.uniform(0.6, 1.5, n)
    sector_col = np.array([SECTORS.index(s) for s in meta["sectors"][:n].tolist()], dtype=int)
    returns, jumps = _idiosyncratic(rng, (len(market), n + 1), np.append(vol, 0.0), "stock",
                                    1 / 500, 0.05)
    quarter = (np.arange(len(market))[:, None] + rng.integers(0, 91, n)) % 91 == 0
    jumps[:, :n][quarter] += 0.06 * rng.standard_normal(np.count_nonzero(quarter))  # earnings
    jumps[:, n] = 0.0
    stocks = returns[:, :n]  # a view: build the stocks' returns in place (they are large)
    stocks += jumps[:, :n] + sector[:, sector_col]
    stocks += beta * market[:, None]
    returns[:, n] = market + 0.01 / np.sqrt(_YEAR) * rng.standard_normal(len(market))  # SPY
    log_start = np.append(np.clip(rng.normal(np.log(40.0), 0.8, n), np.log(5), np.log(500)),
                          np.log(205.0))
    turnover = np.exp(rng.uniform(np.log(0.002), np.log(0.01), n))  # daily dollar volume / cap
    dollars = np.append(caps * turnover, 2.5e10)
    np.cumsum(returns, axis=0, out=returns)
    returns += log_start
    bars = _ohlcv(rng, returns, np.cumsum(jumps, axis=0, out=jumps), rows, log_start, dollars,
                  gapped=True)
    bars[4] = np.maximum(np.rint(bars[4]), 1.0)  # whole shares, never zero
    return bars


def _crypto_bars(rng: np.random.Generator, caps: np.ndarray, market: np.ndarray,
                 crypto_market: np.ndarray) -> np.ndarray:
    # Bars of the crypto pairs, every calendar day; volume in coins.
    n = len(caps)
    vol = np.concatenate([[0.20, 0.30], rng.uniform(0.35, 0.65, max(n - 2, 0))])[:n]
    returns, jumps = _idiosyncratic(rng, (len(market), n), vol, "coin", 1 / 150, 0.08)
    returns += jumps + 0.5 * market[:, None] + crypto_market[:, None]
    extra = np.clip(np.exp(rng.normal(0.0, 2.0, max(n - len(_CRYPTO), 0))), 0.01, 300.0)
    log_start = np.log(np.concatenate([[p for _, _, p in _CRYPTO], extra])[:n])
    dollars = caps * rng.uniform(0.02, 0.06, n)  # crypto trades a larger share of its cap
    return _ohlcv(rng, log_start + np.cumsum(returns, axis=0), np.cumsum(jumps, axis=0),
                  np.arange(len(market)), log_start, dollars, gapped=False)


def _at_rows(path: np.ndarray, rows: np.ndarray,
             before_first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # A cumulative path at each sampled row and at the sampled row before it.
    now = path[rows]
    prev = np.empty_like(now)
    prev[1:] = now[:-1]
    prev[0] = path[rows[0] - 1] if rows[0] > 0 else before_first
    return now, prev


def _ohlcv(rng: np.random.Generator, log_path: np.ndarray, jump_path: np.ndarray, rows: np.ndarray,
           log_start: np.ndarray, dollars: np.ndarray, gapped: bool) -> np.ndarray:
    # OHLCV as an array (5, len(rows), n) from cumulative log prices sampled at `rows`.
    close_log, prev_log = _at_rows(log_path, rows, log_start)
    jump_now, jump_prev = _at_rows(jump_path, rows, np.zeros_like(log_start))
    move, jump = close_log - prev_log, jump_now - jump_prev
    sigma = move.std(axis=0) if len(move) > 1 else np.full(move.shape[1], 0.02)
    shape = move.shape
    open_log = prev_log
    if gapped:  # jumps happen overnight; part of the rest of the move too, plus some noise
        open_log = prev_log + jump + rng.uniform(0.1, 0.4, shape) * (move - jump)
        open_log += 0.25 * sigma * rng.standard_normal(shape)
    bars = np.empty((5,) + shape)  # filled in place: 500 stocks x 21 years is 100 MB per copy
    o, h, lo, c, v = bars
    np.exp(open_log, out=o)
    np.exp(close_log, out=c)
    np.maximum(o, c, out=h)
    h *= np.exp(0.6 * sigma * np.abs(rng.standard_normal(shape)))
    np.minimum(o, c, out=lo)
    lo /= np.exp(0.6 * sigma * np.abs(rng.standard_normal(shape)))
    v[:] = 1.0 + 0.8 * np.clip(np.abs(move) / sigma - 1.0, 0.0, 5.0) ** 1.3  # 2-5x on big moves
    v[jump != 0.0] *= 1.6  # news days trade more even when the move is small
    v *= np.exp(0.35 * rng.standard_normal(shape) - 0.35**2 / 2)  # mean-one lognormal noise
    v *= dollars / c
    return bars
