"""meta.csv of a CSV data directory: one row per asset (ticker, asset_type, sector, market_cap).

Read and checked when a ``CsvDirectorySource`` (data/csv_source.py) is built; every problem is one
``DataError`` line naming the file, the line (header = line 1), the bad value and the fix.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from momentum.core.domain import Asset, AssetType, validate_ticker
from momentum.core.errors import DataError, TickerError
from momentum.core.safeload import clip
from momentum.data.file_checks import check_file_size, check_inside_root

META_COLUMNS = ("ticker", "asset_type", "sector", "market_cap")
MAX_META_FILE_BYTES = 20 << 20
_META_HEADER = ",".join(META_COLUMNS)


@dataclass(frozen=True, slots=True)
class MetaRow:
    """One asset of meta.csv and the line it is on (for messages about its price file)."""

    asset: Asset
    line: int


def check_root(root: Path, meta_path: Path) -> None:
    if not root.exists():
        raise DataError(f"{root}: data directory does not exist; check the path")
    if not root.is_dir():
        raise DataError(f"{root}: is not a directory; point the CSV source at the data directory")
    if not meta_path.is_file():
        raise DataError(
            f"{meta_path}: missing; the data directory needs meta.csv with header '{_META_HEADER}'"
        )
    check_inside_root(root, meta_path)
    check_file_size(meta_path, MAX_META_FILE_BYTES)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror}); check its permissions") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: is not UTF-8 text; save it as UTF-8 CSV") from None


def read_meta(path: Path) -> dict[str, MetaRow]:
    reader = csv.reader(io.StringIO(_read_text(path)))
    try:
        return _meta_rows(path, reader)
    except csv.Error as exc:  # e.g. a field over the csv module's 128 KB limit
        raise DataError(f"{path}: line {reader.line_num}: {clip(str(exc))}; each field must be "
                        f"a short value") from None


def _meta_rows(path: Path, reader: Any) -> dict[str, MetaRow]:
    header = next(reader, None)
    if header is None:
        raise DataError(f"{path}: line 1: file is empty; expected header '{_META_HEADER}'")
    columns = [name.strip() for name in header]
    missing = [name for name in META_COLUMNS if name not in columns]
    if missing:
        raise DataError(
            f"{path}: line 1: missing column(s) {', '.join(missing)} in header "
            f"{clip(','.join(header))}; the header must be '{_META_HEADER}'"
        )
    positions = [columns.index(name) for name in META_COLUMNS]
    rows: dict[str, MetaRow] = {}
    for fields in reader:
        if not any(field.strip() for field in fields):
            continue  # a blank line in a hand-edited table carries no asset
        row = _parse_meta_row(path, reader.line_num, fields, positions)
        ticker = row.asset.ticker
        if ticker in rows:
            raise DataError(
                f"{path}: line {row.line}: duplicate ticker {ticker} (first on line "
                f"{rows[ticker].line}); keep one row per ticker"
            )
        rows[ticker] = row
    if not rows:
        raise DataError(f"{path}: no assets below the header; add one row per ticker")
    return rows


def _parse_meta_row(path: Path, line: int, fields: list[str], positions: list[int]) -> MetaRow:
    where = f"{path}: line {line}"
    if len(fields) <= max(positions):
        raise DataError(
            f"{where}: {len(fields)} field(s) {clip(','.join(fields))}; expected '{_META_HEADER}'"
        )
    raw_ticker, raw_type, raw_sector, raw_cap = (fields[i].strip() for i in positions)
    try:
        ticker = validate_ticker(raw_ticker)
    except TickerError as exc:
        raise TickerError(f"{where}: {exc}") from None
    try:
        asset_type = AssetType(raw_type)
    except ValueError:
        allowed = "|".join(kind.value for kind in AssetType)
        raise DataError(
            f"{where}: asset_type {clip(raw_type)} of {ticker}; use one of {allowed}") from None
    # R1.3: crypto's sector is Crypto; a stock without one is Unknown.
    sector = raw_sector or ("Crypto" if asset_type is AssetType.CRYPTO else "Unknown")
    market_cap = _parse_market_cap(where, ticker, raw_cap)
    return MetaRow(Asset(ticker, asset_type, sector, market_cap), line)


def _parse_market_cap(where: str, ticker: str, text: str) -> float | None:
    if not text:
        return None  # unknown market cap: the asset is simply not eligible (R1.3)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise DataError(
            f"{where}: market_cap {clip(text)} of {ticker} is not a non-negative number of "
            "dollars; "
            "write digits like 24594852352, or leave it empty if unknown"
        )
    return value
