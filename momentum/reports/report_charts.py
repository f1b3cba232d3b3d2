"""The charts of report.html as plain data, drawn by the browser (plotly.js embedded once).

Python writes one compact JSON block (``chart_data``): equity vs benchmark, drawdown, monthly
returns and one price chart per traded ticker (close around each trade, entries, exits, R4.2 stop
and target, R4.3 trail). The page's script turns it into plotly traces; the per-ticker charts are
drawn only when scrolled into view. plotly.js is embedded gzip-compressed and base64-encoded (4.8
MB -> 2.3 MB) and unpacked by the browser's DecompressionStream, so the page needs no network.
Numbers are display floats, rounded to 6 significant digits: charts are display only (R5.7).
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.util
import json
import logging
import math
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from momentum.core.config import ExitConfig
from momentum.core.domain import Trade
from momentum.core.files import write_atomic
from momentum.reports.charts import trail_between
from momentum.rules.metrics import BenchmarkStats, ValuePoint, drawdown_series, monthly_returns
from momentum.rules.signals import exit_levels

if TYPE_CHECKING:  # types only
    from momentum.data.market import AssetHistory

logger = logging.getLogger(__name__)
BARS_BEFORE_ENTRY = 60  # context shown before each trade on its price chart
BARS_AFTER_EXIT = 20
_VECTOR_MIN = 64
_NULL = np.array([np.nan])  # a null in a chart's y values
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(f"{x:.6g}")


def _nums(values: Any) -> list[float | None]:
    """_num of every value of a sequence or array, the same floats bit for bit, vectorized.

    Rounding x to 6 significant digits is n / 10**k with n = rint(x * 10**k) for the k that
    puts |n| in [1e5, 1e6]: 10**k is exact, so the division is the float nearest the 6-digit
    decimal, which is what float(f"{x:.6g}") gives. Only a product within 1e-7 of a half (where
    the multiplication's rounding could move n), a zero, a non-finite value or an unusual
    magnitude goes through _num.
    """
    a = np.asarray(values, dtype=np.float64).ravel()
    if a.size < _VECTOR_MIN:  # a short one is quicker point by point than in ~20 array passes
        return [_num(v) for v in a.tolist()]
    with np.errstate(all="ignore"):  # 0, inf and nan fall out as unusual below
        k = 5.0 - np.floor(np.log10(np.abs(a)))
        usual = np.abs(k) <= 22
        k = np.where(usual, k, 0.0)
        scale = 10.0 ** np.abs(k)
        up = k >= 0
        t = np.where(up, a * scale, a / scale)
        n = np.rint(t)
        y = np.where(up, n / scale, n * scale)
        fine = usual & (np.abs(t - n) < 0.5 - 1e-7) & (np.abs(n) >= 1e5) & (np.abs(n) <= 1e6)
    out: list[float | None] = y.tolist()
    for i in np.flatnonzero(~fine).tolist():  # zeros, non-finite values, near-halves
        out[i] = _num(float(a[i]))
    return out


def equity_chart(curve: Sequence[ValuePoint], bench: BenchmarkStats) -> dict[str, Any]:
    """Strategy equity against buy-and-hold of the benchmark scaled to the initial capital."""
    chart: dict[str, Any] = {"x": _day_axis([p.day for p in curve]),
                             "y": _nums([float(p.equity) for p in curve]), "title": "Equity"}
    if bench.curve:
        chart["bench"] = {"name": f"{bench.ticker} buy & hold",
                          "x": _day_axis([p.day for p in bench.curve]),
                          "y": _nums([float(p.equity) for p in bench.curve])}
        chart["title"] += f" vs {bench.ticker} (scaled to the initial capital)"
    elif bench.reason:
        chart["title"] += f" ({bench.reason})"
    return chart


def drawdown_chart(curve: Sequence[ValuePoint]) -> dict[str, Any]:
    """Drawdown from the running peak, in percent (negative)."""
    return {"x": _day_axis([p.day for p in curve]),
            "y": _nums(-100.0 * np.array(drawdown_series(curve), dtype=np.float64))}


def monthly_chart(curve: Sequence[ValuePoint]) -> dict[str, Any]:
    """Year x month % returns between month-end equities."""
    returns = monthly_returns(curve)
    years = sorted({y for y, _ in returns})
    z = [[_num(None if returns.get((y, m)) is None else 100.0 * returns[(y, m)])
          for m in range(1, 13)] for y in years]
    return {"years": [str(y) for y in years], "months": _MONTHS, "z": z}


def price_chart(history: AssetHistory, trades: Sequence[Trade], first: date, last: date,
                exit_cfg: ExitConfig | None) -> dict[str, Any]:
    """Closes around each trade (gaps between), entries, exits, stop/target and the trail."""
    asset = history.asset
    i0, i1 = _trade_bars(history, trades, last)
    lo, hi = _trade_windows(history, i0, i1, first, last)
    keep = np.zeros(len(history.dates), dtype=bool)
    for a, b in zip(lo, hi, strict=True):
        keep[a:b] = True
    idx = np.flatnonzero(keep)
    # A null between windows breaks the line, so no straight segment spans untraded years.
    gap = np.flatnonzero(np.diff(idx) > 1) + 1
    # The gap point repeats the previous date; its null close is what breaks the line.
    dates = np.insert(history.dates[idx], gap, history.dates[idx][gap - 1])
    closes = _nums(history.close[idx])
    for at in reversed(gap.tolist()):
        closes.insert(at, None)
    chart: dict[str, Any] = {
        "title": f"{asset.ticker} ({asset.asset_type.value}, {asset.sector}): "
                 f"{len(trades)} trade(s)",
        "x": _day_axis_of(dates), "y": closes,
        "entries": [[t.entry_date.isoformat(), _num(float(t.entry_price)),
                     f"buy {t.quantity} @ {t.entry_price:.4f}"] for t in trades],
        "exits": [[t.exit_date.isoformat(), _num(float(t.exit_price)), _reason(t),
                   f"sell @ {t.exit_price:.4f} ({_reason(t)}), pnl {t.pnl:.2f}"]
                  for t in trades if t.exit_date is not None and t.exit_price is not None],
    }
    if exit_cfg is not None:
        chart.update(_levels(history, trades, last, exit_cfg, i0, i1))
    return chart


def _trade_bars(history: AssetHistory, trades: Sequence[Trade],
                last: date) -> tuple[np.ndarray, np.ndarray]:
    """Each trade's entry bar index and the index after its exit bar (after `last` if open)."""
    entries = np.array([t.entry_date for t in trades], dtype="datetime64[D]")
    ends = np.array([t.exit_date or last for t in trades], dtype="datetime64[D]")
    return (np.searchsorted(history.dates, entries, side="left"),
            np.searchsorted(history.dates, ends, side="right"))


def _trade_windows(history: AssetHistory, i0: np.ndarray, i1: np.ndarray, first: date,
                   last: date) -> tuple[list[int], list[int]]:
    dates = history.dates
    lo_bound = int(np.searchsorted(dates, np.datetime64(first, "D"), side="left"))
    hi_bound = int(np.searchsorted(dates, np.datetime64(last, "D"), side="right"))
    return (np.maximum(lo_bound, i0 - BARS_BEFORE_ENTRY).tolist(),
            np.minimum(hi_bound, i1 + BARS_AFTER_EXIT).tolist())


def _reason(t: Trade) -> str:
    return "" if t.exit_reason is None else t.exit_reason.value


def _levels(history: AssetHistory, trades: Sequence[Trade], last: date, cfg: ExitConfig,
            i0: np.ndarray, i1: np.ndarray) -> dict[str, Any]:
    """R4.2 stop and target per trade (entry to exit); the R4.3 trail derived from the bars."""
    levels, trail_x, trail_y = [], [], []
    for t, a, b in zip(trades, i0.tolist(), i1.tolist(), strict=True):
        stop, target = exit_levels(t.entry_price, t.asset_type, cfg)
        levels.append([t.entry_date.isoformat(), (t.exit_date or last).isoformat(),
                       _num(float(stop)), _num(float(target))])
        x, y = trail_between(history, a, b - 1, float(t.entry_price), cfg)
        if not np.isnan(y).all():  # each trade's trail ends in a null (its last date repeated)
            trail_x += [x, x[-1:]]
            trail_y += [y, _NULL]
    if not trail_x:
        return {"levels": levels, "trail": [{"d0": None, "dd": []}, []]}
    return {"levels": levels,
            "trail": [_day_axis_of(np.concatenate(trail_x)), _nums(np.concatenate(trail_y))]}


def _day_axis(days: Sequence[date]) -> dict[str, Any]:
    """Dates as the first one and day steps (2 characters a point instead of 13)."""
    if not days:
        return {"d0": None, "dd": []}
    ordinals = [d.toordinal() for d in days]
    steps = [0] + [b - a for a, b in zip(ordinals, ordinals[1:], strict=False)]
    return {"d0": days[0].isoformat(), "dd": steps}


def _day_axis_of(days: np.ndarray) -> dict[str, Any]:
    """_day_axis of a datetime64[D] array, without a date object per point."""
    if not len(days):
        return {"d0": None, "dd": []}
    ordinals = days.astype("datetime64[D]").astype(np.int64)
    return {"d0": days[0].item().isoformat(), "dd": [0, *(ordinals[1:] - ordinals[:-1]).tolist()]}


def chart_data(curve: Sequence[ValuePoint], bench: BenchmarkStats,
               prices: dict[str, dict[str, Any]]) -> str:
    """The page's JSON block: every chart keyed by its div id; safe inside a <script> tag."""
    charts = {"equity": equity_chart(curve, bench), "drawdown": drawdown_chart(curve),
              "monthly-returns": monthly_chart(curve),
              **{f"price-{t}": chart for t, chart in prices.items()}}
    text = json.dumps({"charts": charts}, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/")  # a ticker or reason can never close the script tag


_BUNDLE_OPEN = '<script type="application/gzip;base64" id="plotly-js">'


def plotly_bundle(cache_dir: Path | None = None) -> str:
    """plotly.js, gzip-compressed and base64-encoded, in one inert <script> tag (once a page).

    Compressing the 4.8 MB bundle is most of the report's cost, and its result only changes
    with the installed plotly: with `cache_dir` the encoded text is kept in
    ``<cache_dir>/report/``, keyed by plotly.min.js's path, size and mtime and checked against
    its sha256 on every read (a damaged or foreign file is rebuilt, never embedded).
    """
    cache = None if cache_dir is None else _bundle_cache_file(Path(cache_dir))
    encoded = None if cache is None else _read_cached_bundle(cache)
    if encoded is None:
        from plotly.offline import get_plotlyjs  # only the report pays for plotly

        packed = gzip.compress(get_plotlyjs().encode("utf-8"), compresslevel=1, mtime=0)
        encoded = base64.b64encode(packed).decode("ascii")
        if cache is not None:
            _write_cached_bundle(cache, encoded)
    return _BUNDLE_OPEN + encoded + "</script>"


def _bundle_cache_file(cache_dir: Path) -> Path | None:
    """The cache file for the installed plotly.min.js (None when it cannot be located)."""
    try:
        spec = importlib.util.find_spec("plotly")  # finds the package without importing it
        origin = Path(spec.origin) if spec and spec.origin else None
        info = (origin.parent / "package_data" / "plotly.min.js").stat() if origin else None
    except (ImportError, OSError, ValueError):
        return None
    if info is None:
        return None
    key = hashlib.sha256(f"{origin.parent}|{info.st_size}|{info.st_mtime_ns}".encode()).hexdigest()
    return cache_dir / "report" / f"plotly-{key[:24]}.js.gz.b64"


def _read_cached_bundle(path: Path) -> str | None:
    try:
        digest, _, encoded = path.read_text(encoding="ascii").partition("\n")
    except (OSError, UnicodeDecodeError):
        return None
    if digest != "sha256:" + hashlib.sha256(encoded.encode("ascii")).hexdigest():
        logger.info("%s does not match its checksum: rebuilding it", path)
        return None
    return encoded


def _write_cached_bundle(path: Path, encoded: str) -> None:
    digest = "sha256:" + hashlib.sha256(encoded.encode("ascii")).hexdigest()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, f"{digest}\n{encoded}")
    except OSError as e:  # a read-only cache only costs the next report the compression
        logger.info("could not keep the compressed plotly.js in %s (%s)", path.parent, e)


def unpack_plotly_bundle(page: str) -> str:
    """The plotly.js source embedded in a page by plotly_bundle (for tests and tools)."""
    start = page.index(_BUNDLE_OPEN)
    body = page[page.index(">", start) + 1: page.index("</script>", start)]
    return gzip.decompress(base64.b64decode(body)).decode("utf-8")


DRAW_SCRIPT = """<script>
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent).charts;
  const packed = document.getElementById("plotly-js").textContent;
  const bytes = Uint8Array.from(atob(packed), (c) => c.charCodeAt(0));
  const ready = new Response(new Blob([bytes]).stream().pipeThrough(
      new DecompressionStream("gzip"))).text().then((code) => {
    const s = document.createElement("script");
    s.textContent = code;
    document.head.appendChild(s);
  });
  const base = {font: {family: "Helvetica, Arial, sans-serif", size: 12, color: "#222"},
    paper_bgcolor: "white", plot_bgcolor: "white", hovermode: "x unified",
    xaxis: {gridcolor: "#eee", linecolor: "#999"}, yaxis: {gridcolor: "#eee", linecolor: "#999"},
    margin: {l: 60, r: 20, t: 50, b: 40}, legend: {orientation: "h", y: -0.15}};
  // ColorBrewer RdYlGn, the scale the Python report used (plotly.js has no such named scale).
  const RD_YL_GN = ["#a50026", "#d73027", "#f46d43", "#fdae61", "#fee08b", "#ffffbf", "#d9ef8b",
    "#a6d96a", "#66bd63", "#1a9850", "#006837"].map((c, i) => [i / 10, c]);
  // A day axis {d0, dd}: the first date and the day steps to each next point.
  const X = (a) => { let t = Date.parse(a.d0);
    return a.dd.map((d) => new Date(t += d * 86400000).toISOString().slice(0, 10)); };
  const layout = (extra) => Object.assign({}, base, extra);
  const builders = {
    "equity": (c) => [[{x: X(c.x), y: c.y, name: "strategy", line: {color: "#1f77b4", width: 2}}]
        .concat(c.bench ? [{x: X(c.bench.x), y: c.bench.y, name: c.bench.name,
                            line: {color: "#999", width: 1.5}}] : []),
      layout({title: {text: c.title}, height: 420, yaxis: Object.assign({}, base.yaxis,
              {title: {text: "USD"}})})],
    "drawdown": (c) => [[{x: X(c.x), y: c.y, name: "drawdown", fill: "tozeroy",
                          line: {color: "#d62728", width: 1}}],
      layout({title: {text: "Drawdown"}, height: 260, showlegend: false,
              yaxis: Object.assign({}, base.yaxis, {title: {text: "%"}})})],
    "monthly-returns": (c) => [[{type: "heatmap", z: c.z, x: c.months, y: c.years,
        text: c.z.map((r) => r.map((v) => v === null ? "" : v.toFixed(1) + "%")),
        texttemplate: "%{text}", colorscale: RD_YL_GN, zmid: 0, xgap: 2, ygap: 2,
        hovertemplate: "%{y} %{x}: %{text}<extra></extra>"}],
      layout({title: {text: "Monthly returns (%)"}, hovermode: "closest",
              height: 120 + 40 * c.years.length, xaxis: {type: "category"},
              yaxis: {autorange: "reversed", type: "category"}})],
  };
  function price(c) {
    const traces = [{x: X(c.x), y: c.y, name: "close", line: {color: "#444", width: 1.2}}];
    if (c.levels) {
      const seg = (k) => c.levels.flatMap((l) => [l[k], l[k], null]);
      const sx = c.levels.flatMap((l) => [l[0], l[1], null]);
      traces.push({x: sx, y: seg(2), mode: "lines", name: "stop", hoverinfo: "y+name",
                   line: {color: "#d62728", dash: "dash", width: 1}});
      traces.push({x: sx, y: seg(3), mode: "lines", name: "target", hoverinfo: "y+name",
                   line: {color: "#2ca02c", dash: "dash", width: 1}});
      if (c.trail[1].length) {
        traces.push({x: X(c.trail[0]), y: c.trail[1], mode: "lines", name: "trailing stop",
                     hoverinfo: "y+name", line: {color: "#ff7f0e", width: 1, shape: "hv"}});
      }
    }
    traces.push({x: c.entries.map((e) => e[0]), y: c.entries.map((e) => e[1]),
                 mode: "markers", name: "entry", hovertext: c.entries.map((e) => e[2]),
                 hoverinfo: "text+x",
                 marker: {symbol: "triangle-up", size: 11, color: "#2ca02c"}});
    traces.push({x: c.exits.map((e) => e[0]), y: c.exits.map((e) => e[1]),
                 mode: "markers+text", name: "exit", text: c.exits.map((e) => e[2]),
                 textposition: "bottom center", textfont: {size: 10},
                 hovertext: c.exits.map((e) => e[3]), hoverinfo: "text+x",
                 marker: {symbol: "triangle-down", size: 11, color: "#d62728"}});
    return [traces, layout({title: {text: c.title}, height: 360, hovermode: "closest",
                            yaxis: Object.assign({}, base.yaxis, {title: {text: "price"}})})];
  }
  function draw(div) {
    const c = data[div.id];
    if (!c || div.dataset.drawn) return;
    div.dataset.drawn = "1";
    const [traces, lay] = (builders[div.id] || price)(c);
    ready.then(() => Plotly.newPlot(div, traces, lay, {responsive: true, displaylogo: false}));
  }
  const charts = Array.from(document.querySelectorAll("div.chart"));
  if (!("IntersectionObserver" in window)) { charts.forEach(draw); return; }
  const seen = new IntersectionObserver((entries) => entries.forEach((e) => {
    if (e.isIntersecting) { seen.unobserve(e.target); draw(e.target); }
  }), {rootMargin: "400px"});
  charts.forEach((div) => seen.observe(div));
})();
</script>"""
