"""logs/scheduler_status.json: the last run and the next one, for the dashboard and for checks.

Written atomically (temp file, fsync, rename) at each change, so a reader never sees half a
file. Layout (version 1)::

    {"version": 1, "updated": ISO, "state": "idle" | "running", "running_session": DAY | null,
     "scheduler": {"pid": 123, "mode": "loop" | "once"},
     "last_run": RUN | null, "last_success": RUN | null,
     "next_run": {"at": ISO, "session": "YYYY-MM-DD"} | null}
    RUN = {"session", "started", "finished", "duration_seconds", "exit_code", "outcome",
           "attempts", "log_file"}
"""
from __future__ import annotations

import json
import logging
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any

from momentum.core.files import write_atomic
from momentum.ops.job import Outcome, RunRecord
from momentum.ops.timing import Firing

logger = logging.getLogger(__name__)
STATUS_FILE = "scheduler_status.json"
VERSION = 1


def run_entry(record: RunRecord) -> dict[str, Any]:
    """The JSON form of one run."""
    return {"session": _iso(record.session), "started": record.started.isoformat(),
            "finished": record.finished.isoformat(),
            "duration_seconds": round(record.duration_seconds, 3),
            "exit_code": record.exit_code, "outcome": record.outcome.value,
            "attempts": len(record.attempts), "log_file": str(record.log_file)}


class StatusFile:
    """The status document, kept in memory and rewritten whole on each change."""

    def __init__(self, path: Path, mode: str) -> None:
        self.path = Path(path)
        old = read_status(self.path) or {}
        self.doc: dict[str, Any] = {
            "version": VERSION, "updated": None, "state": "idle",
            "scheduler": {"pid": os.getpid(), "mode": mode},
            "last_run": old.get("last_run"), "last_success": old.get("last_success"),
            "next_run": old.get("next_run")}

    def last_session(self) -> date | None:
        """The session of the last run recorded (whatever its outcome), or None."""
        run = self.doc.get("last_run") or {}
        try:
            return date.fromisoformat(run["session"]) if run.get("session") else None
        except (TypeError, ValueError):
            return None

    def running(self, now: datetime, session: date | None) -> None:
        """Record that a run of `session` has started."""
        self.doc.update(state="running", running_session=_iso(session))
        self.save(now)

    def idle(self, now: datetime) -> None:
        """Record that no run is in progress (after a run that could not even start)."""
        self.doc.update(state="idle", running_session=None)
        self.save(now)

    def finished(self, now: datetime, record: RunRecord, next_run: Firing | None) -> None:
        """Record a finished run and the next firing."""
        entry = run_entry(record)
        self.doc.update(state="idle", running_session=None, last_run=entry)
        if record.outcome is Outcome.OK:
            self.doc["last_success"] = entry
        self.set_next(next_run)
        self.save(now)

    def set_next(self, firing: Firing | None) -> None:
        """Remember the next firing (not saved until save())."""
        self.doc["next_run"] = None if firing is None else {
            "at": firing.at.isoformat(), "session": firing.session.isoformat()}

    def save(self, now: datetime) -> None:
        """Write the file atomically; a failure is logged, the scheduler goes on."""
        self.doc["updated"] = now.isoformat()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(self.doc, indent=1) + "\n")
        except OSError as e:
            logger.error("cannot write %s: %s", self.path, e)


def read_status(path: Path) -> dict[str, Any] | None:
    """The status document at `path`, or None when it is missing or unreadable."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        logger.warning("ignoring the unreadable status file %s (%s)", path, type(e).__name__)
        return None
    return doc if isinstance(doc, dict) and doc.get("version") == VERSION else None


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()
