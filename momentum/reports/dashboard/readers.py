"""Read a paper portfolio's folder or a backtest output folder into one plain `Source`.

Files only: the snapshot JSON (format of ``run/state.py``, verified by its checksum here, since
the state module imports the engine), the feed of ``feed.py``, the backtest CSVs and summary,
and the scheduler's status file. Every file goes through a `FileCache` keyed by path, mtime and
size, so an auto-refresh re-reads only what changed. A problem becomes a `SourceError` (or a
warning on the `Source`) that names the file, what is wrong and what to do: never a traceback.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from momentum.core.safeload import safe_json
from momentum.core.domain import AssetType, ExitReason, Position, Trade
from momentum.reports.dashboard.feed import (BARS_FILE, FEED_DIR, DayFeed, FeedError,
                                             day_files, parse_bars, parse_day)

T = TypeVar("T")
STATE_FORMAT = "momentum-paper-state"
STATE_SCHEMA = 1
_SNAPSHOT_RE = re.compile(r"^state_(\d{4}-\d{2}-\d{2})\.json$")
BACKTEST_FILES = ("trades.csv", "equity.csv", "rejections.csv", "summary.json")
START_HINT = ("create one with `python main.py paper --init --capital 10000`, then run "
              "`python main.py paper --run` after each close")


class SourceError(Exception):
    """A source that cannot be shown; the message names the file and the fix."""


@dataclass(frozen=True, slots=True)
class Point:
    """One equity-curve point (the ValuePoint of rules.metrics)."""

    day: date
    equity: Decimal
    cash: Decimal


@dataclass(slots=True)
class Source:
    """Everything the tabs show, read from files."""

    kind: str                                  # "paper" or "backtest"
    path: Path
    initial_capital: Decimal
    curve: list[Point]
    trades: list[Trade]                        # closed trades (a backtest's open ones too)
    positions: list[Position] = field(default_factory=list)
    rejections: list[dict[str, str]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    strategy: dict[str, Any] = field(default_factory=dict)   # scanner/signals/risk settings
    daily_loss_baseline: Decimal | None = None
    days: list[DayFeed] = field(default_factory=list)
    bars: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def as_of(self) -> date | None:
        return self.curve[-1].day if self.curve else None


class FileCache:
    """Parsed files keyed by (path, mtime, size): unchanged files are never read again."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[tuple[int, int], Any]] = {}
        self.reads = 0

    def get(self, path: Path, parse: Callable[[Path, str], T]) -> T:
        """The parsed file; a parse error (raised by `parse`) is cached with it too."""
        stat = path.stat()
        key, sig = (str(path), parse.__qualname__), (stat.st_mtime_ns, stat.st_size)
        hit = self._entries.get(key)
        if hit is None or hit[0] != sig:
            self.reads += 1
            try:
                value: Any = parse(path, path.read_text(encoding="utf-8"))
            except (FeedError, SourceError, UnicodeDecodeError) as e:
                value = SourceError(str(e))
            hit = (sig, value)
            self._entries[key] = hit
        if isinstance(hit[1], SourceError):
            raise hit[1]
        return hit[1]


# ---------------------------------------------------------------- paper portfolio
def load_paper(state_dir: Path, cache: FileCache) -> Source:
    """The latest verified snapshot of a paper portfolio, with its dashboard feed."""
    state_dir = Path(state_dir)
    pointer = state_dir / "latest.json"
    if not pointer.exists():
        if not state_dir.is_dir() or not any(state_dir.glob("state_*.json")):
            raise SourceError(f"No paper portfolio in {state_dir}/ yet: {START_HINT}.")
        raise SourceError(f"{pointer} is missing; {_resume_hint(state_dir, None, cache)}")
    warnings: list[str] = []
    target = pointer
    try:
        target = state_dir / _pointer_target(pointer)
        document = cache.get(target, parse_snapshot)
    except (SourceError, OSError) as e:
        good = _last_good(state_dir, target, cache)
        if good is None:
            raise SourceError(f"{_problem(e)}; no earlier good snapshot: start again with "
                              f"`python main.py paper --init --force`") from None
        warnings.append(f"{_problem(e)}. Showing the last good snapshot {good.name}; resume from "
                        f"it with `python main.py paper --run --from-snapshot {good}`.")
        document = cache.get(good, parse_snapshot)
    source = snapshot_source(state_dir, document)
    source.warnings += warnings
    _attach_feed(source, state_dir, cache)
    return source


def _problem(e: Exception) -> str:
    if isinstance(e, OSError) and e.strerror:
        return f"{e.filename}: {e.strerror}"
    return str(e)


def _pointer_target(pointer: Path) -> str:
    try:
        name = safe_json(pointer.read_text(encoding="utf-8"))["file"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise SourceError(f"{pointer} is unreadable ({e.__class__.__name__})") from None
    if not isinstance(name, str) or not (name == "state_init.json" or _SNAPSHOT_RE.match(name)):
        raise SourceError(f"{pointer} does not name a snapshot file ({name!r})")
    return name


def _last_good(state_dir: Path, bad: Path, cache: FileCache) -> Path | None:
    candidates = [state_dir / "state_init.json",
                  *sorted(p for p in state_dir.glob("state_*.json") if _SNAPSHOT_RE.match(p.name))]
    for path in reversed([p for p in candidates if p != bad and p.exists()]):
        try:
            cache.get(path, parse_snapshot)
            return path
        except SourceError:
            continue
    return None


def _resume_hint(state_dir: Path, bad: Path | None, cache: FileCache) -> str:
    good = _last_good(state_dir, bad or state_dir, cache)
    return (f"resume from the last good snapshot with `python main.py paper --run "
            f"--from-snapshot {good}`" if good else "start again with `paper --init --force`")


def parse_snapshot(path: Path, text: str) -> dict[str, Any]:
    """Check a snapshot's format, schema and checksum (as run/state.py does) and return it."""
    try:
        document = safe_json(text)
    except ValueError as e:
        raise SourceError(f"{path} is not valid JSON (truncated or damaged: {e})") from None
    if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
        raise SourceError(f"{path} is not a momentum paper-trading state file")
    if document.get("schema_version") != STATE_SCHEMA:
        raise SourceError(f"{path}: schema version {document.get('schema_version')!r} is not "
                          f"{STATE_SCHEMA}; this dashboard cannot read it")
    canonical = json.dumps({"meta": document.get("meta"), "state": document.get("state")},
                           sort_keys=True, separators=(",", ":"))
    digest = "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    if document.get("checksum") != digest:
        raise SourceError(f"{path} fails its checksum (edited by hand or damaged)")
    try:
        snapshot_source(path.parent, document)  # the contents decode
    except (KeyError, TypeError, ValueError, InvalidOperation) as e:
        raise SourceError(f"{path} has invalid contents ({e.__class__.__name__}: {e})") from None
    return document


def snapshot_source(state_dir: Path, document: dict[str, Any]) -> Source:
    """A verified snapshot document as a Source (no feed yet)."""
    state, meta = document["state"], document["meta"]
    book = state["paper_portfolio"]
    return Source(
        kind="paper", path=state_dir, initial_capital=Decimal(state["initial_capital"]),
        curve=[Point(date.fromisoformat(d), Decimal(e), Decimal(c))
               for d, e, c in state["equity_curve"]],
        trades=[_trade(t) for t in state["closed_trades"]],
        positions=[_position(p) for p in book["positions"]],
        rejections=[{"date": j["day"], "ticker": j["ticker"], "reason": j["reason"],
                     "rule": j["rule"], "detail": j["detail"]} for j in state["rejections"]],
        pending=list(state["pending_entries"]), strategy=dict(meta.get("strategy") or {}),
        daily_loss_baseline=_dec(state["risk"]["daily_loss_baseline"]))


def _dec(v: Any) -> Decimal | None:
    return None if v is None else Decimal(str(v))


def _day(v: Any) -> date | None:
    return None if v in (None, "") else date.fromisoformat(v)


def _trade(t: dict[str, Any]) -> Trade:
    return Trade(ticker=t["ticker"], asset_type=AssetType(t["asset_type"]),
                 sector=t.get("sector", ""), entry_date=date.fromisoformat(t["entry_date"]),
                 entry_price=Decimal(t["entry_price"]), quantity=Decimal(t["quantity"]),
                 entry_commission=Decimal(t["entry_commission"]),
                 exit_date=_day(t["exit_date"]), exit_price=_dec(t["exit_price"]),
                 exit_commission=_dec(t["exit_commission"]),
                 exit_reason=ExitReason(t["exit_reason"]) if t["exit_reason"] else None)


def _position(p: dict[str, Any]) -> Position:
    return Position(ticker=p["ticker"], asset_type=AssetType(p["asset_type"]),
                    sector=p["sector"], entry_date=date.fromisoformat(p["entry_date"]),
                    entry_price=Decimal(p["entry_price"]), quantity=Decimal(p["quantity"]),
                    entry_commission=Decimal(p["entry_commission"]),
                    stop_price=Decimal(p["stop_price"]), target_price=Decimal(p["target_price"]),
                    highest_high=Decimal(p["highest_high"]),
                    trailing_stop=_dec(p["trailing_stop"]), last_close=Decimal(p["last_close"]),
                    last_bar_date=date.fromisoformat(p["last_bar_date"]),
                    entry_score=float(p["entry_score"]),
                    pending_exit=ExitReason(p["pending_exit"]) if p["pending_exit"] else None,
                    missed_steps=int(p["missed_steps"]))


def _attach_feed(source: Source, state_dir: Path, cache: FileCache) -> None:
    bad = []
    for path in day_files(state_dir):
        try:
            source.days.append(cache.get(path, parse_day))
        except (SourceError, OSError) as e:
            bad.append(str(e))
    if bad:
        source.warnings.append(f"{len(bad)} dashboard feed file(s) skipped: {bad[0]}")
    bars = state_dir / FEED_DIR / BARS_FILE
    if bars.exists():
        try:
            source.bars = cache.get(bars, parse_bars)
        except (SourceError, OSError) as e:
            source.warnings.append(f"charts unavailable: {e}")


# ---------------------------------------------------------------- backtest folder
def load_backtest(folder: Path, cache: FileCache) -> Source:
    """A backtest output folder (trades.csv, equity.csv, rejections.csv, summary.json)."""
    folder = Path(folder)
    missing = [name for name in BACKTEST_FILES if not (folder / name).is_file()]
    if missing:
        raise SourceError(f"{folder}/ is missing {', '.join(missing)}: not a complete backtest "
                          f"output; run `python main.py backtest --start D --end D --output "
                          f"{folder}` again")
    summary = cache.get(folder / "summary.json", _parse_summary)
    curve = cache.get(folder / "equity.csv", _parse_equity)
    strategy = {k: v for k, v in (summary.get("config") or {}).items()
                if k in ("scanner", "signals", "risk", "trading")}  # never api/alerts: secrets
    return Source(kind="backtest", path=folder,
                  initial_capital=Decimal(str(summary.get("initial_capital") or
                                              (curve[0].equity if curve else 0))),
                  curve=curve, trades=cache.get(folder / "trades.csv", _parse_trades),
                  rejections=cache.get(folder / "rejections.csv", _parse_rejections),
                  strategy=strategy, summary=summary)


def _rows(path: Path, text: str, header: tuple[str, ...]) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    absent = [h for h in header if h not in (reader.fieldnames or [])]
    if absent:
        raise SourceError(f"{path}: column(s) {', '.join(absent)} missing from the header")
    return list(reader)


def _parse_equity(path: Path, text: str) -> list[Point]:
    try:
        return [Point(date.fromisoformat(r["date"]), Decimal(r["equity"]), Decimal(r["cash"]))
                for r in _rows(path, text, ("date", "equity", "cash"))]
    except (ValueError, InvalidOperation) as e:
        raise SourceError(f"{path}: a row is malformed ({e})") from None


def _parse_trades(path: Path, text: str) -> list[Trade]:
    """trades.csv rows as Trades whose pnl equals the file's pnl column exactly."""
    header = ("ticker", "asset_type", "entry_date", "entry_price", "exit_date", "exit_price",
              "quantity", "exit_reason", "pnl")
    out = []
    try:
        for r in _rows(path, text, header):
            entry, qty = Decimal(r["entry_price"]), Decimal(r["quantity"])
            exit_price = _dec(r["exit_price"] or None)
            # trades.csv has pnl but no commissions: carry the difference as the exit's cost
            cost = None if exit_price is None else (exit_price - entry) * qty - Decimal(r["pnl"])
            out.append(Trade(r["ticker"], AssetType(r["asset_type"]), r.get("sector", ""),
                             date.fromisoformat(r["entry_date"]), entry, qty, Decimal(0),
                             _day(r["exit_date"]), exit_price, cost,
                             ExitReason(r["exit_reason"]) if r["exit_reason"] else None))
    except (ValueError, InvalidOperation) as e:
        raise SourceError(f"{path}: a row is malformed ({e})") from None
    return out


def _parse_rejections(path: Path, text: str) -> list[dict[str, str]]:
    return [{"date": r["date"], "ticker": r["ticker"], "reason": r["reason"],
             "rule": r.get("rule", ""), "detail": r.get("detail", "")}
            for r in _rows(path, text, ("date", "ticker", "reason"))]


def _parse_summary(path: Path, text: str) -> dict[str, Any]:
    try:
        summary = safe_json(text)
    except ValueError as e:
        raise SourceError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(summary, dict):
        raise SourceError(f"{path} is not a backtest summary")
    return summary


# ---------------------------------------------------------------- other files
def read_scheduler_status(path: Path, cache: FileCache) -> dict[str, Any] | str | None:
    """The scheduler's status file as a dict, a sentence when unreadable, None when absent."""
    if not Path(path).is_file():
        return None
    try:
        return cache.get(Path(path), _parse_summary)
    except SourceError as e:
        return f"scheduler status unreadable: {e}"


def backtest_folders(root: Path) -> list[Path]:
    """output/backtest_*/ folders under `root`, newest name first."""
    base = Path(root)
    return sorted((p for p in base.glob("backtest_*") if p.is_dir()), reverse=True)
