"""The Tiingo download cache: raw and adjusted daily rows per ticker, metadata, request stamps.

A daily run fetches only the days after the last cached bar. Stored per row: raw OHLCV, the
adjusted OHLCV (R1.1) and ``divCash``/``splitFactor``, because Tiingo rewrites the whole adjusted
history after a dividend or split: the source refetches a ticker's history when new rows carry
one (see ``tiingo_source``). Per series it stores the ``history_start`` it was fetched from.

Two implementations of one interface:
- ``SqliteCache``: one SQLite file under ``data.cache_dir``. Each write is one transaction, so a
  crash mid-write leaves the previous state; a corrupt or foreign file is moved aside and rebuilt.
- ``MemoryCache``: ``data.cache_enabled: false`` keeps everything in memory for the process only.
  Tiingo's Starter terms do not allow storing its data persistently: Starter users set this.
"""
from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from momentum.core.config import PUBLIC_TIINGO_URL
from momentum.core.errors import DataError
from momentum.data.tiingo.client import DAY_S, PriceRow

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1  # bump when the tables change: an older file is then rebuilt
_ROW_COLUMNS = ("open", "high", "low", "close", "volume", "adj_open", "adj_high", "adj_low",
                "adj_close", "adj_volume", "div_cash", "split_factor")
_NUMBERS = ", ".join(f"{c} REAL NOT NULL" for c in _ROW_COLUMNS)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS bars (ticker TEXT NOT NULL, day TEXT NOT NULL, {_NUMBERS},
    PRIMARY KEY (ticker, day)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS series (ticker TEXT PRIMARY KEY, history_start TEXT NOT NULL,
    last_day TEXT, refreshed_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL,
    stored_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS requests (at REAL NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """What the cache knows about one ticker without reading its rows."""

    ticker: str
    history_start: date      # the first day that was asked for (config data.history_start)
    last_day: date | None    # the newest cached row; None when Tiingo had none
    refreshed_at: float      # epoch seconds of the last full-history download


class TiingoCache(Protocol):
    """Storage for downloaded series, metadata and request stamps."""

    def info(self, ticker: str) -> SeriesInfo | None:
        """The series record of a ticker, or None if never downloaded."""
        ...

    def rows(self, ticker: str) -> list[PriceRow]:
        """Every cached row of a ticker, oldest first."""
        ...

    def replace(self, ticker: str, history_start: date, rows: list[PriceRow], at: float) -> None:
        """Store a full history, dropping whatever was cached for the ticker."""
        ...

    def merge(self, ticker: str, rows: list[PriceRow]) -> None:
        """Add or overwrite rows of an existing series (an incremental fetch)."""
        ...

    def get_meta(self, key: str) -> tuple[Any, float] | None:
        """A stored JSON value and when it was stored, or None."""
        ...

    def put_meta(self, key: str, value: Any, at: float) -> None:
        """Store a JSON-serialisable value under `key`."""
        ...

    def request_times(self, since: float) -> list[float]:
        """Epoch seconds of the requests sent after `since` (for the rate limiter)."""
        ...

    def record_request(self, at: float) -> None:
        """Remember that a request was sent at `at`."""
        ...


def cache_file(cache_dir: str | Path, base_url: str) -> Path:
    """The SQLite file for this API: a test server's data never mixes with Tiingo's own."""
    if base_url.rstrip("/") == PUBLIC_TIINGO_URL:
        return Path(cache_dir) / "tiingo.sqlite3"
    digest = hashlib.sha256(base_url.rstrip("/").encode()).hexdigest()[:10]
    return Path(cache_dir) / f"tiingo-{digest}.sqlite3"


class MemoryCache:
    """The cache for `cache_enabled: false`: nothing outlives the process."""

    def __init__(self) -> None:
        self._rows: dict[str, dict[date, PriceRow]] = {}
        self._info: dict[str, SeriesInfo] = {}
        self._meta: dict[str, tuple[Any, float]] = {}
        self._requests: list[float] = []

    def info(self, ticker: str) -> SeriesInfo | None:
        return self._info.get(ticker)

    def rows(self, ticker: str) -> list[PriceRow]:
        return sorted(self._rows.get(ticker, {}).values())

    def replace(self, ticker: str, history_start: date, rows: list[PriceRow], at: float) -> None:
        self._rows[ticker] = {r.day: r for r in rows}
        self._info[ticker] = SeriesInfo(ticker, history_start, _last(rows), at)

    def merge(self, ticker: str, rows: list[PriceRow]) -> None:
        old = self._info[ticker]
        self._rows[ticker].update({r.day: r for r in rows})
        last = _last(self.rows(ticker))
        self._info[ticker] = SeriesInfo(ticker, old.history_start, last, old.refreshed_at)

    def get_meta(self, key: str) -> tuple[Any, float] | None:
        return self._meta.get(key)

    def put_meta(self, key: str, value: Any, at: float) -> None:
        self._meta[key] = (json.loads(json.dumps(value)), at)  # same round trip as SQLite

    def request_times(self, since: float) -> list[float]:
        return [t for t in self._requests if t > since]

    def record_request(self, at: float) -> None:
        self._requests.append(at)


class SqliteCache:
    """The on-disk cache: one SQLite file, one transaction per write."""

    def __init__(self, path: str | Path) -> None:
        """Open (or create) the cache file; a damaged or outdated file is set aside and rebuilt."""
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"{self.path.parent}: cannot create the cache directory "
                            f"({exc.strerror}); fix data.cache_dir or set cache_enabled: false"
                            ) from None
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(self.path.name + ".corrupt")
            logger.warning("%s: unreadable cache (%s); moved to %s and starting afresh",
                           self.path, exc, aside.name)
            self.path.replace(aside)
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30.0)  # waits for another process's write
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            logger.info("%s: cache schema %d is outdated; rebuilding it", self.path, version)
            with db:
                db.executescript("DROP TABLE IF EXISTS bars; DROP TABLE IF EXISTS series; "
                                 "DROP TABLE IF EXISTS meta; DROP TABLE IF EXISTS requests;")
        with db:
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return db

    def close(self) -> None:
        """Close the database file."""
        self._db.close()

    def info(self, ticker: str) -> SeriesInfo | None:
        row = self._db.execute("SELECT history_start, last_day, refreshed_at FROM series "
                               "WHERE ticker = ?", (ticker,)).fetchone()
        if row is None:
            return None
        last = date.fromisoformat(row[1]) if row[1] else None
        return SeriesInfo(ticker, date.fromisoformat(row[0]), last, row[2])

    def rows(self, ticker: str) -> list[PriceRow]:
        cursor = self._db.execute(f"SELECT day, {', '.join(_ROW_COLUMNS)} FROM bars "
                                  "WHERE ticker = ? ORDER BY day", (ticker,))
        return [PriceRow(date.fromisoformat(r[0]), *r[1:]) for r in cursor]

    def replace(self, ticker: str, history_start: date, rows: list[PriceRow], at: float) -> None:
        with self._db:  # one transaction: the old history stays if anything fails
            self._db.execute("DELETE FROM bars WHERE ticker = ?", (ticker,))
            self._insert(ticker, rows)
            self._db.execute("INSERT OR REPLACE INTO series VALUES (?, ?, ?, ?)",
                             (ticker, history_start.isoformat(), _iso(_last(rows)), at))

    def merge(self, ticker: str, rows: list[PriceRow]) -> None:
        with self._db:
            self._insert(ticker, rows)
            self._db.execute("UPDATE series SET last_day = (SELECT MAX(day) FROM bars "
                             "WHERE ticker = ?) WHERE ticker = ?", (ticker, ticker))

    def _insert(self, ticker: str, rows: list[PriceRow]) -> None:
        marks = ", ".join("?" * (len(_ROW_COLUMNS) + 2))
        self._db.executemany(f"INSERT OR REPLACE INTO bars VALUES ({marks})",
                             [(ticker, r.day.isoformat(), *r[1:]) for r in rows])

    def get_meta(self, key: str) -> tuple[Any, float] | None:
        row = self._db.execute("SELECT value, stored_at FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else (json.loads(row[0]), row[1])

    def put_meta(self, key: str, value: Any, at: float) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?, ?)",
                             (key, json.dumps(value), at))

    def request_times(self, since: float) -> list[float]:
        cursor = self._db.execute("SELECT at FROM requests WHERE at > ? ORDER BY at", (since,))
        return [r[0] for r in cursor]

    def record_request(self, at: float) -> None:
        with self._db:  # stamps older than a day no longer count against any budget
            self._db.execute("DELETE FROM requests WHERE at <= ?", (at - DAY_S,))
            self._db.execute("INSERT INTO requests VALUES (?)", (at,))


def open_cache(cache_dir: str | Path, base_url: str, enabled: bool) -> TiingoCache:
    """The SQLite cache under `cache_dir`, or a MemoryCache when caching is switched off."""
    return SqliteCache(cache_file(cache_dir, base_url)) if enabled else MemoryCache()


def _last(rows: list[PriceRow]) -> date | None:
    return max((r.day for r in rows), default=None)


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()
