"""Paper-trading state on disk: atomic snapshots, a pointer to the latest, checksums, a lock.

    <dir>/state_init.json          the portfolio as created by `paper --init`
    <dir>/state_YYYY-MM-DD.json    the state after the step of that date
    <dir>/latest.json              {"file": ..., "date": ..., "checksum": ...}: the one to resume
    <dir>/.lock                    held while a command writes the directory (run/lock.py)

A snapshot is written to a temporary file, fsynced and renamed; the pointer is written the same
way after it. A crash at any moment leaves the pointer on a complete, valid snapshot, so the next
run redoes the interrupted day from there.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from momentum.core.errors import StateError
from momentum.core.files import write_atomic
from momentum.core.safeload import safe_json
from momentum.run.engine import EngineState
from momentum.run.integrity import check_ledger
from momentum.run.lock import DirLock
from momentum.run.state_codec import decode_state, encode_state

logger = logging.getLogger(__name__)
FORMAT = "momentum-paper-state"
SCHEMA_VERSION = 1
POINTER = "latest.json"
INIT_FILE = "state_init.json"
_SNAPSHOT_RE = re.compile(r"^state_(\d{4}-\d{2}-\d{2})\.json$")
_NO_POINTER = object()  # read() of a snapshot on its own, not through latest.json


@dataclass(frozen=True, slots=True)
class PaperMeta:
    """What a paper portfolio was created with; checked on every later run."""

    start_date: date
    created_at: str
    source: str
    strategy: dict[str, Any] = field(default_factory=dict)  # the rule settings (not capital)

    def encode(self) -> dict[str, Any]:
        return {"start_date": self.start_date.isoformat(), "created_at": self.created_at,
                "source": self.source, "strategy": self.strategy}

    @classmethod
    def decode(cls, obj: Any, path: str) -> PaperMeta:
        try:
            return cls(start_date=date.fromisoformat(obj["start_date"]),
                       created_at=str(obj["created_at"]), source=str(obj["source"]),
                       strategy=dict(obj["strategy"]))
        except (KeyError, TypeError, ValueError) as e:
            raise StateError(f"{path}: meta is malformed ({e.__class__.__name__}: {e})") from None


@dataclass(slots=True)
class SavedState:
    meta: PaperMeta
    engine: EngineState
    path: Path


def checksum(meta: dict[str, Any], state: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of meta and state."""
    canonical = json.dumps({"meta": meta, "state": state}, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class StateStore:
    """Saves and loads paper-trading snapshots in one directory."""

    def __init__(self, directory: str | Path, keep_all: bool = True) -> None:
        self.dir = Path(directory)
        self.keep_all = keep_all
        self._lock = DirLock(self.dir)

    # ------------------------------------------------------------ writing
    def save(self, engine: EngineState, meta: PaperMeta, saved_at: datetime) -> Path:
        """Write the snapshot of the state's last step, then point `latest.json` at it."""
        with self.lock():
            return self._save(engine, meta, saved_at)

    def _save(self, engine: EngineState, meta: PaperMeta, saved_at: datetime) -> Path:
        meta_obj, state_obj = meta.encode(), encode_state(engine)
        digest = checksum(meta_obj, state_obj)
        document = {"format": FORMAT, "schema_version": SCHEMA_VERSION, "checksum": digest,
                    "saved_at": saved_at.isoformat(), "meta": meta_obj, "state": state_obj}
        name = INIT_FILE if engine.last_step is None else f"state_{engine.last_step}.json"
        path = self.dir / name
        pointer = {"file": name, "date": state_obj["date"], "checksum": digest}
        try:
            write_atomic(path, json.dumps(document, indent=1, sort_keys=True))
            write_atomic(self.dir / POINTER, json.dumps(pointer, indent=1, sort_keys=True))
        except OSError as e:
            raise StateError(f"could not write the state to {self.dir}/ ({e.strerror or e}); the "
                             f"previous state is intact: free space or fix permissions and "
                             f"run again") from None
        if not self.keep_all:
            self._prune(keep={name})
        return path

    def _prune(self, keep: set[str]) -> None:
        """Keep the newest two dated snapshots (the latest and the one before it)."""
        dated = [p for p in self.snapshots() if p.name not in keep]
        for old in dated[:-1]:
            old.unlink(missing_ok=True)

    # ------------------------------------------------------------ reading
    def exists(self) -> bool:
        files = (self.dir / POINTER, self.dir / INIT_FILE)
        return any(f.exists() for f in files) or any(self.snapshots())

    def snapshots(self) -> list[Path]:
        """Dated snapshots, oldest first."""
        if not self.dir.is_dir():
            return []
        return sorted(p for p in self.dir.iterdir() if _SNAPSHOT_RE.match(p.name))

    def load(self, from_snapshot: str | Path | None = None) -> SavedState:
        """Load the latest state (or a given snapshot), verifying format, checksum and contents."""
        if from_snapshot is not None:
            return self.read(Path(from_snapshot))
        pointer_path = self.dir / POINTER
        if not pointer_path.exists():
            if not self.exists():
                raise StateError(f"no paper portfolio in {self.dir}/; create one with "
                                 f"`python main.py paper --init`")
            raise self._corrupt(pointer_path, "is missing")
        try:
            pointer = safe_json(pointer_path.read_text(encoding="utf-8"))
            target = self.dir / _safe_name(pointer["file"])
            expected = pointer["checksum"]
        except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            raise self._corrupt(pointer_path, f"is unreadable ({e.__class__.__name__})") from None
        saved = self.read(target, pointer_checksum=expected)
        self._check_not_behind(saved)
        return saved

    def _check_not_behind(self, saved: SavedState) -> None:
        """Refuse a pointer that went backwards (an old latest.json put back, a stray run).

        One newer snapshot is the normal crash window (snapshot written, pointer not yet): the
        run redoes that day. More than one means days would be redone and their alerts re-sent.
        """
        last = saved.engine.last_step
        newer = [p for p in self.snapshots()
                 if last is None or _SNAPSHOT_RE.match(p.name)[1] > last.isoformat()]
        valid = [p for p in newer if self._verifies(p)]
        if len(valid) > 1:
            raise StateError(
                f"{self.dir / POINTER} points at {saved.path.name} but {len(valid)} newer "
                f"snapshots exist up to {valid[-1].name}: the pointer moved backwards; resume "
                f"from the last consistent one with `python main.py paper --run --from-snapshot "
                f"{valid[-1]}`, or delete the newer files to go back on purpose")

    def _verifies(self, path: Path) -> bool:
        try:
            self._verify(path)
        except StateError:
            return False
        return True

    def read(self, path: Path, pointer_checksum: Any = _NO_POINTER) -> SavedState:
        """Read and verify one snapshot file (and, given it, the checksum latest.json recorded).

        The file is read and parsed once: the pointer's checksum is compared with the verified
        document's own, after every check of the file itself.
        """
        try:
            document = safe_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StateError(f"{path}: snapshot not found") from None
        except OSError as e:  # a folder in its place, mode 000, an I/O error
            raise self._corrupt(path, f"cannot be read ({e.strerror or e.__class__.__name__})"
                                ) from None
        except (ValueError, UnicodeDecodeError) as e:
            raise self._corrupt(path, f"is not valid JSON (truncated or damaged: {e})") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise self._corrupt(path, "is not a momentum paper-trading state file")
        if document.get("schema_version") != SCHEMA_VERSION:
            raise StateError(f"{path}: schema version {document.get('schema_version')!r} is not "
                             f"{SCHEMA_VERSION}; this version of momentum cannot read it")
        meta_obj, state_obj = document.get("meta"), document.get("state")
        if document.get("checksum") != checksum(meta_obj, state_obj):
            raise self._corrupt(path, "fails its checksum (edited by hand or damaged)")
        try:
            engine = decode_state(state_obj)
        except StateError as e:
            raise self._corrupt(path, f"has invalid contents: {e}") from None
        try:
            check_ledger(engine)
        except StateError as e:
            raise self._corrupt(path, f"is inconsistent (edited by hand?): {e}") from None
        saved = SavedState(PaperMeta.decode(meta_obj, str(path)), engine, path)
        if pointer_checksum is not _NO_POINTER and document["checksum"] != pointer_checksum:
            raise self._corrupt(path, "does not match the checksum recorded in latest.json")
        return saved

    def _corrupt(self, path: Path, problem: str) -> StateError:
        """An error that names the newest snapshot that still loads, to resume from."""
        good = self._previous_good(exclude=path)
        hint = (f"; resume from the previous good snapshot with "
                f"`python main.py paper --run --from-snapshot {good}`" if good else
                "; no earlier good snapshot exists: start again with `paper --init --force`")
        return StateError(f"{path} {problem}{hint}")

    def _previous_good(self, exclude: Path) -> Path | None:
        candidates = [p for p in self.snapshots() if p != exclude]
        if (self.dir / INIT_FILE).exists() and self.dir / INIT_FILE != exclude:
            candidates.insert(0, self.dir / INIT_FILE)
        for path in reversed(candidates):
            try:
                self._verify(path)
                return path
            except StateError:
                continue
        return None

    @staticmethod
    def _verify(path: Path) -> None:
        """read() without the hint (which would search for good snapshots again)."""
        try:
            document = safe_json(path.read_text(encoding="utf-8"))
            if checksum(document.get("meta"), document.get("state")) != document.get("checksum"):
                raise StateError("bad checksum")
            check_ledger(decode_state(document["state"]))
        except (OSError, ValueError, AttributeError, KeyError, TypeError) as e:
            raise StateError(str(e)) from None

    # ------------------------------------------------------------ locking
    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the directory's lock (run/lock.py); a second command fails at once with a message.

        Re-entrant for this store: save() takes it too, so nothing is written without it.
        """
        first = not self._lock.held
        with self._lock.hold():
            if first:
                self._remove_stale_temp_files()
            yield

    def _remove_stale_temp_files(self) -> None:
        """Temp files a killed run left behind (we hold the lock: nobody else is writing)."""
        for leftover in self.dir.glob(".*.tmp"):
            logger.info("removing %s, left by an interrupted run", leftover.name)
            leftover.unlink(missing_ok=True)


def _safe_name(name: Any) -> str:
    if not isinstance(name, str) or not (name == INIT_FILE or _SNAPSHOT_RE.match(name)):
        raise ValueError(f"not a snapshot file name: {name!r}")
    return name
