"""The six tabs (spec 7.2.5): each draws frames of ``views``; every table has its CSV export of
exactly the rows shown."""
from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from momentum.core.ops_config import DashboardConfig
from momentum.reports.dashboard import figures, views
from momentum.reports.dashboard.readers import Source

_SECRET_KEY = re.compile(r"key|token|password|secret|webhook|url", re.IGNORECASE)
MONEY, PCT = "dollar", "percent"


def table(frame: pd.DataFrame, name: str, formats: dict[str, str] | None = None,
          select: bool = False) -> list[int]:
    """Show a frame and a CSV download of the same rows; return the selected row numbers."""
    config = {col: st.column_config.NumberColumn(format="dollar" if kind == MONEY else "%.2f%%")
              for col, kind in (formats or {}).items()}
    shown = frame.copy()
    for col, kind in (formats or {}).items():
        if kind == PCT and col in shown:
            shown[col] = shown[col] * 100  # the export keeps fractions, as the files do
    kwargs: dict[str, Any] = {"hide_index": True, "width": "stretch",
                              "column_config": config, "key": f"table_{name}"}
    if select:
        kwargs.update(on_select="rerun", selection_mode="single-row")
    event = st.dataframe(shown, **kwargs)
    st.download_button(f"Download {name}.csv ({len(frame)} rows)",
                       frame.to_csv(index=False).encode("utf-8"), file_name=f"{name}.csv",
                       mime="text/csv", key=f"csv_{name}")
    rows = getattr(getattr(event, "selection", None), "rows", None) if select else None
    return list(rows or [])


def _money(x: Any) -> str:
    return "n/a" if x is None else f"${float(x):,.2f}"


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{float(x) * 100:.2f}%"


# ---------------------------------------------------------------- overview
def overview_tab(source: Source, status: dict[str, Any] | str | None,
                 dash: DashboardConfig) -> None:
    """Account value, today's P&L, cash, exposure, open positions, key metrics, scheduler."""
    o = views.overview(source)
    cols = st.columns(4)
    cols[0].metric("Account value", _money(o["equity"]))
    cols[1].metric("Today's P&L", _money(o["day_pnl"]),
                   delta=None if o["day_pnl_pct"] is None else _pct(o["day_pnl_pct"]))
    cols[2].metric("Cash", _money(o["cash"]))
    cols[3].metric("Exposure", _pct(o["exposure"]))
    cols = st.columns(4)
    cols[0].metric("Total return", _pct(o["total_return"]))
    cols[1].metric("Sharpe ratio", "n/a" if o["sharpe"] is None else f"{o['sharpe']:.2f}")
    cols[2].metric("Max drawdown", _pct(o["max_drawdown"]))
    cols[3].metric("Win rate", _pct(o["win_rate"]))
    for line in views.halts(source):
        st.error(line)
    equity = views.equity_frame(source)
    if equity.empty:
        st.info("No session has run yet: the chart starts after the first `paper --run`.")
    else:
        st.plotly_chart(figures.equity_figure(equity), width="stretch",
                        key="overview_equity")
    st.subheader(f"Open positions ({o['positions']})")
    table(views.positions_frame(source)[["ticker", "sector", "entry_date", "shares",
                                        "current_price", "value", "pnl", "pnl_pct"]],
          "overview_positions", {"current_price": MONEY, "value": MONEY, "pnl": MONEY,
                                 "pnl_pct": PCT})
    scheduler(status)


def scheduler(status: dict[str, Any] | str | None) -> None:
    """The scheduler's status file, secrets-looking keys left out."""
    st.subheader("Scheduler")
    if status is None:
        st.caption("No scheduler status file (the scheduler has not run here).")
    elif isinstance(status, str):
        st.warning(status)
    else:
        rows = [{"field": k, "value": str(v)} for k, v in sorted(status.items())
                if not _SECRET_KEY.search(k) and not isinstance(v, (dict, list))]
        table(pd.DataFrame(rows, columns=["field", "value"]), "scheduler_status")


# ---------------------------------------------------------------- positions
def positions_tab(source: Source) -> None:
    """Every open position with its levels and risk; a selected one shows its chart."""
    frame = views.positions_frame(source)
    if frame.empty:
        st.info("No open position." if source.kind == "paper" else
                "A backtest folder holds closed trades only: see the Trades tab.")
        return
    picked = table(frame, "positions",
                   {c: MONEY for c in ("entry_price", "current_price", "value", "pnl", "stop",
                                       "target", "trailing_stop", "risk_to_stop")}
                   | {c: PCT for c in ("pnl_pct", "to_stop_pct", "to_target_pct",
                                       "to_trailing_pct")}, select=True)
    tickers = list(frame["ticker"])
    row = picked[0] if picked else None
    if row is not None and row < len(tickers) and st.session_state.get("_position_row") != row:
        st.session_state["position_pick"] = tickers[row]  # a newly selected row drives the pick
    st.session_state["_position_row"] = row
    if st.session_state.get("position_pick") not in tickers:
        st.session_state.pop("position_pick", None)  # the position closed since
    ticker = st.selectbox("Position", tickers, key="position_pick")
    row = frame[frame["ticker"] == ticker].iloc[0]
    history = views.position_history(source, ticker)
    bars = views.bars_frame(source, ticker)
    if bars.empty:
        st.info(f"No bars of {ticker} were kept by the paper run (they are written from this "
                f"version on).")
    else:
        levels = None if not history.empty else {"stop": row["stop"], "target": row["target"],
                                                 "trailing_stop": row["trailing_stop"]}
        st.plotly_chart(figures.price_figure(bars, f"{ticker}: entry, stop, target, trailing",
                                             history if not history.empty else None,
                                             entry=(row["entry_date"], row["entry_price"]),
                                             levels=levels),
                        width="stretch", key="position_chart")
    st.subheader(f"{ticker}: daily marks")
    table(history, f"position_{ticker}_history",
          {"close": MONEY, "stop": MONEY, "target": MONEY, "trailing_stop": MONEY,
           "value": MONEY})


# ---------------------------------------------------------------- trades
def trades_tab(source: Source) -> None:
    """Closed trades with filters, statistics by exit reason, P&L distribution, a trade's chart."""
    frame = views.trades_frame(source)
    if frame.empty:
        st.info("No closed trade yet.")
        return
    first, last = date.fromisoformat(frame["exit_date"].min()), date.fromisoformat(
        frame["exit_date"].max())
    cols = st.columns(3)
    span = cols[0].date_input("Exit between", value=(first, last), key="trade_dates")
    tickers = cols[1].multiselect("Ticker", sorted(frame["ticker"].unique()), key="trade_tickers")
    reasons = cols[2].multiselect("Exit reason", sorted(frame["exit_reason"].unique()),
                                  key="trade_reasons")
    start, end = (tuple(span) + (None, None))[:2] if isinstance(span, (tuple, list)) else (
        span, span)
    shown = views.filter_trades(frame, start, end, tickers, reasons)
    st.caption(f"{len(shown)} of {len(frame)} closed trades")
    picked = table(shown, "trades", {"entry_price": MONEY, "exit_price": MONEY, "pnl": MONEY,
                                     "pnl_pct": PCT}, select=True)
    st.subheader("Statistics")
    table(views.trade_statistics(shown), "trade_statistics",
          {"win_rate": PCT, "average_pnl": MONEY, "expectancy_pct": PCT})
    if not shown.empty:
        st.plotly_chart(figures.pnl_histogram(shown), width="stretch", key="pnl_hist")
        trade_chart(source, shown.iloc[picked[0] if picked else 0])


def trade_chart(source: Source, trade: pd.Series) -> None:
    """The selected trade's bars with its entry and exit, when the paper run kept them."""
    bars = views.bars_frame(source, trade["ticker"])
    label = f"{trade['ticker']} {trade['entry_date']} -> {trade['exit_date']}"
    if bars.empty:
        st.caption(f"No bars kept for {label} (charts cover held and recently closed trades).")
        return
    st.plotly_chart(figures.price_figure(bars, label, entry=(trade["entry_date"],
                                                            trade["entry_price"]),
                                         exit_=(trade["exit_date"], trade["exit_price"])),
                    width="stretch", key="trade_chart")


# ---------------------------------------------------------------- signals
def signals_tab(source: Source, dash: DashboardConfig) -> None:
    """Recent days' candidates and signals (taken / rejected with rule and sentence), reasons."""
    if source.days:
        count = st.number_input("Days shown", 1, max(1, len(source.days)),
                                min(dash.signal_days, len(source.days)), key="signal_days")
        frame = views.signals_frame(source.days, int(count))
        every = st.checkbox("Every candidate (not only the entry signals)", value=False,
                            key="signals_all")
        if not every:
            frame = frame[frame["signal"] | frame["status"].isin(["taken", "rejected"])]
        st.caption(f"{int((frame['status'] == 'taken').sum())} taken, "
                   f"{int((frame['status'] == 'rejected').sum())} rejected")
        table(frame.reset_index(drop=True), "signals", {"close": MONEY})
    else:
        st.info("No candidates recorded: paper runs write them (a backtest folder keeps only "
                "its rejections).")
    st.subheader("Rejection reasons")
    as_of = source.as_of or date.today()
    window = st.number_input("Over the last N days", 1, 3650, 30, key="reject_window")
    counts = views.rejection_counts(source.rejections, as_of - timedelta(days=int(window)), as_of)
    table(counts, "rejection_reasons")


# ---------------------------------------------------------------- risk
def risk_tab(source: Source, dash: DashboardConfig) -> None:
    """Each risk limit against its cap, sector bars, risk per position; near breaches flagged."""
    limits = views.risk_limits(source, dash.near_limit)
    limits["status"] = ["NEAR LIMIT" if n else "ok" for n in limits["near_breach"]]
    near = limits[limits["near_breach"]]
    for name in near["limit"]:
        st.warning(f"{name} is at {dash.near_limit:.0%} or more of its limit")
    styled = limits.drop(columns=["near_breach"])
    st.dataframe(styled.style.apply(lambda r: ["background-color: #fde2e2" if r["status"] !=
                                               "ok" else "" for _ in r], axis=1)
                 .format({"used": "{:.4f}", "cap": "{:.4f}", "usage": "{:.1%}"}, na_rep="n/a"),
                 hide_index=True, width="stretch", key="table_risk_limits")
    st.download_button(f"Download risk_limits.csv ({len(styled)} rows)",
                       styled.to_csv(index=False).encode("utf-8"), file_name="risk_limits.csv",
                       mime="text/csv", key="csv_risk_limits")
    cap = source.strategy.get("risk", {}).get("max_sector_exposure")
    exposure = views.sector_exposure(source)
    if exposure:
        st.plotly_chart(figures.sector_figure(exposure, cap), width="stretch",
                        key="sector_chart")
    st.subheader("Risk per position (to the resting stop)")
    frame = views.positions_frame(source)
    table(frame[["ticker", "sector", "value", "stop", "trailing_stop", "to_stop_pct",
                 "risk_to_stop"]], "risk_per_position",
          {"value": MONEY, "stop": MONEY, "trailing_stop": MONEY, "to_stop_pct": PCT,
           "risk_to_stop": MONEY})


# ---------------------------------------------------------------- performance
def performance_tab(source: Source) -> None:
    """Equity against the benchmark, drawdown, monthly returns heatmap, the R8 metrics."""
    equity = views.equity_frame(source)
    if equity.empty:
        st.info("No session has run yet.")
        return
    bench = views.benchmark_frame(source)
    name = ((source.bars or {}).get("benchmark") or {}).get("ticker", "benchmark")
    st.plotly_chart(figures.equity_figure(equity, bench, name), width="stretch",
                    key="perf_equity")
    if bench.empty and source.summary:
        b = source.summary.get("benchmark") or {}
        st.caption(f"Benchmark {b.get('ticker')}: total return {_pct(b.get('total_return'))} "
                   f"over the same window (summary.json).")
    st.plotly_chart(figures.drawdown_figure(equity), width="stretch", key="perf_dd")
    st.plotly_chart(figures.monthly_heatmap(views.monthly_table(source)),
                    width="stretch", key="perf_monthly")
    metrics = views.metrics_table(source)
    metrics["value"] = [_metric_text(k, v) for k, v in zip(metrics["metric"], metrics["value"],
                                                           strict=True)]
    table(metrics, "metrics")


def _metric_text(name: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "n/a"
    if name in ("total return", "max drawdown", "win rate"):
        return _pct(value)
    if name in ("average win", "average loss", "expectancy per trade", "realized P&L"):
        return _money(value)
    return f"{value:.2f}" if isinstance(value, float) else str(value)
