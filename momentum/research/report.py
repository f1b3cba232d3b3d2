"""report.html of a search (heatmaps, parallel coordinates, objective distribution) and of a
walk-forward (windows, stitched out-of-sample equity), plus the terminal's top-10 table."""
from __future__ import annotations

import html
import itertools
import statistics
from typing import Any

from rich.table import Table

from momentum.research.overfit import Guards
from momentum.research.space import Param
from momentum.research.trials import TrialRecord

_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>{script}
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}.warn{{color:#b00}}</style>
</head><body><h1>{title}</h1>{body}</body></html>
"""


def top_table(records: list[TrialRecord], params: list[Param], objective: str,
              limit: int = 10) -> Table:
    """The best `limit` trials: number, objective, parameters and a few metrics."""
    table = Table(title=f"Top {limit} trials by {objective}")
    for name in ["trial", objective] + [p.key.split(".")[-1] for p in params] + [
            "sharpe", "cagr", "max dd", "trades"]:
        table.add_column(name, justify="right")
    scored = sorted((r for r in records if r.objective is not None),
                    key=lambda r: (-r.objective, r.number))[:limit]
    for r in scored:
        m = r.metrics
        table.add_row(str(r.number), f"{r.objective:.4g}",
                      *[_short(r.params[p.key]) for p in params],
                      _fmt(m.get("sharpe")), _pct(m.get("cagr")), _pct(m.get("max_drawdown")),
                      str(m.get("trades")))
    return table


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.2%}"


def guards_html(guards: Guards) -> str:
    """The overfitting guards as a list (warnings in red)."""
    items = "".join(f'<li class="{"warn" if line.startswith("warning") else ""}">'
                    f"{html.escape(line)}</li>" for line in guards.lines())
    return f"<h2>Overfitting guards</h2><ul>{items}</ul>"


def search_html(records: list[TrialRecord], params: list[Param], objective: str,
                guards: Guards, best: TrialRecord, title: str) -> str:
    """The whole report page of one search."""
    from momentum.reports.charts import plotly_script
    scored = [r for r in records if r.objective is not None]
    body = [f"<p>{len(records)} trials, {len(scored)} with a {objective}; best trial "
            f"{best.number}: {html.escape(_params_text(best.params))}</p>", guards_html(guards)]
    if scored:
        body += [_histogram(scored, objective), _parallel(scored, params, objective)]
        body += [_heatmap(scored, a, b, objective) for a, b in itertools.combinations(params, 2)]
    return _PAGE.format(title=html.escape(title), script=plotly_script(), body="\n".join(body))


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in params.items())


def _fragment(fig: Any) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False)


def _histogram(scored: list[TrialRecord], objective: str) -> str:
    import plotly.graph_objects as go
    fig = go.Figure(go.Histogram(x=[r.objective for r in scored], nbinsx=30))
    fig.update_layout(title=f"Distribution of {objective}", xaxis_title=objective,
                      yaxis_title="trials", height=350)
    return _fragment(fig)


def _parallel(scored: list[TrialRecord], params: list[Param], objective: str) -> str:
    import plotly.graph_objects as go
    dims = []
    for p in params:
        values = [r.params[p.key] for r in scored]
        if not p.numeric:
            labels = sorted({str(v) for v in values})
            values = [labels.index(str(v)) for v in values]
        dims.append({"label": p.key.split(".")[-1], "values": values})
    dims.append({"label": objective, "values": [r.objective for r in scored]})
    line = {"color": [r.objective for r in scored], "colorscale": "Viridis", "showscale": True}
    fig = go.Figure(go.Parcoords(line=line, dimensions=dims))
    fig.update_layout(title="Parallel coordinates", height=450)
    return _fragment(fig)


def _heatmap(scored: list[TrialRecord], a: Param, b: Param, objective: str) -> str:
    """The best objective per (a, b) cell: the other parameters are maximized out."""
    import plotly.graph_objects as go
    xs = sorted({r.params[a.key] for r in scored}, key=_order)
    ys = sorted({r.params[b.key] for r in scored}, key=_order)
    cells: dict[tuple[Any, Any], list[float]] = {}
    for r in scored:
        cells.setdefault((r.params[a.key], r.params[b.key]), []).append(r.objective)
    z = [[max(cells[(x, y)]) if (x, y) in cells else None for x in xs] for y in ys]
    fig = go.Figure(go.Heatmap(x=[_short(x) for x in xs], y=[_short(y) for y in ys], z=z,
                               colorscale="RdYlGn", colorbar={"title": objective}))
    fig.update_layout(title=f"{objective}: {a.key} x {b.key} (best per cell)",
                      xaxis_title=a.key, yaxis_title=b.key, height=420)
    return _fragment(fig)


def _order(v: Any) -> tuple[int, Any]:
    return (0, v) if isinstance(v, (int, float)) else (1, str(v))


def walk_forward_html(windows: list[dict[str, Any]], curve: list[tuple[str, str]],
                      benchmark: dict[str, Any], efficiency: float | None, title: str) -> str:
    """The walk-forward page: one row per window, the stitched equity against buy-and-hold."""
    import plotly.graph_objects as go

    from momentum.reports.charts import plotly_script
    keys = ["window", "train_start", "train_end", "test_start", "test_end", "params",
            "is_cagr", "oos_cagr", "is_sharpe", "oos_sharpe", "efficiency", "deflated_sharpe",
            "edge_params"]
    head = "".join(f"<th>{k}</th>" for k in keys)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(w.get(k)))}</td>" for k in keys)
                   + "</tr>" for w in windows)
    fig = go.Figure(go.Scatter(x=[d for d, _ in curve], y=[float(e) for _, e in curve],
                               name="out-of-sample (stitched)"))
    if benchmark.get("curve"):
        fig.add_trace(go.Scatter(x=[d for d, _ in benchmark["curve"]],
                                 y=[float(e) for _, e in benchmark["curve"]],
                                 name=f"buy and hold {benchmark['ticker']}"))
    fig.update_layout(title="Stitched out-of-sample equity", height=450)
    eff = "-" if efficiency is None else f"{efficiency:.2f}"
    oos = [w["oos_cagr"] for w in windows if w.get("oos_cagr") is not None]
    body = (f"<p>Walk-forward efficiency (out-of-sample over in-sample annualized return): "
            f"<b>{eff}</b>; median window out-of-sample CAGR "
            f"{_cell(statistics.median(oos) if oos else None)}</p>"
            f"<table><tr>{head}</tr>{rows}</table>{_fragment(fig)}")
    return _PAGE.format(title=html.escape(title), script=plotly_script(), body=body)


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return _params_text(v)
    return str(v)
