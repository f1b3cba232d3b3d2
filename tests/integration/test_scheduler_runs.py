"""scheduler.py's real edges (spec 7.2.4): subprocess runs with retries and a timeout, e-mail to
a real local SMTP server and a local Slack stand-in, the lock, cron_schedule.sh, the installers.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import time
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller

from momentum.core.ops_config import SchedulerConfig
from momentum.ops.install import BEGIN, cron_block, merge_crontab, task_xml
from momentum.ops.job import CommandRunner, Outcome, run_job
from momentum.ops.lock import RunLock, SchedulerBusy
from tests.integration.test_alerts import Inbox, SlackStandIn, free_port
from tests.scheduler_helpers import (FLAKY, PYTHON, ROOT, WAITER, FakeClock, scheduler_config,
                                     write_script)

NY = ZoneInfo("America/New_York")
KEY = "5c4e0d1b2a3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d"  # 40 hex digits: a well-formed key
TOKEN_PATH = "/services/T0SCHED/B0SCHED/sChEdUlErSeCrEt42"
FRIDAY = "2026-11-27T16:05:00-05:00"   # the early close after Thanksgiving
NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}


def run_scheduler(config: Path, *args: str, env: dict | None = None,
                  timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "TIINGO_API_KEY": KEY, **(env or {})}
    return subprocess.run([PYTHON, str(ROOT / "scheduler.py"), "--config", str(config), *args],
                          capture_output=True, text=True, timeout=timeout, env=full_env)


@pytest.fixture
def smtp():
    log = logging.getLogger("mail.log")
    old = log.level
    log.setLevel(logging.WARNING)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, inbox
    controller.stop()
    log.setLevel(old)


@pytest.fixture
def slack():
    stand_in = SlackStandIn()
    yield stand_in
    stand_in.close()


def alert_settings(smtp_port: int, slack: SlackStandIn) -> dict:
    return {"email_enabled": True, "email_address": "trader@example.com",
            "smtp_host": "127.0.0.1", "smtp_port": smtp_port, "smtp_starttls": False,
            "smtp_user": None, "smtp_password": None, "timeout_seconds": 5,
            "slack_webhook": slack.url(TOKEN_PATH)}


def status(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "logs" / "scheduler_status.json").read_text())


# ---------------------------------------------------------------- the job itself
def test_exit_75_is_retried_every_retry_minutes_until_it_succeeds(tmp_path):
    script = write_script(tmp_path, "flaky.py", FLAKY)
    cfg = SchedulerConfig(retry_minutes=15, max_retries=5)
    clock = FakeClock(datetime(2026, 11, 27, 16, 5, tzinfo=NY))
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds=seconds)

    runner = CommandRunner([PYTHON, str(script), str(tmp_path / "n"), "3"], tmp_path, 60)
    record = run_job(None, runner, cfg, clock, tmp_path / "run.log", [KEY], sleep)
    assert [a.exit_code for a in record.attempts] == [75, 75, 75, 0]
    assert waits == [900, 900, 900] and record.duration_seconds == 2700
    assert record.outcome is Outcome.OK and record.process_exit_code() == 0
    log = (tmp_path / "run.log").read_text()
    assert log.count("=== attempt ") == 4 and "data not complete yet" in log
    tail = record.tail.splitlines()
    # the last 50 lines of the last attempt
    assert len(tail) == 50 and tail[-1] == "all done" and tail[0] == "progress line 32"


def test_exit_75_beyond_max_retries_is_given_up_with_75(tmp_path, monkeypatch):
    monkeypatch.setenv("TIINGO_API_KEY", KEY)
    script = write_script(tmp_path, "flaky.py", FLAKY)
    clock = FakeClock(datetime(2026, 11, 27, 16, 5, tzinfo=NY))
    runner = CommandRunner([PYTHON, str(script), str(tmp_path / "n"), "99"], tmp_path, 60,
                           [KEY])
    record = run_job(None, runner, SchedulerConfig(max_retries=2), clock, tmp_path / "r.log",
                     [KEY], lambda s: clock.advance(seconds=s))
    assert len(record.attempts) == 3 and record.outcome is Outcome.RETRIES_EXHAUSTED
    assert record.process_exit_code() == 75
    assert KEY not in record.tail and "key=***" in record.tail
    log = (tmp_path / "r.log").read_text()
    assert KEY not in log and log.count("key=***") == 3  # the per-run log is masked too


def test_a_run_past_its_timeout_is_stopped(tmp_path):
    script = write_script(tmp_path, "wait.py", WAITER)
    clock = FakeClock(datetime(2026, 11, 27, 16, 5, tzinfo=NY))
    runner = CommandRunner([PYTHON, str(script), str(tmp_path / "never")], tmp_path, 1.0)
    started = time.monotonic()
    record = run_job(None, runner, SchedulerConfig(), clock, tmp_path / "r.log")
    assert time.monotonic() - started < 15
    assert record.outcome is Outcome.TIMEOUT and record.exit_code is None
    assert record.process_exit_code() == 75


# ---------------------------------------------------------------- alerts of failed runs
def test_a_broken_config_run_emails_and_posts_the_tail_without_secrets(tmp_path, smtp, slack):
    port, inbox = smtp
    webhook = slack.url(TOKEN_PATH)
    broken = tmp_path / "broken.yaml"
    broken.write_text(f"risk:\n  max_positions: '{webhook}'\n")  # pasted in the wrong place
    config = scheduler_config(
        tmp_path, {"command": ["main.py", "paper", "--run", "--config", str(broken)]},
        alert_settings(port, slack))
    done = run_scheduler(config, "--once", "--at", FRIDAY)
    assert done.returncode == 2, done.stderr
    [msg] = inbox.messages
    assert msg["Subject"].strip() == ("[momentum] ERROR: Scheduled paper run for 2026-11-27 failed "
                              "with exit code 2")
    body = msg.get_content()
    assert "Exit code: 2" in body and "Duration: " in body
    assert "risk.max_positions: Input should be a valid integer" in body  # main.py's own line
    [(path, _, payload)] = slack.posts
    assert path == TOKEN_PATH and "failed with exit code 2" in payload["text"]
    assert "risk.max_positions" in payload["text"]
    for text in (body, payload["text"], done.stderr, done.stdout,
                 (tmp_path / "logs" / "scheduler.log").read_text(),
                 (tmp_path / "logs" / "scheduler_status.json").read_text()):
        assert TOKEN_PATH not in text and "sChEdUlErSeCrEt42" not in text and KEY not in text
    assert "'***'" in body


def test_exit_75_is_retried_then_alerted_with_75(tmp_path, smtp, slack):
    port, inbox = smtp
    script = write_script(tmp_path, "flaky.py", FLAKY)
    config = scheduler_config(
        tmp_path, {"command": [str(script), str(tmp_path / "n"), "99"], "retry_minutes": 0.001,
                   "max_retries": 2}, alert_settings(port, slack))
    done = run_scheduler(config, "--once", "--at", FRIDAY)
    assert done.returncode == 75, done.stderr
    assert (tmp_path / "n").read_text() == "3"
    [msg] = inbox.messages
    body = msg.get_content()
    assert "still had incomplete data (exit 75) after 3 tries" in msg["Subject"]
    assert "data not complete yet" in body and "key=***" in body and KEY not in body
    assert len(slack.posts) == 1 and KEY not in slack.posts[0][2]["text"]
    [run_log] = (tmp_path / "logs" / "runs").iterdir()
    assert KEY not in run_log.read_text() and "key=***" in run_log.read_text()
    last = status(tmp_path)["last_run"]
    assert (last["session"], last["outcome"], last["exit_code"], last["attempts"]) == \
        ("2026-11-27", "retries_exhausted", 75, 3)
    log = (tmp_path / "logs" / "scheduler.log").read_text()
    assert log.count("exit 75 (data not complete yet)") == 2
    assert "run for session 2026-11-27 ended: retries_exhausted, exit code 75" in log


def test_a_failed_alert_is_logged_and_the_scheduler_goes_on(tmp_path, slack):
    slack.status = 500
    closed_port = free_port()  # nothing listens there
    config = scheduler_config(
        tmp_path, {"command": ["main.py", "paper", "--run", "--config", "/nonexistent.yaml"]},
        alert_settings(closed_port, slack))
    done = run_scheduler(config, "--once", "--at", FRIDAY)
    assert done.returncode == 2  # the run's own code, not a crash of the alerting
    log = (tmp_path / "logs" / "scheduler.log").read_text()
    assert "not delivered by email" in log and "Slack webhook answered HTTP 500" in log
    assert status(tmp_path)["last_run"]["outcome"] == "failed"
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------- the lock
def test_two_schedulers_at_once_one_runs_the_other_says_so(tmp_path):
    script = write_script(tmp_path, "wait.py", WAITER)
    go = tmp_path / "go"
    config = scheduler_config(tmp_path, {"command": [str(script), str(go)]})
    first = subprocess.Popen([PYTHON, str(ROOT / "scheduler.py"), "--config", str(config),
                              "--once", "--at", FRIDAY], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        lock = tmp_path / "logs" / "scheduler.lock"
        for _ in range(300):
            if status_running(tmp_path):
                break
            time.sleep(0.1)
        assert lock.exists(), "the first scheduler never took the lock"
        second = run_scheduler(config, "--once", "--at", FRIDAY)
        assert second.returncode == 75
        assert f"PID {first.pid}" in second.stderr
        assert "only one scheduler runs at a time" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
        go.write_text("")
        assert first.wait(timeout=60) == 0
    finally:
        first.kill() if first.poll() is None else None
        first.communicate()
    assert not lock.exists()  # released by its holder


def status_running(tmp_path: Path) -> bool:
    try:
        return status(tmp_path).get("state") == "running"
    except (OSError, ValueError):
        return False


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path, caplog):
    gone = subprocess.Popen([PYTHON, "-c", "pass"])
    gone.wait()
    lock = tmp_path / "scheduler.lock"
    import socket
    lock.write_text(json.dumps({"pid": gone.pid, "host": socket.gethostname(),
                                "started": "2026-11-26T16:05:00", "what": "crashed"}))
    with RunLock(lock, "test", datetime.now(NY)):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert "removing the stale lock" in caplog.text and not lock.exists()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("field, value", [("proc_start", "1"), ("boot_id", "another-boot")])
def test_a_lock_whose_pid_was_reused_or_written_before_a_reboot_is_stale(tmp_path, field,
                                                                        value):
    import socket

    from momentum.ops.lock import _boot_id, _proc_start
    alive = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(60)"])
    try:
        doc = {"pid": alive.pid, "host": socket.gethostname(), "started": "2026-11-26",
               "what": "before", "boot_id": _boot_id(), "proc_start": _proc_start(alive.pid)}
        lock = tmp_path / "scheduler.lock"
        lock.write_text(json.dumps(doc))
        with pytest.raises(SchedulerBusy):  # the real holder: alive, same start, same boot
            RunLock(lock, "test", datetime.now(NY)).acquire()
        lock.write_text(json.dumps({**doc, field: value}))
        with RunLock(lock, "test", datetime.now(NY)):
            assert json.loads(lock.read_text())["pid"] == os.getpid()
    finally:
        alive.kill()
        alive.wait()


def test_a_fresh_unreadable_lock_and_a_symlink_are_never_taken(tmp_path):
    lock = tmp_path / "scheduler.lock"
    lock.write_text("")  # a holder between create and write
    with pytest.raises(SchedulerBusy):
        RunLock(lock, "test", datetime.now(NY)).acquire()
    lock.unlink()
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    lock.symlink_to(target)
    with pytest.raises(SchedulerBusy):
        RunLock(lock, "test", datetime.now(NY)).acquire()
    assert target.read_text() == "keep me" and lock.is_symlink()


# ---------------------------------------------------------------- cron and Task Scheduler
def project_copy(tmp_path: Path) -> Path:
    """The files a deployment has, in a temp folder (no .venv: the script uses MOMENTUM_PYTHON)."""
    import shutil
    project = tmp_path / "project"
    project.mkdir()
    for name in ("scheduler.py", "main.py", "logging_config.py"):
        shutil.copy2(ROOT / name, project / name)
    for folder in ("momentum", "config", "scripts"):
        shutil.copytree(ROOT / folder, project / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return project


def test_cron_schedule_sh_is_valid_bash_and_really_runs_once(tmp_path):
    script = ROOT / "scripts" / "cron_schedule.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    assert os.access(script, os.X_OK)
    project = project_copy(tmp_path)
    flaky = write_script(tmp_path, "flaky.py", FLAKY)
    config = scheduler_config(project, {"command": [str(flaky), str(tmp_path / "n"), "0"]},
                              absolute_logs=False)
    config.replace(project / "config" / "strategy_config.yaml")
    env = {**os.environ, "MOMENTUM_PYTHON": PYTHON, "TIINGO_API_KEY": KEY}
    sh = str(project / "scripts" / "cron_schedule.sh")
    done = subprocess.run([sh, "--at", FRIDAY], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, (project / "logs" / "cron.log").read_text()
    cron_log = (project / "logs" / "cron.log").read_text()
    assert "cron_schedule.sh: " in cron_log and "exit 0" in cron_log
    last = json.loads((project / "logs" / "scheduler_status.json").read_text())["last_run"]
    assert (last["session"], last["outcome"]) == ("2026-11-27", "ok")
    assert Path(project / last["log_file"]).read_text().endswith("all done\n")
    holiday = subprocess.run([sh, "--at", "2026-11-26T16:05:00-05:00"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert holiday.returncode == 0
    assert "NYSE closed (Thanksgiving); nothing to run" in \
        (project / "logs" / "cron.log").read_text()
    assert (tmp_path / "n").read_text() == "1"  # the holiday ran nothing


def task_parts(root: ET.Element) -> tuple[str, list[str], str, str, str]:
    trigger = root.find("t:Triggers/t:CalendarTrigger", NS)
    days = [d.tag.split("}")[1] for d in trigger.find("t:ScheduleByWeek/t:DaysOfWeek", NS)]
    assert trigger.find("t:ScheduleByWeek/t:WeeksInterval", NS).text == "1"
    exe = root.find("t:Actions/t:Exec", NS)
    return (trigger.find("t:StartBoundary", NS).text.split("T")[1], days,
            exe.find("t:Command", NS).text, exe.find("t:Arguments", NS).text,
            exe.find("t:WorkingDirectory", NS).text)


def test_the_shipped_task_xml_is_a_1_2_task_weekly_monday_to_friday_at_16_05():
    root = ET.parse(ROOT / "scripts" / "task_schedule.xml").getroot()
    assert root.tag == f"{{{NS['t']}}}Task" and root.get("version") == "1.2"
    at, days, command, args, folder = task_parts(root)
    assert at == "16:05:00"
    assert days == ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
    assert command.endswith("python.exe") and args == "scheduler.py --once" and folder
    assert root.find("t:Settings/t:StartWhenAvailable", NS).text == "true"  # missed runs


def test_the_generated_task_follows_the_machine_zone_tokyo_tuesday_to_saturday():
    now = datetime(2026, 11, 20, 12, 0, tzinfo=NY)
    xml = task_xml(SchedulerConfig(), r"C:\m\python.exe", Path("C:/m"), now,
                   ZoneInfo("Asia/Tokyo"))
    at, days, _, args, _ = task_parts(ET.fromstring(xml.replace('encoding="UTF-16"', "")))
    assert at == "06:05:00" and days == ["Tuesday", "Wednesday", "Thursday", "Friday",
                                         "Saturday"]
    assert args == "scheduler.py --once"


def test_install_windows_writes_a_utf16_task_with_this_project(tmp_path):
    out = tmp_path / "task.xml"
    done = subprocess.run([PYTHON, str(ROOT / "scheduler.py"), "--install", "windows",
                           "--output", str(out)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "TZ": "UTC"})
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")  # UTF-16 with a BOM
    at, days, command, args, folder = task_parts(ET.fromstring(out.read_bytes()))
    assert at in ("20:05:00", "21:05:00")  # 16:05 New York in UTC, EDT or EST
    assert days == ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
    assert command == PYTHON and folder == str(ROOT) and args == "scheduler.py --once"


def test_install_cron_prints_and_writes_the_block_once(tmp_path):
    table = tmp_path / "crontab.txt"
    table.write_text("MAILTO=me\n0 1 * * * /usr/bin/backup\n")
    fake = write_script(tmp_path, "crontab", f"""#!/bin/sh
if [ "$1" = "-l" ]; then cat "{table}"; exit 0; fi
cat > "{table}"
""")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    printed = subprocess.run([PYTHON, str(ROOT / "scheduler.py"), "--install", "cron"],
                             capture_output=True, text=True, timeout=60, env=env)
    assert printed.returncode == 0
    assert "CRON_TZ=America/New_York\n5 16 * * 1-5 " in printed.stdout
    assert table.read_text() == "MAILTO=me\n0 1 * * * /usr/bin/backup\n"  # not written
    for _ in range(2):
        wrote = subprocess.run([PYTHON, str(ROOT / "scheduler.py"), "--install", "cron",
                                "--write"], capture_output=True, text=True, timeout=60, env=env)
        assert wrote.returncode == 0, wrote.stderr
    text = table.read_text()
    assert text.startswith("MAILTO=me\n0 1 * * * /usr/bin/backup\n")
    assert text.count(BEGIN) == 1 and text.count("CRON_TZ=") == 1
    assert f"5 16 * * 1-5 {ROOT / 'scripts' / 'cron_schedule.sh'}\n" in text


def test_cron_block_quotes_paths_and_follows_the_config():
    block = cron_block(SchedulerConfig(run_at="17:30", timezone="America/Chicago"),
                       Path("/opt/my app/50%/scripts/cron_schedule.sh"), ["--config", "/c.yaml"])
    assert "CRON_TZ=America/Chicago\n" in block
    assert "30 17 * * 1-5 '/opt/my app/50\\%/scripts/cron_schedule.sh' --config /c.yaml" in block
    assert merge_crontab(merge_crontab("", block), block).count(BEGIN) == 1


def test_bad_flags_and_a_bad_scheduler_config_are_one_line_exit_2(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("scheduler:\n  timezone: Mars/Olympus\n")
    done = run_scheduler(config, "--dry-run")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {config}: scheduler.timezone: unknown time zone; use an IANA name such as "
        "America/New_York (got 'Mars/Olympus')"]
    config.write_text("scheduler:\n  run_at: '4:05 PM'\n")
    assert run_scheduler(config, "--once").returncode == 2
    assert run_scheduler(config, "--write").returncode == 2


def test_dry_run_lists_ten_firings_and_marks_thanksgiving(tmp_path):
    done = subprocess.run([PYTHON, str(ROOT / "scheduler.py"), "--dry-run", "--at",
                           "2026-11-20T17:00:00-05:00"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "TZ": "Asia/Tokyo"})
    assert done.returncode == 0, done.stderr
    header, *body = done.stdout.splitlines()
    assert header.startswith("Next 10 firings at 16:05 America/New_York")
    body = [line.strip() for line in body]
    assert len(body) == 11 and sum("EST  run" in line for line in body) == 10
    assert body[0] == "Mon 2026-11-23 16:05 EST  run   [Tue 06:05 JST]"
    assert body[3] == ("Thu 2026-11-26 16:05 EST  skipped: NYSE closed (Thanksgiving)   "
                       "[Fri 06:05 JST]")
    assert body[4].startswith("Fri 2026-11-27 16:05 EST  run  (early close 13:00")
    assert body[-1] == "Mon 2026-12-07 16:05 EST  run   [Tue 06:05 JST]"


def test_scheduler_help_names_every_mode():
    done = subprocess.run([PYTHON, str(ROOT / "scheduler.py"), "--help"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0
    for flag in ("--once", "--dry-run", "--install", "--write", "--config", "--at"):
        assert flag in done.stdout


def test_the_continuous_scheduler_catches_up_at_start_and_stops_cleanly_on_sigterm(tmp_path):
    import signal
    flaky = write_script(tmp_path, "flaky.py", FLAKY)
    config = scheduler_config(tmp_path, {"command": [str(flaky), str(tmp_path / "n"), "0"]})
    loop = subprocess.Popen([PYTHON, str(ROOT / "scheduler.py"), "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TIINGO_API_KEY": KEY})
    try:
        for _ in range(600):  # the latest session whose firing passed is run at start
            if (tmp_path / "n").exists() and not status_running(tmp_path) \
                    and status(tmp_path).get("last_run"):
                break
            time.sleep(0.1)
        doc = status(tmp_path)
        assert doc["scheduler"] == {"pid": loop.pid, "mode": "loop"}
        assert doc["last_run"]["outcome"] == "ok" and doc["next_run"]["at"]
        assert (tmp_path / "logs" / "scheduler.lock").exists()
        loop.send_signal(signal.SIGTERM)
        _, err = loop.communicate(timeout=60)
    finally:
        if loop.poll() is None:
            loop.kill()
            loop.communicate()
    assert loop.returncode == 130 and err.strip().endswith("interrupted")
    assert not (tmp_path / "logs" / "scheduler.lock").exists()
    assert (tmp_path / "n").read_text() == "1"  # caught up once, not again at each poll
    log = (tmp_path / "logs" / "scheduler.log").read_text()
    assert "scheduler started" in log and "ended: ok, exit code 0" in log


def test_taking_over_a_stale_lock_never_removes_a_fresh_one_written_meanwhile(tmp_path):
    lock = tmp_path / "scheduler.lock"
    lock.write_bytes(b'{"pid": 1, "fresh": true}')  # written after we judged b"stale" stale
    RunLock(lock, "slow starter", datetime.now(NY))._take_over(b"stale")
    assert lock.read_bytes() == b'{"pid": 1, "fresh": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["scheduler.lock"]  # nothing left aside
    RunLock(lock, "test", datetime.now(NY))._take_over(b'{"pid": 1, "fresh": true}')
    assert not lock.exists()  # the one judged stale is removed
