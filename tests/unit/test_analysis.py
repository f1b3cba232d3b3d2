"""analyze-trade: one ticker's numbers on hand-built markets, its rendering, chart, trades.csv."""
from __future__ import annotations

import io
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from momentum.core.config import StrategyConfig
from momentum.core.domain import Asset, AssetType, ExitReason, Position, RejectReason, Trade
from momentum.core.errors import DataError, StateError, TickerError
from momentum.core.money import floor_qty, to_money
from momentum.reports import backtest as backtest_report
from momentum.reports.analysis import analyze_ticker
from momentum.reports.analysis_records import TradeRow
from momentum.reports.analysis_view import (TRADES_HEADER, analysis_day, analysis_figure_html,
                                            analysis_renderables, read_trades_csv,
                                            run_analysis_command, verdict)
from momentum.reports.backtest import trades_csv
from momentum.run.engine import EngineState
from tests.helpers import bar_frame, crypto, make_market, stock, weekdays

CFG = StrategyConfig()  # defaults: RSI 50-70, surge 1.5, stop 8%, risk 1%, gross 25%, sector 15%
DAYS = weekdays(date(2023, 1, 2), 200)
DAY = DAYS[-1]


def zigzag(up: float, n: int = 200, surge: float = 1.0, start: float = 50.0):
    """Up `up` on odd bars, down 1% on even ones: RSI stays in the 60s, M grows with `up`."""
    close = [start]
    for k in range(1, n):
        close.append(close[-1] * (1 + up if k % 2 else 0.99))
    c = np.array(close)
    o = np.concatenate(([start], c[:-1]))
    volume = np.full(n, 1e6)
    volume[-1] *= surge
    return bar_frame(DAYS[-n:], o, np.maximum(o, c) * 1.002, np.minimum(o, c) * 0.998, c, volume)


def market(extra: dict | None = None):
    """S0..S9 (S9 strongest, the only one with a volume surge on DAY), three sectors."""
    items = {stock(f"S{i}", sector=f"Sec{i % 3}"): zigzag(0.010 + 0.001 * i,
                                                          surge=2.0 if i == 9 else 1.0)
             for i in range(10)}
    items.update(extra or {})
    return make_market(items)


MARKET = market()
VIEW = MARKET.until(DAY)
CLOSE_S9 = float(MARKET.history("S9").close[-1])


def position(ticker: str, qty: str, entry: str, last_close: float, sector: str,
             trail: str | None = None, pending: ExitReason | None = None) -> Position:
    f = D(entry)
    return Position(ticker=ticker, asset_type=AssetType.STOCK, sector=sector,
                    entry_date=DAYS[-10], entry_price=f, quantity=D(qty), entry_commission=D(0),
                    stop_price=f * D("0.92"), target_price=f * D("1.2"), highest_high=f * D("1.3"),
                    trailing_stop=None if trail is None else D(trail),
                    last_close=to_money(last_close), last_bar_date=DAY, pending_exit=pending)


def state_holding(*positions: Position, cash: str = "85000") -> EngineState:
    state = EngineState.start(D(cash))
    state.initial_capital = D("100000")
    for p in positions:
        state.portfolio.positions[p.ticker] = p
    state.last_step = DAY
    return state


def text_of(renderables) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=160, no_color=True, force_terminal=False)
    for r in renderables:
        console.print(r)
    return buf.getvalue()


# ---------------------------------------------------------------- a candidate that is bought
def test_candidate_with_entry_signal_passes_risk_with_the_r63_size():
    a = analyze_ticker("s9", VIEW, None, CFG)
    assert (a.ticker, a.bar_date, a.indicators.bar_count) == ("S9", DAY, 200)
    assert len(a.bars) == 10 and a.bars[-1].close == CLOSE_S9 and a.bars[-1].volume == 2e6
    assert a.eligible and all(c.passed for c in a.eligibility)
    assert [c.rule for c in a.eligibility] == ["R3.0", "R2.7", "R2.7", "R3.1", "R3.1"]
    assert (a.scan.candidate, a.scan.rank, a.scan.score, a.scan.ref_size) == (True, 1, 95.0, 10)
    assert a.entry.signal and [c.passed for c in a.entry.checks] == [True, True]
    assert a.entry.checks[1].value == 2.0  # volume twice the 20-bar mean (R2.6)
    risk = a.risk
    assert risk.considered and risk.approved and risk.rejection is None
    # R6.3: floor(100000 * 0.01 / (close * 0.08)) = floor(102.95...) = 102
    assert risk.quantity == D(102) == floor_qty(D(1000) / (to_money(CLOSE_S9) * D("0.08")),
                                                AssetType.STOCK)
    assert [c.rule for c in risk.checks] == ["R6.1", "R6.2", "R6.3", "R6.4", "R6.5", "R6.6"]
    assert all(c.passed for c in risk.checks)
    assert risk.checks[3].value == pytest.approx(102 * CLOSE_S9 / 100000)
    assert [lv.price for lv in a.levels][:2] == [to_money(CLOSE_S9) * D("0.92"),
                                                  to_money(CLOSE_S9) * D("1.2")]
    assert verdict(a) == "would buy 102 at the next open"


def test_candidate_without_surge_has_no_signal_and_risk_is_a_what_if():
    a = analyze_ticker("S8", VIEW, None, CFG)
    assert a.scan.candidate and a.scan.rank == 2
    assert not a.entry.signal
    assert [c.passed for c in a.entry.checks] == [True, False]
    assert not a.risk.considered and a.risk.approved  # sized anyway, but the engine never asks
    assert a.what_if_levels == ()
    assert verdict(a) == "no entry signal"


def test_eligible_asset_below_threshold_says_so():
    a = analyze_ticker("S5", VIEW, None, CFG)
    assert a.eligible and not a.scan.candidate and a.scan.rank is None
    assert a.scan.score == 55.0
    assert a.scan.reasons == ("score 55.0 is below the threshold 70 (R3.4)",)


# ---------------------------------------------------------------- risk against a held book
def test_risk_rejects_by_gross_exposure_when_the_state_already_holds_exposure():
    close_s8 = float(MARKET.history("S8").close[-1])
    held = position("S8", "136", "100", close_s8, "Sec2")  # ~15% of equity, another sector
    a = analyze_ticker("S9", VIEW, state_holding(held), CFG)
    risk = a.risk
    assert risk.considered and not risk.approved
    assert risk.rejection.rule == "R6.4"
    assert risk.rejection.reason is RejectReason.PORTFOLIO_EXPOSURE
    assert "gross exposure" in risk.rejection.detail
    assert [c.passed for c in risk.checks][:4] == [True, True, True, False]
    assert risk.checks[1].value == 1  # one open position (R6.2)
    equity = D(85000) + D(136) * to_money(close_s8)
    assert risk.equity == equity
    gross = D(136) * to_money(close_s8) + risk.quantity * to_money(CLOSE_S9)
    assert risk.checks[3].value == pytest.approx(float(gross / equity))
    assert gross / equity > D("0.25")
    assert "rejected by R6.4" in verdict(a)
    text = text_of(analysis_renderables(a))
    assert "portfolio_exposure (R6.4)" in text and "✘" in text


# ---------------------------------------------------------------- a held position
def test_held_position_shows_its_levels_and_distances():
    pos = position("S9", "100", "100", CLOSE_S9, "Sec0", trail="111.5",
                   pending=ExitReason.MOMENTUM_FADE)
    a = analyze_ticker("S9", VIEW, state_holding(pos), CFG)
    held = a.held
    assert held.trailing_active and held.last_close == to_money(CLOSE_S9)
    prices = {lv.name: lv.price for lv in held.levels}
    assert prices == {"stop": D("92.00"), "target": D("120.0"), "trailing stop": D("111.5"),
                      "protective stop": D("111.5")}
    stop = next(lv for lv in held.levels if lv.name == "stop")
    assert stop.distance == pytest.approx(92 / CLOSE_S9 - 1)
    assert a.scan.reasons == ("already held or ordered (R3.6)",)
    assert a.risk is None  # R3.6: never a signal while held
    assert [(t.ticker, t.exit_date) for t in a.trades] == [("S9", None)]
    text = text_of(analysis_renderables(a))
    assert "pending exit: momentum_fade" in text and "protective stop" in text


def test_held_position_without_trail_shows_the_activation_level():
    pos = position("S9", "100", "100", CLOSE_S9, "Sec0")
    a = analyze_ticker("S9", VIEW, state_holding(pos), CFG)
    assert not a.held.trailing_active
    assert {lv.name: lv.price for lv in a.held.levels}["trailing activation"] == D("110.0")
    assert a.held.levels[-1].price == D("92.00")  # protective = stop while the trail is off


# ---------------------------------------------------------------- not eligible
def test_short_history_fails_r27_and_is_not_a_candidate():
    m = market({stock("NEW", sector="Sec0"): zigzag(0.03, n=60, surge=3.0)})
    a = analyze_ticker("NEW", m.until(DAY), None, CFG)
    r27 = [c for c in a.eligibility if c.rule == "R2.7"]
    assert r27[0].value == 60 and r27[0].threshold == 127 and not r27[0].passed
    assert not a.eligible and not a.scan.candidate and a.scan.score is None
    assert "bars up to the day fails (R2.7)" in a.scan.reasons


def test_crypto_is_ranked_by_adv20_and_an_etf_is_not_traded():
    etf_frame = zigzag(0.01)
    m = market({crypto("BTCUSD"): zigzag(0.02), crypto("DOGEUSD"): zigzag(0.02, start=1.0)})
    a = analyze_ticker("DOGEUSD", m.until(DAY), None, CFG.model_copy(update={
        "scanner": CFG.scanner.model_copy(update={"crypto_top_n": 1})}))
    rank = next(c for c in a.eligibility if c.rule == "R3.2")
    assert (rank.value, rank.threshold, rank.passed) == (2, 1, False)
    assert not a.eligible
    e = analyze_ticker("SPY", market({Asset("SPY", AssetType.ETF, "ETF"): etf_frame}).until(DAY),
                       None, CFG)
    assert e.risk is None and not e.scan.candidate
    assert e.eligibility[-1].rule == "R1.3" and not e.eligibility[-1].passed


def test_no_bar_on_the_day_fails_r30():
    m = market({stock("HALT"): zigzag(0.02, n=150).iloc[:-1]})  # last bar the day before
    a = analyze_ticker("HALT", m.until(DAY), None, CFG)
    assert not a.eligibility[0].passed and a.eligibility[0].value == DAYS[-2]
    assert not a.scan.candidate and a.indicators.bar_date == DAYS[-2]


# ---------------------------------------------------------------- bad tickers
def test_unknown_ticker_names_it_with_a_suggestion():
    m = market({stock("AAPL"): zigzag(0.01)})
    with pytest.raises(DataError, match=r"unknown ticker 'APPL'.*did you mean AAPL\?"):
        analyze_ticker("appl", m.until(DAY), None, CFG)


def test_invalid_symbol_is_a_ticker_error():
    with pytest.raises(TickerError):
        analyze_ticker("../etc", VIEW, None, CFG)


# ---------------------------------------------------------------- trade history, chart, csv
TRADES = [
    Trade("S9", AssetType.STOCK, "Sec0", DAYS[-60], D("80.08"), D("100"), D("0"),
          DAYS[-40], D("90.5"), D("0"), ExitReason.PROFIT_TARGET),
    Trade("S9", AssetType.STOCK, "Sec0", DAYS[-20], D("100.1"), D("50"), D("0")),
    Trade("S8", AssetType.STOCK, "Sec2", DAYS[-30], D("70"), D("10"), D("0.7")),
]


def test_read_trades_csv_round_trips_a_backtest_trades_file(tmp_path: Path):
    path = tmp_path / "trades.csv"
    path.write_text(trades_csv(TRADES), encoding="utf-8")
    rows = read_trades_csv(path)
    assert rows == [TradeRow.of(t) for t in TRADES]
    assert rows[0].pnl == D("1042.00") and rows[1].exit_date is None


def test_read_trades_csv_expects_the_header_the_backtest_writes():
    assert TRADES_HEADER == backtest_report.TRADES_HEADER


def test_read_trades_csv_rejects_a_bad_header_and_a_bad_row(tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text("date,equity,cash\n2024-01-02,1,1\n", encoding="utf-8")
    with pytest.raises(DataError, match="not a trades.csv"):
        read_trades_csv(bad)
    bad.write_text(trades_csv(TRADES).replace("80.08", "eighty"), encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.csv:2"):
        read_trades_csv(bad)
    with pytest.raises(DataError, match="no such file"):
        read_trades_csv(tmp_path / "missing.csv")


def test_trade_history_is_filtered_to_the_ticker_and_rendered():
    a = analyze_ticker("S9", VIEW, None, CFG, trades=[TradeRow.of(t) for t in TRADES])
    assert [t.entry_date for t in a.trades] == [DAYS[-60], DAYS[-20]]
    text = text_of(analysis_renderables(a))
    assert "profit_target" in text and "1,042.00" in text


def test_html_chart_is_written_with_the_ticker_and_levels(tmp_path: Path):
    a = analyze_ticker("S9", VIEW, None, CFG, trades=[TradeRow.of(t) for t in TRADES])
    out = analysis_figure_html(a, MARKET.history("S9"), tmp_path / "charts" / "s9.html")
    page = out.read_text(encoding="utf-8")
    assert out.exists() and "S9" in page and "<script" in page and "plotly" in page.lower()
    assert "stop (if filled at the close)" in page  # the what-if levels of a would-be entry


# ---------------------------------------------------------------- the command
class _NoPaper:
    def load(self):
        raise StateError("no paper portfolio in snapshots/")


class _HeldPaper:
    def __init__(self, state: EngineState) -> None:
        self.engine = state

    def load(self):
        return self


class _Strategy:
    def __init__(self, paper) -> None:
        self.config = CFG
        self.paper = paper

    def load_market(self, end: date | None = None):
        return MARKET


def test_run_analysis_command_prints_the_analysis_and_writes_the_chart(tmp_path: Path):
    buf = io.StringIO()
    console = Console(file=buf, width=160, no_color=True, force_terminal=False)
    rc = run_analysis_command(_Strategy(_NoPaper()), "S9", None, None, tmp_path / "a.html",
                              console)
    text = buf.getvalue()
    assert rc == 0
    assert "No paper portfolio used" in text and "Candidate: yes" in text
    assert "Verdict: approved, 102 S9" in text and "Chart written to" in text
    assert (tmp_path / "a.html").exists()


def test_run_analysis_command_uses_the_paper_state_and_a_backtest_folder(tmp_path: Path):
    (tmp_path / "trades.csv").write_text(trades_csv(TRADES), encoding="utf-8")
    pos = position("S9", "100", "100", CLOSE_S9, "Sec0")
    buf = io.StringIO()
    console = Console(file=buf, width=160, no_color=True, force_terminal=False)
    rc = run_analysis_command(_Strategy(_HeldPaper(state_holding(pos))), "S9", DAY,
                              tmp_path, None, console)
    text = buf.getvalue()
    assert rc == 0 and "Held: 100" in text and str(tmp_path / "trades.csv") in text


def test_analysis_day_steps_back_from_a_weekend():
    saturday = date(2023, 10, 7)
    assert analysis_day(MARKET, saturday) == DAY and analysis_day(MARKET, None) == DAY
    with pytest.raises(DataError, match="no trading day with stock bars"):
        analysis_day(MARKET, date(2022, 1, 3))
