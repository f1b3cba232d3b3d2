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


# ---------------------------------------------------------------- many files at once (Market.load)

def write_many(root: Path, texts: dict[str, str]) -> Path:
    (root / "stocks").mkdir(parents=True)
    (root / "meta.csv").write_text("ticker,asset_type,sector,market_cap\n" + "".join(
        f"{t},stock,Tech,1000000000\n" for t in texts))
    for ticker, text in texts.items():
        (root / "stocks" / f"{ticker}.csv").write_text(text, newline="")
    return root


MANY = {"AAA": GOOD, "BBB": GOOD.replace("10.5,1000", "10.25,1000"),
        "CCC": GOOD.replace("\n", "\r\n"), "DDD": "\ufeff" + GOOD + "\n\n",
        "EEE": HEADER + "2024-01-02,10,11,9.5,NaN,1000\n",             # defect: not finite
        "FFF": GOOD.replace("11.75", "12.75"),                          # defect: close > high
        "GGG": HEADER, "HHH": GOOD[:-1]}                                 # no rows; no final LF


@pytest.mark.parametrize("cached", [False, True])
def test_market_load_reads_many_files_as_the_reference_reader_does(tmp_path: Path, cached: bool):
    from momentum.data.market import Market  # noqa: PLC0415

    root = write_many(tmp_path / "data", MANY)
    cache = tmp_path / "cache" if cached else None
    for _ in range(2):  # the second time from the pack
        market = Market.load(CsvDirectorySource(root, cache_dir=cache))
        for ticker in MANY:
            path = root / "stocks" / f"{ticker}.csv"
            try:
                expected = load_price_file(path)
            except DataError as exc:
                assert market.skipped[ticker] == str(exc)
                continue
            h = market.history(ticker)
            assert h.close.tolist() == expected["close"].tolist()
            assert h.volume.tolist() == expected["volume"].tolist()
            assert h.dates.tolist() == [d.date() for d in expected.index]
    assert sorted(market.skipped) == ["EEE", "FFF", "GGG"]


def test_batch_sees_an_edited_file_with_the_same_size_and_mtime(tmp_path: Path):
    root = write_many(tmp_path / "data", {"AAA": GOOD, "BBB": GOOD})
    cache = tmp_path / "cache"
    paths = {t: root / "stocks" / f"{t}.csv" for t in ("AAA", "BBB")}
    assert sorted(csv_fast.read_price_batch(paths, cache)) == ["AAA", "BBB"]
    stat = paths["BBB"].stat()
    paths["BBB"].write_text(GOOD.replace("11.75", "99.75"))  # close above high, same length
    os.utime(paths["BBB"], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert sorted(csv_fast.read_price_batch(paths, cache)) == ["AAA"]  # BBB: read it alone
    source = CsvDirectorySource(root, cache_dir=cache)
    source.prefetch(["AAA", "BBB"])
    with pytest.raises(DataError, match="line 3.*close 99.75 is outside"):
        source.price_bars("BBB")


def test_damaged_pack_is_ignored_and_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = write_many(tmp_path / "data", {"AAA": GOOD, "BBB": GOOD})
    cache = tmp_path / "cache"
    paths = {t: root / "stocks" / f"{t}.csv" for t in ("AAA", "BBB")}
    first = csv_fast.read_price_batch(paths, cache)
    (pack,) = cache.glob("*.pack")
    pack.write_bytes(pack.read_bytes()[:-8])
    again = csv_fast.read_price_batch(paths, cache)
    assert again["AAA"].values.tolist() == first["AAA"].values.tolist()

    def no_parse(batch: object) -> dict:
        raise AssertionError("parsed although the pack holds every file")

    monkeypatch.setattr(csv_fast, "_parse_batch", no_parse)
    third = csv_fast.read_price_batch(paths, cache)  # the replaced pack
    assert third["BBB"].values.tolist() == first["BBB"].values.tolist()
    assert third["BBB"].dates.tolist() == first["BBB"].dates.tolist()


# ---------------------------------------------------------------- the pack's stat signatures

def test_batch_takes_unchanged_settled_files_from_the_pack_unread(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(csv_fast, "_SETTLED_NS", 0)  # every file counts as settled
    root = write_many(tmp_path / "data", {"AAA": GOOD, "BBB": GOOD.replace("1000", "1200")})
    cache = tmp_path / "cache"
    paths = {t: root / "stocks" / f"{t}.csv" for t in ("AAA", "BBB")}
    first = csv_fast.read_price_batch(paths, cache)

    def no_read(path: Path, buffer: bytearray) -> None:
        raise AssertionError(f"{path} read although its signature is unchanged")

    monkeypatch.setattr(csv_fast, "_read_into", no_read)
    again = csv_fast.read_price_batch(paths, cache)
    assert sorted(again) == ["AAA", "BBB"]
    for ticker in paths:
        assert again[ticker].values.tolist() == first[ticker].values.tolist()
        assert again[ticker].dates.tolist() == first[ticker].dates.tolist()


def test_batch_reads_a_file_again_once_its_ctime_moves(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(csv_fast, "_SETTLED_NS", 0)
    root = write_many(tmp_path / "data", {"AAA": GOOD, "BBB": GOOD})
    cache = tmp_path / "cache"
    paths = {t: root / "stocks" / f"{t}.csv" for t in ("AAA", "BBB")}
    assert sorted(csv_fast.read_price_batch(paths, cache)) == ["AAA", "BBB"]
    stat = paths["BBB"].stat()
    while paths["BBB"].stat().st_ctime_ns == stat.st_ctime_ns:  # the next tick of the clock
        paths["BBB"].write_text(GOOD.replace("11.75", "99.75"))  # close above high, same size
        os.utime(paths["BBB"], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert paths["BBB"].stat().st_size == stat.st_size
    assert sorted(csv_fast.read_price_batch(paths, cache)) == ["AAA"]  # BBB: read it alone


def test_batch_hashes_recently_changed_files_every_time(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    root = write_many(tmp_path / "data", {"AAA": GOOD, "BBB": GOOD})  # just written: not settled
    cache = tmp_path / "cache"
    paths = {t: root / "stocks" / f"{t}.csv" for t in ("AAA", "BBB")}
    csv_fast.read_price_batch(paths, cache)
    read_into, reads = csv_fast._read_into, []

    def counting(path: Path, buffer: bytearray):  # noqa: ANN202
        reads.append(path.stem)
        return read_into(path, buffer)

    monkeypatch.setattr(csv_fast, "_read_into", counting)
    assert sorted(csv_fast.read_price_batch(paths, cache)) == ["AAA", "BBB"]
    assert sorted(reads) == ["AAA", "BBB"]


@pytest.mark.parametrize("slice_rows", [1, 2, 3, 5, 1 << 18])
def test_batch_checks_agree_with_one_file_at_a_time_whatever_the_slice(
        monkeypatch: pytest.MonkeyPatch, slice_rows: int):
    import numpy as np  # noqa: PLC0415

    rng = np.random.default_rng(slice_rows)
    for _ in range(200):
        files = []
        for _ in range(int(rng.integers(1, 4))):
            n = int(rng.integers(1, 6))
            dates = np.datetime64("2024-01-01") + np.sort(rng.choice(40, n, replace=False))
            close = rng.uniform(10, 20, n)
            values = np.column_stack([close, close * 1.1, close * 0.9, close, rng.uniform(0, 9, n)])
            k = int(rng.integers(n))
            defect = rng.integers(5)
            if defect == 1 and n > 1:
                dates[k] = dates[k - 1] if k else dates[1]
            elif defect == 2:
                values[k, int(rng.integers(4))] = rng.choice([0.0, -1.0, np.nan])
            elif defect == 3:
                values[k, 4] = -1.0
            files.append((dates, values))
        expected = all(csv_fast._valid(d, v) for d, v in files)
        ends = np.cumsum([len(d) for d, _ in files])
        dates = np.concatenate([d for d, _ in files])
        values = np.concatenate([v for _, v in files])
        monkeypatch.setattr(csv_fast, "_CHECK_ROWS", slice_rows)
        assert csv_fast._valid(dates, values, ends[:-1]) == expected
        monkeypatch.setattr(csv_fast, "_CHECK_ROWS", 1 << 18)


def test_batches_that_reuse_one_buffer_keep_each_files_own_bars(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(csv_fast, "_BATCH_BYTES", 40)  # a batch per file or two, one buffer
    texts = {f"T{i}": GOOD.replace("1000", str(1000 + i)).replace("10.5,", f"10.{i}5,")
             for i in range(6)}
    root = write_many(tmp_path / "data", texts)
    batch = csv_fast.read_price_batch({t: root / "stocks" / f"{t}.csv" for t in texts})
    assert sorted(batch) == sorted(texts)
    for ticker in texts:
        expected = load_price_file(root / "stocks" / f"{ticker}.csv")
        assert batch[ticker].values.tolist() == expected.to_numpy().tolist()


def test_pack_written_in_the_background_is_there_for_the_next_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = write_many(tmp_path / "data", {"AAA": GOOD, "BBB": GOOD.replace("1000", "1300")})
    cache = tmp_path / "cache"
    paths = {t: root / "stocks" / f"{t}.csv" for t in ("AAA", "BBB")}
    first = csv_fast.read_price_batch(paths, cache, background=True)
    monkeypatch.setattr(csv_fast, "_parse_batch", lambda batch: {})  # only the pack can answer
    again = csv_fast.read_price_batch(paths, cache)  # waits for the writer first
    assert sorted(again) == ["AAA", "BBB"]
    assert again["BBB"].values.tolist() == first["BBB"].values.tolist()


def test_process_exits_only_once_its_background_pack_is_written(tmp_path: Path):
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    texts = {f"T{i}": GOOD.replace("1000", str(1000 + i)) for i in range(40)}
    root = write_many(tmp_path / "data", texts)
    cache = tmp_path / "cache"
    script = ("import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
              "from momentum.data import csv_fast;"
              "root = Path(sys.argv[2]);"
              "paths = {p.stem: p for p in sorted((root / 'stocks').glob('*.csv'))};"
              "assert len(csv_fast.read_price_batch(paths, Path(sys.argv[3]), background=True))"
              " == 40")
    repo = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", script, str(repo), str(root), str(cache)],
                   check=True, timeout=60)
    (pack,) = cache.glob("*.pack")
    entries, _ = csv_fast._load_pack(pack)
    assert len(entries) == 40 and not list(cache.glob("*.tmp"))


def test_bars_read_from_a_pack_stay_as_read_when_a_new_pack_replaces_it(tmp_path: Path):
    """The pack is mapped, not copied: the bars handed out are read-only, and a new pack (a new
    file renamed over the old one) leaves the bars already read as they were."""
    root = write_many(tmp_path / "data", {"AAA": GOOD, "BBB": GOOD})
    cache = tmp_path / "cache"
    paths = {t: root / "stocks" / f"{t}.csv" for t in ("AAA", "BBB")}
    csv_fast.read_price_batch(paths, cache)
    (pack,) = cache.glob("*.pack")
    from_pack = csv_fast.read_price_batch(paths, cache)
    before = from_pack["BBB"].values.tolist()
    assert not from_pack["BBB"].values.flags.writeable
    with pytest.raises(ValueError):
        from_pack["BBB"].values[0, 0] = 1.0
    paths["BBB"].write_text(GOOD.replace("10.5,1000", "10.25,1000"))
    replaced = csv_fast.read_price_batch(paths, cache)  # a new pack renamed over the old one
    (new_pack,) = cache.glob("*.pack")
    assert new_pack == pack and replaced["BBB"].values.tolist() != before
    assert from_pack["BBB"].values.tolist() == before
    assert csv_fast.read_price_batch(paths, cache)["BBB"].values.tolist() == \
        replaced["BBB"].values.tolist()


def test_an_empty_pack_file_is_ignored_and_replaced(tmp_path: Path):
    root = write_many(tmp_path / "data", {"AAA": GOOD})
    cache = tmp_path / "cache"
    paths = {"AAA": root / "stocks" / "AAA.csv"}
    first = csv_fast.read_price_batch(paths, cache)
    (pack,) = cache.glob("*.pack")
    pack.write_bytes(b"")  # cannot be mapped at all
    assert csv_fast.read_price_batch(paths, cache)["AAA"].values.tolist() == \
        first["AAA"].values.tolist()
    assert pack.stat().st_size > 0


def test_a_pack_of_the_older_format_is_ignored_and_replaced(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch):
    """MOMPACK2 stored the day numbers as float64; its bytes must not be read as int64 days."""
    root = write_many(tmp_path / "data", {"AAA": GOOD})
    cache = tmp_path / "cache"
    paths = {"AAA": root / "stocks" / "AAA.csv"}
    first = csv_fast.read_price_batch(paths, cache)
    (pack,) = cache.glob("*.pack")
    raw = bytearray(pack.read_bytes())
    assert raw[:8] == b"MOMPACK3"
    raw[:8] = b"MOMPACK2"
    pack.write_bytes(bytes(raw))
    parsed = []
    real_parse = csv_fast._parse_batch
    monkeypatch.setattr(csv_fast, "_parse_batch", lambda batch: parsed.append(1) or
                        real_parse(batch))
    again = csv_fast.read_price_batch(paths, cache)
    assert parsed and again["AAA"].dates.tolist() == first["AAA"].dates.tolist()
    assert pack.read_bytes()[:8] == b"MOMPACK3"
