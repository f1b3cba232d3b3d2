"""The preflight checks of the system: tests, backtest, validation, data key, logs, alerts,
dashboard, scheduler (DEPLOYMENT_CHECKLIST.md, pre-deployment). One function per item."""
from __future__ import annotations

import json
import logging
import socket
import tempfile
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from momentum.core.calendar import NEW_YORK
from momentum.core.errors import MomentumError
from momentum.data.sources import build_source, choose_source
from momentum.notify.alerts import mask_secrets
from momentum.ops.alert_test import send_test_alert
from momentum.ops.checks_paper import PAPER_CHECKS
from momentum.ops.preflight import CheckResult, CommandResult, PreflightEnv, Status

logger = logging.getLogger(__name__)
MIN_SHARPE = 1.0                 # the checklist: "Backtest shows positive results (Sharpe > 1.0)"
BACKTEST_YEARS = 3
TEST_TIMEOUT_S = 1800
STATUS_FILE = Path("logs") / "scheduler_status.json"
STATUS_FRESH = timedelta(days=4)  # a long weekend plus a holiday without a scheduled run
DASHBOARD_WAIT_S = 60
TIME_WORDS = ("time", "last", "finished", "started", "ended", "at")  # status-file keys, tolerantly


def _last_line(result: CommandResult) -> str:
    lines = [x.strip() for x in (result.stdout + "\n" + result.stderr).splitlines() if x.strip()]
    return lines[-1][:200] if lines else f"exit code {result.returncode}"


def _pytest(env: PreflightEnv, name: str, paths: list[str]) -> CheckResult:
    if env.skip_tests:
        return CheckResult(name, Status.NOT_RUN, "skipped by --skip-tests",
                           "run `python main.py preflight` without --skip-tests")
    result = env.run([env.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths],
                     env.root, TEST_TIMEOUT_S)
    summary = _last_line(result)
    if result.returncode == 0:
        return CheckResult(name, Status.PASS, f"{' '.join(paths)}: {summary}")
    return CheckResult(name, Status.FAIL, f"{' '.join(paths)}: {summary}",
                       f"run `python -m pytest -q {' '.join(paths)}` and fix the failures")


def check_unit_tests(env: PreflightEnv) -> CheckResult:
    """Checklist: all unit tests pass."""
    return _pytest(env, "unit_tests", ["tests/unit"])


def check_integration_tests(env: PreflightEnv) -> CheckResult:
    """Checklist: integration tests pass (integration, end-to-end and the phase-7 suite)."""
    return _pytest(env, "integration_tests",
                   ["tests/integration", "tests/e2e", "tests/test_integration.py"])


def backtest_window(env: PreflightEnv) -> tuple[str, str]:
    end = env.end or env.clock.now().astimezone(NEW_YORK).date() - timedelta(days=1)
    day = 28 if (end.month, end.day) == (2, 29) else end.day  # a leap day has no twin
    start = env.start or end.replace(year=end.year - BACKTEST_YEARS, day=day)
    return start.isoformat(), end.isoformat()


def check_backtest(env: PreflightEnv) -> CheckResult:
    """Checklist: the backtest over the window shows Sharpe > 1.0."""
    start, end = backtest_window(env)
    with tempfile.TemporaryDirectory(prefix="momentum-preflight-") as tmp:
        result = env.run(env.command("main.py", "backtest", "--start", start, "--end", end,
                                     "--output", tmp, "-q"), env.cwd, TEST_TIMEOUT_S)
        summary = Path(tmp) / "summary.json"
        if result.returncode != 0 or not summary.is_file():
            return CheckResult("backtest", Status.FAIL, f"backtest {start} .. {end} failed: "
                               f"{_last_line(result)}", "run the backtest command and fix it")
        sharpe = json.loads(summary.read_text(encoding="utf-8")).get("sharpe")
    where = f"backtest {start} .. {end}: Sharpe {sharpe if sharpe is None else f'{sharpe:.2f}'}"
    if sharpe is not None and sharpe > MIN_SHARPE:
        return CheckResult("backtest", Status.PASS, f"{where} > {MIN_SHARPE}")
    return CheckResult("backtest", Status.FAIL, f"{where}, not > {MIN_SHARPE}",
                       "do not deploy these settings: revisit them (optimize, walk-forward) or "
                       "choose another window with --start/--end")


def check_paper_validation(env: PreflightEnv) -> CheckResult:
    """Checklist: paper trading validated against the backtest (0 differences)."""
    result = env.run(env.command("validate_paper_trading.py", "--portfolio", "--state-dir",
                                 str(env.state_dir), "--reports",
                                 str(Path(env.cfg.logging.report_dir).resolve())), env.cwd,
                     TEST_TIMEOUT_S)
    lines = (result.stdout + result.stderr).splitlines()
    found = next((x.split(":", 1)[1].strip() for x in lines if x.startswith("result:")), "")
    if result.returncode == 0:
        return CheckResult("paper_validation", Status.PASS,
                           f"the paper record matches its backtest replay: {found}")
    return CheckResult("paper_validation", Status.FAIL, found or _last_line(result),
                       f"read the report of `python validate_paper_trading.py --portfolio "
                       f"--state-dir {env.state_dir}`: each difference names its cause")


def check_api_key(env: PreflightEnv) -> CheckResult:
    """Checklist: API credentials configured (the key is set and the connection test passes)."""
    choice = choose_source(env.cfg, env.data_dir)
    if choice.name == "csv":
        return CheckResult("api_key", Status.NA, f"market data from {choice.description}: no "
                           "API key used")
    if env.cfg.api.tiingo_api_key is None:
        return CheckResult("api_key", Status.FAIL, "no TIINGO_API_KEY set: the synthetic market "
                           "is for trying the system, paper trading needs real prices",
                           "export TIINGO_API_KEY=<your token from tiingo.com/account/api/token>")
    try:
        source = build_source(env.cfg, env.clock.now(), env.data_dir, choice)
        message = source.check_connection()  # type: ignore[attr-defined]
    except MomentumError as e:
        return CheckResult("api_key", Status.FAIL, f"Tiingo connection test failed: "
                           f"{mask_secrets(str(e), env.cfg.secrets())}",
                           "check the key and the network, then `python main.py scan`")
    return CheckResult("api_key", Status.PASS, f"Tiingo key set, connection test passed "
                       f"({str(message)[:60]})")


def check_logging(env: PreflightEnv) -> CheckResult:
    """Checklist: logging working (files written, secrets masked in them)."""
    log_dir = Path(env.cfg.logging.log_file).parent
    marker, probe = uuid.uuid4().hex, "preflight" + uuid.uuid4().hex
    secrets = [s for s in env.cfg.secrets() if len(s) >= 6]
    level = max(logging.INFO, logging.getLevelName(env.cfg.logging.level.value))
    logger.log(level, "preflight log probe %s: Authorization: Token %s %s", marker, probe,
               " ".join(secrets))  # at the configured level, so the main log file takes it
    for handler in logging.getLogger().handlers:
        handler.flush()
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in log_dir.glob("*.log")]
    hit = [t for t in texts if marker in t]
    if not hit:
        return CheckResult("logging", Status.FAIL, f"no log file in {log_dir}/ received the probe "
                           "line", f"make {log_dir}/ writable (logging.log_file)")
    leaked = [s for s in [probe, *secrets] if any(s in t for t in hit)]
    if leaked:
        return CheckResult("logging", Status.FAIL, f"{len(leaked)} secret(s) appear unmasked in "
                           f"{log_dir}/", "report this as a bug; delete the exposed log lines")
    return CheckResult("logging", Status.PASS, f"{log_dir}/ written, a token and "
                       f"{len(secrets)} configured secret(s) masked")


def check_alerts(env: PreflightEnv) -> CheckResult:
    """Checklist: alerts configured and tested (a test alert on every configured channel)."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as sink:  # the console block stays off
        outcomes = send_test_alert(env.cfg, env.state_dir, env.clock, stream=sink)
    failed = [o for o in outcomes if not o.delivered]
    names = ", ".join(o.channel for o in outcomes)
    if failed:
        return CheckResult("alerts", Status.FAIL, "; ".join(f"{o.channel}: {o.error}"
                                                          for o in failed),
                           "fix the alerts: settings, then `python main.py alerts --test`")
    remote = [o.channel for o in outcomes if o.channel not in ("log", "console")]
    note = "" if remote else " (no email or Slack configured: alerts reach this machine only)"
    return CheckResult("alerts", Status.PASS, f"test alert delivered on {names}{note}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_dashboard(env: PreflightEnv) -> CheckResult:
    """Checklist: dashboard accessible (starts, answers its health check on 127.0.0.1)."""
    if not (env.root / "dashboard.py").is_file():
        return CheckResult("dashboard", Status.FAIL, "dashboard.py not found",
                           "install the complete release (dashboard.py beside main.py)")
    port = env.dashboard_port or free_port()
    url = f"http://127.0.0.1:{port}/_stcore/health"
    process = env.launch([env.python, "-m", "streamlit", "run", "dashboard.py",
                          "--server.headless", "true", "--server.address", "127.0.0.1",
                          "--server.port", str(port)], env.root)
    try:
        waited = 0.0
        while waited < DASHBOARD_WAIT_S:
            if env.http_status(url, 2.0) == 200:
                return CheckResult("dashboard", Status.PASS, f"started, {url} answers 200")
            if process.poll() is not None:
                break
            env.sleep(0.5)
            waited += 0.5
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except Exception:  # subprocess.TimeoutExpired: it did not stop, stop it hard
            process.kill()
    return CheckResult("dashboard", Status.FAIL, f"no answer from {url}",
                       "run `streamlit run dashboard.py` and read its error")


def check_scheduler(env: PreflightEnv) -> CheckResult:
    """Checklist: scheduler configured (a crontab line, or a fresh logs/scheduler_status.json)."""
    status = _status_file(env)
    cron = env.crontab() or ""
    line = next((x for x in cron.splitlines()
                 if "scheduler.py" in x and "--once" in x and not x.lstrip().startswith("#")), "")
    if status is not None and status[1]:
        return CheckResult("scheduler", Status.FAIL, status[1],
                           "read the scheduler's log named in logs/scheduler_status.json")
    if status is not None and status[0]:
        return CheckResult("scheduler", Status.PASS, status[0])
    if line:
        return CheckResult("scheduler", Status.PASS, f"crontab runs it: {line.strip()[:80]}")
    return CheckResult("scheduler", Status.FAIL, "no crontab line runs scheduler.py --once and "
                       f"{STATUS_FILE.name} is missing or stale",
                       "install the scheduler (docs/SCHEDULING.md)")


def _status_file(env: PreflightEnv) -> tuple[str, str] | None:
    """(fresh text, problem text) from the scheduler's status file; read tolerantly."""
    # the configured log folder (where the scheduler logs), else the checkout's logs/
    places = [Path(env.cfg.logging.log_file).parent / STATUS_FILE.name, env.root / STATUS_FILE]
    path = next((p for p in places if p.is_file()), None)
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8")) if path else None
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    code = next((data[k] for k in ("exit_code", "returncode", "code") if k in data), None)
    when = _newest_time(data)
    if when is None:
        return None
    age = env.clock.now() - when
    if isinstance(code, int) and code != 0:
        return "", f"the last scheduled run ({when.isoformat()}) exited {code}"
    if age > STATUS_FRESH:
        return None
    return f"last scheduled run {when.isoformat(timespec='minutes')} ({age.days} day(s) ago)", ""


def _newest_time(data: dict[str, Any]) -> datetime | None:
    times = []
    for key, value in data.items():
        if isinstance(value, str) and "next" not in key and any(w in key for w in TIME_WORDS):
            try:
                t = datetime.fromisoformat(value)
            except ValueError:
                continue
            times.append(t if t.tzinfo else t.replace(tzinfo=timezone.utc))
    return max(times, default=None)


ALL_CHECKS = (check_unit_tests, check_integration_tests, check_backtest,
              check_paper_validation, check_api_key, check_logging, check_alerts,
              check_dashboard, check_scheduler,
              *PAPER_CHECKS)
