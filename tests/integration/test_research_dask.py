"""optimize and walk-forward through real Dask clusters on a small synthetic market.

One module-wide LocalCluster (2 single-threaded worker processes on 127.0.0.1) serves most
tests by address; the 1-worker, worker-kill and `dask scheduler`/`dask worker` tests start their
own. Every cluster and subprocess is closed in a fixture or `finally`.
"""
from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
from datetime import date, datetime, UTC
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from main import main
from momentum.core.config import load_config
from momentum.research.cluster import MarketSpec, TrialContext, installed
from momentum.research.objective import Constraints, trial_metrics
from momentum.research.optimize import SearchSettings, open_log, prepare_dir, run_sweep
from momentum.research.search import SearchPlan
from momentum.research.space import apply_overrides, parse_space
from momentum.run.backtester import run_backtest

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[2]
START, END = "2020-01-01", "2020-06-30"
GRID = ["--param", "signals.entry.rsi_min=45,50",
        "--param", "signals.exit.stop_loss_stock=0.05,0.08",
        "--param", "signals.exit.profit_target_stock=0.1,0.2"]


@pytest.fixture(scope="module")
def config_path(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("research")
    raw = {"data": {"source": "synthetic", "cache_dir": str(root / "cache"),
                    "synthetic": {"seed": 3, "n_stocks": 12, "n_crypto": 2}},
           "logging": {"log_file": str(root / "logs" / "m.log"),
                       "snapshot_dir": str(root / "snap"), "report_dir": str(root / "rep")},
           "scanner": {"stock_min_market_cap": 0, "stock_min_volume": 0,
                       "momentum_threshold": 40}}
    path = root / "small.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def cluster2():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address="127.0.0.1:0")
    try:
        yield cluster
    finally:
        cluster.close()


def optimize(config_path: Path, out: Path, *extra: str) -> int:
    return main(["optimize", "--config", str(config_path), "--start", START, "--end", END,
                 "--output", str(out), *extra])


@pytest.fixture(scope="module")
def grid_run(config_path, cluster2, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("grid") / "opt"
    assert optimize(config_path, out, *GRID, "--scheduler", cluster2.scheduler_address) == 0
    return out


def rows(path: Path, drop: tuple[str, ...] = ("duration_s",)) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return [{k: v for k, v in r.items() if k not in drop} for r in csv.DictReader(handle)]


def test_grid_of_8_gives_the_metrics_of_8_sequential_backtests(grid_run, config_path):
    cfg = load_config(config_path)
    spec = MarketSpec(cfg, None, date.fromisoformat(END), datetime.now(UTC))
    market = spec.load()
    found = rows(grid_run / "trials.csv")
    assert len(found) == 8 and {r["status"] for r in found} == {"ok"}
    keys = ["signals.entry.rsi_min", "signals.exit.stop_loss_stock",
            "signals.exit.profit_target_stock"]
    for r in found:
        overrides = {k: float(r[k]) for k in keys}
        result = run_backtest(market, apply_overrides(cfg, overrides), date.fromisoformat(START),
                              date.fromisoformat(END))
        expected = trial_metrics(result, market)
        assert r["final_equity"] == expected["final_equity"]
        assert float(r["sharpe"]) == expected["sharpe"]
        assert int(r["trades"]) == expected["trades"]
    assert len({r["final_equity"] for r in found}) > 2  # the parameters really matter here
    report = (grid_run / "report.html").read_text().split("</script>", 1)[1]  # after plotly.js
    for part in ("Overfitting guards", "deflated Sharpe ratio", "Parallel coordinates",
                 "Distribution of sharpe", "(best per cell)"):
        assert part in report
    assert report.count("(best per cell)") == 3  # one heatmap per pair of the 3 parameters


def test_best_config_reproduces_the_best_trial_in_backtest(grid_run, tmp_path):
    best = max(rows(grid_run / "trials.csv"), key=lambda r: (float(r["objective"]),
                                                               -int(r["trial"])))
    out = tmp_path / "bt"
    assert main(["backtest", "--config", str(grid_run / "best_config.yaml"), "--start", START,
                 "--end", END, "--output", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["final_equity"] == best["final_equity"]
    assert summary["sharpe"] == float(best["sharpe"])
    assert summary["trades"]["closed"] == int(best["trades"])
    assert "tiingo_api_key: null" in (grid_run / "best_config.yaml").read_text()


def test_same_seed_gives_the_same_trials_with_1_and_2_workers(config_path, cluster2, tmp_path):
    search = ["--search", "bayes", "--trials", "10", "--batch-size", "4", "--seed", "5",
              "--param", "signals.exit.stop_loss_stock=0.04:0.12:0.01",
              "--param", "signals.entry.rsi_min=40:55:5"]
    assert optimize(config_path, tmp_path / "one", *search, "--workers", "1") == 0
    assert optimize(config_path, tmp_path / "two", *search, "--scheduler",
                    cluster2.scheduler_address) == 0
    one, two = rows(tmp_path / "one" / "trials.csv"), rows(tmp_path / "two" / "trials.csv")
    assert len(one) == 10 and one == two


def test_resume_after_an_interrupted_run_gives_the_same_trials(grid_run, config_path, cluster2,
                                                               tmp_path):
    cfg = load_config(config_path)
    out = tmp_path / "cut"
    space = parse_space([a for a in GRID if a != "--param"], cfg)
    settings = SearchSettings(SearchPlan("grid", tuple(space), 50, 0), "sharpe", Constraints(),
                              date.fromisoformat(START), date.fromisoformat(END))
    spec = MarketSpec(cfg, None, date.fromisoformat(END), datetime.now(UTC))
    done = []

    def interrupt(record):
        done.append(record)
        if len(done) == 3:
            raise KeyboardInterrupt  # what Ctrl-C raises in the middle of a sweep

    with distributed.Client(cluster2.scheduler_address) as client, \
            installed(client, TrialContext(cfg, spec)) as plugin:
        prepare_dir(out, settings, cfg, resume=False)
        with pytest.raises(KeyboardInterrupt):
            run_sweep(client, plugin, settings, open_log(out, settings), lambda _t: None,
                      on_trial=interrupt)
    assert len(rows(out / "trials.csv")) == 3
    assert main(["optimize", "--config", str(config_path), "--start", START, "--end", END,
                 "--resume", str(out), "--scheduler", cluster2.scheduler_address]) == 0
    assert rows(out / "trials.csv") == rows(grid_run / "trials.csv")


def test_a_worker_killed_mid_sweep_changes_nothing(grid_run, config_path, tmp_path):
    cfg = load_config(config_path)
    space = parse_space([a for a in GRID if a != "--param"], cfg)
    settings = SearchSettings(SearchPlan("grid", tuple(space), 50, 0), "sharpe", Constraints(),
                              date.fromisoformat(START), date.fromisoformat(END))
    spec = MarketSpec(cfg, None, date.fromisoformat(END), datetime.now(UTC))
    out = tmp_path / "kill"
    killed = []
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address="127.0.0.1:0")
    try:
        with distributed.Client(cluster) as client, \
                installed(client, TrialContext(cfg, spec)) as plugin:
            pids = sorted(client.run(os.getpid).values())

            def kill_one(_record):
                if not killed:
                    os.kill(pids[0], signal.SIGKILL)  # its running and queued trials are lost
                    killed.append(pids[0])

            prepare_dir(out, settings, cfg, resume=False)
            run_sweep(client, plugin, settings, open_log(out, settings), lambda _t: None,
                      on_trial=kill_one)
    finally:
        cluster.close()
    assert killed
    assert rows(out / "trials.csv") == rows(grid_run / "trials.csv")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_sweep_by_address_on_dask_scheduler_and_worker_subprocesses(grid_run, config_path,
                                                                    tmp_path):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = []
    try:
        started.append(subprocess.Popen(
            [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port",
             str(port), "--no-dashboard"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL))
        started.append(subprocess.Popen(
            [sys.executable, "-m", "dask", "worker", address, "--host", "127.0.0.1",
             "--nthreads", "1", "--nworkers", "1", "--no-dashboard"], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with distributed.Client(address, timeout="60s") as client:
            client.wait_for_workers(1, timeout=60)
        assert optimize(config_path, tmp_path / "remote", *GRID, "--scheduler", address) == 0
    finally:
        for process in reversed(started):
            _stop(process)
    assert rows(tmp_path / "remote" / "trials.csv") == rows(grid_run / "trials.csv")


def test_unreachable_scheduler_is_one_line_exit_2(config_path, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("momentum.research.cluster.CONNECT_TIMEOUT", "2s")  # nobody listens
    code = optimize(config_path, tmp_path / "x", *GRID, "--scheduler",
                    f"tcp://127.0.0.1:{_free_port()}")
    assert code == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


def test_bad_param_is_one_line_exit_2(config_path, tmp_path, capsys):
    code = optimize(config_path, tmp_path / "x", "--param", "risk.max_positons=3")
    err = capsys.readouterr().err
    assert code == 2 and "did you mean 'risk.max_positions'" in err
    assert "Traceback" not in err


def test_walk_forward_carries_equity_from_window_to_window(config_path, cluster2, tmp_path):
    out = tmp_path / "wf"
    assert main(["walk-forward", "--config", str(config_path), "--start", "2019-01-01",
                 "--end", "2020-06-30", "--train", "1y", "--test", "3m",
                 "--param", "signals.exit.stop_loss_stock=0.05,0.1", "--output", str(out),
                 "--scheduler", cluster2.scheduler_address]) == 0
    windows = rows(out / "windows.csv", drop=())
    assert [(w["test_start"], w["test_end"]) for w in windows] == [
        ("2020-01-01", "2020-03-31"), ("2020-04-01", "2020-06-30")]
    assert all(w["train_end"] < w["test_start"] for w in windows)
    assert windows[0]["oos_start_equity"] == "100000"
    assert windows[1]["oos_start_equity"] == windows[0]["oos_final_equity"]
    # the second test window, re-run by hand from the carried equity, ends where the file says
    cfg = load_config(config_path)
    market = MarketSpec(cfg, None, date(2020, 6, 30), datetime.now(UTC)).load()
    params = json.loads(windows[1]["params"])
    result = run_backtest(market, apply_overrides(cfg, params), date(2020, 4, 1),
                          date(2020, 6, 30), capital=Decimal(windows[1]["oos_start_equity"]))
    assert str(result.state.equity_curve[-1].equity) == windows[1]["oos_final_equity"]
    equity = rows(out / "oos_equity.csv", drop=())
    assert equity[-1]["equity"] == windows[1]["oos_final_equity"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["windows"] == 2 and "Stitched out-of-sample equity" in (
        out / "report.html").read_text()
    assert "Overfitting guards" in (out / "window_2" / "report.html").read_text()
