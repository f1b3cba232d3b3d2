"""Issue 17 findings 3, 4 and 9 (state side): one O_EXCL lock for every command that writes a
portfolio, never following a planted symlink, stale locks taken over, and a run whose lock was
deleted under it stops instead of overwriting the newer run's files."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest

from momentum.core.errors import StateError
from momentum.notify.alerts import Alert, AlertKind, Severity
from momentum.notify.delivery import AlertDispatcher, AlertThrottle
from momentum.run.state import StateStore
from tests.e2e import test_paper
from tests.e2e.test_paper import SESSIONS, latest_state, paper

cache_dir, config = test_paper.cache_dir, test_paper.config  # the shared fixtures


def dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    return int(child.stdout)


def test_init_force_is_refused_while_a_run_holds_the_lock(config, tmp_path, capsys):
    state = tmp_path / "snapshots"
    assert paper(config, "--init", "--date", SESSIONS[0]) == 0
    assert paper(config, "--run", "--date", SESSIONS[3]) == 0
    before = sorted(p.name for p in state.iterdir())
    capsys.readouterr()
    with StateStore(state).lock():  # a `paper --run` in progress
        assert paper(config, "--init", "--force", "--date", SESSIONS[0]) == 2
        assert paper(config, "--run", "--date", SESSIONS[5]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("another paper run is working on" in line for line in err)
    assert f"pid {os.getpid()}" in err[0]
    assert sorted(p.name for p in state.iterdir()) == before  # nothing deleted
    assert latest_state(state)["date"] == SESSIONS[3]
    assert not (state / ".lock").exists()  # released


def test_a_lock_symlink_is_never_followed(config, tmp_path, capsys):
    assert paper(config, "--init", "--date", SESSIONS[0]) == 0
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me\n")
    (tmp_path / "snapshots" / ".lock").symlink_to(victim)
    capsys.readouterr()
    assert paper(config, "--run", "--date", SESSIONS[2]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is a symbolic link; remove it" in err
    assert victim.read_text() == "keep me\n"


@pytest.mark.parametrize("content", ["{pid}", '{{"pid": {pid}, "start": 1}}', "garbage"])
def test_a_stale_lock_is_taken_over(config, tmp_path, content, capsys):
    assert paper(config, "--init", "--date", SESSIONS[0]) == 0
    lock = tmp_path / "snapshots" / ".lock"
    pid = dead_pid() if content == "{pid}" else os.getpid()  # start 1: the pid was reused
    lock.write_text(content.format(pid=pid))
    os.chmod(lock, 0o444)
    if content == "garbage":
        os.utime(lock, (1, 1))  # old enough not to be a lock being written right now
    assert paper(config, "--run", "--date", SESSIONS[2]) == 0
    assert latest_state(tmp_path / "snapshots")["date"] == SESSIONS[2]
    assert not lock.exists()
    assert "removing the stale lock" in (tmp_path / "logs" / "momentum_strategy.log").read_text()


def test_a_run_whose_lock_was_deleted_stops_without_writing(tmp_path, caplog):
    first, second = StateStore(tmp_path), StateStore(tmp_path)
    throttle_path = tmp_path / "alert_throttle.json"
    alert = Alert(AlertKind.ENTRY, Severity.INFO, "t", "b", "entry:X", SESSIONS_DAY)
    with first.lock():
        (tmp_path / ".lock").unlink()  # a user "fixing" a stuck run
        with second.lock():  # the newer run proceeds and records what it sent
            newer = AlertThrottle(throttle_path, timedelta(hours=1), guard=second.lock)
            AlertDispatcher([_Quiet()], newer, _Clock()).send([alert])
            written = throttle_path.read_text()
            with pytest.raises(StateError, match="removed or taken by another command"):
                with first.lock():
                    pass
            older = AlertThrottle(None, timedelta(hours=1), guard=first.lock)
            older.path = throttle_path
            with caplog.at_level(logging.WARNING):
                AlertDispatcher([_Quiet()], older, _Clock()).send(
                    [Alert(AlertKind.EXIT, Severity.INFO, "t", "b", "exit:Y", SESSIONS_DAY)])
            assert throttle_path.read_text() == written  # the older run did not overwrite it
            assert "cannot save the alert throttle file" in caplog.text
    assert json.loads(written)["sent"].keys() == {"entry:X"}


class _Quiet:
    name = "quiet"

    def send(self, alert: Alert) -> None:
        pass


class _Clock:
    def now(self) -> datetime:
        return datetime(2024, 3, 1, 21, tzinfo=UTC)


SESSIONS_DAY = date(2024, 3, 1)
