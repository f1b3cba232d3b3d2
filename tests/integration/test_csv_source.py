"""CsvDirectorySource: every data defect is one DataError naming file and line; real data loads."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from momentum.core.domain import Asset, AssetType
from momentum.core.errors import DataError, TickerError
from momentum.data.base import BAR_COLUMNS, MarketDataSource
from momentum.data.csv_source import CsvDirectorySource, load_price_file

NEW_YORK = ZoneInfo("America/New_York")
HEADER = "date,open,high,low,close,volume"
META_HEADER = "ticker,asset_type,sector,market_cap"
# Three sessions with a skipped day (01-05): gaps are valid (R1.4); zero volume is allowed.
STOCK_ROWS = [
    "2021-01-04,10,11,9,10.5,1000",
    "2021-01-06,10.5,12,10,11,1200",
    "2021-01-07,11,11.5,10.5,11.2,0",
]
CRYPTO_ROWS = [
    "2021-01-05,30000,31000,29000,30500,2.5",
    "2021-01-06,30500,32000,30000,31500,3.25",
    "2021-01-07,31500,33000,31000,32500,1.125",
]
META_ROWS = ["AAA,stock,Industrials,2000000000", "BTCUSD,crypto,,500000000000", "SPY,etf,ETF,"]


def write(path: Path, lines: list[str] | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(lines if isinstance(lines, str) else "\n".join(lines) + "\n", encoding="utf-8")
    return path


def build(root: Path, meta: list[str] | None = None,
          files: dict[str, list[str] | str] | None = None) -> Path:
    """A valid data directory; `meta` replaces the meta rows, `files` adds or replaces files."""
    write(root / "meta.csv", [META_HEADER, *(META_ROWS if meta is None else meta)])
    defaults: dict[str, list[str] | str] = {
        "stocks/AAA.csv": [HEADER, *STOCK_ROWS],
        "crypto/BTCUSD.csv": [HEADER, *CRYPTO_ROWS],
        "benchmark/SPY.csv": [HEADER, *STOCK_ROWS],
    }
    for name, lines in {**defaults, **(files or {})}.items():
        write(root / name, lines)
    return root


def price_error(root: Path, lines: list[str] | str) -> DataError:
    """The error raised when AAA's price file holds `lines`."""
    source = CsvDirectorySource(build(root, files={"stocks/AAA.csv": lines}))
    with pytest.raises(DataError) as info:
        source.bars("AAA")
    return info.value


# --- root and meta.csv ----------------------------------------------------------------------


def test_init_missing_root_raises_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        CsvDirectorySource(tmp_path / "nowhere")


def test_init_root_is_file_raises_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a directory"):
        CsvDirectorySource(write(tmp_path / "data.csv", "x"))


def test_init_without_meta_raises_data_error_naming_meta(tmp_path: Path) -> None:
    (tmp_path / "stocks").mkdir()
    with pytest.raises(DataError, match=r"meta\.csv: missing"):
        CsvDirectorySource(tmp_path)


def test_init_naive_now_raises_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CsvDirectorySource(build(tmp_path), now=datetime(2021, 1, 7, 12, 0))


def test_meta_empty_file_raises_line_one(tmp_path: Path) -> None:
    write(tmp_path / "meta.csv", "")
    with pytest.raises(DataError, match=r"meta\.csv: line 1: file is empty"):
        CsvDirectorySource(tmp_path)


def test_meta_missing_column_names_column_and_line_one(tmp_path: Path) -> None:
    write(tmp_path / "meta.csv", ["ticker,asset_type,sector", "AAA,stock,Industrials"])
    with pytest.raises(DataError, match=r"meta\.csv: line 1: missing column\(s\) market_cap"):
        CsvDirectorySource(tmp_path)


def test_meta_duplicate_ticker_names_both_lines(tmp_path: Path) -> None:
    build(tmp_path, meta=[*META_ROWS, "aaa,stock,Energy,1"])
    with pytest.raises(DataError,
                       match=r"meta\.csv: line 5: duplicate ticker AAA \(first on line 2\)"):
        CsvDirectorySource(tmp_path)


def test_meta_unknown_asset_type_names_value_and_choices(tmp_path: Path) -> None:
    build(tmp_path, meta=["AAA,equity,Industrials,1"])
    with pytest.raises(DataError, match=r"meta\.csv: line 2: asset_type 'equity' of AAA; "
                                        r"use one of stock\|crypto\|etf"):
        CsvDirectorySource(tmp_path)


@pytest.mark.parametrize("cap", ["-5", "abc", "nan", "inf", "1e9x"])
def test_meta_bad_market_cap_raises_naming_value(tmp_path: Path, cap: str) -> None:
    build(tmp_path, meta=["AAA,stock,Industrials,1", f"BTCUSD,crypto,Crypto,{cap}", "SPY,etf,ETF,"])
    with pytest.raises(DataError, match=rf"meta\.csv: line 3: market_cap '{cap}' of BTCUSD"):
        CsvDirectorySource(tmp_path)


def test_meta_short_row_raises_naming_line(tmp_path: Path) -> None:
    build(tmp_path, meta=["AAA,stock"])
    with pytest.raises(DataError, match=r"meta\.csv: line 2: 2 field\(s\)"):
        CsvDirectorySource(tmp_path)


def test_meta_empty_cap_and_sector_default_per_r1_3(tmp_path: Path) -> None:
    build(tmp_path, meta=["AAA,stock,,", "BTCUSD,crypto,,0", "SPY,etf,ETF,"])
    assert CsvDirectorySource(tmp_path).assets() == [
        Asset("AAA", AssetType.STOCK, "Unknown", None),
        Asset("BTCUSD", AssetType.CRYPTO, "Crypto", 0.0),
        Asset("SPY", AssetType.ETF, "ETF", None),
    ]


def test_assets_sorted_by_ticker_with_parsed_market_cap(tmp_path: Path) -> None:
    build(tmp_path, meta=list(reversed(META_ROWS)))
    assets = CsvDirectorySource(tmp_path).assets()
    assert [a.ticker for a in assets] == ["AAA", "BTCUSD", "SPY"]
    assert assets[0] == Asset("AAA", AssetType.STOCK, "Industrials", 2e9)


def test_source_implements_market_data_protocol(tmp_path: Path) -> None:
    source = CsvDirectorySource(build(tmp_path))
    assert isinstance(source, MarketDataSource)
    assert source.name == "csv"


# --- tickers and file placement -----------------------------------------------------------


@pytest.mark.parametrize("bad", ["../x", "A/B", "", ".hidden", "A B"])
def test_meta_invalid_ticker_raises_ticker_error_before_any_path(tmp_path: Path, bad: str) -> None:
    # A price file that a traversing ticker would reach must never matter: the row is refused.
    write(tmp_path / "x.csv", [HEADER, *STOCK_ROWS])
    build(tmp_path / "data", meta=[f"{bad},stock,Industrials,1"])
    with pytest.raises(TickerError, match=r"meta\.csv: line 2: invalid ticker"):
        CsvDirectorySource(tmp_path / "data")


@pytest.mark.parametrize("name", ["A B.csv", "-X.csv", "A..B.csv"])
def test_file_name_not_a_ticker_raises_ticker_error_naming_file(tmp_path: Path, name: str) -> None:
    build(tmp_path, files={f"stocks/{name}": [HEADER, *STOCK_ROWS]})
    with pytest.raises(TickerError, match=rf"stocks/{name.replace('.', '[.]')}: file name"):
        CsvDirectorySource(tmp_path)


def test_meta_ticker_without_file_names_ticker_line_and_expected_path(tmp_path: Path) -> None:
    build(tmp_path, meta=[*META_ROWS, "BBB,stock,Energy,5"])
    with pytest.raises(DataError, match=r"meta\.csv: line 5: no price file for BBB; "
                                        r"expected .*stocks/BBB\.csv"):
        CsvDirectorySource(tmp_path)


def test_file_without_meta_row_names_ticker_and_meta(tmp_path: Path) -> None:
    build(tmp_path, files={"stocks/ZZZ.csv": [HEADER, *STOCK_ROWS]})
    with pytest.raises(DataError, match=r"stocks/ZZZ\.csv: ticker ZZZ has no row in .*meta\.csv"):
        CsvDirectorySource(tmp_path)


def test_file_in_wrong_directory_names_meta_line_and_right_directory(tmp_path: Path) -> None:
    build(tmp_path, meta=["AAA,crypto,,1", "BTCUSD,crypto,,1", "SPY,etf,ETF,"])
    with pytest.raises(DataError, match=r"stocks/AAA\.csv: AAA is 'crypto' in .*meta\.csv line 2, "
                                        r"so its file belongs in .*crypto"):
        CsvDirectorySource(tmp_path)


def test_benchmark_file_for_stock_row_raises_wrong_directory(tmp_path: Path) -> None:
    build(tmp_path, meta=["AAA,stock,,1", "BTCUSD,crypto,,1", "SPY,stock,,"])
    with pytest.raises(DataError, match=r"benchmark/SPY\.csv: SPY is 'stock' .* line 4"):
        CsvDirectorySource(tmp_path)


def test_same_ticker_in_two_directories_raises_data_error(tmp_path: Path) -> None:
    build(tmp_path, files={"crypto/AAA.csv": [HEADER, *CRYPTO_ROWS]})
    with pytest.raises(DataError, match=r"second price file for AAA"):
        CsvDirectorySource(tmp_path)


def test_hidden_and_non_csv_files_are_ignored(tmp_path: Path) -> None:
    build(tmp_path, files={"stocks/.DS_Store": "junk", "stocks/README.md": "notes",
                           "stocks/._AAA.csv": "resource fork"})
    assert len(CsvDirectorySource(tmp_path).bars("AAA")) == 3


def test_missing_benchmark_directory_is_valid_without_etf_rows(tmp_path: Path) -> None:
    build(tmp_path, meta=META_ROWS[:2])
    (tmp_path / "benchmark" / "SPY.csv").unlink()
    (tmp_path / "benchmark").rmdir()
    assert [a.ticker for a in CsvDirectorySource(tmp_path).assets()] == ["AAA", "BTCUSD"]


# --- price files ----------------------------------------------------------------------------

GOOD = STOCK_ROWS


@pytest.mark.parametrize(("lines", "where", "what"), [
    ("", "line 1", "file is empty"),
    ([HEADER], "line 1", "header but no bars"),
    (["date,open,high,low,close", "2021-01-04,10,11,9,10.5"], "line 1",
     "missing column(s) volume in header 'date,open,high,low,close'"),
    (["Date,Open,High,Low,Close,Volume", *GOOD], "line 1", "missing column(s) date, open, high"),
    (["date,open,high,low,close,volume,close", *GOOD], "line 1", "repeated column(s) close"),
    ([HEADER, GOOD[0], "2021-13-01,10,11,9,10.5,1"], "line 3", "date '2021-13-01' is not an ISO"),
    ([HEADER, GOOD[0], "01/05/2021,10,11,9,10.5,1"], "line 3", "date '01/05/2021'"),
    ([HEADER, GOOD[0], "", GOOD[1]], "line 3", "date '' is not an ISO date"),
    ([HEADER, *GOOD, GOOD[1]], "line 5", "duplicate date 2021-01-06 (first on line 3)"),
    ([HEADER, GOOD[1], GOOD[0], GOOD[2]], "line 3", "date 2021-01-04 comes after 2021-01-06"),
    ([HEADER, GOOD[0], "2021-01-06,abc,12,10,11,1"], "line 3", "open 'abc' is not a finite number"),
    ([HEADER, GOOD[0], "2021-01-06,10,12,10,NaN,1"], "line 3", "close 'NaN' is not a finite"),
    ([HEADER, GOOD[0], "2021-01-06,10,12,,11,1"], "line 3", "low '' is not a finite number"),
    ([HEADER, GOOD[0], "2021-01-06,10,inf,10,11,1"], "line 3", "high 'inf' is not a finite"),
    ([HEADER, GOOD[0], "2021-01-06,10,12,10,11"], "line 3", "volume '' is not a finite number"),
    ([HEADER, GOOD[0], "2021-01-06,10,12,10,11,1,9"], "line 3", "7 fields where the header has 6"),
    ([HEADER, GOOD[0], "2021-01-06,10,12,0,11,1"], "line 3", "low 0 is not a positive price"),
    ([HEADER, GOOD[0], "2021-01-06,-1,-1,-2,-1,1"], "line 3", "open -1 is not a positive price"),
    ([HEADER, *GOOD[:2], "2021-01-07,11,10,12,11,1"], "line 4", "high 10 is below low 12"),
    ([HEADER, GOOD[0], "2021-01-06,13,12,10,11,1"], "line 3",
     "open 13 is outside the day's range [low 10, high 12]"),
    ([HEADER, GOOD[0], "2021-01-06,11,12,10,9.5,1"], "line 3",
     "close 9.5 is outside the day's range [low 10, high 12]"),
    ([HEADER, GOOD[0], "2021-01-06,11,12,10,11,-5"], "line 3", "volume -5 is negative"),
])
def test_bars_defective_price_file_raises_one_line_naming_file_line_value(
        tmp_path: Path, lines: list[str] | str, where: str, what: str) -> None:
    message = str(price_error(tmp_path, lines))
    assert message.startswith(f"{tmp_path / 'stocks' / 'AAA.csv'}: {where}")
    assert what in message
    assert "\n" not in message and "Traceback" not in message


def test_bars_price_error_message_carries_bar_date(tmp_path: Path) -> None:
    message = str(price_error(tmp_path, [HEADER, GOOD[0], "2021-01-06,11,12,10,11,-5"]))
    assert "line 3 (2021-01-06): volume -5" in message


def test_bars_numeric_error_names_earliest_line_across_columns(tmp_path: Path) -> None:
    lines = [HEADER, GOOD[0], "2021-01-06,10,12,10,11,x", "2021-01-07,y,12,10,11,1"]
    assert "line 3: volume 'x'" in str(price_error(tmp_path, lines))


def test_bars_trailing_blank_lines_and_bom_are_accepted(tmp_path: Path) -> None:
    content = "\ufeff" + "\n".join([HEADER, *GOOD]) + "\n\n\n"
    source = CsvDirectorySource(build(tmp_path, files={"stocks/AAA.csv": content}))
    assert len(source.bars("AAA")) == 3


def test_bars_extra_columns_and_spaced_header_are_ignored(tmp_path: Path) -> None:
    lines = ["date, open,high,low,close,volume,note", *(row + ",x" for row in GOOD)]
    bars = CsvDirectorySource(build(tmp_path, files={"stocks/AAA.csv": lines})).bars("AAA")
    assert list(bars.columns) == list(BAR_COLUMNS)
    assert bars["open"].tolist() == [10.0, 10.5, 11.0]


def test_bars_shape_matches_data_protocol(tmp_path: Path) -> None:
    bars = CsvDirectorySource(build(tmp_path)).bars("AAA")
    assert list(bars.columns) == list(BAR_COLUMNS)
    assert bars.index.name == "date"
    assert isinstance(bars.index, pd.DatetimeIndex)
    assert all(dtype == np.float64 for dtype in bars.dtypes)
    assert bars.index.is_monotonic_increasing and bars.index.is_unique
    assert bars.loc["2021-01-07"].tolist() == [11.0, 11.5, 10.5, 11.2, 0.0]


def test_bars_gap_in_series_is_kept_as_is(tmp_path: Path) -> None:
    bars = CsvDirectorySource(build(tmp_path)).bars("AAA")
    assert [d.date() for d in bars.index] == [date(2021, 1, 4), date(2021, 1, 6), date(2021, 1, 7)]


def test_bars_start_end_slice_inclusively(tmp_path: Path) -> None:
    bars = CsvDirectorySource(build(tmp_path)).bars("AAA", date(2021, 1, 6), date(2021, 1, 7))
    assert [d.date() for d in bars.index] == [date(2021, 1, 6), date(2021, 1, 7)]


def test_bars_file_is_parsed_once_and_kept_in_memory(tmp_path: Path) -> None:
    source = CsvDirectorySource(build(tmp_path))
    first = source.bars("AAA")
    (tmp_path / "stocks" / "AAA.csv").unlink()
    pd.testing.assert_frame_equal(source.bars("AAA"), first)


def test_bars_caller_mutation_does_not_reach_cache(tmp_path: Path) -> None:
    source = CsvDirectorySource(build(tmp_path))
    mine = source.bars("AAA")
    mine["close"] = 0.0
    mine["extra"] = 1.0
    again = source.bars("AAA")
    assert again["close"].tolist() == [10.5, 11.0, 11.2]
    assert "extra" not in again.columns


def test_bars_lowercase_ticker_is_normalised(tmp_path: Path) -> None:
    assert len(CsvDirectorySource(build(tmp_path)).bars("aaa")) == 3


def test_bars_unknown_ticker_raises_data_error_with_hint(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"unknown ticker 'AAB'.*did you mean AAA\?"):
        CsvDirectorySource(build(tmp_path)).bars("AAB")


def test_bars_invalid_ticker_raises_ticker_error(tmp_path: Path) -> None:
    with pytest.raises(TickerError, match="invalid ticker"):
        CsvDirectorySource(build(tmp_path)).bars("../AAA")


def test_init_bad_price_file_is_not_read_until_needed(tmp_path: Path) -> None:
    bad_spy = {"benchmark/SPY.csv": [HEADER, "bad,1,1,1,1,1"]}
    source = CsvDirectorySource(build(tmp_path, files=bad_spy))
    assert len(source.bars("AAA")) == 3
    with pytest.raises(DataError, match=r"benchmark/SPY\.csv: line 2: date 'bad'"):
        source.validate_all()


def test_validate_all_valid_directory_returns_bar_count(tmp_path: Path) -> None:
    assert CsvDirectorySource(build(tmp_path)).validate_all() == 9


def test_load_price_file_reads_one_file_directly(tmp_path: Path) -> None:
    frame = load_price_file(write(tmp_path / "X.csv", [HEADER, *CRYPTO_ROWS]))
    assert frame["volume"].tolist() == [2.5, 3.25, 1.125]


# --- now: completed bars only ---------------------------------------------------------------


def test_now_before_stock_close_drops_todays_stock_bar(tmp_path: Path) -> None:
    now = datetime(2021, 1, 7, 15, 59, tzinfo=NEW_YORK)
    bars = CsvDirectorySource(build(tmp_path), now=now).bars("AAA")
    assert bars.index[-1].date() == date(2021, 1, 6)


def test_now_after_stock_close_keeps_stock_bar_but_drops_forming_crypto_day(tmp_path: Path) -> None:
    source = CsvDirectorySource(build(tmp_path), now=datetime(2021, 1, 7, 16, 5, tzinfo=NEW_YORK))
    assert source.bars("AAA").index[-1].date() == date(2021, 1, 7)
    assert source.bars("SPY").index[-1].date() == date(2021, 1, 7)
    assert source.bars("BTCUSD").index[-1].date() == date(2021, 1, 6)


def test_now_just_after_utc_midnight_completes_crypto_day(tmp_path: Path) -> None:
    now = datetime(2021, 1, 8, 0, 1, tzinfo=timezone.utc)
    assert CsvDirectorySource(build(tmp_path), now=now).bars("BTCUSD").index[-1].date() == date(
        2021, 1, 7)


# --- the real data in ../shared/data --------------------------------------------------------


@pytest.fixture(scope="module")
def real(shared_data: Path) -> CsvDirectorySource:
    source = CsvDirectorySource(shared_data)
    source.validate_all()
    return source


def test_real_data_loads_and_validates_every_bar(shared_data: Path) -> None:
    # Load time is measured by bench/bench_data.py, not asserted here.
    bar_count = CsvDirectorySource(shared_data).validate_all()
    # 220 full stocks + 10 short ones (README table) + SPY + 2 coins of 1825 days.
    assert bar_count == 220 * 1259 + 9115 + 1259 + 2 * 1825


def test_real_assets_are_230_stocks_2_crypto_and_spy_etf(real: CsvDirectorySource) -> None:
    assets = real.assets()
    by_type = {kind: [a for a in assets if a.asset_type is kind] for kind in AssetType}
    assert len(by_type[AssetType.STOCK]) == 230
    assert [a.ticker for a in by_type[AssetType.CRYPTO]] == ["LTCUSD", "XRPUSD"]
    assert by_type[AssetType.ETF] == [Asset("SPY", AssetType.ETF, "ETF", None)]
    assert all(a.sector == "Crypto" for a in by_type[AssetType.CRYPTO])
    assert [a.ticker for a in assets] == sorted(a.ticker for a in assets)


def test_real_delisted_aet_ends_2018_11_28(real: CsvDirectorySource) -> None:
    bars = real.bars("AET")
    assert bars.index[-1].date() == date(2018, 11, 28)
    assert len(bars) == 641


def test_real_spun_off_ftv_starts_2016_07_05(real: CsvDirectorySource) -> None:
    assert real.bars("FTV").index[0].date() == date(2016, 7, 5)


def test_real_pfg_skips_2017_12_18(real: CsvDirectorySource) -> None:
    bars = real.bars("PFG", date(2017, 12, 15), date(2017, 12, 19))
    assert [d.date() for d in bars.index] == [date(2017, 12, 15), date(2017, 12, 19)]


def test_real_crypto_has_every_calendar_day(real: CsvDirectorySource) -> None:
    for pair in ("LTCUSD", "XRPUSD"):
        days = real.bars(pair).index
        assert len(days) == 1825
        assert (days[1:] - days[:-1] == pd.Timedelta(days=1)).all()


def test_real_bars_start_end_slice_inclusively(real: CsvDirectorySource) -> None:
    bars = real.bars("SPY", date(2021, 5, 10), date(2021, 5, 14))
    assert [d.date() for d in bars.index] == [date(2021, 5, d) for d in range(10, 15)]


def test_real_now_drops_forming_crypto_day_but_keeps_closed_stock_day(shared_data: Path) -> None:
    # 17:00 ET on 2021-05-14 is 21:00 UTC: the stock session is closed, the UTC day is not.
    source = CsvDirectorySource(shared_data, now=datetime(2021, 5, 14, 17, 0, tzinfo=NEW_YORK))
    assert source.bars("XRPUSD").index[-1].date() == date(2021, 5, 13)
    assert source.bars("SPY").index[-1].date() == date(2021, 5, 14)
    full = CsvDirectorySource(shared_data).bars("XRPUSD")
    assert full.index[-1].date() == date(2021, 5, 13) + timedelta(days=1)


def test_real_unknown_ticker_raises_data_error(real: CsvDirectorySource) -> None:
    with pytest.raises(DataError, match="unknown ticker 'APPL'"):
        real.bars("APPL")
