"""Pick and build the market-data source a command runs on (config `data.source`)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from momentum.core.config import StrategyConfig, display_url
from momentum.core.errors import ConfigError
from momentum.data.base import MarketDataSource

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SourceChoice:
    name: str          # synthetic | csv | tiingo
    description: str   # one line for the user


def choose_source(cfg: StrategyConfig, data_dir: str | Path | None = None) -> SourceChoice:
    """Decide which source to use: --data-dir forces csv; `auto` means tiingo when a key is set."""
    if data_dir is not None:
        return SourceChoice("csv", f"CSV directory {data_dir}")
    name = cfg.resolved_source()
    if name == "csv":
        if not cfg.data.csv_dir:
            raise ConfigError("data.source is csv but data.csv_dir is not set; set data.csv_dir "
                              "in the config or pass --data-dir DIR")
        return SourceChoice("csv", f"CSV directory {cfg.data.csv_dir}")
    if name == "tiingo":
        if cfg.api.tiingo_api_key is None:
            raise ConfigError("data.source is tiingo but TIINGO_API_KEY is not set; export "
                              "TIINGO_API_KEY=<your token> or set data.source: synthetic")
        return SourceChoice("tiingo", f"Tiingo API at {display_url(cfg.api.tiingo_base_url)}")
    why = " (no TIINGO_API_KEY set)" if cfg.data.source == "auto" else ""
    syn = cfg.data.synthetic
    return SourceChoice("synthetic", f"synthetic market{why}: seed {syn.seed}, "
                                     f"{syn.n_stocks} stocks + {syn.n_crypto} crypto")


def build_source(cfg: StrategyConfig, now: datetime, data_dir: str | Path | None = None,
                 choice: SourceChoice | None = None) -> MarketDataSource:
    """Build the chosen source; `now` decides which bars are complete."""
    choice = choice or choose_source(cfg, data_dir)
    if choice.name == "csv":
        from momentum.data.csv_source import CsvDirectorySource
        cache = Path(cfg.data.cache_dir) / "csv" if cfg.data.cache_enabled else None
        return CsvDirectorySource(Path(data_dir or cfg.data.csv_dir), now=now, cache_dir=cache)
    if choice.name == "tiingo":
        from momentum.data.tiingo.source import TiingoSource
        return TiingoSource.from_config(cfg, now=now)
    from momentum.data.synthetic import SyntheticMarket
    cache = Path(cfg.data.cache_dir) if cfg.data.cache_enabled else None
    return SyntheticMarket(cfg.data.synthetic, now=now, cache_dir=cache)
