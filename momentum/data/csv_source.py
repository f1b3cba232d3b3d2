"""Market data from a directory of CSV files, laid out like ``../shared/data``.

    <root>/meta.csv              ticker,asset_type,sector,market_cap
    <root>/stocks/<T>.csv        date,open,high,low,close,volume   (asset_type stock)
    <root>/crypto/<PAIR>.csv     same header                        (asset_type crypto)
    <root>/benchmark/<T>.csv     same header, optional              (asset_type etf)

Metadata is checked when the source is built; a price file is checked the first time it is read
(or by ``validate_all``) and then kept in memory, or with a cache directory kept there parsed
(``csv_fast``), so a 10-year market is not held twice while it is turned into a Market. Every
problem is one ``DataError`` line naming the file, the line (header = line 1), the bad value and
the fix.
"""
from __future__ import annotations

import difflib
import hashlib
import logging
import os
import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import numpy as np

from momentum.core.calendar import completed_through
from momentum.core.domain import Asset, AssetType, validate_ticker
from momentum.core.errors import DataError, TickerError
from momentum.core.safeload import clip
from momentum.data.base import BAR_COLUMNS, PriceBars
from momentum.data.csv_fast import read_price_arrays, read_price_batch
from momentum.data.csv_meta import (MAX_META_FILE_BYTES, META_COLUMNS, MetaRow, check_root,
                                    read_meta)
from momentum.data.file_checks import check_file_size, check_inside_root, check_size

if TYPE_CHECKING:
    import pandas as pd

# meta.csv's names stay importable from here (they moved to data/csv_meta.py)
__all__ = ["ASSET_DIRS", "MAX_META_FILE_BYTES", "MAX_PRICE_FILE_BYTES", "META_COLUMNS",
           "PRICE_COLUMNS", "CsvDirectorySource", "check_price_path", "load_price_file"]

logger = logging.getLogger(__name__)

PRICE_COLUMNS = ("date", *BAR_COLUMNS)
ASSET_DIRS = {AssetType.STOCK: "stocks", AssetType.CRYPTO: "crypto", AssetType.ETF: "benchmark"}

_PRICE_HEADER = ",".join(PRICE_COLUMNS)
_DTYPES = {"date": "str", **{column: "float64" for column in BAR_COLUMNS}}
_FIELDS_ERROR = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_FIRST_DATA_LINE = 2  # row 0 of a frame is line 2 of its file: the header is line 1
MAX_PRICE_FILE_BYTES = 50 << 20  # a century of daily bars is ~1 MB
_MAX_HEADER_CHARS = 4096


class CsvDirectorySource:
    """A MarketDataSource reading ``meta.csv`` and one price file per ticker under `root`."""

    name = "csv"

    def __init__(self, root: str | Path, now: datetime | None = None,
                 cache_dir: str | Path | None = None) -> None:
        """Check `root` and meta.csv and match every ticker to its price file (R1.3).

        With `now` (timezone-aware), bars dated after the last completed bar of the asset's
        type at `now` are dropped, so a still-forming day is never handed out. With
        `cache_dir`, checked files are kept there parsed, keyed by their content (csv_fast).
        """
        if now is not None and now.tzinfo is None:
            raise ValueError("now must be timezone-aware, e.g. datetime.now(timezone.utc)")
        self.root = Path(root)
        self._now = now
        self._meta_path = self.root / "meta.csv"
        check_root(self.root, self._meta_path)
        rows = read_meta(self._meta_path)
        self._assets = {ticker: row.asset for ticker, row in rows.items()}
        self._paths = _match_price_files(self.root, self._meta_path, rows)
        self._bars: dict[str, PriceBars] = {}
        self._prefetched: dict[str, PriceBars] = {}
        self._cache_dir = None if cache_dir is None else Path(cache_dir)

    def assets(self) -> list[Asset]:
        """Every asset in meta.csv, benchmarks included, sorted by ticker."""
        return [self._assets[ticker] for ticker in sorted(self._assets)]

    def bars(self, ticker: str, start: date | None = None, end: date | None = None) -> pd.DataFrame:
        """Completed daily bars of `ticker` with start <= date <= end, oldest first (R1.1)."""
        # A copy: a caller editing its frame cannot touch what the source keeps.
        return self.price_bars(ticker, start, end).to_frame()

    def price_bars(self, ticker: str, start: date | None = None,
                   end: date | None = None) -> PriceBars:
        """The bars of ``bars`` as read-only arrays (no DataFrame, no pandas)."""
        symbol = validate_ticker(ticker)
        if symbol not in self._assets:
            close = difflib.get_close_matches(symbol, list(self._assets), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise DataError(
                f"unknown ticker {ticker!r}: not in {self._meta_path}{hint}; "
                "add a row to meta.csv and a price file, or use a listed ticker"
            )
        return self._read(symbol).between(start, end)

    def prefetch(self, tickers: list[str]) -> None:
        """Read and check these tickers' files together (much faster than one by one); each is
        then handed out once by price_bars. A file with any defect is left to be read alone,
        which raises its DataError when its ticker is asked for."""
        paths = {t: self._paths[t] for t in tickers if t in self._paths and t not in self._bars}
        pack = hashlib.sha1(str(self.root.resolve()).encode()).hexdigest()[:16]
        for ticker, bars in read_price_batch(paths, self._cache_dir, f"dir-{pack}",
                                             background=True).items():
            self._prefetched[ticker] = self._handed_out(ticker, bars)

    def validate_all(self) -> int:
        """Read and check every price file now; return how many bars were loaded."""
        return sum(len(self._read(ticker)) for ticker in sorted(self._assets))

    def _read(self, ticker: str) -> PriceBars:
        bars = self._bars.get(ticker)
        if bars is None:
            bars = self._prefetched.pop(ticker, None)
        if bars is None:
            bars = self._handed_out(ticker, read_price_arrays(self._paths[ticker],
                                                              load_price_file, self._cache_dir))
        if self._cache_dir is None:  # with a disk cache, a re-read costs a hash, not a parse
            self._bars[ticker] = bars
        return bars

    def _handed_out(self, ticker: str, bars: PriceBars) -> PriceBars:
        # Read-only, and only the bars complete at `now`.
        bars.dates.flags.writeable = False
        bars.values.flags.writeable = False
        if self._now is None:
            return bars
        return bars.between(None, completed_through(self._assets[ticker].asset_type, self._now))


# --- metadata (meta.csv itself: data/csv_meta.py) --------------------------------------


def _match_price_files(root: Path, meta_path: Path, rows: dict[str, MetaRow]) -> dict[str, Path]:
    found = _list_price_files(root)
    for ticker, (dir_type, path) in found.items():
        row = rows.get(ticker)
        if row is None:
            raise DataError(
                f"{path}: ticker {ticker} has no row in {meta_path}; add "
                f"'{ticker},{dir_type.value},<sector>,<market_cap>' there or remove the file"
            )
        meta_type = row.asset.asset_type
        if meta_type is not dir_type:
            raise DataError(
                f"{path}: {ticker} is {meta_type.value!r} in {meta_path} line {row.line}, so its "
                f"file belongs in {root / ASSET_DIRS[meta_type]}; move it or fix asset_type"
            )
    for ticker, row in rows.items():
        if ticker not in found:
            expected = root / ASSET_DIRS[row.asset.asset_type] / f"{ticker}.csv"
            raise DataError(
                f"{meta_path}: line {row.line}: no price file for {ticker}; expected {expected}; "
                "add the file or remove the row"
            )
    return {ticker: path for ticker, (_, path) in found.items()}


def _list_price_files(root: Path) -> dict[str, tuple[AssetType, Path]]:
    # Paths come from listing the directories, never from meta.csv text, so no symbol from a
    # file can steer a read outside `root`.
    found: dict[str, tuple[AssetType, Path]] = {}
    for asset_type, dirname in ASSET_DIRS.items():
        directory = root / dirname
        if not directory.is_dir():
            continue
        check_inside_root(root, directory)
        with os.scandir(directory) as listing:
            entries = sorted(listing, key=lambda e: e.name)
        for entry in entries:
            path = directory / entry.name
            # Hidden files (.DS_Store, ._X.csv from macOS) and notes are not price files.
            if entry.name.startswith(".") or path.suffix.lower() != ".csv":
                continue
            if entry.is_symlink():
                check_price_path(root, path)  # where it leads is checked
            else:  # a file in a folder inside root is inside root: no path to resolve
                if not entry.is_file(follow_symlinks=False):
                    raise DataError(f"{path}: {NOT_A_FILE}")
                check_size(path, entry.stat(follow_symlinks=False).st_size, MAX_PRICE_FILE_BYTES)
            try:
                ticker = validate_ticker(path.stem)
            except TickerError as exc:
                raise TickerError(f"{path}: file name is not a ticker: {exc}") from None
            if ticker in found:
                raise DataError(
                    f"{path}: second price file for {ticker} (also {found[ticker][1]}); keep one"
                )
            found[ticker] = (asset_type, path)
    return found


def check_price_path(root: Path, path: Path) -> None:
    """A price file is a regular file inside the data directory, of a plausible size."""
    check_inside_root(root, path)
    if not path.is_file():
        raise DataError(f"{path}: {NOT_A_FILE}")
    check_file_size(path, MAX_PRICE_FILE_BYTES)


NOT_A_FILE = "is not a regular file; a price file is a plain CSV file"


# --- price files --------------------------------------------------------------------------


def load_price_file(path: Path) -> pd.DataFrame:
    """Read and check one price file; return bars in the shape of data.base (R1.1, R1.4)."""
    import pandas as pd  # noqa: PLC0415 - the reference reader; the fast path needs no pandas

    columns = _read_price_header(path)
    try:
        raw = _read_price_csv(path, columns, _DTYPES, na_filter=True)
    except ValueError as exc:  # a cell that float64 cannot hold: find and name it
        _raise_bad_number(path, columns, str(exc))
    values = np.column_stack([raw[column].to_numpy(dtype="float64") for column in BAR_COLUMNS])
    dates_missing = raw["date"].isna().to_numpy()
    rows = _rows_before_trailing_blanks(dates_missing & np.isnan(values).all(axis=1))
    if rows == 0:
        raise DataError(
            f"{path}: line 1: header but no bars; add one row per day or remove the ticker"
        )
    index = _parse_dates(path, raw["date"].iloc[:rows])
    values = values[:rows]
    if not np.isfinite(values).all():
        _raise_bad_number(path, columns, "a price or volume is not a finite number")
    _check_dates(path, index)
    _check_prices(path, index, values)
    frame = pd.DataFrame(values, index=index, columns=list(BAR_COLUMNS))
    logger.debug("loaded %s: %d bars", path, len(frame))
    return frame


def _read_price_header(path: Path) -> list[str]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            first = handle.readline(_MAX_HEADER_CHARS)
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror}); check its permissions") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: is not UTF-8 text; save it as UTF-8 CSV") from None
    if not first.strip():
        raise DataError(f"{path}: line 1: file is empty; expected header '{_PRICE_HEADER}'")
    columns = [name.strip() for name in first.rstrip("\r\n").split(",")]
    missing = [name for name in PRICE_COLUMNS if name not in columns]
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if missing or repeated:
        problem = f"missing column(s) {', '.join(missing)}" if missing else (
            f"repeated column(s) {', '.join(repeated)}")
        raise DataError(
            f"{path}: line 1: {problem[:200]} in header {clip(first.strip())}; "
            f"the header must be '{_PRICE_HEADER}'"
        )
    return columns


def _read_price_csv(path: Path, columns: list[str], dtype: object, na_filter: bool) -> pd.DataFrame:
    import pandas as pd  # noqa: PLC0415 - the reference reader; the fast path needs no pandas

    # skip_blank_lines=False keeps row i on line i + 2, so every message can name its line.
    try:
        return pd.read_csv(
            path, header=0, names=columns, dtype=dtype,
            usecols=None if tuple(columns) == PRICE_COLUMNS else list(PRICE_COLUMNS),
            na_filter=na_filter, skip_blank_lines=False, encoding="utf-8-sig",
        )
    except pd.errors.ParserError as exc:  # a row with too many fields; pandas counts lines from 1
        found = _FIELDS_ERROR.search(str(exc))
        detail = (f"line {found[2]}: {found[3]} fields where the header has {found[1]}"
                  if found else clip(str(exc).strip()))
        raise DataError(f"{path}: {detail}; each row needs exactly the header's fields") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: is not UTF-8 text; save it as UTF-8 CSV") from None


def _rows_before_trailing_blanks(blank: np.ndarray) -> int:
    # Blank lines at the very end are harmless; blank lines inside the file are reported.
    filled = np.flatnonzero(~blank)
    return int(filled[-1]) + 1 if len(filled) else 0


def _raise_bad_number(path: Path, columns: list[str], detail: str) -> NoReturn:
    import pandas as pd  # noqa: PLC0415 - the reference reader; the fast path needs no pandas

    # na_filter=False keeps the cell's own text ('NaN', 'n/a') for the message.
    text = _read_price_csv(path, columns, "str", na_filter=False).replace("", np.nan)
    text = text.iloc[: _rows_before_trailing_blanks(text.isna().all(axis=1).to_numpy())]
    firsts = []
    for column in BAR_COLUMNS:
        numbers = pd.to_numeric(text[column], errors="coerce").to_numpy(dtype="float64")
        bad = ~np.isfinite(numbers)
        if bad.any():
            firsts.append((int(np.argmax(bad)), column))
    if firsts:
        row, column = min(firsts)
        value = text[column].iloc[row]
        shown = "" if pd.isna(value) else value
        raise DataError(
            f"{path}: line {row + _FIRST_DATA_LINE}: {column} {clip(shown)} is not a finite "
            "number; "
            "write a plain decimal number or delete the row"
        )
    raise DataError(f"{path}: cannot read the numbers ({detail}); check the file is plain CSV")


def _parse_dates(path: Path, text: pd.Series) -> pd.DatetimeIndex:
    import pandas as pd  # noqa: PLC0415 - the reference reader; the fast path needs no pandas

    dates = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    bad = dates.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        value = text.iloc[row]
        shown = "" if pd.isna(value) else value
        raise DataError(
            f"{path}: line {row + _FIRST_DATA_LINE}: date {clip(shown)} is not an ISO date "
            "YYYY-MM-DD; fix it or delete the row (blank lines are not allowed)"
        )
    return pd.DatetimeIndex(dates, name="date")


def _check_dates(path: Path, index: pd.DatetimeIndex) -> None:
    stamps = index.asi8
    duplicated = index.duplicated()
    if duplicated.any():
        row = int(np.argmax(duplicated))
        first = int(np.argmax(stamps == stamps[row]))
        raise DataError(
            f"{path}: line {row + _FIRST_DATA_LINE}: duplicate date {index[row].date()} (first on "
            f"line {first + _FIRST_DATA_LINE}); keep one row per date"
        )
    backwards = np.diff(stamps) < 0
    if backwards.any():
        row = int(np.argmax(backwards)) + 1
        raise DataError(
            f"{path}: line {row + _FIRST_DATA_LINE}: date {index[row].date()} comes after "
            f"{index[row - 1].date()}; sort the rows by date, oldest first"
        )


def _check_prices(path: Path, index: pd.DatetimeIndex, values: np.ndarray) -> None:
    open_, high, low, close, volume = values.T
    prices = values[:, :4]

    def non_positive(row: int) -> str:
        col = int(np.argmax(prices[row] <= 0))
        value = prices[row, col]
        return f"{BAR_COLUMNS[col]} {value:.10g} is not a positive price; use a price > 0"

    checks: list[tuple[np.ndarray, Callable[[int], str]]] = [
        ((prices <= 0).any(axis=1), non_positive),
        (high < low, lambda r: f"high {high[r]:.10g} is below low {low[r]:.10g}; fix the range"),
        ((open_ < low) | (open_ > high), lambda r: _outside("open", open_[r], low[r], high[r])),
        ((close < low) | (close > high), lambda r: _outside("close", close[r], low[r], high[r])),
        (volume < 0, lambda r: f"volume {volume[r]:.10g} is negative; volume must be >= 0"),
    ]
    for mask, describe in checks:
        if mask.any():
            row = int(np.argmax(mask))
            raise DataError(
                f"{path}: line {row + _FIRST_DATA_LINE} ({index[row].date()}): {describe(row)}"
            )


def _outside(column: str, value: float, low: float, high: float) -> str:
    return (f"{column} {value:.10g} is outside the day's range [low {low:.10g}, high {high:.10g}]; "
            f"fix {column}, high or low")
