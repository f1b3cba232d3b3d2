"""report.html's chart data: the vectorized display rounding and the cached plotly.js bundle."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from plotly.offline import get_plotlyjs

from momentum.reports.report_charts import _num, _nums, plotly_bundle, unpack_plotly_bundle


def _bits(values: list[float | None]) -> list[bytes | None]:
    return [None if v is None else struct.pack("<d", v) for v in values]


def test_nums_gives_the_floats_of_num_bit_for_bit():
    rng = np.random.default_rng(7)
    edges = [0.0, -0.0, np.nan, np.inf, -np.inf, 5e-324, 1e-300, 1.7e308, 0.1, 1e5, 1e6,
             999999.5, 9999995.0, 99999.95, 123456.5, 1234565.0, 1e22, 1e23]
    for e in range(-8, 12):
        for m in (1.0, 9.999995, 1.000005, 1.0000045):
            v = m * 10.0 ** e
            edges += [v, float(np.nextafter(v, 0)), float(np.nextafter(v, np.inf)), -v]
    samples = [np.array(edges), rng.lognormal(0, 6, 20_000),
               np.round(rng.uniform(0, 1e4, 20_000), 2), rng.integers(0, 10**7, 20_000) + 0.5]
    for values in samples:
        assert _bits(_nums(values)) == _bits([_num(v) for v in values.tolist()])


def test_bundle_is_cached_checked_and_rebuilt_when_damaged(tmp_path: Path):
    page = plotly_bundle(tmp_path)
    cached = list((tmp_path / "report").iterdir())
    assert len(cached) == 1 and unpack_plotly_bundle(page) == get_plotlyjs()
    assert plotly_bundle(tmp_path) == page == plotly_bundle(None)  # a hit embeds the same text
    text = cached[0].read_text(encoding="ascii")
    cached[0].write_text(text[:-10] + "AAAAAAAAAA", encoding="ascii")  # damaged, same length
    assert plotly_bundle(tmp_path) == page  # not embedded: rebuilt from plotly.min.js
    assert cached[0].read_text(encoding="ascii") == text
