"""The command line: help texts, exit codes, one-line errors, and real runs of scan and backtest."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import main as cli
from momentum.core.config import DEFAULT_CONFIG_PATH

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def synthetic_config(tmp_path_factory) -> Path:
    """The shipped config with its synthetic cache in a temp dir (shared by the session)."""
    base = tmp_path_factory.mktemp("cfg")
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["data"]["source"] = "synthetic"
    raw["data"]["cache_dir"] = str(base / "cache")
    path = base / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def subcommands() -> list[str]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


def test_every_subcommand_has_help_text(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    top = capsys.readouterr().out
    for name in subcommands():
        assert name in top
        with pytest.raises(SystemExit):
            cli.main([name, "--help"])
        text = capsys.readouterr().out
        assert "--config" in text and "--data-dir" in text and len(text) > 400


def test_scan_prints_candidates_from_the_synthetic_market(synthetic_config, capsys):
    assert cli.main(["scan", "--date", "2023-06-30", "--config", str(synthetic_config)]) == 0
    out, err = capsys.readouterr()
    assert "Momentum candidates on 2023-06-30" in out
    assert "Eligible:" in out and "Filtered out:" in out
    assert "synthetic market" in err


def test_scan_on_real_data(shared_data, capsys):
    assert cli.main(["scan", "--data-dir", str(shared_data), "--date", "2019-06-28"]) == 0
    out = capsys.readouterr().out
    assert "Momentum candidates on 2019-06-28" in out and "AMD" in out


def test_scan_on_a_weekend_uses_the_session_before(shared_data, capsys):
    assert cli.main(["scan", "--data-dir", str(shared_data), "--date", "2019-06-29"]) == 0
    out, err = capsys.readouterr()
    assert "scanning 2019-06-28" in err and "Momentum candidates on 2019-06-28" in out


@pytest.mark.parametrize("argv,needle", [
    (["scan", "--data-dir", "/nonexistent/dir"], "/nonexistent/dir"),
    (["backtest", "--start", "2024-01-01", "--end", "2023-01-01"], "swap them"),
])
def test_user_errors_exit_2_with_one_line_and_no_traceback(argv, needle, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.startswith("error:")]
    assert len(lines) == 1 and needle in lines[0]
    assert "Traceback" not in err


def test_config_mistake_exits_2_naming_key_and_fix(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("risk:\n  max_positions: 0\n")
    assert cli.main(["scan", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"error: {bad}: risk.max_positions: Input should be greater than 0 (got 0)" in err
    assert "Traceback" not in err


def test_bad_date_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["scan", "--date", "2023-02-30"])
    assert exc.value.code == 2
    assert "write it as YYYY-MM-DD" in capsys.readouterr().err


def test_backtest_writes_every_output_file(synthetic_config, tmp_path, capsys):
    out = tmp_path / "bt"
    argv = ["backtest", "--start", "2023-01-01", "--end", "2023-12-31", "--config",
            str(synthetic_config), "--output", str(out)]
    assert cli.main(argv) == 0
    stdout = capsys.readouterr().out
    assert "Backtest summary" in stdout and "Sharpe" in stdout
    for name in ("trades.csv", "equity.csv", "rejections.csv", "summary.json", "report.html"):
        assert (out / name).stat().st_size > 0
    with open(out / "trades.csv") as f:
        header = next(csv.reader(f))
    assert header == ["ticker", "asset_type", "entry_date", "entry_price", "exit_date",
                      "exit_price", "quantity", "exit_reason", "pnl"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["start"] == "2023-01-03" and summary["end"] == "2023-12-29"


def test_backtest_subprocess_with_defaults_needs_no_key_or_network(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TIINGO_API_KEY"}
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "backtest", "--start",
                           "2022-01-01", "--end", "2024-01-01"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert "synthetic market (no TIINGO_API_KEY set)" in proc.stderr
    out = tmp_path / "output" / "backtest_2022-01-01_2024-01-01"
    rows = list(csv.DictReader(open(out / "trades.csv")))
    assert len(rows) == 63
    assert "Final equity" in proc.stdout


def test_initialize_components_returns_false_with_a_logged_reason(tmp_path, caplog):
    strategy = cli.MomentumStrategy(data_dir=tmp_path / "missing")
    with caplog.at_level("ERROR", logger="momentum.main"):
        assert strategy.initialize_components() is False
    assert "initialization failed" in caplog.text and "missing" in caplog.text


def test_initialize_components_returns_true_on_real_data(shared_data):
    strategy = cli.MomentumStrategy(data_dir=shared_data)
    assert strategy.initialize_components() is True
    assert len(strategy.source.assets()) == 233


def test_analyze_trade_explains_a_ticker_on_real_data(shared_data, tmp_path, capsys):
    html = tmp_path / "amd.html"
    argv = ["analyze-trade", "AMD", "--date", "2019-06-28", "--data-dir", str(shared_data),
            "--state-dir", str(tmp_path / "none"), "--html", str(html)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "score 99.8, rank 1 of 69" in out
    assert "Entry signal: no" in out and "0.63x" in out
    assert "Verdict: would be approved, 411 AMD" in out
    assert html.stat().st_size > 100_000 and "AMD" in html.read_text()


def test_analyze_trade_unknown_ticker_suggests_the_right_one(shared_data, capsys):
    assert cli.main(["analyze-trade", "APPL", "--data-dir", str(shared_data)]) == 2
    assert "did you mean AAPL?" in capsys.readouterr().err
