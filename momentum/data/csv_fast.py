"""Fast reading of CSV price files: pyarrow's parser and a validated parsed cache.

``read_price_arrays(path, load_price_file, cache_dir)`` returns the arrays of exactly what
``csv_source.load_price_file`` returns (the same numbers, the same DataError for the same defect),
and ``read_price_file`` the same as a frame:

1. the file's bytes are read once and hashed (SHA-1 of the content, with its size in the key), so
   an edited file never matches an old entry, whatever its mtime says;
2. a cache hit is an array parsed and checked by an earlier run of this code version;
3. otherwise pyarrow parses the file, and the R1.1 checks run vectorized on the arrays;
4. anything unusual (another header, a blank line, a bad cell, a failed check, no pyarrow) goes
   to ``load_price_file``, the reference reader, which names the file, line, value and fix.
So the fast path only ever accepts files the reference reader accepts, with identical values.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from momentum.data.base import BAR_COLUMNS, PriceBars, price_bars_of

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when parsing or checking changes: older entries are then ignored
_HEADERS = (b"date,open,high,low,close,volume\n", b"date,open,high,low,close,volume\r\n")
_BOM = b"\xef\xbb\xbf"
_EPOCH_DAY = np.datetime64("1970-01-01", "D")


def read_price_file(path: Path, load_price_file: Callable[[Path], pd.DataFrame],
                    cache_dir: Path | None = None) -> pd.DataFrame:
    """Read and check one price file, from the parsed cache when its content is unchanged."""
    return read_price_arrays(path, load_price_file, cache_dir).to_frame()


def read_price_arrays(path: Path, load_price_file: Callable[[Path], pd.DataFrame],
                      cache_dir: Path | None = None) -> PriceBars:
    """Read and check one price file as arrays, from the parsed cache when unchanged.

    `load_price_file` is the reference reader (csv_source's): it handles every file the fast
    path is not sure about, so the messages of a bad file are always its own.
    """
    data = _read_bytes(path)
    if data is None:
        return price_bars_of(load_price_file(path))  # cannot read: the reference reader says why
    key = f"v{CACHE_VERSION}-{len(data)}-{hashlib.sha1(data).hexdigest()}"
    if cache_dir is not None:
        cached = _load_cached(cache_dir, key)
        if cached is not None:
            return PriceBars(*cached)
    parsed = _parse_fast(data)
    if parsed is None:
        bars = price_bars_of(load_price_file(path))  # raises the precise DataError, or accepts
        parsed = (bars.dates, bars.values)
    if cache_dir is not None:
        _store(cache_dir, key, *parsed)
    return PriceBars(*parsed)


def _read_bytes(path: Path) -> bytes | None:
    # The one place the fast path opens a price file.
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def _parse_fast(data: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """(dates, (n, 5) values) of a plain, valid price file; None when in any doubt."""
    body = data[len(_BOM):] if data.startswith(_BOM) else data
    if not body.startswith(_HEADERS):
        return None
    try:
        body.decode("utf-8")
        import pyarrow as pa
        import pyarrow.csv as pcsv
    except (UnicodeDecodeError, ImportError):
        return None
    types = {"date": pa.date32(), **{c: pa.float64() for c in BAR_COLUMNS}}
    try:
        table = pcsv.read_csv(
            io.BytesIO(body), read_options=pcsv.ReadOptions(use_threads=False),
            parse_options=pcsv.ParseOptions(ignore_empty_lines=False),
            convert_options=pcsv.ConvertOptions(column_types=types, null_values=[],
                                                strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_rows == 0:
        return None
    dates = table.column("date").to_numpy().astype("datetime64[D]")
    values = np.column_stack([table.column(c).to_numpy() for c in BAR_COLUMNS])
    return (dates, values) if _valid(dates, values) else None


def _valid(dates: np.ndarray, values: np.ndarray) -> bool:
    """The checks of csv_source (finite, ascending unique dates, R1.1 price ranges) in one pass."""
    if not np.isfinite(values).all():
        return False
    if len(dates) > 1 and not (np.diff(dates) > np.timedelta64(0, "D")).all():
        return False
    o, h, lo, c, v = values.T
    return bool((values[:, :4] > 0).all() and (h >= lo).all() and (o >= lo).all()
                and (o <= h).all() and (c >= lo).all() and (c <= h).all() and (v >= 0).all())


def _entry(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"{key}.bars"


# An entry: magic, row count, then rows of (day number, open, high, low, close, volume) as
# float64. Raw bytes, since np.load's header parsing costs more than reading the numbers.
_MAGIC = b"MOMBARS1"


def _load_cached(cache_dir: Path, key: str) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        raw = _entry(cache_dir, key).read_bytes()
    except OSError:
        return None  # no entry: parse the file
    rows = int.from_bytes(raw[8:16], "little") if raw[:8] == _MAGIC else -1
    if rows <= 0 or len(raw) != 16 + rows * 48:
        return None  # a damaged entry: parse the file again (and replace it)
    table = np.frombuffer(raw, dtype="<f8", offset=16).reshape(rows, 6)
    dates = _EPOCH_DAY + table[:, 0].astype(np.int64)
    values = np.ascontiguousarray(table[:, 1:])
    # Checked again on load: what comes back is always what the checks accept.
    return (dates, values) if _valid(dates, values) else None


def _store(cache_dir: Path, key: str, dates: np.ndarray, values: np.ndarray) -> None:
    """Write one entry atomically; a cache that cannot be written only costs speed."""
    days = (dates - _EPOCH_DAY).astype(np.int64).astype(np.float64)
    payload = np.column_stack([days, values]).astype("<f8").tobytes()
    tmp = None
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(_MAGIC + len(dates).to_bytes(8, "little") + payload)
        os.replace(tmp, _entry(cache_dir, key))
    except OSError as exc:
        logger.debug("parsed-CSV cache not written (%s): %s", cache_dir, exc)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
