"""`validate_paper_trading.py --portfolio`: the saved paper record against the replayed backtest.

The seeded synthetic market is written out as a CSV directory, so a past day can be edited the
way a data vendor revises a bar. In March 2024 FES is approved on 03-04, bought on 03-05 and
held for the rest of the window.
"""
from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml

import main as cli
import validate_paper_trading as vpt
from momentum.core.config import DEFAULT_CONFIG_PATH
from momentum.data.csv_source import ASSET_DIRS
from momentum.run.state import checksum

SESSIONS = ["2024-03-01", "2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08",
            "2024-03-11", "2024-03-12"]


@pytest.fixture(scope="module")
def csv_market(tmp_path_factory) -> Path:
    """The synthetic market up to 2024-03-29 as meta.csv and one price file per asset."""
    root = tmp_path_factory.mktemp("csv-market")
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["data"].update(source="synthetic", cache_dir=str(root / "cache"))
    config = root / "synthetic.yaml"
    config.write_text(yaml.safe_dump(raw))
    source = cli.MomentumStrategy(config, mode="scan").require_components()
    meta = ["ticker,asset_type,sector,market_cap"]
    for asset in source.assets():
        frame = source.bars(asset.ticker, date(2022, 6, 1), date(2024, 3, 29))
        folder = root / "data" / ASSET_DIRS[asset.asset_type]
        folder.mkdir(parents=True, exist_ok=True)
        frame.to_csv(folder / f"{asset.ticker}.csv", index_label="date", date_format="%Y-%m-%d")
        cap = "" if asset.market_cap is None else repr(asset.market_cap)
        meta.append(f"{asset.ticker},{asset.asset_type.value},{asset.sector},{cap}")
    (root / "data" / "meta.csv").write_text("\n".join(meta) + "\n")
    return root / "data"


@pytest.fixture()
def data_dir(csv_market, tmp_path) -> Path:
    """A private copy of the CSV market, free to edit."""
    return Path(shutil.copytree(csv_market, tmp_path / "data"))


@pytest.fixture()
def config(tmp_path) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["logging"].update(log_file=str(tmp_path / "logs" / "momentum_strategy.log"),
                          snapshot_dir=str(tmp_path / "snapshots"),
                          report_dir=str(tmp_path / "reports"))
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def paper(config: Path, data_dir: Path, *args: str) -> int:
    return cli.main(["paper", *args, "--config", str(config), "--data-dir", str(data_dir)])


def run_daily(config: Path, data_dir: Path, sessions: list[str]) -> None:
    assert paper(config, data_dir, "--init", "--date", sessions[0]) == 0
    for day in sessions:
        assert paper(config, data_dir, "--run", "--date", day) == 0


def check(config: Path, data_dir: Path, tmp_path: Path) -> tuple[int, dict]:
    code = vpt.main(["--portfolio", "--config", str(config), "--data-dir", str(data_dir),
                     "--reports", str(tmp_path / "out")])
    (report,) = (tmp_path / "out").glob("validation_*.json")
    return code, json.loads(report.read_text())


def edit_close(data_dir: Path, ticker: str, day: str, factor: float) -> None:
    path = data_dir / "stocks" / f"{ticker}.csv"
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith(day + ","):
            d, o, h, lo, c, v = line.split(",")
            close = float(c) * factor
            lines[i] = ",".join([d, o, repr(max(float(h), close)), repr(min(float(lo), close)),
                                 repr(close), v])
    path.write_text("\n".join(lines) + "\n")


def test_a_portfolio_run_day_by_day_matches_its_replay(config, data_dir, tmp_path, capsys):
    run_daily(config, data_dir, SESSIONS)
    code, report = check(config, data_dir, tmp_path)
    assert code == 0, report["differences"][:3]
    assert report["difference_count"] == 0 and report["ok"]
    assert report["sessions"] == len(SESSIONS) and report["trades"]["paper"] >= 1
    assert "result:   0 differences" in capsys.readouterr().out


def test_a_past_day_edited_in_the_data_is_named_as_the_cause(config, data_dir, tmp_path, capsys):
    run_daily(config, data_dir, SESSIONS)
    edit_close(data_dir, "FES", "2024-03-07", 1.10)  # the vendor revises one close, later
    code, report = check(config, data_dir, tmp_path)
    assert code == 1
    first = report["first_divergence"]
    assert (first["day"], first["category"]) == ("2024-03-07", "equity")
    assert "data revised since the run: FES close on 2024-03-07" in first["cause"]
    assert all(d["day"] >= "2024-03-07" for d in report["differences"])
    assert "cause: data revised since the run: FES close on 2024-03-07" in capsys.readouterr().out


def test_a_halted_portfolio_matches_its_replay_with_the_halt(config, data_dir, tmp_path):
    run_daily(config, data_dir, SESSIONS[:2])
    assert paper(config, data_dir, "--halt", "--reason", "test") == 0  # cancels FES
    assert paper(config, data_dir, "--run", "--date", SESSIONS[4]) == 0
    assert paper(config, data_dir, "--resume") == 0
    assert paper(config, data_dir, "--run", "--date", SESSIONS[-1]) == 0
    code, report = check(config, data_dir, tmp_path)
    assert code == 0, report["differences"][:3]
    assert any("kill switch after 2024-03-04 (test), lifted after 2024-03-07" in n
               for n in report["notes"])


def test_settings_changed_since_the_portfolio_was_created_are_named(config, data_dir, tmp_path):
    run_daily(config, data_dir, SESSIONS)
    raw = yaml.safe_load(config.read_text())
    raw["trading"]["slippage_stock"] = 0.002
    config.write_text(yaml.safe_dump(raw))
    code, report = check(config, data_dir, tmp_path)
    assert code == 1
    assert "trading.slippage_stock: 0.001 -> 0.002" in report["first_divergence"]["cause"]
    assert report["config_changes"] == ["trading.slippage_stock: 0.001 -> 0.002"]


def test_portfolio_with_window_flags_is_a_usage_error(config, data_dir):
    with pytest.raises(SystemExit) as exc:
        vpt.main(["--portfolio", "--start", "2024-03-01"])
    assert exc.value.code == 2


def test_a_session_committed_without_an_asset_names_the_allow_partial_record(config, data_dir,
                                                                             tmp_path):
    run_daily(config, data_dir, SESSIONS[:4])  # FES held from 03-05
    path = data_dir / "stocks" / "FES.csv"
    original = path.read_text()
    path.write_text("".join(x for x in original.splitlines(keepends=True)
                            if not x.startswith("2024-03-07,")))  # the source failed for FES
    assert paper(config, data_dir, "--run", "--date", "2024-03-07") == 0
    path.write_text(original)  # the bar arrives: the next session processes it late
    assert paper(config, data_dir, "--run", "--date", "2024-03-08") == 0
    code, report = check(config, data_dir, tmp_path)
    assert code == 1  # without a record of the left-out asset: a difference, generic cause
    assert report["first_divergence"]["day"] == "2024-03-07"
    assert "--allow-partial" not in report["first_divergence"]["cause"]
    snapshot = tmp_path / "snapshots" / "state_2024-03-07.json"
    document = json.loads(snapshot.read_text())
    # the record `paper --run --allow-partial` keeps (EngineState.left_out)
    document["state"]["left_out"] = {"2024-03-07": {"FES": "the source timed out"}}
    document["checksum"] = checksum(document["meta"], document["state"])
    snapshot.write_text(json.dumps(document))
    shutil.rmtree(tmp_path / "out")
    code, report = check(config, data_dir, tmp_path)
    assert code == 1
    cause = report["first_divergence"]["cause"]
    assert "session 2024-03-07 was committed with --allow-partial, leaving out FES: the source " \
           "timed out" in cause
    assert "left out on 2024-03-07: FES: the source timed out" in report["notes"]
