"""Config loading: defaults, env substitution, and one clear line per user mistake."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from momentum.core.config import DEFAULT_CONFIG_PATH, StrategyConfig, load_config
from momentum.core.safeload import substitute_values
from momentum.core.errors import ConfigError

HEX_KEY = "0123456789abcdef0123456789abcdef01234567"  # the shape of a Tiingo token
USER_YAML_DEFAULTS = {
    ("scanner", "stock_min_market_cap"): 500000000, ("scanner", "stock_min_volume"): 5000000,
    ("scanner", "crypto_top_n"): 50, ("scanner", "momentum_threshold"): 70,
    ("scanner", "max_candidates"): 15, ("scanner", "rescan_interval_days"): 5,
    ("risk", "initial_capital"): 100000, ("risk", "risk_per_trade"): 0.01,
    ("risk", "max_positions"): 8, ("risk", "max_portfolio_exposure"): 0.25,
    ("risk", "max_sector_exposure"): 0.15, ("risk", "max_daily_loss"): 0.03,
    ("trading", "slippage_stock"): 0.001, ("trading", "slippage_crypto"): 0.003,
    ("trading", "commission_stock"): 0.0, ("trading", "commission_crypto"): 0.001,
}


def write_config(tmp_path: Path, overrides: dict | None = None, text: str | None = None) -> Path:
    path = tmp_path / "cfg.yaml"
    if text is None:
        raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
        for dotted, value in (overrides or {}).items():
            node = raw
            *parents, leaf = dotted.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = value
        text = yaml.safe_dump(raw)
    path.write_text(text)
    return path


def load_error(path: Path, env: dict | None = None) -> str:
    with pytest.raises(ConfigError) as exc:
        load_config(path, environ=env or {})
    return str(exc.value)


def test_shipped_config_keeps_every_user_default():
    cfg = load_config(DEFAULT_CONFIG_PATH, environ={})
    for (section, key), value in USER_YAML_DEFAULTS.items():
        assert getattr(getattr(cfg, section), key) == value
    assert cfg.signals.entry.rsi_min == 50 and cfg.signals.entry.rsi_max == 70
    assert cfg.signals.exit.momentum_exit_rsi == 40
    assert cfg.signals.exit.max_holding_days == 30
    assert cfg.trading.mode == "paper"
    assert cfg.logging.snapshot_dir == "snapshots/"
    assert cfg.api.tiingo_api_key is None
    assert cfg.api.tiingo_base_url == "https://api.tiingo.com"


def test_shipped_config_without_key_resolves_auto_to_synthetic():
    assert load_config(DEFAULT_CONFIG_PATH, environ={}).resolved_source() == "synthetic"


def test_shipped_config_with_key_resolves_auto_to_tiingo():
    cfg = load_config(DEFAULT_CONFIG_PATH, environ={"TIINGO_API_KEY": HEX_KEY})
    assert cfg.resolved_source() == "tiingo"
    assert cfg.api.tiingo_api_key.get_secret_value() == HEX_KEY


def test_config_key_never_in_repr_or_dump():
    cfg = load_config(DEFAULT_CONFIG_PATH, environ={"TIINGO_API_KEY": HEX_KEY})
    assert HEX_KEY not in repr(cfg)
    assert HEX_KEY not in str(cfg.redacted())
    assert cfg.secrets() == [HEX_KEY]


def test_env_substitution_with_default_and_unset():
    env = {"SET": "x"}
    assert substitute_values({"a": "${SET}"}, env) == {"a": "x"}
    assert substitute_values({"a": "${UNSET:-fallback}"}, env) == {"a": "fallback"}
    assert substitute_values({"a": "${UNSET}"}, env) == {"a": None}
    assert substitute_values({"a": "b-${UNSET}"}, env) == {"a": "b-"}
    assert substitute_values({"a": ["${SET:-fallback}"]}, env) == {"a": ["x"]}


def test_env_substitution_applies_in_yaml_values(tmp_path):
    path = write_config(tmp_path, {"risk.max_positions": "${MAXPOS:-3}"})
    assert load_config(path, environ={}).risk.max_positions == 3
    assert load_config(path, environ={"MAXPOS": "5"}).risk.max_positions == 5


def test_tiingo_base_url_env_overrides_config(tmp_path):
    cfg = load_config(DEFAULT_CONFIG_PATH, environ={"TIINGO_BASE_URL": "http://127.0.0.1:8123/"})
    assert cfg.api.tiingo_base_url == "http://127.0.0.1:8123"


def test_config_is_frozen():
    cfg = load_config(DEFAULT_CONFIG_PATH, environ={})
    with pytest.raises(ValidationError, match="frozen"):
        cfg.risk.max_positions = 3  # type: ignore[misc]


@pytest.mark.parametrize("key,value,expected", [
    ("risk.max_positions", 0, "risk.max_positions: Input should be greater than 0 (got 0)"),
    ("risk.risk_per_trade", 1.5, "risk.risk_per_trade: Input should be less than or equal to 1 (got 1.5)"),
    ("risk.max_daily_loss", 0, "risk.max_daily_loss: Input should be greater than 0 (got 0)"),
    ("risk.max_portfolio_exposure", -0.1, "risk.max_portfolio_exposure: Input should be greater than 0"),
    ("scanner.crypto_top_n", -5, "scanner.crypto_top_n: Input should be greater than 0 (got -5)"),
    ("scanner.max_candidates", 2.5, "scanner.max_candidates: Input should be a valid integer"),
    ("scanner.momentum_threshold", 150, "scanner.momentum_threshold: Input should be less than or equal to 100"),
    ("signals.exit.stop_loss_stock", 1.0, "signals.exit.stop_loss_stock: Input should be less than 1"),
    ("signals.exit.max_holding_days", "thirty", "signals.exit.max_holding_days: Input should be a valid integer"),
    ("signals.entry.require_volume_surge", "maybe", "signals.entry.require_volume_surge: Input should be a valid boolean"),
    ("data.source", "yahoo", "data.source: Input should be 'auto', 'synthetic', 'csv' or 'tiingo' (got 'yahoo')"),
    ("trading.mode", "real", "trading.mode: Input should be 'backtest', 'paper' or 'live'"),
    ("api.tiingo_base_url", "ftp://x", "api.tiingo_base_url: must start with http:// or https://"),
    ("data.universe.stocks", ["AAPL", "../etc"], "data.universe.stocks: invalid ticker '../etc'"),
])
def test_config_value_mistake_is_one_line_naming_file_key_value(tmp_path, key, value, expected):
    path = write_config(tmp_path, {key: value})
    message = load_error(path)
    assert message.count("\n") == 0
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_config_rsi_window_inverted_is_rejected(tmp_path):
    message = load_error(write_config(tmp_path, {"signals.entry.rsi_min": 70, "signals.entry.rsi_max": 50}))
    assert "signals.entry: rsi_min (70) must be below rsi_max (50)" in message


def test_config_live_mode_is_refused_in_one_line(tmp_path):
    message = load_error(write_config(tmp_path, {"trading.mode": "live"}))
    assert message.count("\n") == 0
    assert "trading.mode: live trading is not available: this build simulates orders only" in message
    for mode in ("paper", "backtest"):
        assert load_config(write_config(tmp_path, {"trading.mode": mode}), environ={})


def test_config_sector_cap_above_gross_cap_is_rejected(tmp_path):
    message = load_error(write_config(tmp_path, {"risk.max_sector_exposure": 0.5}))
    assert "max_sector_exposure (0.5) cannot exceed max_portfolio_exposure (0.25)" in message


def test_config_unknown_key_suggests_the_right_one(tmp_path):
    message = load_error(write_config(tmp_path, {"risk.max_postions": 3}))
    assert "risk.max_postions: unknown key (did you mean 'max_positions'?)" in message
    assert "remove it or fix its spelling" in message


def test_config_unknown_section_is_rejected(tmp_path):
    assert "riskk: unknown key (did you mean 'risk'?)" in load_error(write_config(tmp_path, {"riskk.x": 1}))


def test_config_two_mistakes_give_two_lines(tmp_path):
    message = load_error(write_config(tmp_path, {"risk.max_positions": 0, "scanner.crypto_top_n": 0}))
    assert len(message.splitlines()) == 2


def test_config_yaml_syntax_error_names_line(tmp_path):
    path = write_config(tmp_path, text="risk:\n  max_positions: 8\n bad_indent: [1,\n")
    message = load_error(path)
    assert str(path) in message and "line" in message and "fix the YAML syntax" in message


def test_config_missing_file_says_how_to_fix(tmp_path):
    assert "file not found; pass --config" in load_error(tmp_path / "nope.yaml")


def test_config_top_level_list_is_rejected(tmp_path):
    assert "must hold a mapping of sections" in load_error(write_config(tmp_path, text="- a\n- b\n"))


def test_config_secret_value_is_hidden_in_errors(tmp_path):
    path = write_config(tmp_path, {"api.tiingo_api_key": ["supersecret"]})
    message = load_error(path)
    assert "supersecret" not in message
    assert "api.tiingo_api_key" in message


def test_config_empty_file_gives_all_defaults(tmp_path):
    cfg = load_config(write_config(tmp_path, text=""), environ={})
    assert cfg == StrategyConfig()
