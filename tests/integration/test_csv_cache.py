"""The fast CSV path and its parsed cache: same frames and same messages as the reference reader."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from momentum.core.errors import DataError
from momentum.data import csv_fast
from momentum.data.csv_source import CsvDirectorySource, load_price_file

HEADER = "date,open,high,low,close,volume\n"
GOOD = HEADER + "2024-01-02,10,11,9.5,10.5,1000\n2024-01-03,10.5,12,10,11.75,2500\n"


def write_dir(root: Path, price_text: str) -> Path:
    (root / "stocks").mkdir(parents=True)
    (root / "meta.csv").write_text("ticker,asset_type,sector,market_cap\n"
                                   "AAA,stock,Tech,1000000000\n")
    path = root / "stocks" / "AAA.csv"
    path.write_text(price_text, newline="")
    return path


def read(path: Path, cache: Path | None) -> pd.DataFrame:
    return csv_fast.read_price_file(path, load_price_file, cache)


@pytest.mark.parametrize("text", [GOOD, GOOD.replace("\n", "\r\n"), "\ufeff" + GOOD,
                                  GOOD + "\n\n", "volume,date,open,high,low,close\n"
                                  "1000,2024-01-02,10,11,9.5,10.5\n"])
def test_fast_path_and_cache_give_the_reference_frame(tmp_path: Path, text: str):
    path = tmp_path / "AAA.csv"
    path.write_text(text, encoding="utf-8", newline="")
    expected = load_price_file(path)
    cache = tmp_path / "cache"
    pd.testing.assert_frame_equal(read(path, None), expected, check_exact=True)
    pd.testing.assert_frame_equal(read(path, cache), expected, check_exact=True)  # fills it
    assert len(list(cache.glob("*.bars"))) == 1
    pd.testing.assert_frame_equal(read(path, cache), expected, check_exact=True)  # a hit


def test_cache_hit_does_not_parse_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "AAA.csv"
    path.write_text(GOOD)
    cache = tmp_path / "cache"
    read(path, cache)

    def no_parse(data: bytes) -> None:
        raise AssertionError("parsed although the content is unchanged")

    monkeypatch.setattr(csv_fast, "_parse_fast", no_parse)
    assert read(path, cache)["close"].tolist() == [10.5, 11.75]


def test_edited_file_with_same_size_and_mtime_is_checked_again(tmp_path: Path):
    path = write_dir(tmp_path / "data", GOOD)
    cache = tmp_path / "cache"
    assert len(CsvDirectorySource(tmp_path / "data", cache_dir=cache).bars("AAA")) == 2
    stat = path.stat()
    bad = GOOD.replace("11.75", "99.75")  # close above high, same length
    assert len(bad) == len(GOOD)
    path.write_text(bad)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(DataError) as cached_run:
        CsvDirectorySource(tmp_path / "data", cache_dir=cache).bars("AAA")
    with pytest.raises(DataError) as plain_run:
        CsvDirectorySource(tmp_path / "data").bars("AAA")
    assert str(cached_run.value) == str(plain_run.value)
    assert "line 3" in str(cached_run.value) and "close 99.75 is outside" in str(cached_run.value)


@pytest.mark.parametrize("text", [
    HEADER + "2024-01-02,10,11,9.5,10.5,1000\n\n2024-01-03,10.5,12,10,11.75,2500\n",
    HEADER + "2024-01-02,10,11,9.5,NaN,1000\n",
    HEADER + "2024-01-03,10,11,9.5,10.5,1000\n2024-01-02,10,11,9.5,10.5,1000\n",
    HEADER + "2024-01-02,10,11,9.5,10.5,-1\n",
    HEADER + "2024-01-02,10,11,9.5,10.5,1000,7\n",
    HEADER + "2024/01/02,10,11,9.5,10.5,1000\n",
    HEADER,
])
def test_defects_get_the_reference_message_with_a_cache(tmp_path: Path, text: str):
    path = tmp_path / "AAA.csv"
    path.write_text(text)
    with pytest.raises(DataError) as reference:
        load_price_file(path)
    with pytest.raises(DataError) as fast:
        read(path, tmp_path / "cache")
    assert str(fast.value) == str(reference.value)
    assert list((tmp_path / "cache").glob("*.bars")) == []  # a bad file is never cached


def test_damaged_cache_entry_is_ignored_and_replaced(tmp_path: Path):
    path = tmp_path / "AAA.csv"
    path.write_text(GOOD)
    cache = tmp_path / "cache"
    read(path, cache)
    (entry,) = cache.glob("*.bars")
    entry.write_bytes(b"not an array")
    pd.testing.assert_frame_equal(read(path, cache), load_price_file(path), check_exact=True)
    pd.testing.assert_frame_equal(read(path, cache), load_price_file(path), check_exact=True)
