"""What the paper run writes for the dashboard beside its snapshot, and the reader of it.

    <state_dir>/dashboard/day_YYYY-MM-DD.json   one session: candidates with scores, entry
                                                signals taken or rejected, the held positions'
                                                daily marks, exposure (written once per session)
    <state_dir>/dashboard/bars.json             recent daily bars of held, ordered and recently
                                                traded tickers, and the benchmark's closes since
                                                the portfolio's first session (rewritten daily)

Both are written atomically (``core.files.write_atomic``) from the paper run's per-day hook,
before the snapshot is committed: a crash redoes the day and rewrites the same file. The format
is documented in docs/PAPER_TRADING.md. Failing to write is logged and never stops a run: the
state, not this feed, is the record.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from momentum.core.ops_config import DashboardConfig
from momentum.core.safeload import safe_json
from momentum.core.domain import DayResult
from momentum.core.files import write_atomic
from momentum.core.money import money_str

if TYPE_CHECKING:  # types only: the feed reads the state, it never runs the engine
    from momentum.data.market import Market
    from momentum.run.engine import EngineState

logger = logging.getLogger(__name__)
FEED_DIR = "dashboard"
DAY_FORMAT = "momentum-dashboard-day"
BARS_FORMAT = "momentum-dashboard-bars"
SCHEMA_VERSION = 1
BARS_FILE = "bars.json"
DAY_FILE_RE = re.compile(r"^day_(\d{4}-\d{2}-\d{2})\.json$")


class FeedError(ValueError):
    """A feed file that is not what the format says (names the file and the problem)."""


# ---------------------------------------------------------------- writing (the paper run)
def write_day_feed(state_dir: Path, result: DayResult, state: EngineState, market: Market,
                   cfg: DashboardConfig) -> None:
    """Write the session's dashboard files (spec 7.2.5); a failure is logged, never raised."""
    folder = Path(state_dir) / FEED_DIR
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / f"day_{result.day.isoformat()}.json",
                     json.dumps(day_document(result, state), indent=0, sort_keys=True))
        write_atomic(folder / BARS_FILE,
                     json.dumps(bars_document(result.day, state, market, cfg), sort_keys=True))
    except (OSError, ValueError) as e:
        logger.warning("could not write the dashboard feed for %s in %s/ (%s); the run goes on",
                       result.day, folder, e)


def day_document(result: DayResult, state: EngineState) -> dict[str, Any]:
    """One session as JSON-ready data: money as exact text, indicators as floats."""
    signals = {s.ticker for s in result.signals}
    book = state.portfolio
    return {
        "format": DAY_FORMAT, "schema_version": SCHEMA_VERSION, "date": result.day.isoformat(),
        "full_scan": result.full_scan,
        "data_dates": {k: v.isoformat() for k, v in result.data_dates.items()},
        "candidates": [{"ticker": c.ticker, "asset_type": c.asset_type.value,
                        "sector": c.sector, "score": c.score, "momentum": c.momentum,
                        "rsi14": c.rsi14, "adv20_usd": c.adv20_usd,
                        "surge_ratio": c.surge_ratio, "close": c.close,
                        "bar_date": c.bar_date.isoformat(), "signal": c.ticker in signals}
                       for c in result.candidates],
        "entries": [{"ticker": o.ticker, "quantity": money_str(o.quantity), "score": o.score,
                     "reference_close": money_str(o.reference_close)} for o in result.entries],
        "rejections": [{"ticker": j.ticker, "reason": j.reason.value, "rule": j.rule,
                        "detail": j.detail, "day": j.day.isoformat()}
                       for j in result.rejections],
        "marks": [{"ticker": p.ticker, "close": money_str(p.last_close),
                   "stop_price": money_str(p.stop_price),
                   "target_price": money_str(p.target_price),
                   "trailing_stop": None if p.trailing_stop is None else money_str(
                       p.trailing_stop),
                   "quantity": money_str(p.quantity)} for p in book.positions.values()],
        "equity": money_str(result.equity), "cash": money_str(result.cash),
        "gross_exposure": money_str(result.gross_exposure),
        "sector_exposure": {k: money_str(v) for k, v in sorted(result.sector_exposure.items())},
        "skipped": list(result.skipped),
    }


def chart_tickers(day: date, state: EngineState, keep_days: int) -> list[str]:
    """Held and ordered tickers, and those whose trade closed within `keep_days` of `day`."""
    book = state.portfolio
    recent = {t.ticker for t in book.closed_trades
              if t.exit_date is not None and t.exit_date >= day - timedelta(days=keep_days)}
    return sorted(set(book.positions) | {o.ticker for o in book.pending_entries} | recent)


def bars_document(day: date, state: EngineState, market: Market,
                  cfg: DashboardConfig) -> dict[str, Any]:
    """The last `cfg.bar_days` bars (date, open, high, low, close) of each chart ticker."""
    import numpy as np  # the dashboard (the reader side) never needs it

    from momentum.rules.metrics import benchmark_ticker  # only the paper run needs it

    view = market.until(day)
    bars = {}
    for ticker in chart_tickers(day, state, cfg.recent_trade_days):
        if ticker in market.histories:
            h = view.history(ticker)
            lo = max(0, len(h.dates) - cfg.bar_days)
            bars[ticker] = [list(row) for row in zip(
                _iso_days(h.dates[lo:]), h.open[lo:].tolist(), h.high[lo:].tolist(),
                h.low[lo:].tolist(), h.close[lo:].tolist(), strict=True)]
    bench = {"ticker": benchmark_ticker(market), "closes": []}
    first = state.equity_curve[0].day if state.equity_curve else day
    if bench["ticker"] in market.histories:
        h = view.history(bench["ticker"])
        lo = int(np.searchsorted(h.dates, np.datetime64(first, "D"), side="left"))
        bench["closes"] = [list(row) for row in zip(
            _iso_days(h.dates[lo:]), h.close[lo:].tolist(), strict=True)]
    return {"format": BARS_FORMAT, "schema_version": SCHEMA_VERSION, "date": day.isoformat(),
            "bars": bars, "benchmark": bench}


def _iso_days(days: Any) -> list[str]:
    """datetime64[D] dates as YYYY-MM-DD text, as str() of each gives."""
    return days.astype("datetime64[D]").astype(str).tolist()


# ---------------------------------------------------------------- reading (the dashboard)
@dataclass(frozen=True, slots=True)
class DayFeed:
    """One session's feed file, parsed (plain JSON values; money still exact text)."""

    day: date
    document: dict[str, Any]


def day_files(state_dir: Path) -> list[Path]:
    """The feed's day files, oldest first."""
    folder = Path(state_dir) / FEED_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if DAY_FILE_RE.match(p.name))


def parse_day(path: Path, text: str) -> DayFeed:
    """Check one day file's format and return it."""
    document = _document(path, text, DAY_FORMAT)
    for key in ("candidates", "entries", "rejections", "marks"):
        if not isinstance(document.get(key), list):
            raise FeedError(f"{path}: '{key}' is missing or not a list")
    try:
        day = date.fromisoformat(document["date"])
    except (KeyError, TypeError, ValueError):
        raise FeedError(f"{path}: 'date' is missing or not YYYY-MM-DD") from None
    return DayFeed(day, document)


def parse_bars(path: Path, text: str) -> dict[str, Any]:
    """Check the bars file's format and return it."""
    document = _document(path, text, BARS_FORMAT)
    if not isinstance(document.get("bars"), dict):
        raise FeedError(f"{path}: 'bars' is missing or not an object")
    return document


def _document(path: Path, text: str, kind: str) -> dict[str, Any]:
    try:
        document = safe_json(text)
    except ValueError as e:
        raise FeedError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(document, dict) or document.get("format") != kind:
        raise FeedError(f"{path}: not a {kind} file")
    if document.get("schema_version") != SCHEMA_VERSION:
        raise FeedError(f"{path}: schema version {document.get('schema_version')!r} is not "
                        f"{SCHEMA_VERSION}")
    return document


def latest(days: Iterable[DayFeed], count: int) -> list[DayFeed]:
    """The newest `count` sessions, newest first."""
    return sorted(days, key=lambda d: d.day, reverse=True)[:count]
