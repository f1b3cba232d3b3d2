"""`trading.mode: live` is refused with one line and exit 2, by every command that loads the
config (this build simulates orders only)."""
from __future__ import annotations

import pytest
import yaml

import main as cli
from momentum.core.config import DEFAULT_CONFIG_PATH


@pytest.mark.parametrize("argv", [["backtest", "--start", "2024-01-02", "--end", "2024-01-05"],
                                  ["paper", "--init"], ["preflight", "--only", "docs"]])
def test_live_mode_is_refused_in_one_line(tmp_path, capsys, argv):
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["trading"]["mode"] = "live"
    config = tmp_path / "live.yaml"
    config.write_text(yaml.safe_dump(raw))
    assert cli.main([*argv, "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {config}: trading.mode: live trading is not available: this build "
                   f"simulates orders only; set trading.mode to paper or backtest (got 'live')"]
    assert not (tmp_path / "snapshots").exists()
