"""The Tiingo universe: the tickers to trade, from config lists and an optional universe file.

The file has the columns ``ticker,asset_type,sector,market_cap``; lines starting with '#' are
comments. SPY joins as the etf benchmark when stocks are traded.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from momentum.core.config import DEFAULT_CONFIG_PATH, UniverseConfig
from momentum.core.domain import AssetType, validate_ticker
from momentum.core.errors import ConfigError, TickerError

BENCHMARK = "SPY"
_UNIVERSE_HEADER = ("ticker", "asset_type", "sector", "market_cap")


@dataclass(frozen=True, slots=True)
class Listing:
    """One universe entry before Tiingo's fundamentals fill in what it lacks."""

    ticker: str
    asset_type: AssetType
    sector: str | None = None
    market_cap: float | None = None


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
