"""The strategy configuration: one YAML file, validated into a typed, frozen object.

``load_config(path)`` is the only reader. Every user mistake becomes one ``ConfigError`` line:
``<file>: <key.path>: <problem> (got <value>); <how to fix>``.
"""
# No `from __future__ import annotations`: pydantic then reads the field types as objects
# instead of evaluating each annotation string (~15 ms less at import and first validation).

import difflib
import os
import re
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import (BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator,
                      model_validator)

from momentum.core.domain import AssetType, validate_ticker
from momentum.core.errors import ConfigError
from momentum.core.ops_config import DashboardConfig, SchedulerConfig
from momentum.core.safeload import (MAX_CONFIG_BYTES, LoaderLimit, clip, read_capped,
                                    safe_yaml, substitute_values)

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[2] / "config" / "strategy_config.yaml"
PUBLIC_TIINGO_URL = "https://api.tiingo.com"
_TIINGO_KEY_RE = re.compile(r"[0-9A-Fa-f]{40}")
_SECRET_CHARS_RE = re.compile(r"[!-~]+")  # printable ASCII without spaces


def check_secret_shape(value: Any) -> Any:
    """Refuse a secret with whitespace or non-ASCII characters, never quoting it (7.2.7)."""
    if isinstance(value, str) and not _SECRET_CHARS_RE.fullmatch(value):
        where = ("whitespace (e.g. a trailing newline)" if any(c.isspace() for c in value)
                 else "a character that is not printable ASCII")
        raise ValueError(f"contains {where}; set it again without it (the value is not shown)")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class ApiConfig(_Section):
    tiingo_api_key: SecretStr | None = None
    tiingo_base_url: str = PUBLIC_TIINGO_URL
    requests_per_hour: int = Field(default=50, gt=0)    # Tiingo Starter plan
    requests_per_day: int = Field(default=1000, gt=0)
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    backoff_seconds: float = Field(default=1.0, gt=0)  # first retry wait; doubles each time

    @field_validator("tiingo_api_key", mode="before")
    @classmethod
    def _blank_key_is_none(cls, v: Any) -> Any:
        if v in ("", None):
            return None
        check_secret_shape(v)
        if isinstance(v, str) and not _TIINGO_KEY_RE.fullmatch(v):
            raise ValueError(f"is not a Tiingo API token: a token is 40 hex digits, this value has "
                             f"{len(v)} characters (not shown); copy it again from your Tiingo "
                             f"account page")
        return v

    @field_validator("tiingo_base_url")
    @classmethod
    def _url_scheme(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("must start with http:// or https:// followed by a host")
        return v.rstrip("/")


def display_url(url: str) -> str:
    """`url` without its user:password part, for messages (7.2.7)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


class ScannerConfig(_Section):
    stock_min_market_cap: float = Field(default=500_000_000, ge=0)
    stock_min_volume: float = Field(default=5_000_000, ge=0)
    crypto_top_n: int = Field(default=50, gt=0)
    momentum_threshold: float = Field(default=70, ge=0, le=100)
    max_candidates: int = Field(default=15, gt=0)
    rescan_interval_days: int = Field(default=5, gt=0)


class EntryConfig(_Section):
    rsi_min: float = Field(default=50, ge=0, le=100)
    rsi_max: float = Field(default=70, ge=0, le=100)
    require_volume_surge: bool = True
    volume_surge_threshold: float = Field(default=1.5, gt=0)

    @model_validator(mode="after")
    def _rsi_window(self) -> "EntryConfig":
        if self.rsi_min >= self.rsi_max:
            raise ValueError(f"rsi_min ({self.rsi_min:g}) must be below rsi_max ({self.rsi_max:g})")
        return self


class ExitConfig(_Section):
    profit_target_stock: float = Field(default=0.20, gt=0)
    profit_target_crypto: float = Field(default=0.30, gt=0)
    stop_loss_stock: float = Field(default=0.08, gt=0, lt=1)
    stop_loss_crypto: float = Field(default=0.12, gt=0, lt=1)
    trailing_stop_activation: float = Field(default=0.10, gt=0)
    trailing_stop_distance: float = Field(default=0.08, gt=0, lt=1)
    max_holding_days: int = Field(default=30, gt=0)
    momentum_exit_rsi: float = Field(default=40, ge=0, le=100)

    def stop_loss(self, asset_type: AssetType) -> float:
        return self.stop_loss_crypto if asset_type is AssetType.CRYPTO else self.stop_loss_stock

    def profit_target(self, asset_type: AssetType) -> float:
        crypto = asset_type is AssetType.CRYPTO
        return self.profit_target_crypto if crypto else self.profit_target_stock


class SignalsConfig(_Section):
    entry: EntryConfig = Field(default_factory=EntryConfig)
    exit: ExitConfig = Field(default_factory=ExitConfig)


class RiskConfig(_Section):
    initial_capital: float = Field(default=100_000, gt=0)
    risk_per_trade: float = Field(default=0.01, gt=0, le=1)
    max_positions: int = Field(default=8, gt=0)
    max_portfolio_exposure: float = Field(default=0.25, gt=0, le=1)
    max_sector_exposure: float = Field(default=0.15, gt=0, le=1)
    max_daily_loss: float = Field(default=0.03, gt=0, le=1)

    @model_validator(mode="after")
    def _sector_within_gross(self) -> "RiskConfig":
        if self.max_sector_exposure > self.max_portfolio_exposure:
            raise ValueError(
                f"max_sector_exposure ({self.max_sector_exposure:g}) cannot exceed "
                f"max_portfolio_exposure ({self.max_portfolio_exposure:g})")
        return self


class TradingConfig(_Section):
    mode: Literal["backtest", "paper", "live"] = "paper"
    slippage_stock: float = Field(default=0.001, ge=0, lt=1)
    slippage_crypto: float = Field(default=0.003, ge=0, lt=1)
    commission_stock: float = Field(default=0.0, ge=0, lt=1)
    commission_crypto: float = Field(default=0.001, ge=0, lt=1)

    @field_validator("mode")
    @classmethod
    def _no_live_orders(cls, v: str) -> str:
        if v == "live":  # refused, never silently run as paper (DEPLOYMENT_CHECKLIST.md)
            raise ValueError("live trading is not available: this build simulates orders only; "
                             "set trading.mode to paper or backtest")
        return v

    def slippage(self, asset_type: AssetType) -> float:
        return self.slippage_crypto if asset_type is AssetType.CRYPTO else self.slippage_stock

    def commission(self, asset_type: AssetType) -> float:
        return self.commission_crypto if asset_type is AssetType.CRYPTO else self.commission_stock


class AlertsConfig(_Section):
    email_enabled: bool = False
    email_address: str | None = None          # recipient
    slack_webhook: SecretStr | None = None
    alert_on_entry: bool = True
    alert_on_exit: bool = True
    alert_on_risk_limit: bool = True
    alert_on_performance: bool = True
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=587, gt=0, lt=65536)
    smtp_starttls: bool = True
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    email_from: str | None = None             # default: smtp_user, else momentum@localhost
    throttle_minutes: float = Field(default=60, ge=0)
    timeout_seconds: float = Field(default=10, gt=0)
    good_day_return: float = Field(default=0.05, gt=0)
    bad_day_return: float = Field(default=-0.02, lt=0)
    daily_loss_warning: float = Field(default=0.8, gt=0, le=1)   # share of max_daily_loss
    sector_warning: float = Field(default=0.9, gt=0, le=1)       # share of max_sector_exposure

    @field_validator("slack_webhook", "smtp_password", mode="before")
    @classmethod
    def _blank_secret_is_none(cls, v: Any) -> Any:
        return None if v in ("", None) else check_secret_shape(v)

    @field_validator("smtp_user", "email_address", "email_from", mode="before")
    @classmethod
    def _blank_is_none(cls, v: Any) -> Any:
        return None if v == "" else v

    @model_validator(mode="after")
    def _email_needs_recipient(self) -> "AlertsConfig":
        if self.email_enabled and not self.email_address:
            raise ValueError("email_enabled is true but email_address is not set; set the "
                             "recipient or set email_enabled: false")
        return self


class LogLevel(str, Enum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class LoggingConfig(_Section):
    level: LogLevel = LogLevel.INFO
    log_file: str = "logs/momentum_strategy.log"
    save_daily_snapshots: bool = True
    snapshot_dir: str = "snapshots/"     # paper-trading state (the default --state-dir)
    report_dir: str = "reports/"         # daily reports and validation reports
    keep_days: int = Field(default=30, gt=0)  # daily log rotation keeps this many files


class SyntheticConfig(_Section):
    seed: int = 42
    n_stocks: int = Field(default=80, gt=0, le=5000)
    n_crypto: int = Field(default=12, ge=0, le=500)
    start: date = date(2015, 1, 2)


class UniverseConfig(_Section):
    stocks: tuple[str, ...] = ()
    crypto: tuple[str, ...] = ()
    file: str | None = None  # CSV with ticker,asset_type,sector,market_cap (sector/cap fallback)

    @field_validator("stocks", "crypto", mode="before")
    @classmethod
    def _null_is_empty(cls, v: Any) -> Any:
        return () if v is None else v

    @field_validator("stocks", "crypto")
    @classmethod
    def _valid_tickers(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return tuple(validate_ticker(t) for t in v)
        except Exception as e:  # TickerError -> a validation message
            raise ValueError(str(e)) from None


class DataConfig(_Section):
    source: Literal["auto", "synthetic", "csv", "tiingo"] = "auto"
    csv_dir: str | None = None
    cache_dir: str = ".cache"
    cache_enabled: bool = True
    history_start: date = date(2015, 1, 2)  # first bar fetched from Tiingo (indicators start here)
    universe: UniverseConfig = Field(default_factory=UniverseConfig)
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)


class StrategyConfig(_Section):
    """The whole configuration; every section has the defaults of the user's YAML."""

    api: ApiConfig = Field(default_factory=ApiConfig)
    scanner: ScannerConfig = Field(default_factory=ScannerConfig)
    signals: SignalsConfig = Field(default_factory=SignalsConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    trading: TradingConfig = Field(default_factory=TradingConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig)

    def resolved_source(self) -> str:
        """The data source 'auto' stands for: tiingo when an API key is set, else synthetic."""
        if self.data.source != "auto":
            return self.data.source
        return "tiingo" if self.api.tiingo_api_key is not None else "synthetic"

    def secrets(self) -> list[str]:
        """Secret values to mask in logs and files."""
        found = [self.api.tiingo_api_key, self.alerts.slack_webhook, self.alerts.smtp_password]
        values = [s.get_secret_value() for s in found if s is not None and s.get_secret_value()]
        userinfo = urlsplit(self.api.tiingo_base_url).netloc.rpartition("@")[0]
        return values + ([userinfo, userinfo.partition(":")[2]] if userinfo else [])

    def redacted(self) -> dict[str, Any]:
        """A plain dict of the config with secrets masked, safe to log or write."""
        return self.model_dump(mode="json")  # SecretStr dumps as '**********'


# ---------------------------------------------------------------- loading

_FIX_HINTS = {
    "greater_than": "use a larger value",
    "greater_than_equal": "use a larger value",
    "less_than": "use a smaller value",
    "less_than_equal": "use a smaller value",
    "int_parsing": "write a whole number",
    "int_from_float": "write a whole number",
    "float_parsing": "write a number",
    "bool_parsing": "write true or false",
    "literal_error": "use one of the allowed values",
    "enum": "use one of the allowed values",
    "date_from_datetime_parsing": "write a date as YYYY-MM-DD",
    "date_parsing": "write a date as YYYY-MM-DD",
    "model_type": "write a mapping of keys under this section",
    "string_type": "write a text value",
    "tuple_type": "write a list, e.g. [AAPL, MSFT]",
}


def load_config(path: str | Path | None = None,
                environ: dict[str, str] | None = None) -> StrategyConfig:
    """Read, substitute and validate the YAML file; raise ConfigError with one line per mistake."""
    path = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    env = dict(os.environ if environ is None else environ)
    try:
        raw_text = read_capped(path, MAX_CONFIG_BYTES).decode("utf-8")
    except ValueError as e:  # too large (e.g. --config /dev/zero): refused before parsing
        if isinstance(e, UnicodeDecodeError):
            raise ConfigError(f"{path}: is not UTF-8 text; save it as UTF-8") from None
        raise ConfigError(f"{path}: {e}; a strategy config is a few KB: check the path") from None
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; pass --config with the path of your "
                          f"strategy_config.yaml") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the file ({e.__class__.__name__}); "
                          f"check its permissions and that it is UTF-8 text") from None
    # ${VAR} is replaced in the parsed values, never in the text: an environment value is data,
    # not YAML ('*x', '!x', '&x' or 'a #b' would otherwise change the document).
    raw = substitute_values(_parse_yaml(path, raw_text), env)
    raw = _apply_env_overrides(raw, env)
    try:
        return StrategyConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError("\n".join(_error_line(path, err, raw) for err in e.errors())) from None


def _parse_yaml(path: Path, text: str) -> dict[str, Any]:
    try:
        raw = safe_yaml(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = str(getattr(e, "problem", None) or "invalid YAML")[:160]
        fix = ("write the values out instead" if isinstance(e, LoaderLimit) else
               "fix the YAML syntax there (indentation, a missing ':' or an unclosed quote)")
        raise ConfigError(f"{path}: {where}{problem}; {fix}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the file must hold a mapping of sections "
                          f"(api:, scanner:, ...), "
                          f"not a {type(raw).__name__}")
    return raw


def _apply_env_overrides(raw: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """TIINGO_BASE_URL lets tests and local servers stand in for the public API."""
    url = env.get("TIINGO_BASE_URL")
    if url:
        api = dict(raw.get("api") or {})
        api["tiingo_base_url"] = url
        raw = {**raw, "api": api}
    return raw


def _error_line(path: Path, err: dict[str, Any], raw: dict[str, Any]) -> str:
    loc = [str(p) for p in err["loc"]]
    key = ".".join(loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"{path}: {key}: unknown key{_did_you_mean(loc, raw)}; remove it or fix its spelling"
    value = _lookup(raw, err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    shown = "" if value is _MISSING or isinstance(value, dict) else f" (got {_show(loc, value)})"
    hint = _FIX_HINTS.get(err["type"], "")
    if err["type"] == "literal_error":
        hint = ""  # pydantic already lists the allowed values
    return f"{path}: {key}: {msg}{shown}" + (f"; {hint}" if hint else "")


_MISSING = object()


def _lookup(raw: Any, loc: tuple[Any, ...]) -> Any:
    node = raw
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return _MISSING
    return node


def _show(loc: list[str], value: Any) -> str:
    if any(s in loc[-1] for s in ("key", "webhook", "password", "token")):
        return "<hidden>"
    return clip(value)


def _did_you_mean(loc: list[str], raw: dict[str, Any]) -> str:
    model: Any = StrategyConfig
    for part in loc[:-1]:
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return ""
        model = field.annotation
    if not hasattr(model, "model_fields"):
        return ""
    close = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
