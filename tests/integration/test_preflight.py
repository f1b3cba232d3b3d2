"""`main.py preflight`: every check passes on a prepared healthy set-up, and each broken item
fails alone with its reason.

The slow parts go through fakes passed in the PreflightEnv (the test suites, the backtest and
the validation subprocesses, the crontab; the dashboard is a real HTTP server on 127.0.0.1
standing in for Streamlit). The rest runs for real: the saved portfolio (30 sessions on the
synthetic market), the state round trip, the docs on disk, the log files with the masking
filter, a test alert to a local Slack stand-in, the scheduler status file.
"""
from __future__ import annotations

import json
import logging
import shutil
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

import main as cli
from logging_config import _OWNED, reset_logging, setup_logging
from momentum.core.config import DEFAULT_CONFIG_PATH, load_config
from momentum.ops import checks
from momentum.ops.preflight import (CommandResult, PreflightEnv, Status, exit_code, run_command,
                                     run_preflight)

NOW = datetime(2024, 3, 1, 22, 0, tzinfo=timezone.utc)
WEBHOOK_PATH = "/services/T000/B000/preflightsecret0123"
DOCS = ("README.md", "docs/USER_GUIDE.md", "DEPLOYMENT_CHECKLIST.md", "docs/STRATEGY.md")


class FixedClock:
    def now(self) -> datetime:
        return NOW


class Answering:
    """An HTTP server on 127.0.0.1 answering every GET and POST with `status`."""

    def __init__(self, port: int = 0, status: int = 200) -> None:
        self.status, self.hits = status, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                outer.hits.append(self.path)
                self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                self.send_response(outer.status)
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    # the process protocol the dashboard check uses
    def poll(self) -> None:
        return None

    def terminate(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait(self, timeout: float | None = None) -> int:
        return 0


class FakeRunner:
    """The subprocesses: pytest, the backtest (writes summary.json), the validation."""

    def __init__(self) -> None:
        self.codes = {"tests/unit": 0, "tests/integration": 0, "validate": 0}
        self.sharpe = 1.25
        self.calls: list[list[str]] = []

    def __call__(self, cmd, cwd, timeout_s) -> CommandResult:
        cmd = list(cmd)
        self.calls.append(cmd)
        if "pytest" in cmd:
            code = self.codes["tests/unit" if "tests/unit" in cmd else "tests/integration"]
            return CommandResult(code, "12 passed in 0.5s" if code == 0 else "1 failed, 11 passed")
        if "backtest" in cmd:
            out = Path(cmd[cmd.index("--output") + 1])
            (out / "summary.json").write_text(json.dumps({"sharpe": self.sharpe}))
            return CommandResult(0)
        code = self.codes["validate"]
        result = "0 differences, 7/7 checks passed: MATCH" if code == 0 else \
            "2 differences, 7/7 checks passed: MISMATCH"
        return CommandResult(code, f"window: ...\nresult:   {result}\n")


@pytest.fixture(scope="module")
def portfolios(tmp_path_factory) -> dict[str, Path]:
    """Real paper portfolios on the synthetic market: 30 sessions at $10k, 30 at $100k, 6."""
    root = tmp_path_factory.mktemp("portfolios")
    config = write_config(root, None)
    made = {}
    for name, capital, end in (("healthy", "10000", "2024-02-13"),
                               ("large", "100000", "2024-02-13"), ("short", "10000", "2024-01-09")):
        state = root / name
        assert cli.main(["paper", "--init", "--capital", capital, "--date", "2024-01-02",
                         "--config", str(config), "--state-dir", str(state)]) == 0
        assert cli.main(["paper", "--run", "--date", end, "--config", str(config),
                         "--state-dir", str(state)]) == 0
        made[name] = state
    return made


def write_config(root: Path, webhook: str | None) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["data"].update(source="synthetic", cache_dir=str(root.parent / "synthetic-cache"))
    raw["logging"].update(log_file=str(root / "logs" / "momentum_strategy.log"),
                          snapshot_dir=str(root / "snapshots"), report_dir=str(root / "reports"))
    raw["alerts"]["slack_webhook"] = webhook
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture()
def slack():
    server = Answering()
    yield server
    server.terminate()


@pytest.fixture()
def healthy(tmp_path, portfolios, slack) -> PreflightEnv:
    """A checkout with its docs, dashboard.py and a fresh scheduler status; logging set up."""
    for doc in DOCS:
        (tmp_path / doc).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / doc).write_text(f"# {doc}\n")
    (tmp_path / "dashboard.py").write_text("import streamlit\n")
    (tmp_path / "logs").mkdir(exist_ok=True)
    status = {"last_run": (NOW - timedelta(hours=6)).isoformat(), "session": "2024-03-01",
              "exit_code": 0, "next_run": (NOW + timedelta(hours=18)).isoformat()}
    (tmp_path / "logs" / "scheduler_status.json").write_text(json.dumps(status))
    state = Path(shutil.copytree(portfolios["healthy"], tmp_path / "state"))
    webhook = f"http://127.0.0.1:{slack.port}{WEBHOOK_PATH}"
    config = write_config(tmp_path, webhook)
    cfg = load_config(config)
    setup_logging("INFO", quiet=True, log_dir=tmp_path / "logs", secrets=cfg.secrets())
    yield PreflightEnv(root=tmp_path, config_path=config, cfg=cfg, state_dir=state,
                       data_dir=tmp_path / "csv-data", clock=FixedClock(), run=FakeRunner(),
                       launch=lambda cmd, cwd: Answering(int(cmd[cmd.index("--server.port") + 1])),
                       crontab=lambda: None, sleep=lambda s: None)
    reset_logging()


def statuses(env: PreflightEnv) -> dict[str, Status]:
    return {r.name: r.status for r in run_preflight(env)}


def failing(env: PreflightEnv) -> dict[str, str]:
    return {r.name: r.reason for r in run_preflight(env) if not r.ok}


def test_every_check_passes_on_a_healthy_set_up(healthy, slack):
    results = run_preflight(healthy)
    assert [r for r in results if not r.ok] == []
    assert exit_code(results) == 0
    by_name = {r.name: r for r in results}
    assert by_name["api_key"].status is Status.NA  # CSV data: no key used
    assert "log, console, slack" in by_name["alerts"].reason and slack.hits == [WEBHOOK_PATH]
    assert "1 configured secret(s) masked" in by_name["logging"].reason
    log = (healthy.root / "logs" / "momentum_strategy.log").read_text()
    assert "preflight log probe" in log and WEBHOOK_PATH not in log
    assert by_name["paper_sessions"].reason.startswith("30 sessions run")
    trades = by_name["paper_trades"]
    assert trades.status is Status.PASS and len(trades.details) >= 1
    assert len(results) == len(checks.ALL_CHECKS)


def break_unit(env):
    env.run.codes["tests/unit"] = 1


def break_integration(env):
    env.run.codes["tests/integration"] = 1


def break_backtest(env):
    env.run.sharpe = 0.8


def break_validation(env):
    env.run.codes["validate"] = 1


def break_docs(env):
    (env.root / "docs" / "USER_GUIDE.md").unlink()


def break_dashboard(env):
    (env.root / "dashboard.py").unlink()


def break_scheduler(env):
    stale = {"last_run": (NOW - timedelta(days=9)).isoformat(), "exit_code": 0}
    (env.root / "logs" / "scheduler_status.json").write_text(json.dumps(stale))


def break_alerts(env, slack):
    slack.status = 500


def break_logging(env):
    reset_logging()  # a file handler without the masking filter: the webhook path leaks
    handler = logging.FileHandler(env.root / "logs" / "momentum_strategy.log")
    setattr(handler, _OWNED, True)  # removed by the fixture's reset_logging()
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)


def break_halt(env):
    assert cli.main(["paper", "--halt", "--reason", "broker outage", "--config",
                     str(env.config_path), "--state-dir", str(env.state_dir)]) == 0


def break_capital(env, portfolios):
    shutil.rmtree(env.state_dir)
    shutil.copytree(portfolios["large"], env.state_dir)


def break_sessions(env, portfolios):
    shutil.rmtree(env.state_dir)
    shutil.copytree(portfolios["short"], env.state_dir)


@pytest.mark.parametrize("breakage, name, reason", [
    (break_unit, "unit_tests", "tests/unit: 1 failed, 11 passed"),
    (break_integration, "integration_tests", "1 failed, 11 passed"),
    (break_backtest, "backtest", "Sharpe 0.80, not > 1.0"),
    (break_validation, "paper_validation", "2 differences"),
    (break_docs, "docs", "missing: docs/USER_GUIDE.md"),
    (break_dashboard, "dashboard", "dashboard.py not found"),
    (break_scheduler, "scheduler", "scheduler_status.json is missing or stale"),
    (break_alerts, "alerts", "slack:"),
    (break_logging, "logging", "appear unmasked"),
    (break_halt, "kill_switch", "trading HALTED since"),
    (break_capital, "paper_capital", "started with $100000"),
    (break_sessions, "paper_sessions", "6 session(s) run, fewer than 30"),
])
def test_each_broken_item_fails_alone_with_its_reason(healthy, slack, portfolios, breakage,
                                                     name, reason):
    extra = {"slack": slack, "portfolios": portfolios}
    wanted = breakage.__code__.co_varnames[1:breakage.__code__.co_argcount]
    breakage(healthy, **{k: extra[k] for k in wanted})
    found = failing(healthy)
    assert list(found) == [name], found
    assert reason in found[name]


def test_skipped_tests_are_not_run_and_the_exit_is_not_zero(healthy):
    healthy.skip_tests = True
    results = run_preflight(healthy)
    assert {r.name: r.status for r in results if not r.ok} == {
        "unit_tests": Status.NOT_RUN, "integration_tests": Status.NOT_RUN}
    assert exit_code(results) == 2
    assert not any("pytest" in c for c in healthy.run.calls)


def test_a_dashboard_that_never_answers_fails_with_the_url(healthy):
    class Silent:
        def poll(self):
            return None

        def terminate(self):
            pass

        def wait(self, timeout=None):
            return 0

    healthy.launch = lambda cmd, cwd: Silent()
    result = checks.check_dashboard(replace(healthy, dashboard_port=checks.free_port()))
    assert result.status is Status.FAIL and "/_stcore/health" in result.reason


def test_a_scheduler_whose_last_run_failed_fails_and_a_crontab_line_passes(healthy):
    path = healthy.root / "logs" / "scheduler_status.json"
    path.write_text(json.dumps({"finished_at": NOW.isoformat(), "exit_code": 75}))
    assert "exited 75" in checks.check_scheduler(healthy).reason
    path.unlink()
    healthy.crontab = lambda: "5 16 * * 1-5 cd /srv/momentum && python scheduler.py --once\n"
    assert checks.check_scheduler(healthy).status is Status.PASS


def test_the_synthetic_market_without_a_key_fails_the_api_check(healthy):
    result = checks.check_api_key(replace(healthy, data_dir=None))
    assert result.status is Status.FAIL and "no TIINGO_API_KEY" in result.reason
    assert "export TIINGO_API_KEY" in result.fix


def test_a_corrupt_snapshot_fails_the_state_check_naming_it(healthy):
    pointer = json.loads((healthy.state_dir / "latest.json").read_text())
    (healthy.state_dir / pointer["file"]).write_text("{ truncated")
    found = failing(healthy)
    assert pointer["file"] in found["state_round_trip"] and "not valid JSON" in \
        found["state_round_trip"]


def test_preflight_command_prints_one_line_per_check(healthy, capsys):
    argv = ["preflight", "--only", "state_round_trip,kill_switch", "--config",
            str(healthy.config_path), "--state-dir", str(healthy.state_dir)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in out] == [["PASS", "state_round_trip"],
                                                  ["PASS", "kill_switch"], ["2/2", "checks"]]
    assert out[-1] == "2/2 checks passed: READY"
    break_halt(healthy)
    capsys.readouterr()
    assert cli.main(argv) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("FAIL    kill_switch") and "fix: `python main.py paper --resume`" \
        in out[1]
    assert out[-1] == "1/2 checks passed: NOT READY"


def test_preflight_only_with_an_unknown_check_is_one_line(capsys):
    assert cli.main(["preflight", "--only", "nonsense"]) == 2
    assert "unknown check(s) nonsense" in capsys.readouterr().err


def test_the_validation_check_runs_the_real_command_on_the_portfolio(healthy):
    env = replace(healthy, run=run_command, data_dir=None, root=Path(cli.__file__).parent)
    result = checks.check_paper_validation(env)
    assert result.status is Status.PASS, result.reason
    assert "0 differences" in result.reason


KEY = "0123456789abcdef0123456789abcdef01234567"


def tiingo_env(env: PreflightEnv, url: str, key: str) -> PreflightEnv:
    raw = yaml.safe_load(env.config_path.read_text())
    raw["api"].update(tiingo_api_key=key, tiingo_base_url=url, max_retries=0, timeout_seconds=5)
    raw["data"].update(source="tiingo", cache_dir=str(env.root / "tiingo-cache"))
    raw["data"]["universe"] = {"stocks": ["AAPL"], "crypto": [], "file": None}
    env.config_path.write_text(yaml.safe_dump(raw))
    return replace(env, cfg=load_config(env.config_path), data_dir=None)


def test_the_api_check_runs_the_tiingo_connection_test(healthy, tiingo_fixtures):
    from tests.tiingo_server import TiingoTestServer
    with TiingoTestServer(tiingo_fixtures, KEY) as server:
        good = checks.check_api_key(tiingo_env(healthy, server.url, KEY))
        bad = checks.check_api_key(tiingo_env(healthy, server.url, "f" * 40))
        assert server.count("/api/test") == 2
    assert good.status is Status.PASS and "connection test passed" in good.reason
    assert bad.status is Status.FAIL and "Tiingo connection test failed" in bad.reason
    assert "f" * 40 not in bad.reason


def test_alerts_test_command_reports_each_channel(healthy, slack, capsys):
    argv = ["alerts", "--test", "--config", str(healthy.config_path)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "delivered  log" in out and "delivered  slack" in out
    assert slack.hits == [WEBHOOK_PATH]
    slack.status = 500
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert "FAILED     slack" in captured.out and WEBHOOK_PATH not in captured.out
    assert "not delivered on every channel" in captured.err


def test_preflight_runs_the_commands_from_the_users_folder_with_relative_paths(
        portfolios, tmp_path, monkeypatch, capsys):
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["data"].update(source="synthetic",
                       cache_dir=str(portfolios["healthy"].parent.parent / "synthetic-cache"))
    raw["logging"].update(log_file="logs/momentum_strategy.log", snapshot_dir="snapshots/",
                          report_dir="reports/")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw))
    shutil.copytree(portfolios["healthy"], tmp_path / "snapshots")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["preflight", "--only", "paper_validation", "--config", "config.yaml"]) == 0
    assert capsys.readouterr().out.startswith("PASS    paper_validation")
    assert list((tmp_path / "reports").glob("validation_*.txt"))
