"""logging_config (7.2.7): files, routing, line format and run id, masking, alert handler."""
from __future__ import annotations

import io
import logging
import re
import subprocess
import sys
from logging.handlers import TimedRotatingFileHandler
from pathlib import Path

import pytest

import logging_config
from logging_config import AlertHandler, SecretMaskingFilter, reset_logging, setup_logging
from momentum.notify.alerts import Alert, AlertKind, Severity

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "hunter2-Secret-pw"
WEBHOOK = "https://example.org/hooks/T000/B000/tokenPART123456"
LINE = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] \[(?P<level>[A-Z]+)\] "
                  r"\[(?P<component>[^\]]+)\] \[run:(?P<run>[0-9a-f]{8})\] (?P<msg>.*)$")


@pytest.fixture(autouse=True)
def restore_logging():
    """Put the root logger (and the loggers setup_logging quiets) back as they were."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    noisy = {n: logging.getLogger(n).level for n in logging_config.NOISY_LOGGERS}
    yield
    reset_logging()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in noisy.items():
        logging.getLogger(name).setLevel(old)


def owned() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if getattr(h, "_momentum_owned", False)]


def read(log_dir: Path, name: str) -> str:
    for handler in owned():
        handler.flush()
    return (log_dir / name).read_text(encoding="utf-8")


def test_setup_logging_creates_the_three_files_with_the_line_format(tmp_path):
    console = io.StringIO()
    run_id = setup_logging("INFO", log_dir=tmp_path / "logs", console_stream=console)
    logging.getLogger("momentum.run.engine").info("marked %d positions", 3)
    logging.getLogger("momentum.run.engine").debug("per-asset numbers")  # below INFO: dropped
    logging.getLogger("main").warning("top-level module")
    names = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert names == ["errors.log", "momentum_strategy.log", "trades.log"]
    lines = read(tmp_path / "logs", "momentum_strategy.log").splitlines()
    parsed = [LINE.match(line).groupdict() for line in lines]
    assert parsed == [
        {"level": "INFO", "component": "engine", "run": run_id, "msg": "marked 3 positions"},
        {"level": "WARNING", "component": "main", "run": run_id, "msg": "top-level module"}]
    assert console.getvalue().splitlines() == lines  # same format, no colour off a terminal


def test_trade_lines_go_to_trades_log_and_errors_to_errors_log(tmp_path):
    log_dir = tmp_path / "logs"
    run_id = setup_logging("INFO", log_dir=log_dir, console_stream=io.StringIO())
    engine = logging.getLogger("momentum.run.engine")
    engine.info("%s: BUY %s %s @ %s", "2024-03-04", 10, "AAPL", "150.15")
    engine.info("%s: SELL %s %s @ %s (%s) pnl %.2f", "2024-03-05", 10, "AAPL", "160", "x", 98.5)
    engine.info("%s: NVDA rejected: max_positions (R6.2 ...)", "2024-03-05")
    logging.getLogger("momentum.trades").info("trade ledger line")
    logging.getLogger("momentum.notify.alerts").info("ALERT entry ...", extra={"trade": True})
    logging.getLogger("momentum.notify.alerts").info("ALERT good day", extra={"trade": False})
    logging.getLogger("momentum.run.paper").error("state file locked")
    trades = [LINE.match(x)["msg"] for x in read(log_dir, "trades.log").splitlines()]
    assert trades == ["2024-03-04: BUY 10 AAPL @ 150.15",
                      "2024-03-05: SELL 10 AAPL @ 160 (x) pnl 98.50",
                      "trade ledger line", "ALERT entry ..."]
    [error] = read(log_dir, "errors.log").splitlines()
    assert error.endswith(f"[ERROR] [paper] [run:{run_id}] state file locked")
    assert len(read(log_dir, "momentum_strategy.log").splitlines()) == 7


def test_trades_log_keeps_trades_when_the_main_log_is_warning(tmp_path):
    setup_logging("WARNING", log_dir=tmp_path, console_stream=io.StringIO())
    logging.getLogger("momentum.run.engine").info("%s: BUY 1 X @ 2", "2024-03-04")
    assert "BUY 1 X @ 2" in read(tmp_path, "trades.log")
    assert read(tmp_path, "momentum_strategy.log") == ""


def test_secrets_are_masked_in_every_file_and_the_console(tmp_path):
    console = io.StringIO()
    setup_logging("DEBUG", log_dir=tmp_path, console_stream=console,
                  secrets=[PASSWORD, WEBHOOK], alert_sink=lambda alert: None)
    log = logging.getLogger("momentum.data.tiingo.client")
    log.info("login with %s", PASSWORD)
    log.debug("headers {'Authorization': 'Token abc123def'} and Authorization: Token zz9")
    log.info("posting to %s", "https://hooks.slack.com/services/T1/B2/someTOKEN")
    log.warning("Max retries exceeded with url: %s", "/hooks/T000/B000/tokenPART123456")
    try:
        raise ValueError(f"cannot post to {WEBHOOK}")
    except ValueError:
        log.exception("%s: BUY failed for %s", "2024-03-04", PASSWORD)
    logging.getLogger("momentum.run.engine").info("%s: BUY 1 X @ %s", "2024-03-04", PASSWORD)
    texts = {name: read(tmp_path, name) for name in
             ("momentum_strategy.log", "trades.log", "errors.log")}
    texts["console"] = console.getvalue()
    for name, text in texts.items():
        for secret in (PASSWORD, WEBHOOK, "tokenPART", "abc123def", "zz9", "someTOKEN"):
            assert secret not in text, f"{secret} leaked into {name}"
    main = texts["momentum_strategy.log"]
    assert "login with ***" in main and "'Authorization': 'Token ***'" in main
    assert "hooks.slack.com/services/***" in main and "with url: ***" in main
    assert "ValueError: cannot post to ***" in texts["errors.log"]  # the traceback, masked
    assert "BUY 1 X @ ***" in texts["trades.log"]


def test_masking_filter_leaves_a_clean_record_alone():
    record = logging.LogRecord("momentum.x", logging.INFO, __file__, 1, "a %s b", ("c",), None)
    assert SecretMaskingFilter(["zzz"]).filter(record) and record.getMessage() == "a c b"


def test_alert_handler_sends_error_and_critical_records_as_alerts(tmp_path):
    alerts: list[Alert] = []
    setup_logging("INFO", console_stream=io.StringIO(), secrets=[PASSWORD],
                  alert_sink=alerts.append)
    log = logging.getLogger("momentum.run.paper")
    log.warning("a retry")  # below ERROR: no alert
    log.error("cannot save state with %s: %s", PASSWORD, "disk full")
    log.critical("giving up")
    assert [(a.kind, a.severity) for a in alerts] == [(AlertKind.ERROR, Severity.ERROR),
                                                      (AlertKind.ERROR, Severity.CRITICAL)]
    first = alerts[0]
    assert first.title == "paper: cannot save state with ***: disk full"
    assert first.key == "error:momentum.run.paper:cannot save state with %s: %s"
    assert PASSWORD not in repr(alerts)


def test_alert_handler_survives_a_failing_sink_and_does_not_recurse(caplog):
    calls: list[Alert] = []

    def sink(alert: Alert) -> None:
        calls.append(alert)
        logging.getLogger("momentum.notify.alerts").error("sink broke too")  # would alert again
        raise ConnectionError(f"smtp down, password {PASSWORD}")

    setup_logging("INFO", console_stream=io.StringIO(), secrets=[PASSWORD], alert_sink=sink)
    caplog.set_level(logging.WARNING)
    logging.getLogger("momentum.main").error("the command failed")  # must not raise
    assert len(calls) == 1
    warning = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1 and "ConnectionError: smtp down, password ***" in warning[0].message


def test_a_second_call_does_not_duplicate_handlers(tmp_path):
    setup_logging("INFO", log_dir=tmp_path, console_stream=io.StringIO())
    first = len(logging.getLogger().handlers)
    run_id = setup_logging("INFO", log_dir=tmp_path, console_stream=io.StringIO(),
                           alert_sink=lambda a: None, run_id="feedbeef")
    assert run_id == "feedbeef"
    assert len(owned()) == 5 and len(logging.getLogger().handlers) == first + 1  # + alerts
    logging.getLogger("momentum.x").info("once")
    assert read(tmp_path, "momentum_strategy.log").count("[run:feedbeef] once") == 1


def test_file_handlers_rotate_daily_keeping_keep_days(tmp_path):
    setup_logging("INFO", log_dir=tmp_path, keep_days=7, console_stream=io.StringIO())
    files = [h for h in owned() if isinstance(h, logging.FileHandler)]
    assert len(files) == 3 and all(isinstance(h, TimedRotatingFileHandler) for h in files)
    assert {(h.when, h.backupCount) for h in files} == {("MIDNIGHT", 7)}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_console_is_coloured_by_level_on_a_terminal_and_quiet_shows_warnings_only():
    tty = Terminal()
    setup_logging("INFO", console_stream=tty)
    logging.getLogger("momentum.x").info("plain")
    logging.getLogger("momentum.x").error("red")
    info, error = tty.getvalue().splitlines()
    assert "\033[" not in info and error.startswith("\033[31m[") and error.endswith("\033[0m")
    quiet = io.StringIO()
    setup_logging("INFO", quiet=True, console_stream=quiet)
    logging.getLogger("momentum.x").info("hidden")
    logging.getLogger("momentum.x").warning("shown")
    assert "hidden" not in quiet.getvalue() and "shown" in quiet.getvalue()
    assert logging.getLogger("urllib3").level == logging.getLogger("requests").level == 30


def test_old_positional_signature_still_works(capsys):
    logging_config.setup_logging("DEBUG", quiet=False)  # how main.py calls it
    logging.getLogger("momentum.main").debug("to stderr")
    assert "[DEBUG] [main] [run:" in capsys.readouterr().err
    assert not any(isinstance(h, AlertHandler) for h in owned())  # no sink, no alert handler


def test_importing_the_module_configures_nothing():
    code = ("import logging, logging_config; "
            "assert logging.getLogger().handlers == [], logging.getLogger().handlers")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


# ---------------------------------------------------------------- deferred_flush (a backtest)
def on_disk(log_dir: Path, name: str) -> str:
    """What the file holds now, without flushing anything first."""
    return (log_dir / name).read_text(encoding="utf-8")


def test_lines_reach_the_files_at_once_outside_deferred_flush(tmp_path):
    setup_logging("INFO", log_dir=tmp_path, console_stream=io.StringIO())
    logging.getLogger("momentum.run.engine").info("2024-01-02: BUY 10 AAA @ 5.00")
    assert "BUY 10 AAA" in on_disk(tmp_path, "momentum_strategy.log")
    assert "BUY 10 AAA" in on_disk(tmp_path, "trades.log")


def test_deferred_flush_holds_info_lines_and_writes_them_all_on_the_way_out(tmp_path, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(logging_config.time, "monotonic", lambda: clock[0])
    setup_logging("INFO", log_dir=tmp_path, console_stream=io.StringIO())
    log = logging.getLogger("momentum.run.engine")
    log.info("first line")  # outside: flushed, and the once-a-second clock starts
    with logging_config.deferred_flush():
        log.info("2024-01-02: BUY 10 AAA @ 5.00")  # trades.log: its first flush in a second
        log.info("a rejection")
        log.info("2024-01-02: BUY 20 BBB @ 2.00")
        assert "a rejection" not in on_disk(tmp_path, "momentum_strategy.log")
        assert "BUY 10 AAA" in on_disk(tmp_path, "trades.log")
        assert "BUY 20 BBB" not in on_disk(tmp_path, "trades.log")
        log.warning("risk limit hit")  # a warning is flushed at once, with what came before
        assert "a rejection" in on_disk(tmp_path, "momentum_strategy.log")
        log.info("held again")
        assert "held again" not in on_disk(tmp_path, "momentum_strategy.log")
        clock[0] += 1.5  # a second later the next line flushes (progress stays visible)
        log.info("a second later")
        assert "a second later" in on_disk(tmp_path, "momentum_strategy.log")
        log.info("last line")
    text = on_disk(tmp_path, "momentum_strategy.log")
    assert [LINE.match(line)["msg"] for line in text.splitlines()] == [
        "first line", "2024-01-02: BUY 10 AAA @ 5.00", "a rejection",
        "2024-01-02: BUY 20 BBB @ 2.00", "risk limit hit", "held again", "a second later",
        "last line"]
    assert "BUY 20 BBB" in on_disk(tmp_path, "trades.log")


def test_deferred_flush_writes_its_lines_when_the_block_raises(tmp_path):
    setup_logging("INFO", log_dir=tmp_path, console_stream=io.StringIO())
    with pytest.raises(KeyboardInterrupt), logging_config.deferred_flush():
        logging.getLogger("momentum.run.engine").info("2024-01-02: SELL 10 AAA @ 6.00")
        logging.getLogger("momentum.run.engine").info("one more")
        raise KeyboardInterrupt
    assert "one more" in on_disk(tmp_path, "momentum_strategy.log")
    assert "SELL 10 AAA" in on_disk(tmp_path, "trades.log")


def test_a_backtest_process_leaves_every_trade_line_in_the_log_at_exit(tmp_path):
    """A whole `main.py backtest` process: every engine line is in the files at exit."""
    out = subprocess.run([sys.executable, str(ROOT / "main.py"), "backtest", "--start",
                          "2023-01-02", "--end", "2023-06-30", "--output", str(tmp_path / "out"),
                          "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    trades = (tmp_path / "out" / "trades.csv").read_text().splitlines()[1:]
    logged = (tmp_path / "logs" / "trades.log").read_text().splitlines()
    buys = [line for line in logged if ": BUY " in line]
    assert trades and len(buys) == len(trades)  # one BUY line per trade, none lost
