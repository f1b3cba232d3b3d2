"""Indicators of many assets at once, and the market built from them, equal the one-asset results
bit for bit; Wilder's average equals pandas' ewm(adjust=False) bit for bit; loading needs no pandas.
"""
from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from momentum.core.domain import Asset, AssetType
from momentum.data.base import PriceBars
from momentum.data.indicators import (_window_means, compute_indicators, ewm_mean, halflife_com,
                                      indicator_block)
from momentum.data.market import AssetHistory, Market

ROOT = Path(__file__).resolve().parents[2]
FIELDS = ("rsi14", "momentum", "adv20_usd", "surge_ratio")


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and a.tobytes() == b.tobytes()


# ---------------------------------------------------------------- ewm_mean == pandas

values = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(0.0), st.just(-0.0),
                   st.just(np.nan), st.just(3.25))


@st.composite
def series_with_gaps(draw):
    """A column: a NaN prefix, then values with constant runs, NaN gaps and signed zeros."""
    prefix = draw(st.integers(0, 5))
    body = draw(st.lists(values, min_size=0, max_size=60))
    runs = []
    for x in body:
        runs.extend([x] * draw(st.integers(1, 3)))
    return np.array([np.nan] * prefix + runs, dtype=np.float64)


@settings(max_examples=300, deadline=None)
@given(st.lists(series_with_gaps(), min_size=1, max_size=4), st.sampled_from([1 / 14, 0.3, 0.9]))
def test_ewm_mean_equals_pandas_bit_for_bit(columns, alpha):
    # (not alpha 0.5: pandas 3 treats com == 1 after a NaN gap specially, pandas GH-66521)
    rows = max(len(c) for c in columns)
    matrix = np.full((rows, len(columns)), np.nan)
    for j, c in enumerate(columns):
        matrix[:len(c), j] = c
    expected = pd.DataFrame(matrix).ewm(alpha=alpha, adjust=False).mean().to_numpy()
    assert same_bits(ewm_mean(matrix, (1 - alpha) / alpha), expected)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 400), st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_ewm_mean_dense_many_columns_equals_pandas(rows, cols, seed):
    rng = np.random.default_rng(seed)
    matrix = rng.lognormal(0, 2, (rows, cols)) * rng.choice([0.0, 1.0], (rows, cols), p=[.3, .7])
    matrix[rows // 2:, : cols // 3] = 2.5  # constant runs, where pandas skips the update
    expected = pd.DataFrame(matrix).ewm(alpha=1 / 14, adjust=False).mean().to_numpy()
    assert same_bits(ewm_mean(matrix, (1 - 1 / 14) / (1 / 14)), expected)


@pytest.mark.parametrize("cols", [3, 40])  # the one-column floats path and the block steps
def test_a_constant_run_stays_exact_where_the_update_would_move_it(cols):
    """pandas keeps w when x equals it; (f*w + a*x) / (f + a) of such a value is one ulp off."""
    a = 1 / 14
    v = 422.68722119765846  # (1 - a) * v + a * v != v in doubles
    assert (1 - a) * v + a * v != v
    matrix = np.full((30, cols), v)
    matrix[:5] = np.linspace(1.0, 5.0, 5)[:, None]  # reach v from elsewhere, then stay
    expected = pd.DataFrame(matrix).ewm(alpha=a, adjust=False).mean().to_numpy()
    got = ewm_mean(matrix.copy(), (1 - a) / a)
    assert same_bits(got, expected)
    assert (got[-1] != v).all()  # the average approaches v; a run starting at v stays v
    steady = np.full((10, cols), v)
    assert same_bits(ewm_mean(steady, (1 - a) / a), steady)


def test_ewm_mean_with_halflife_equals_pandas():
    rng = np.random.default_rng(5)
    matrix = np.cumsum(rng.standard_normal((3000, 20)), axis=0)
    expected = pd.DataFrame(matrix).ewm(halflife=730.0, adjust=False).mean().to_numpy()
    assert same_bits(ewm_mean(matrix, halflife_com(730.0)), expected)
    assert same_bits(ewm_mean(matrix[:, :1], halflife_com(730.0)), expected[:, :1])


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 140), st.integers(1, 3000), st.integers(0, 2**32 - 1))
def test_window_means_equal_numpy_mean_of_windows(n, size, seed):
    x = np.random.default_rng(seed).lognormal(3, 3, size)
    expected = (sliding_window_view(x, n).mean(axis=1) if size >= n else np.empty(0))
    assert same_bits(_window_means(x, n), expected)


# ---------------------------------------------------------------- block == one asset at a time

@st.composite
def histories(draw):
    """Some assets' closes and volumes: lengths around every window, flat runs, zero volume."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    out = []
    for _ in range(draw(st.integers(1, 6))):
        n = draw(st.sampled_from([1, 2, 13, 14, 15, 16, 20, 21, 22, 126, 127, 128, 300]))
        close = np.exp(np.cumsum(rng.normal(0, 0.02, n))) * 50
        if n > 30 and draw(st.booleans()):
            close[10:30] = close[10]  # no change for 20 bars: RSI losses are 0 (R2.2)
        volume = rng.integers(0, 3, n) * rng.lognormal(10, 1, n)
        out.append((close, volume))
    return out


@settings(max_examples=150, deadline=None)
@given(histories())
def test_indicator_block_equals_compute_indicators_per_asset(assets):
    lengths = np.array([len(c) for c, _ in assets])
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    block = dict(zip(("momentum", "adv20_usd", "rsi14", "surge_ratio"),
                     indicator_block(np.concatenate([c for c, _ in assets]),
                                     np.concatenate([v for _, v in assets]), starts, lengths),
                     strict=True))
    assert block["rsi14"].shape == (int(lengths.sum()),)
    for (close, volume), lo, n in zip(assets, starts, lengths, strict=True):
        alone = compute_indicators(close, volume)
        for field in FIELDS:
            assert same_bits(block[field][lo:lo + n], getattr(alone, field)), field


def test_indicator_block_in_small_groups_is_the_same(monkeypatch: pytest.MonkeyPatch):
    from momentum.data import indicators  # noqa: PLC0415

    rng = np.random.default_rng(11)
    lengths = np.array([5, 300, 14, 150, 1, 800, 21, 127])
    close = np.exp(np.cumsum(rng.normal(0, 0.02, lengths.sum()))) * 30
    volume = rng.integers(0, 4, lengths.sum()) * 1000.0
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    whole = indicator_block(close, volume, starts, lengths)
    monkeypatch.setattr(indicators, "_GROUP_BARS", 100)
    monkeypatch.setattr(indicators, "_ASSETS_PER_PASS", 3)
    assert same_bits(indicator_block(close, volume, starts, lengths), whole)


class ArraySource:
    name = "arrays"

    def __init__(self, bars: dict[Asset, PriceBars]) -> None:
        self._bars = {a.ticker: b for a, b in bars.items()}
        self._assets = sorted(bars, key=lambda a: a.ticker)

    def assets(self) -> list[Asset]:
        return list(self._assets)

    def price_bars(self, ticker: str, start: date | None = None, end: date | None = None):
        return self._bars[ticker].between(start, end)


def bars_of(n: int, seed: int, first: str = "2020-01-01") -> PriceBars:
    rng = np.random.default_rng(seed)
    close = np.exp(np.cumsum(rng.normal(0, 0.02, n))) * 20
    open_ = close * np.exp(rng.normal(0, 0.005, n))
    high = np.maximum(open_, close) * 1.01
    low = np.minimum(open_, close) * 0.99
    dates = np.datetime64(first, "D") + np.arange(n)
    return PriceBars(dates, np.column_stack([open_, high, low, close, rng.lognormal(12, 1, n)]))


def test_market_load_skips_bad_assets_and_keeps_the_rest_exact():
    good = {Asset(f"G{i}", AssetType.STOCK, "Tech", 1e9): bars_of(200 + 7 * i, i)
            for i in range(5)}
    bad_values = bars_of(150, 9).values.copy()
    bad_values[40, 2] = bad_values[40, 1] * 2  # low above high
    backwards = bars_of(150, 10)
    backwards = PriceBars(backwards.dates[::-1].copy(), backwards.values)
    bad = {Asset("B1", AssetType.STOCK, "Tech", 1e9): PriceBars(bars_of(150, 9).dates, bad_values),
           Asset("A0", AssetType.CRYPTO, "Crypto", 1e9): backwards}
    market = Market.load(ArraySource(good | bad))
    assert market.skipped == {"A0": "bar dates are not strictly ascending",
                              "B1": "a bar has open or close outside [low, high]"}
    assert market.tickers == sorted(a.ticker for a in good)
    for asset, bars in good.items():
        h, alone = market.history(asset.ticker), AssetHistory.from_arrays(asset, bars.dates,
                                                                          bars.values)
        assert np.array_equal(h.dates, alone.dates)
        for name in ("open", "high", "low", "close", "volume"):
            assert same_bits(getattr(h, name), getattr(alone, name)), name
        for field in FIELDS:
            assert same_bits(getattr(h.indicators, field), getattr(alone.indicators, field))


def test_market_holds_each_bar_once():
    assets = {Asset(f"T{i}", AssetType.STOCK, "Tech", 1e9): bars_of(300, i) for i in range(3)}
    market = Market.load(ArraySource(assets))
    flat = market._flat.values
    for ticker in market.tickers:
        h = market.history(ticker)
        assert np.shares_memory(h.close, flat) and np.shares_memory(h.indicators.rsi14, flat)
        assert not h.close.flags.writeable  # one copy shared by every view: never edited
    view = market.until(date(2020, 10, 1))
    snapshot = view.snapshot(AssetType.STOCK)
    assert len(snapshot.tickers) == 3
    for j, ticker in enumerate(snapshot.tickers):
        h = view.history(str(ticker))
        assert snapshot.close[j] == h.close[-1]
        assert same_bits(snapshot.momentum[j], h.indicators.momentum[-1])


def test_market_on_real_data_equals_one_asset_at_a_time(shared_data):
    from momentum.data.csv_source import CsvDirectorySource  # noqa: PLC0415

    source = CsvDirectorySource(shared_data)
    market = Market.load(source)
    for asset in source.assets():
        frame = source.bars(asset.ticker)
        alone = AssetHistory.from_frame(asset, frame)
        h = market.history(asset.ticker)
        for field in FIELDS:
            assert same_bits(getattr(h.indicators, field), getattr(alone.indicators, field))


_NO_PANDAS = """
import sys
import momentum.core.calendar  # noqa: F401 - core's own imports are not the data layer's
for name in [m for m in sys.modules if m == "pandas" or m.startswith("pandas.")]:
    del sys.modules[name]
sys.modules["pandas"] = None  # any later `import pandas` raises ImportError
from datetime import date, datetime, timezone
from pathlib import Path
from momentum.core.config import SyntheticConfig
from momentum.data.csv_source import CsvDirectorySource
from momentum.data.market import Market
from momentum.data.synthetic import SyntheticMarket
now = datetime(2024, 6, 3, 21, tzinfo=timezone.utc)
cache = Path(sys.argv[2])
syn = SyntheticConfig(n_stocks=12, n_crypto=2)
for _ in range(2):  # cold, then from the caches
    Market.load(SyntheticMarket(syn, now=now, cache_dir=cache), end=date(2024, 1, 1))
    Market.load(CsvDirectorySource(Path(sys.argv[1]), now=now, cache_dir=cache / "csv"))
print("ok")
"""


def test_loading_csv_and_synthetic_markets_needs_no_pandas(tmp_path: Path):
    data = tmp_path / "data"
    (data / "stocks").mkdir(parents=True)
    (data / "meta.csv").write_text("ticker,asset_type,sector,market_cap\nAAA,stock,Tech,1e9\n")
    bars = bars_of(60, 1)
    rows = [f"{d},{o!r},{h!r},{lo!r},{c!r},{v!r}" for d, (o, h, lo, c, v)
            in zip(bars.dates.astype(str), bars.values.tolist(), strict=True)]
    (data / "stocks" / "AAA.csv").write_text("date,open,high,low,close,volume\n"
                                             + "\n".join(rows) + "\n")
    done = subprocess.run([sys.executable, "-c", _NO_PANDAS, str(data), str(tmp_path / "cache")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize("ticker", ["AAA"])
def test_price_bars_are_what_bars_returns(tmp_path: Path, ticker: str):
    from momentum.data.csv_source import CsvDirectorySource  # noqa: PLC0415

    data = tmp_path / "data"
    (data / "stocks").mkdir(parents=True)
    (data / "meta.csv").write_text("ticker,asset_type,sector,market_cap\nAAA,stock,Tech,1e9\n")
    (data / "stocks" / "AAA.csv").write_text("date,open,high,low,close,volume\n"
                                             "2024-01-02,10,11,9.5,10.5,1000\n"
                                             "2024-01-03,10.5,12,10,11.75,2500\n"
                                             "2024-01-04,11,12,10.5,11.5,2000\n")
    source = CsvDirectorySource(data)
    arrays = source.price_bars(ticker, date(2024, 1, 3), None)
    frame = source.bars(ticker, date(2024, 1, 3), None)
    assert np.array_equal(arrays.dates, frame.index.to_numpy().astype("datetime64[D]"))
    assert same_bits(arrays.values, frame.to_numpy())
    assert not arrays.values.flags.writeable


# ---------------------------------------------------------------- the point-in-time index

@st.composite
def bar_dates(draw):
    """Some assets' ascending bar dates: gaps, no bars, a date centuries away now and then."""
    out = []
    for _ in range(draw(st.integers(0, 5))):
        offsets = draw(st.sets(st.integers(0, 60), max_size=30))
        far = draw(st.sampled_from([0, 0, 0, 150_000]))
        out.append(np.datetime64("2020-01-01", "D") + far + np.array(sorted(offsets), dtype=int))
    return out


@settings(max_examples=200, deadline=None)
@given(bar_dates())
def test_asof_index_is_the_last_bar_on_or_before_each_day(date_arrays):
    from momentum.data.market_block import asof_index  # noqa: PLC0415

    dates, asof, exact = asof_index(date_arrays)
    union = sorted({d for days in date_arrays for d in days.tolist()})
    assert dates.tolist() == union
    assert asof.shape == exact.shape == (len(union), len(date_arrays))
    for j, days in enumerate(date_arrays):
        for i, day in enumerate(union):
            last = int(np.searchsorted(days, np.datetime64(day, "D"), side="right")) - 1
            assert asof[i, j] == last
            assert exact[i, j] == (last >= 0 and days[last] == np.datetime64(day, "D"))


@st.composite
def priced_assets(draw):
    """A few assets' bars, some with one defect: a date out of order, a bad price or volume."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    out = []
    for _ in range(draw(st.integers(1, 4))):
        n = draw(st.integers(1, 9))
        bars = bars_of(n, int(rng.integers(1 << 30)))
        dates, values = bars.dates.copy(), bars.values.copy()
        defect = draw(st.sampled_from(["none", "none", "date", "price", "low", "volume"]))
        k = draw(st.integers(0, n - 1))
        if defect == "date" and n > 1:
            dates[k] = dates[k - 1] if k else dates[1]
        elif defect == "price":
            values[k, draw(st.integers(0, 3))] = draw(st.sampled_from([0.0, -1.0, np.nan]))
        elif defect == "low":
            values[k, 2] = values[k, :4].max() * 1.5
        elif defect == "volume":
            values[k, 4] = draw(st.sampled_from([-1.0, np.inf]))
        out.append((dates, values))
    return out


@settings(max_examples=300, deadline=None)
@given(priced_assets(), st.sampled_from([1, 2, 3, 7, 1 << 18]))
def test_block_check_agrees_with_the_per_asset_check_whatever_the_slices(assets, slice_bars):
    from momentum.data import market_block  # noqa: PLC0415
    from momentum.data.market import _bars_problem  # noqa: PLC0415

    dates, block, starts, _ = market_block.bar_block([PriceBars(d, v) for d, v in assets])
    expected = all(_bars_problem(d, v) is None for d, v in assets)
    original = market_block._CHECK_BARS
    market_block._CHECK_BARS = slice_bars
    try:
        assert market_block.all_bars_usable(dates, block, starts) == expected
    finally:
        market_block._CHECK_BARS = original


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 300), min_size=1, max_size=5), st.integers(0, 2**32 - 1))
def test_block_has_score_is_each_assets_own(lengths, seed):
    """R2.7 on the flat arrays: a finite M and 127 bars of that asset, never its neighbour's."""
    from momentum.data.market_block import has_score  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    closes = [np.exp(np.cumsum(rng.normal(0, 0.02, n))) * 20 for n in lengths]
    momentum = np.concatenate([compute_indicators(c, np.ones(len(c))).momentum for c in closes])
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.intp)
    flat = has_score(momentum, offsets, np.array(lengths))
    expected = np.concatenate([compute_indicators(c, np.ones(len(c))).has_score for c in closes])
    assert flat.tolist() == expected.tolist()


def test_indicator_block_special_histories_equal_one_asset_at_a_time():
    """Closes that only rise (no loss yet: RSI 100, R2.2), a missing close (the NaN path), and a
    result array that is not contiguous (no scratch rows to borrow)."""
    rising = np.linspace(10.0, 40.0, 60)
    gap = np.exp(np.linspace(0, 1, 50)) * 20
    gap[30] = np.nan
    plain = np.exp(np.sin(np.arange(80) / 5.0)) * 15
    cases = [[rising, plain], [plain, gap, rising], [gap]]
    for closes in cases:
        lengths = np.array([len(c) for c in closes])
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        close = np.concatenate(closes)
        volume = np.ones(len(close)) * 1000.0
        for out in (None, np.empty((4, 2 * len(close)))[:, ::2]):
            block = indicator_block(close, volume, starts, lengths, out=out)
            for c, lo, n in zip(closes, starts, lengths, strict=True):
                alone = compute_indicators(c, np.ones(n) * 1000.0)
                for k, field in enumerate(("momentum", "adv20_usd", "rsi14", "surge_ratio")):
                    assert same_bits(block[k, lo:lo + n], getattr(alone, field)), field
    assert (indicator_block(rising, np.ones(60), np.array([0]), np.array([60]))[2, 14:]
            == 100.0).all()


def test_ewm_mean_refuses_a_one_dimensional_array():
    with pytest.raises(ValueError, match=r"^ewm_mean needs a 2-D array \(rows are time steps\)$"):
        ewm_mean(np.arange(5.0), 1.0)


def test_surge_after_a_silent_window_is_infinite_for_any_volume_above_zero():
    """R2.6: a 0 mean of the 20 bars before today -> +inf when today has volume (fractional crypto
    volume included), NaN when today has none; the block and one asset agree."""
    for today, expected in ((0.5, np.inf), (0.0, np.nan)):
        volume = np.array([0.0] * 20 + [today, 0.0])
        close = np.linspace(10, 12, len(volume))
        alone = compute_indicators(close, volume).surge_ratio
        block = indicator_block(close, volume, np.array([0]), np.array([len(volume)]))[3]
        assert same_bits(block, alone)
        assert same_bits(block[20:21], np.array([expected]))


def test_flat_closes_have_rsi_100_in_the_block_and_alone():
    """R2.2: no losses in the window -> RSI 100, also when there are no gains either (0 / 0)."""
    close = np.full(40, 25.0)
    alone = compute_indicators(close, np.ones(40)).rsi14
    block = indicator_block(close, np.ones(40), np.array([0]), np.array([40]))[2]
    assert same_bits(block, alone)
    assert (block[14:] == 100.0).all() and np.isnan(block[:14]).all()
