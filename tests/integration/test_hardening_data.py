"""Issue 17 findings 5 and 8: data files are regular files inside the data directory, of a
plausible size; a value quoted in a message is cut to about 80 characters; a field over the
csv module's limit is one line, never a traceback."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import main as cli
import momentum.data.csv_source as csv_source
from momentum.core.errors import DataError
from momentum.data.csv_source import CsvDirectorySource
from tests.integration.test_csv_source import HEADER, META_HEADER, META_ROWS, STOCK_ROWS, build

MARKER = "hostile-environment-marker-5150"


def source_error(root: Path) -> str:
    with pytest.raises(DataError) as info:
        CsvDirectorySource(root).validate_all()
    return str(info.value)


@pytest.mark.parametrize("target", ["/proc/self/environ", "/etc/passwd"])
def test_price_file_linked_out_of_the_data_dir_is_an_error_naming_it(tmp_path, target,
                                                                     monkeypatch, capsys):
    root = build(tmp_path / "data")
    link = root / "stocks" / "AAA.csv"
    link.unlink()
    link.symlink_to(target)
    message = source_error(root)
    assert message.startswith(f"{link}: leads outside the data directory")
    monkeypatch.setenv("MOMENTUM_TEST_MARKER", MARKER)
    monkeypatch.chdir(tmp_path)
    code = cli.main(["backtest", "--start", "2021-01-04", "--end", "2021-01-07",
                     "--data-dir", str(root)])
    err = capsys.readouterr().err
    assert code == 2 and "leads outside the data directory" in err
    logs = "".join(p.read_text() for p in (tmp_path / "logs").glob("*.log"))
    assert MARKER not in err + logs and "root:x:0" not in err + logs


def test_folder_or_meta_linked_out_of_the_data_dir_is_an_error(tmp_path):
    outside = build(tmp_path / "elsewhere")
    root = build(tmp_path / "data")
    (root / "meta.csv").unlink()
    (root / "meta.csv").symlink_to(outside / "meta.csv")
    assert "meta.csv: leads outside the data directory" in source_error(root)
    root = build(tmp_path / "data2")
    for child in (root / "crypto").iterdir():
        child.unlink()
    (root / "crypto").rmdir()
    (root / "crypto").symlink_to(outside / "crypto")
    assert "crypto: leads outside the data directory" in source_error(root)


def test_a_link_inside_the_data_dir_still_works(tmp_path):
    root = build(tmp_path / "data")
    real = root / "archive" / "AAA.csv"
    real.parent.mkdir()
    (root / "stocks" / "AAA.csv").rename(real)
    (root / "stocks" / "AAA.csv").symlink_to(real)
    assert CsvDirectorySource(root).validate_all() == 9


def test_a_fifo_is_not_a_price_file(tmp_path):
    root = build(tmp_path / "data")
    (root / "stocks" / "AAA.csv").unlink()
    os.mkfifo(root / "stocks" / "AAA.csv")
    assert "is not a regular file" in source_error(root)


def test_oversized_file_is_refused_before_reading(tmp_path, monkeypatch):
    root = build(tmp_path / "data")
    monkeypatch.setattr(csv_source, "MAX_PRICE_FILE_BYTES", 100)
    message = source_error(root)
    assert "bytes is more than the 100 a data file may have" in message


def test_huge_bad_value_is_quoted_cut_short(tmp_path):
    value = "9" * 50 + "x" * 200_000
    root = build(tmp_path / "data",
                 files={"stocks/AAA.csv": [HEADER, f"2021-01-04,{value},11,9,10.5,1000"]})
    message = source_error(root)
    assert "line 2: open '" in message and len(message) < 400
    header = build(tmp_path / "data2", files={"stocks/AAA.csv": ["date," + "y" * 100_000]})
    assert len(source_error(header)) < 400


def test_meta_field_over_the_csv_limit_is_one_line(tmp_path):
    root = build(tmp_path / "data", meta=[*META_ROWS, "BBB,stock,\"" + "s" * 200_000 + "\",1"])
    message = source_error(root)
    assert "line 5" in message and "field larger than field limit" in message
    assert len(message.splitlines()) == 1 and len(message) < 300
    assert META_HEADER and STOCK_ROWS
