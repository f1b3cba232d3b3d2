"""The backtest output folder on real data (../shared/data, 2018-2019): files, sums, round-trips."""
from __future__ import annotations

import csv
import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from plotly.offline import get_plotlyjs

from momentum.core.config import StrategyConfig, load_config
from momentum.core.domain import AssetType, ExitReason, RejectReason
from momentum.core.files import write_atomic
from momentum.core.money import to_money
from momentum.data.csv_source import CsvDirectorySource
from momentum.data.market import Market
from momentum.reports.backtest import write_backtest_outputs
from momentum.reports.report_charts import unpack_plotly_bundle
from momentum.run.backtester import BacktestResult, run_backtest

START, END = date(2018, 1, 1), date(2019, 12, 31)
FILES = {"trades.csv", "equity.csv", "rejections.csv", "summary.json", "report.html"}


class Run:
    def __init__(self, market: Market, cfg: StrategyConfig, result: BacktestResult,
                 out: Path, paths: dict[str, Path]) -> None:
        self.market, self.cfg, self.result, self.out, self.paths = market, cfg, result, out, paths


@pytest.fixture(scope="module")
def run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    market = Market.load(CsvDirectorySource(shared_data), end=END)
    cfg = load_config(None, environ={})
    result = run_backtest(market, cfg, START, END)
    out = tmp_path_factory.mktemp("backtest") / "out"
    paths = write_backtest_outputs(result, market, out, cfg.redacted())
    return Run(market, cfg, result, out, paths)


def rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def test_outputs_are_the_five_files_and_no_temp_left(run: Run):
    assert set(run.paths) == FILES
    assert {p.name for p in run.out.iterdir()} == FILES
    assert run.result.state.portfolio.trades(), "the 2018-2019 run should trade"


def test_headers_and_row_counts(run: Run):
    state = run.result.state
    header, trades = rows(run.paths["trades.csv"])
    assert header == ["ticker", "asset_type", "entry_date", "entry_price", "exit_date",
                      "exit_price", "quantity", "exit_reason", "pnl"]
    assert len(trades) == len(state.portfolio.trades())
    header, equity = rows(run.paths["equity.csv"])
    assert header == ["date", "equity", "cash"]
    assert len(equity) == len(run.result.days) == len(state.equity_curve)
    header, rejections = rows(run.paths["rejections.csv"])
    assert header == ["date", "ticker", "reason"]
    assert len(rejections) == len(state.rejections)
    assert {r["reason"] for r in rejections} <= {r.value for r in RejectReason}


def test_written_values_round_trip_exactly(run: Run):
    _, trades = rows(run.paths["trades.csv"])
    for row, t in zip(trades, run.result.state.portfolio.trades(), strict=True):
        assert (row["ticker"], row["asset_type"]) == (t.ticker, t.asset_type.value)
        assert date.fromisoformat(row["entry_date"]) == t.entry_date
        assert Decimal(row["entry_price"]) == t.entry_price
        assert Decimal(row["quantity"]) == t.quantity
        if t.is_open:
            assert row["exit_date"] == row["exit_price"] == row["exit_reason"] == row["pnl"] == ""
        else:
            assert Decimal(row["exit_price"]) == t.exit_price and Decimal(row["pnl"]) == t.pnl
            assert ExitReason(row["exit_reason"]) is t.exit_reason
    _, equity = rows(run.paths["equity.csv"])
    for row, p in zip(equity, run.result.state.equity_curve, strict=True):
        assert date.fromisoformat(row["date"]) == p.day
        assert (Decimal(row["equity"]), Decimal(row["cash"])) == (p.equity, p.cash)
    _, rejections = rows(run.paths["rejections.csv"])
    assert [(r["date"], r["ticker"], r["reason"]) for r in rejections] == [
        (x.day.isoformat(), x.ticker, x.reason.value) for x in run.result.state.rejections]


def last_close(market: Market, ticker: str, day: date) -> Decimal:
    h = market.history(ticker)
    i = int(np.searchsorted(h.dates, np.datetime64(day, "D"), side="right")) - 1
    return to_money(float(h.close[i]))


def test_pnl_of_trades_csv_adds_up_to_the_final_equity(run: Run):
    """final equity = initial + realized pnl + sum over open positions of
    (last close - entry) * qty - entry commission: cash pays entry notional + commission and
    receives exit notional - commission; open positions are marked at their last close."""
    _, trades = rows(run.paths["trades.csv"])
    _, equity = rows(run.paths["equity.csv"])
    realized = sum((Decimal(r["pnl"]) for r in trades if r["pnl"]), Decimal(0))
    unrealized = Decimal(0)
    for r in (r for r in trades if not r["exit_date"]):
        entry, qty = Decimal(r["entry_price"]), Decimal(r["quantity"])
        commission = to_money(run.cfg.trading.commission(AssetType(r["asset_type"]))) * entry * qty
        close = last_close(run.market, r["ticker"], run.result.end)
        unrealized += (close - entry) * qty - commission
    initial = to_money(run.cfg.risk.initial_capital)
    net = Decimal(equity[-1]["equity"]) - initial
    assert abs(realized + unrealized - net) <= Decimal("1e-9")


def test_report_html_is_self_contained_with_a_chart_per_traded_ticker(run: Run):
    page = run.paths["report.html"].read_text(encoding="utf-8")
    # plotly.js is embedded once, compressed; the charts are drawn from one JSON block.
    assert page.count('id="plotly-js"') == 1 and unpack_plotly_bundle(page) == get_plotlyjs()
    assert not re.search(r"<script[^>]+src=", page)  # nothing fetched: no CDN
    tickers = {t.ticker for t in run.result.state.portfolio.trades()}
    for ticker in tickers:
        assert page.count(f'<div id="price-{ticker}"') == 1
    # equity, drawdown, monthly heatmap + one price chart per traded ticker
    block = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page,
                      re.S)
    assert block is not None and page.count('id="report-data"') == 1
    charts = json.loads(block.group(1))["charts"]
    prices = {f"price-{t}" for t in tickers}
    assert set(charts) == {"equity", "drawdown", "monthly-returns"} | prices
    for div in ("equity", "drawdown", "monthly-returns"):
        assert f'id="{div}"' in page


def test_summary_json_keys_and_counts(run: Run):
    summary = json.loads(run.paths["summary.json"].read_text(encoding="utf-8"))
    assert set(summary) == {
        "start", "end", "steps", "initial_capital", "final_equity", "final_cash", "net_pnl",
        "realized_pnl", "unrealized_pnl", "total_return", "cagr", "sharpe", "sortino",
        "max_drawdown", "average_exposure", "trades", "rejections", "benchmark", "config"}
    trades = run.result.state.portfolio.trades()
    assert summary["steps"] == len(run.result.days)
    assert summary["trades"]["closed"] == sum(1 for t in trades if not t.is_open)
    assert summary["trades"]["open_positions"] == sum(1 for t in trades if t.is_open)
    assert set(summary["trades"]["exit_reasons"]) == {r.value for r in ExitReason}
    assert sum(summary["trades"]["exit_reasons"].values()) == summary["trades"]["closed"]
    assert summary["rejections"]["total"] == len(run.result.state.rejections)
    assert summary["benchmark"]["ticker"] == "SPY" and summary["benchmark"]["reason"] is None
    assert Decimal(summary["final_equity"]) == run.result.state.equity_curve[-1].equity
    parts = Decimal(summary["realized_pnl"]) + Decimal(summary["unrealized_pnl"])
    assert abs(Decimal(summary["net_pnl"]) - parts) <= Decimal("1e-9")
    assert summary["config"]["risk"]["initial_capital"] == run.cfg.risk.initial_capital


def test_write_atomic_replaces_and_leaves_no_temp_file(tmp_path: Path):
    target = tmp_path / "x.csv"
    target.write_text("old", encoding="utf-8")
    write_atomic(target, "new\n")
    assert target.read_text(encoding="utf-8") == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"]
