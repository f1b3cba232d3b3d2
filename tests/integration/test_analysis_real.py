"""analyze-trade on real data (../shared/data): AMD on 2019-06-28, trades.csv, a chart."""
from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console

from momentum.core.config import StrategyConfig
from momentum.core.errors import StateError
from momentum.core.money import floor_qty, to_money
from momentum.data.csv_source import CsvDirectorySource
from momentum.data.market import Market
from momentum.reports.analysis import analyze_ticker
from momentum.reports.analysis_records import TradeRow
from momentum.reports.analysis_view import (analysis_figure_html, analysis_renderables,
                                            read_trades_csv, run_analysis_command)
from momentum.reports.backtest import write_backtest_outputs
from momentum.run.backtester import run_backtest

DAY = date(2019, 6, 28)
CFG = StrategyConfig()


@pytest.fixture(scope="module")
def market(shared_data: Path) -> Market:
    return Market.load(CsvDirectorySource(shared_data), end=date(2019, 12, 31))


def test_amd_is_the_top_candidate_on_2019_06_28_without_a_volume_surge(market: Market):
    a = analyze_ticker("AMD", market.until(DAY), None, CFG)
    assert (a.asset.sector, a.eligible) == ("Information Technology", True)
    assert all(c.passed for c in a.eligibility)
    assert (a.scan.candidate, a.scan.rank) == (True, 1) and round(a.scan.score, 1) == 99.8
    assert a.indicators.bar_date == DAY and a.bars[-1].day == DAY and len(a.bars) == 10
    rsi, surge = a.entry.checks
    assert (rsi.passed, surge.passed, a.entry.signal) == (True, False, False)
    assert surge.value < 1.5
    assert a.risk.considered is False  # no signal: the risk block is a what-if
    close = to_money(a.indicators.close)
    assert a.risk.quantity == floor_qty(Decimal(1000) / (close * Decimal("0.08")),
                                        a.asset.asset_type)
    assert a.what_if_levels == ()


def test_qcom_has_an_entry_signal_and_would_be_bought(market: Market, shared_data: Path):
    a = analyze_ticker("QCOM", market.until(DAY), None, CFG)
    assert (a.scan.candidate, a.scan.rank, a.scan.ref_size, a.scan.reasons) == (True, 4, 225, ())
    # R3.3: 221 of the 225 eligible stocks have a lower M: 50 * (2*221 + 1) / 225 = 98.44
    assert a.scan.score == 50 * (2 * 221 + 1) / 225
    rsi, surge = a.entry.checks
    assert (rsi.passed, surge.passed, a.entry.signal) == (True, True, True)
    assert 50 <= rsi.value <= 70
    # R2.6 by hand from the CSV: 29,217,500 shares on 2019-06-28 / mean of the 20 sessions before
    rows = (shared_data / "stocks" / "QCOM.csv").read_text().splitlines()[1:]
    i = next(k for k, line in enumerate(rows) if line.startswith("2019-06-28,"))
    prior = [float(line.split(",")[5]) for line in rows[i - 20:i]]
    assert float(rows[i].split(",")[5]) == 29217500
    assert surge.value == pytest.approx(29217500 / (sum(prior) / 20), rel=1e-12)
    assert surge.value >= 1.5
    # R6.3 on an empty book: floor(100,000 * 1% / (72.67414856 * 8%)) = floor(172.0006) = 172
    close = Decimal("72.67414856")
    assert (a.risk.considered, a.risk.rejection, a.risk.close, a.risk.quantity) == \
        (True, None, close, Decimal(172))
    assert a.risk.approved is True
    assert a.risk.order.reserved_cash == 172 * close * Decimal("1.001")     # R6.6 reserve
    assert [lv.name for lv in a.levels][:2] == ["stop (if filled at the close)",
                                                "target (if filled at the close)"]


def test_backtest_trades_csv_reads_back_and_feeds_the_history_and_chart(market: Market,
                                                                        tmp_path: Path):
    result = run_backtest(market, CFG, date(2019, 1, 1), DAY)
    paths = write_backtest_outputs(result, market, tmp_path / "bt", exit_config=CFG.signals.exit)
    rows = read_trades_csv(paths["trades.csv"])
    assert rows == [TradeRow.of(t) for t in result.state.portfolio.trades()]
    traded = rows[0].ticker
    a = analyze_ticker(traded, market.until(DAY), None, CFG, trades=rows)
    assert a.trades and all(t.ticker == traded for t in a.trades)
    page = analysis_figure_html(a, market.history(traded), tmp_path / "chart.html").read_text()
    assert traded in page and "entry" in page


class _Strategy:
    """The parts of MomentumStrategy that run_analysis_command uses."""

    def __init__(self, market: Market) -> None:
        self.config, self._market = CFG, market
        self.paper = self

    def load(self):
        raise StateError("no paper portfolio in snapshots/")

    def load_market(self, end: date | None = None) -> Market:
        return self._market


def test_command_prints_amd_and_writes_its_chart(market: Market, tmp_path: Path):
    buf = io.StringIO()
    console = Console(file=buf, width=140, no_color=True, force_terminal=False)
    assert run_analysis_command(_Strategy(market), "amd", DAY, None, tmp_path / "amd.html",
                                console) == 0
    text = buf.getvalue()
    assert "AMD: stock, Information Technology" in text
    assert "score 99.8, rank 1 of" in text and "Candidate: yes" in text
    assert "AMD" in (tmp_path / "amd.html").read_text(encoding="utf-8")
    assert len(analysis_renderables(analyze_ticker("AMD", market.until(DAY), None, CFG))) > 8
