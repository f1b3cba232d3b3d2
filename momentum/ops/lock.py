"""One scheduler at a time: a lock file created with O_EXCL | O_NOFOLLOW holding PID and start.

Two schedulers, or a scheduler and a cron `--once`, must never run the paper step of a day at
the same time. The file is created atomically (O_EXCL), never through a symlink (O_NOFOLLOW),
and names its holder. A lock whose process is gone (a crash, a power cut) is stale and taken
over; one whose content is unreadable is stale only when older than a minute, since a holder
writes it right after creating it. After a reboot a PID can belong to another process: on
Linux the lock also records the boot id and the process's start tick, so a reused PID does
not keep a dead lock alive forever.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from momentum.core.errors import ExitCode, MomentumError

logger = logging.getLogger(__name__)
_UNREADABLE_GRACE_SECONDS = 60.0


class SchedulerBusy(MomentumError):
    """Another scheduler or cron run holds the lock: this one stops and says who."""

    exit_code = ExitCode.TRY_LATER


@dataclass(frozen=True, slots=True)
class LockHolder:
    pid: int
    host: str
    started: str   # ISO time
    what: str
    boot_id: str | None = None      # Linux: /proc/sys/kernel/random/boot_id
    proc_start: str | None = None   # Linux: the process's start time in clock ticks since boot


class RunLock:
    """Hold `path` for the life of a `with` block (or acquire()/release())."""

    def __init__(self, path: Path, what: str, now: datetime) -> None:
        self.path, self.what, self._now = Path(path), what, now
        self._held = False

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Create the lock file or raise SchedulerBusy naming the holder; take over a stale one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            if self._try_create():
                self._held = True
                return
            raw = _read_raw(self.path)
            holder = _parse(raw)
            if not _is_stale(self.path, holder):
                raise SchedulerBusy(_busy_message(self.path, holder))
            logger.warning("removing the stale lock %s (%s)", self.path,
                           f"PID {holder.pid} is gone" if holder else "unreadable")
            self._take_over(raw)
        raise SchedulerBusy(_busy_message(self.path, read_holder(self.path)))

    def release(self) -> None:
        """Remove the lock file if this object holds it."""
        if self._held:
            self._held = False
            holder = read_holder(self.path)
            if holder is not None and holder.pid == os.getpid():
                self.path.unlink(missing_ok=True)

    def _take_over(self, stale: bytes | None) -> None:
        # Move the file aside, then check it is the one judged stale: when two starts race,
        # the slower one may have moved the faster one's fresh lock, and puts it back.
        aside = self.path.with_name(f"{self.path.name}.stale.{os.getpid()}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        try:
            if _read_raw(aside) != stale:
                with contextlib.suppress(OSError):  # a newer lock exists: it stays
                    os.link(aside, self.path)
        finally:
            aside.unlink(missing_ok=True)

    def _try_create(self) -> bool:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.path, flags, 0o644)
        except FileExistsError:
            return False
        doc = {"pid": os.getpid(), "host": socket.gethostname(),
               "started": self._now.isoformat(timespec="seconds"), "what": self.what,
               "boot_id": _boot_id(), "proc_start": _proc_start(os.getpid())}
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(doc))
            handle.flush()
            os.fsync(handle.fileno())
        return True


def read_holder(path: Path) -> LockHolder | None:
    """Who holds the lock at `path`, or None when it is missing or unreadable."""
    return _parse(_read_raw(path))


def _read_raw(path: Path) -> bytes | None:
    try:
        # O_NOFOLLOW here too: a symlink planted as the lock is never followed.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as handle:
            return handle.read(4096)
    except OSError:
        return None


def _parse(raw: bytes | None) -> LockHolder | None:
    if raw is None:
        return None
    try:
        doc = json.loads(raw.decode("utf-8"))
        return LockHolder(int(doc["pid"]), str(doc["host"]), str(doc["started"]),
                          str(doc.get("what", "")), _opt(doc.get("boot_id")),
                          _opt(doc.get("proc_start")))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def pid_alive(pid: int) -> bool:
    """True when a process with this PID exists on this machine."""
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT on Windows
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _windows_pid_alive(pid: int) -> bool:
    import ctypes  # Windows only

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def _is_stale(path: Path, holder: LockHolder | None) -> bool:
    if holder is None:
        try:
            age = time.time() - path.lstat().st_mtime
        except FileNotFoundError:
            return True
        return age > _UNREADABLE_GRACE_SECONDS
    if holder.host != socket.gethostname():
        return False  # a shared folder: another machine's process cannot be checked
    if holder.boot_id is not None and _boot_id() not in (None, holder.boot_id):
        return True   # written before the last reboot
    if not pid_alive(holder.pid):
        return True
    now_start = _proc_start(holder.pid)
    return holder.proc_start is not None and now_start is not None \
        and now_start != holder.proc_start  # the PID now belongs to another process


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _proc_start(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # the name in (...) may hold spaces
    return fields[19] if len(fields) > 19 else None


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def _busy_message(path: Path, holder: LockHolder | None) -> str:
    who = (f"{holder.what or 'a scheduler'} (PID {holder.pid} on {holder.host}, started "
           f"{holder.started})" if holder else "another process")
    return (f"{who} holds {path}; only one scheduler runs at a time. Wait for it to finish, "
            f"or stop it; delete the file only if that process is gone")
