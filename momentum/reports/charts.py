"""Plotly figures of `analyze-trade --html`: a ticker's closes, fills, stop, target and trail.

report.html draws its charts in the browser from plain data (reports/report_charts.py); only this
page builds plotly figure objects, so plotly is imported inside the functions that use it and
every other command starts without it. The bundle is inlined once (``plotly_script``), so the page
works offline. Numbers are converted to float here: charts are display only (R5.7).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from momentum.core.config import ExitConfig
from momentum.core.domain import Trade
from momentum.rules.signals import exit_levels

if TYPE_CHECKING:  # types only
    import plotly.graph_objects as go

    from momentum.data.market import AssetHistory

_PLOT_CONFIG = {"responsive": True, "displaylogo": False}


@lru_cache(maxsize=1)
def _template() -> Any:
    import plotly.graph_objects as go

    # A small template keeps each figure's JSON short (the default one adds ~6 kB per figure).
    return go.layout.Template(layout={
        "font": {"family": "Helvetica, Arial, sans-serif", "size": 12, "color": "#222"},
        "paper_bgcolor": "white", "plot_bgcolor": "white", "hovermode": "x unified",
        "xaxis": {"gridcolor": "#eee", "linecolor": "#999"},
        "yaxis": {"gridcolor": "#eee", "linecolor": "#999"},
        "margin": {"l": 60, "r": 20, "t": 50, "b": 40},
        "legend": {"orientation": "h", "y": -0.15},
    })


def plotly_script() -> str:
    """The plotly.js bundle in one inline <script> tag (include it once per page)."""
    from plotly.offline import get_plotlyjs

    return f'<script type="text/javascript">{get_plotlyjs()}</script>'


def figure_html(fig: go.Figure, div_id: str) -> str:
    """A figure as an HTML fragment that relies on the page's inlined plotly.js."""
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                       config=_PLOT_CONFIG)


def price_figure(history: AssetHistory, trades: Sequence[Trade], first: date, last: date,
                 exit_cfg: ExitConfig | None) -> go.Figure:
    """Close over the window with entries, exits and each trade's stop, target and trail."""
    import plotly.graph_objects as go

    lo, hi = _window(history, first, last)
    ticker = history.asset.ticker
    fig = go.Figure(layout={"template": _template(), "height": 360, "hovermode": "closest"})
    fig.add_scatter(x=history.dates[lo:hi], y=history.close[lo:hi], name="close",
                    line={"color": "#444", "width": 1.2})
    if exit_cfg is not None:
        _add_levels(fig, history, trades, last, exit_cfg)
    _add_fills(fig, trades)
    fig.update_layout(title=f"{ticker} ({history.asset.asset_type.value}, "
                            f"{history.asset.sector}): {len(trades)} trade(s)",
                      yaxis_title="price")
    return fig


def _window(history: AssetHistory, first: date, last: date) -> tuple[int, int]:
    lo = int(np.searchsorted(history.dates, np.datetime64(first, "D"), side="left"))
    hi = int(np.searchsorted(history.dates, np.datetime64(last, "D"), side="right"))
    return lo, hi


def _add_fills(fig: go.Figure, trades: Sequence[Trade]) -> None:
    fig.add_scatter(
        x=[t.entry_date for t in trades], y=[float(t.entry_price) for t in trades],
        mode="markers", name="entry", marker={"symbol": "triangle-up", "size": 11,
                                              "color": "#2ca02c"},
        hovertext=[f"buy {t.quantity} @ {t.entry_price:.4f}" for t in trades], hoverinfo="text+x")
    closed = [t for t in trades if t.exit_date is not None and t.exit_price is not None]
    fig.add_scatter(
        x=[t.exit_date for t in closed], y=[float(t.exit_price) for t in closed],  # type: ignore[arg-type]
        mode="markers+text", name="exit", text=[_reason(t) for t in closed],
        textposition="bottom center", textfont={"size": 10},
        marker={"symbol": "triangle-down", "size": 11, "color": "#d62728"},
        hovertext=[f"sell @ {t.exit_price:.4f} ({_reason(t)}), pnl {t.pnl:.2f}" for t in closed],
        hoverinfo="text+x")


def _reason(t: Trade) -> str:
    return "" if t.exit_reason is None else t.exit_reason.value


def _add_levels(fig: go.Figure, history: AssetHistory, trades: Sequence[Trade], last: date,
                cfg: ExitConfig) -> None:
    """R4.2 stop and target as segments from entry to exit; R4.3 trail derived from the bars."""
    stop_x: list[date | None] = []
    stop_y: list[float | None] = []
    target_y: list[float | None] = []
    trail_x: list = []
    trail_y: list[float | None] = []
    for t in trades:
        stop, target = exit_levels(t.entry_price, t.asset_type, cfg)
        stop_x += [t.entry_date, t.exit_date or last, None]
        stop_y += [float(stop), float(stop), None]
        target_y += [float(target), float(target), None]
        x, y = trailing_levels(history, t, last, cfg)
        trail_x += x + [None]
        trail_y += y + [None]
    fig.add_scatter(x=stop_x, y=stop_y, mode="lines", name="stop", hoverinfo="y+name",
                    line={"color": "#d62728", "dash": "dash", "width": 1})
    fig.add_scatter(x=stop_x, y=target_y, mode="lines", name="target", hoverinfo="y+name",
                    line={"color": "#2ca02c", "dash": "dash", "width": 1})
    if any(v is not None for v in trail_y):
        fig.add_scatter(x=trail_x, y=trail_y, mode="lines", name="trailing stop",
                        hoverinfo="y+name", line={"color": "#ff7f0e", "width": 1, "shape": "hv"})


def trailing_levels(history: AssetHistory, trade: Trade, last: date,
                    cfg: ExitConfig) -> tuple[list[date], list[float | None]]:
    """The trailing stop resting on each bar after entry (R4.3/R4.4), None while inactive.

    The level resting on bar i is highest_high(entry bar .. bar i-1) * (1 - distance), once
    that highest high reached entry_price * (1 + activation). Derived from the bars for display;
    the engine's own levels are not recorded in the trade.
    """
    dates, levels = trail_arrays(history, trade, last, cfg)
    days = [d.item() for d in dates]
    return days, [None if np.isnan(v) else v for v in levels.tolist()]


def trail_arrays(history: AssetHistory, trade: Trade, last: date,
                 cfg: ExitConfig) -> tuple[np.ndarray, np.ndarray]:
    """trailing_levels as arrays: datetime64[D] bar dates and levels, NaN while inactive."""
    dates = history.dates
    i0 = int(np.searchsorted(dates, np.datetime64(trade.entry_date, "D"), side="left"))
    end = trade.exit_date or last
    i1 = int(np.searchsorted(dates, np.datetime64(end, "D"), side="right")) - 1
    return trail_between(history, i0, i1, float(trade.entry_price), cfg)


def trail_between(history: AssetHistory, i0: int, i1: int, entry: float,
                  cfg: ExitConfig) -> tuple[np.ndarray, np.ndarray]:
    """The trail resting on bars i0+1 .. i1 of a trade entered at bar i0 at price `entry`."""
    if i0 >= len(history.dates) or i1 <= i0:
        return np.array([], dtype="datetime64[D]"), np.array([], dtype=np.float64)
    highest = np.maximum.accumulate(history.high[i0:i1])
    active = highest >= entry * (1 + cfg.trailing_stop_activation)
    levels = np.where(active, highest * (1 - cfg.trailing_stop_distance), np.nan)
    return history.dates[i0 + 1:i1 + 1].astype("datetime64[D]"), levels
