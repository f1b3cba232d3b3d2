"""Plotly figures of the dashboard tabs, drawn from the frames of ``views`` (display only)."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_LAYOUT = {"height": 380, "margin": {"l": 50, "r": 20, "t": 40, "b": 30},
           "legend": {"orientation": "h", "y": -0.2}, "hovermode": "x unified"}


def equity_figure(equity: pd.DataFrame, bench: pd.DataFrame | None = None,
                  bench_name: str = "benchmark") -> go.Figure:
    """Account value over time, against the benchmark scaled to the starting equity."""
    fig = go.Figure(layout={**_LAYOUT, "title": "Account value"})
    fig.add_scatter(x=equity["date"], y=equity["equity"], name="account value",
                    line={"color": "#1f77b4", "width": 2})
    if bench is not None and not bench.empty:
        fig.add_scatter(x=bench["date"], y=bench["benchmark"], name=f"{bench_name} buy & hold",
                        line={"color": "#999", "width": 1.5})
    return fig


def drawdown_figure(equity: pd.DataFrame) -> go.Figure:
    """Fall from the running peak, in percent."""
    fig = go.Figure(layout={**_LAYOUT, "title": "Drawdown", "yaxis": {"ticksuffix": "%"}})
    fig.add_scatter(x=equity["date"], y=-100 * equity["drawdown"], fill="tozeroy",
                    name="drawdown", line={"color": "#d62728"})
    return fig


def monthly_heatmap(table: pd.DataFrame) -> go.Figure:
    """Monthly returns, year by month, in percent."""
    z = (100 * table).round(2)
    text = [["" if pd.isna(v) else f"{v:.2f}" for v in row] for row in z.values]
    fig = go.Figure(layout={**_LAYOUT, "title": "Monthly returns (%)",
                            "height": 140 + 40 * max(len(table), 1),
                            "yaxis": {"type": "category", "autorange": "reversed"}})
    fig.add_heatmap(z=z.values, x=_MONTHS, y=[str(y) for y in table.index], zmid=0,
                    colorscale="RdYlGn", text=text, texttemplate="%{text}",
                    hovertemplate="%{y} %{x}: %{z:.2f}%<extra></extra>", hoverongaps=False)
    return fig


def price_figure(bars: pd.DataFrame, title: str, history: pd.DataFrame | None = None,
                 entry: tuple[str, float] | None = None,
                 exit_: tuple[str, float] | None = None,
                 levels: dict[str, float | None] | None = None) -> go.Figure:
    """Candles with the entry (and exit) marker, and the stop, target and trailing lines.

    `history` (date, stop, target, trailing_stop) draws each level as it moved day by day;
    `levels` draws flat lines when no daily history exists.
    """
    fig = go.Figure(layout={**_LAYOUT, "title": title, "height": 460,
                            "xaxis": {"rangeslider": {"visible": False}}})
    fig.add_candlestick(x=bars["date"], open=bars["open"], high=bars["high"], low=bars["low"],
                        close=bars["close"], name="price")
    colors = {"stop": "#d62728", "target": "#2ca02c", "trailing_stop": "#ff7f0e"}
    if history is not None and not history.empty:
        days = pd.to_datetime(history["date"])
        for name, color in colors.items():
            fig.add_scatter(x=days, y=history[name], name=name.replace("_", " "),
                            line={"color": color, "dash": "dash", "shape": "hv"})
    for name, value in (levels or {}).items():
        if value is not None:
            fig.add_hline(y=value, line={"color": colors.get(name, "#666"), "dash": "dot"},
                          annotation_text=name.replace("_", " "))
    if exit_ is not None and entry is not None:  # the trade's own window, not every kept bar
        first = pd.Timestamp(entry[0]) - pd.Timedelta(days=30)
        fig.update_xaxes(range=[first, pd.Timestamp(exit_[0]) + pd.Timedelta(days=10)])
    for label, point, symbol, color in (("entry", entry, "triangle-up", "#2ca02c"),
                                        ("exit", exit_, "triangle-down", "#d62728")):
        if point is not None:
            fig.add_scatter(x=[pd.Timestamp(point[0])], y=[point[1]], mode="markers",
                            name=label, marker={"symbol": symbol, "size": 14, "color": color})
    return fig


def sector_figure(exposure: dict[str, float], cap: float | None) -> go.Figure:
    """Exposure per sector against the sector cap (R6.5), in percent."""
    fig = go.Figure(layout={**_LAYOUT, "title": "Sector exposure", "yaxis": {"ticksuffix": "%"}})
    fig.add_bar(x=list(exposure), y=[100 * v for v in exposure.values()], name="exposure")
    if cap is not None:
        fig.add_hline(y=100 * cap, line={"color": "#d62728", "dash": "dash"},
                      annotation_text="sector cap")
    return fig


def pnl_histogram(trades: pd.DataFrame) -> go.Figure:
    """Distribution of closed-trade P&L in dollars."""
    fig = go.Figure(layout={**_LAYOUT, "title": "P&L distribution", "bargap": 0.05})
    fig.add_histogram(x=trades["pnl"], nbinsx=30, name="trades")
    return fig
