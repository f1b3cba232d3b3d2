"""The portfolio lock: one command at a time writes a paper-trading state directory.

    <dir>/.lock    {"pid": 1234, "start": <process start ticks>, "since": "2026-...", "nonce": ...}

Created with O_CREAT | O_EXCL | O_NOFOLLOW, so it is never a symlink and never shared: two
commands cannot both create it. A lock whose process is gone (or whose pid now belongs to a
process started later: pid reuse) is stale and taken over. Before each write the holder checks
the file still holds its own token, so a run whose lock was deleted under it stops instead of
overwriting the newer run's files (issue 17 findings 3 and 4).
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from momentum.core.errors import StateError
from momentum.core.safeload import safe_json

logger = logging.getLogger(__name__)
LOCK_FILE = ".lock"
_MAX_LOCK_BYTES = 4096
_WRITE_GRACE_S = 5.0


def process_start(pid: int) -> int | None:
    """The start time of `pid` in clock ticks since boot (Linux /proc), None when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        return int(stat.rpartition(")")[2].split()[19])  # field 22: after comm's ')' it is 20th
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int, start: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    now_start = process_start(pid)
    return start is None or now_start is None or now_start == start


class DirLock:
    """An exclusive, re-entrant (per object) lock on one directory."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.path = self.dir / LOCK_FILE
        self._token: dict[str, Any] | None = None

    @property
    def held(self) -> bool:
        return self._token is not None

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Take the lock (or, when this object already holds it, check it is still ours)."""
        if self._token is not None:
            self.check()
            yield
            return
        self._acquire()
        try:
            yield
        finally:
            self._release()

    def check(self) -> None:
        """Raise StateError unless the lock file still holds this object's token."""
        if self._token is None:
            raise StateError(f"{self.path}: not held by this command")
        if self._read() != self._token:
            raise StateError(f"{self.path} was removed or taken by another command while this "
                             f"one ran; stopping without writing to {self.dir}/: check for "
                             f"another paper run, then run again")

    def _acquire(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StateError(f"{self.dir}: cannot create the state folder ({e.strerror}); pass "
                             f"--state-dir with a writable folder") from None
        token = {"pid": os.getpid(), "start": process_start(os.getpid()),
                 "since": datetime.now(UTC).isoformat(timespec="seconds"),
                 "nonce": os.urandom(8).hex()}  # two holders in one process differ too
        for _ in range(2):  # the second try follows the removal of a stale lock
            if self._create(token):
                self._token = token
                return
            holder = self._read()
            if holder is None and self._fresh():
                raise StateError(f"another command is taking the lock on {self.dir}/ right now; "
                                 f"wait for it to finish")
            if holder is not None and _alive(int(holder["pid"]), holder.get("start")):
                raise StateError(f"another paper run is working on {self.dir}/ (lock held by pid "
                                 f"{holder['pid']} since {holder.get('since', '?')}); wait for it "
                                 f"to finish")
            logger.warning("removing the stale lock %s (%s)", self.path,
                           "unreadable" if holder is None else f"pid {holder['pid']} is gone")
            self.path.unlink(missing_ok=True)
        raise StateError(f"{self.path}: could not take the lock; another command keeps taking "
                         f"it: wait for it to finish")

    def _fresh(self) -> bool:
        # An empty or half-written lock is stale only once its writer had time to finish.
        try:
            return time.time() - self.path.lstat().st_mtime < _WRITE_GRACE_S
        except OSError:
            return False

    def _create(self, token: dict[str, Any]) -> bool:
        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path, flags, 0o644)
        except FileExistsError:
            return False
        except OSError as e:
            raise StateError(f"{self.dir}: cannot create the lock file ({e.strerror}); make the "
                             f"folder writable or pass --state-dir with a writable one") from None
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(token))
        return True

    def _read(self) -> dict[str, Any] | None:
        """The holder's token, None when missing, unreadable or not ours to read (a symlink)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError:
            return None
        except OSError as e:  # ELOOP: a symlink planted as .lock is never followed
            if self.path.is_symlink():
                raise StateError(f"{self.path} is a symbolic link; remove it (a lock is a plain "
                                 f"file the run creates)") from None
            raise StateError(f"{self.path}: cannot read the lock ({e.strerror}); fix its "
                             f"permissions or remove it when no run is going") from None
        with os.fdopen(fd, "rb") as handle:
            text = handle.read(_MAX_LOCK_BYTES)
        return _parse_token(text)

    def _release(self) -> None:
        try:
            if self._read() == self._token:
                self.path.unlink(missing_ok=True)
        except StateError as e:
            logger.warning("lock not released: %s", e)
        finally:
            self._token = None


def _parse_token(text: bytes) -> dict[str, Any] | None:
    try:
        token = safe_json(text)
    except ValueError:
        token = None
    if isinstance(token, int):  # the lock of older versions held the pid alone
        return {"pid": token}
    if isinstance(token, dict) and isinstance(token.get("pid"), int):
        return token
    return None
