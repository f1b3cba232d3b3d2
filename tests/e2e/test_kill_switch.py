"""The kill switch through the real paper runner: halt, flatten, resume, the state round trip.

On the seeded synthetic market, March 2024: an entry FES is approved on 03-04 and fills on
03-05; EFOP (03-18) and XAGI (03-19) are signals the risk manager rejects; LTCUSD is approved on
03-25 and fills on 03-26 (see the backtest of that window).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

import main as cli
from momentum.core.config import DEFAULT_CONFIG_PATH
from momentum.run.state import StateStore


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("synthetic-cache")


@pytest.fixture()
def config(tmp_path, cache_dir) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["data"]["source"] = "synthetic"
    raw["data"]["cache_dir"] = str(cache_dir)
    raw["logging"].update(log_file=str(tmp_path / "logs" / "momentum_strategy.log"),
                          snapshot_dir=str(tmp_path / "snapshots"),
                          report_dir=str(tmp_path / "reports"))
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def paper(config: Path, *args: str, state_dir: Path | None = None) -> int:
    extra = ["--state-dir", str(state_dir)] if state_dir else []
    return cli.main(["paper", *args, "--config", str(config), *extra])


def saved(tmp_path: Path, state_dir: Path | None = None):
    return StateStore(state_dir or tmp_path / "snapshots").load().engine


def test_halt_cancels_pending_entries_at_once_and_blocks_new_ones(config, tmp_path, capsys):
    assert paper(config, "--init", "--date", "2024-03-01") == 0
    assert paper(config, "--run", "--date", "2024-03-04") == 0
    assert [o.ticker for o in saved(tmp_path).portfolio.pending_entries] == ["FES"]
    capsys.readouterr()
    assert paper(config, "--halt", "--reason", "broker outage") == 0
    out = capsys.readouterr().out
    assert "HALTED since" in out and "Cancelled pending entries: FES" in out
    state = saved(tmp_path)  # the halt is in the saved state, reloaded from disk
    assert state.portfolio.pending_entries == []
    assert state.halt is not None and state.halt.reason == "broker outage"
    assert str(state.halt.after_step) == "2024-03-04" and state.halt.cancelled == ("FES",)
    assert paper(config, "--run", "--date", "2024-03-19") == 0
    assert "Trading is HALTED (kill switch" in capsys.readouterr().out
    state = saved(tmp_path)
    assert state.fills == [] and state.portfolio.positions == {}
    halted = [(str(r.day), r.ticker, r.rule) for r in state.rejections
              if r.reason.value == "halted"]
    assert halted == [("2024-03-18", "EFOP", "halt"), ("2024-03-19", "XAGI", "halt")]
    report = (tmp_path / "reports" / "daily_report_2024-03-19.txt").read_text()
    assert "TRADING HALTED (kill switch)" in report and "broker outage" in report
    assert paper(config, "--report") == 0
    assert "TRADING HALTED (kill switch)" in capsys.readouterr().out


def test_halt_flatten_sells_every_position_at_the_next_open(config, tmp_path, capsys):
    assert paper(config, "--init", "--date", "2024-03-01") == 0
    assert paper(config, "--run", "--date", "2024-03-05") == 0
    held = saved(tmp_path).portfolio.positions["FES"]
    assert paper(config, "--halt", "--flatten") == 0
    assert "Market exits queued for the next open (kill_switch): FES" in capsys.readouterr().out
    assert saved(tmp_path).portfolio.positions["FES"].pending_exit.value == "kill_switch"
    assert paper(config, "--run", "--date", "2024-03-06") == 0
    state = saved(tmp_path)
    assert state.portfolio.positions == {}
    (trade,) = state.portfolio.closed_trades
    assert (trade.ticker, str(trade.exit_date), trade.exit_reason.value) == \
        ("FES", "2024-03-06", "kill_switch")
    assert trade.quantity == held.quantity
    market = cli.MomentumStrategy(config, mode="scan").load_market()
    bar = market.until(trade.exit_date).bars_after("FES", held.last_bar_date)
    open_price = next(bar).open
    slippage = cli.load_config(config).trading.slippage_stock
    assert trade.exit_price == cli.to_money(open_price) * (1 - cli.to_money(slippage))


def test_resume_lifts_the_halt_and_later_trades_equal_an_unhalted_portfolio(config, tmp_path,
                                                                          capsys):
    halted, plain = tmp_path / "halted", tmp_path / "plain"
    for d in (halted, plain):
        assert paper(config, "--init", "--date", "2024-03-01", state_dir=d) == 0
        assert paper(config, "--run", "--date", "2024-03-05", state_dir=d) == 0
    assert paper(config, "--halt", state_dir=halted) == 0
    assert paper(config, "--halt", state_dir=halted) == 0
    assert "Already HALTED" in capsys.readouterr().out
    assert paper(config, "--run", "--date", "2024-03-19", state_dir=halted) == 0
    assert paper(config, "--resume", state_dir=halted) == 0
    assert "Kill switch lifted" in capsys.readouterr().out
    assert paper(config, "--resume", state_dir=halted) == 0
    assert "not halted" in capsys.readouterr().out
    for d in (halted, plain):
        assert paper(config, "--run", "--date", "2024-03-28", state_dir=d) == 0
    a, b = saved(tmp_path, halted), saved(tmp_path, plain)
    assert a.halt is None and len(a.halts) == 1 and str(a.halts[0].resumed_after) == "2024-03-19"
    assert a.fills == b.fills and any(f.ticker == "LTCUSD" for f in a.fills)
    assert a.equity_curve == b.equity_curve
    differ = {(str(x.day), x.ticker, x.reason.value, y.reason.value)
              for x, y in zip(a.rejections, b.rejections, strict=True) if x != y}
    assert differ == {("2024-03-18", "EFOP", "halted", "portfolio_exposure"),
                      ("2024-03-19", "XAGI", "halted", "portfolio_exposure")}


def test_a_snapshot_written_before_the_kill_switch_still_loads(config, tmp_path):
    assert paper(config, "--init", "--date", "2024-03-01") == 0
    assert paper(config, "--run", "--date", "2024-03-05") == 0
    state_dir = tmp_path / "snapshots"
    pointer = json.loads((state_dir / "latest.json").read_text())
    path = state_dir / pointer["file"]
    document = json.loads(path.read_text())
    del document["state"]["halts"]  # the format of the previous release
    canonical = json.dumps({"meta": document["meta"], "state": document["state"]},
                           sort_keys=True, separators=(",", ":"))
    document["checksum"] = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    pointer["checksum"] = document["checksum"]
    path.write_text(json.dumps(document))
    (state_dir / "latest.json").write_text(json.dumps(pointer))
    assert saved(tmp_path).halts == []
    assert paper(config, "--halt") == 0
    assert saved(tmp_path).halt is not None


def test_halt_works_even_when_the_settings_changed_since_init(config, tmp_path):
    assert paper(config, "--init", "--date", "2024-03-01") == 0
    raw = yaml.safe_load(config.read_text())
    raw["risk"]["max_positions"] = 3  # a run would now be refused; the kill switch must not be
    config.write_text(yaml.safe_dump(raw))
    assert paper(config, "--run", "--date", "2024-03-04") == 2
    assert paper(config, "--halt", "--flatten") == 0
    assert saved(tmp_path).halt is not None and saved(tmp_path).halt.flatten


def test_flatten_without_halt_is_refused(config, tmp_path, capsys):
    assert paper(config, "--init", "--date", "2024-03-01") == 0
    assert paper(config, "--run", "--flatten") == 2
    assert "--flatten does not apply here" in capsys.readouterr().err


def test_halt_without_a_portfolio_names_the_fix(config, capsys):
    assert paper(config, "--halt") == 2
    assert "paper --init" in capsys.readouterr().err
