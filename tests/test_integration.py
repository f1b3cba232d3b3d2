"""Integration scenarios of spec step 7.2.6: the whole system, each run checked against numbers.

1. a one-year backtest on the synthetic market (pinned trades and equity, accounting identities);
2. five paper sessions on a small hand-built CSV market, every number derived by hand below;
3. one position's whole life: signal, entry, trailing stop, exit (backtest path);
4. risk limits and the daily-loss breaker through `run_day`;
5. API failures and missing or corrupt data: the day completes and says what was left out;
6. paper state across process restarts equals one uninterrupted run.

The hand-built market (tests 2, 3, 5, 6): LEAD zigzags up (+1.5% / -1.0% on alternate days) for
139 sessions, then closes at 48.40 on Mon 2024-03-04 (D1) on twice its usual volume; four weaker
zigzags (constant volume, so never a volume surge) complete the eligible set. On D1 LEAD has the
best composite momentum of the five, so its score is 50 * (2*4 + 1) / 5 = 90 (R3.3), its RSI14 is
inside [50, 70] and its surge ratio is 2.0: the only entry signal. Size (R6.3) with equity
100,000: floor(100000 * 0.01 / (48.40 * 0.08)) = floor(258.26) = 258 shares. It fills at the open
of Tue D2, 48.60, plus 0.1% slippage: F = 48.6486; stop F*0.92 = 44.756712, target F*1.20 =
58.37832, trailing stop active once the highest high reaches F*1.10 = 53.51346 (R4.2, R4.3).
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pytest
import yaml

import main as cli
from logging_config import reset_logging
from momentum.core.calendar import nyse_sessions
from momentum.core.clock import FixedClock
from momentum.core.config import DEFAULT_CONFIG_PATH, StrategyConfig
from momentum.core.domain import AssetType, ExitReason, Position, RejectReason, Side
from momentum.core.errors import DataIncomplete
from momentum.core.money import to_money
from momentum.data.indicators import compute_indicators
from momentum.reports.backtest import equity_csv, rejections_csv, trades_csv
from momentum.rules.metrics import summarize
from momentum.run.engine import EngineState, Rules, run_day
from momentum.run.state import StateStore
from momentum.run.state_codec import encode_state
from tests.conftest import ROOT
from tests.helpers import bar_frame, make_market, stock, weekdays

D1, D2, D3, D4, D5 = SESSIONS = [date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6),
                                 date(2024, 3, 7), date(2024, 3, 8)]
LEAD = "LEAD"
HISTORY = 139                       # sessions before D1: 140 bars up to D1 (R2.7 needs 127)
LEAD_D1 = (47.48, 48.55, 47.30, 48.40)         # open, high, low, close of LEAD on D1
# (open, high, low, close) of LEAD on D2..D5
HOLD_ROWS = [(48.60, 49.30, 48.20, 49.10), (49.00, 49.80, 48.70, 48.85),
             (48.90, 50.40, 48.80, 50.20), (50.10, 50.90, 49.70, 49.95)]
EXIT_ROWS = [(48.60, 49.30, 48.20, 49.10),   # entry bar: highest high 49.30, no trail yet
             (49.20, 54.00, 49.00, 53.60),   # high 54 >= 53.51346: trail 54 * 0.92 = 49.68
             (53.70, 56.50, 53.20, 55.90),   # low 53.20 > 49.68; trail ratchets to 51.98
             (55.00, 55.20, 51.50, 52.00)]   # low 51.50 <= 51.98: trailing stop at 51.98
FILLERS = {"BETA": (60.0, 0.012, "Health Care"), "GAMA": (25.0, 0.011, "Financials"),
           "DELT": (80.0, 0.0105, "Energy"), "EPSI": (40.0, 0.010, "Industrials")}

QTY = D(258)
ENTRY = D("48.60") * D("1.001")                 # 48.6486
STOP, TARGET = ENTRY * D("0.92"), ENTRY * D("1.20")
CAPITAL = D(100000)


@pytest.fixture(autouse=True)
def _run_in_tmp(tmp_path, monkeypatch):
    """Relative paths (logs/, reports/, output/) land in tmp_path, never in the checkout."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TIINGO_API_KEY", raising=False)
    monkeypatch.delenv("TIINGO_BASE_URL", raising=False)
    yield
    reset_logging()   # main() and setup_logging() attach file handlers under tmp_path


# ---------------------------------------------------------------- the hand-built CSV market
def zigzag(n: int, start: float, up: float, down: float = 0.01) -> list[float]:
    """Closes rounded to cents: +up on odd bars, -down on even ones."""
    closes = [start]
    for i in range(1, n):
        closes.append(round(closes[-1] * (1 + (up if i % 2 else -down)), 2))
    return closes


def zigzag_rows(closes: list[float]) -> list[tuple[float, float, float, float]]:
    """OHLC from closes: open = previous close, high/low 0.5% outside the body."""
    opens = [closes[0], *closes[:-1]]
    return [(o, round(max(o, c) * 1.005, 2), round(min(o, c) * 0.995, 2), c)
            for o, c in zip(opens, closes, strict=True)]


def market_rows(after: list[tuple]) -> dict[str, list[tuple]]:
    """ticker -> (day, open, high, low, close, volume) rows up to D5."""
    days = nyse_sessions(date(2023, 1, 1), D5)
    days = days[days.index(D1) - HISTORY:]
    lead = zigzag_rows(zigzag(HISTORY, 34.0, 0.015)) + [LEAD_D1] + list(after)
    volumes = [1e6] * len(days)
    volumes[HISTORY] = 2e6                                   # D1: a 2.0x volume surge
    out = {LEAD: [(d, *bar, v) for d, bar, v in zip(days, lead, volumes, strict=True)]}
    for ticker, (start, up, _) in FILLERS.items():
        rows = zigzag_rows(zigzag(len(days), start, up))
        out[ticker] = [(d, *bar, 1e6) for d, bar in zip(days, rows, strict=True)]
    return out


def write_market(root: Path, after: list[tuple],
                 extra: dict[str, list[tuple]] | None = None) -> Path:
    """A CSV directory in the layout of ../shared/data: meta.csv and stocks/<T>.csv."""
    rows = {**market_rows(after), **(extra or {})}
    sectors = {LEAD: "Information Technology", **{t: s for t, (_, _, s) in FILLERS.items()}}
    (root / "stocks").mkdir(parents=True)
    meta = ["ticker,asset_type,sector,market_cap"]
    for ticker, bars in sorted(rows.items()):
        meta.append(f"{ticker},stock,{sectors.get(ticker, 'Utilities')},2000000000")
        lines = ["date,open,high,low,close,volume"]
        lines += [f"{d.isoformat()},{o:.2f},{h:.2f},{lo:.2f},{c:.2f},{int(v)}"
                  for d, o, h, lo, c, v in bars]
        (root / "stocks" / f"{ticker}.csv").write_text("\n".join(lines) + "\n")
    (root / "meta.csv").write_text("\n".join(meta) + "\n")
    return root


def write_config(tmp_path: Path, name: str = "config.yaml", toy: bool = True,
                 **sections: dict) -> Path:
    """The shipped config with everything written under tmp_path (`toy`: filters fitted)."""
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["data"].update(source="synthetic", cache_dir=str(tmp_path / "cache"))
    raw["logging"].update(log_file=str(tmp_path / "logs" / "momentum_strategy.log"),
                          snapshot_dir=str(tmp_path / "snapshots"),
                          report_dir=str(tmp_path / "reports"))
    # The toy caps are 2e9 and every ADV20 is >= 1e6 shares * $25: both filters pass.
    if toy:
        raw["scanner"].update(stock_min_market_cap=1e9, stock_min_volume=1e7)
    for section, values in sections.items():
        raw[section].update(values)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return path


def csv_cells(text: str) -> list[list]:
    """The data rows of a CSV export, numbers as Decimal (files carry full Decimal text)."""
    def cell(x: str):
        try:
            return D(x)
        except ArithmeticError:
            return x
    return [[cell(x) for x in line.split(",")] for line in text.splitlines()[1:]]


def paper(config: Path, data: Path, state_dir: Path, *args: str) -> int:
    return cli.main(["paper", *args, "--config", str(config), "--data-dir", str(data),
                     "--state-dir", str(state_dir)])


def check_premises(after: list[tuple]) -> None:
    """What the scenarios rely on, checked with the indicator code itself (R2)."""
    rows = market_rows(after)
    i1 = [r[0] for r in rows[LEAD]].index(D1)
    assert i1 == HISTORY and i1 + 1 >= 127
    ind = {t: compute_indicators(np.array([r[4] for r in rs]), np.array([r[5] for r in rs]))
           for t, rs in rows.items()}
    assert 50 <= ind[LEAD].rsi14[i1] <= 70 and ind[LEAD].surge_ratio[i1] == 2.0
    assert ind[LEAD].momentum[i1] > max(ind[t].momentum[i1] for t in FILLERS)
    assert all(ind[t].surge_ratio[i1:].max() == 1.0 for t in FILLERS)   # never a surge
    assert ind[LEAD].rsi14[i1:].min() > 40                 # no momentum-fade exit while held
    assert ind[LEAD].surge_ratio[i1 + 1:].max() < 1.5      # and no second signal


# ---------------------------------------------------------------- 1. a one-year backtest
# Regression pins, not derived: FULL_* were copied from the output of this run when it was first
# recorded (commit de603ea), to catch unintended change; a deliberate rule change updates them
# and says so. The numbers checked independently are the accounting identities below and the
# R8 metrics recomputed from the equity curve with the formulas of STRATEGY.md section 8.
FULL_TRADES = 30
FULL_DAYS_HOLDING, FULL_MAX_HELD = 234, 2   # 25% gross cap: two ~12.5% positions
FULL_FINAL_EQUITY = 110197.98463290249
FULL_METRICS = {"sharpe": 1.3936081138984673, "sortino": 2.349182225625309,
                "cagr": 0.10354153660224652, "total_return": 0.10197984632902489}
FULL_DRAWDOWN = (0.03386515478628815, "2023-02-08", "2023-03-16", "2023-04-13")
FULL_REASONS = {"trailing_stop": 9, "time_exit": 8, "stop_loss": 7, "profit_target": 4, None: 2}


def test_full_backtest_2023_matches_the_pinned_golden_run(tmp_path):
    config = write_config(tmp_path, toy=False)          # the shipped rules, synthetic market
    strategy = cli.MomentumStrategy(config, mode="backtest", state_dir=tmp_path / "snapshots")
    checked, held = [], []

    def identities(day, state):
        """equity == cash + sum(qty * last close <= D), with closes read from the market."""
        view = strategy.market.until(day.day)
        marked = sum((p.quantity * to_money(view.last_bar(t).close)
                      for t, p in state.portfolio.positions.items()), D(0))
        assert day.equity == day.cash + marked == state.portfolio.equity
        assert state.equity_curve[-1].equity == day.equity
        checked.append(day.day)
        held.append(len(state.portfolio.positions))

    result = strategy.run_backtest(date(2023, 1, 1), date(2023, 12, 31), on_step=identities)
    state = result.state
    assert checked == nyse_sessions(date(2023, 1, 1), date(2023, 12, 31))
    assert len(checked) == 250 and result.steps == checked
    assert sum(n > 0 for n in held) == FULL_DAYS_HOLDING and max(held) == FULL_MAX_HELD

    trades = state.portfolio.trades()
    assert len(trades) == FULL_TRADES > 0
    assert Counter(t.exit_reason.value if t.exit_reason else None for t in trades) == FULL_REASONS
    # cash is the capital plus every fill's cash flow (R5.1, R5.6)
    # (Decimal's 28 significant digits round the last digit differently in another order)
    flows = sum(((-1 if f.side is Side.BUY else 1) * f.price * f.quantity - f.commission
                 for f in state.fills), D(0))
    assert abs(state.portfolio.cash - (CAPITAL + flows)) < D("1e-15")
    # final equity == initial + realized + unrealized (to Decimal's 28 digits)
    realized = sum((t.pnl for t in trades if t.pnl is not None), D(0))
    unrealized = sum((p.unrealized_pnl for p in state.portfolio.positions.values()), D(0))
    final = state.equity_curve[-1]
    assert final.day == date(2023, 12, 29)
    assert abs(final.equity - (CAPITAL + realized + unrealized)) < D("1e-15")
    assert float(final.equity) == pytest.approx(FULL_FINAL_EQUITY, rel=1e-9)

    summary = summarize(result, strategy.market)
    for key, value in FULL_METRICS.items():
        assert summary[key] is not None and math.isfinite(summary[key]), key
        assert summary[key] == pytest.approx(value, rel=1e-9), key
    dd = summary["max_drawdown"]
    assert 0 < dd["depth"] < 1 and math.isfinite(dd["depth"])
    assert dd["depth"] == pytest.approx(FULL_DRAWDOWN[0], rel=1e-9)
    assert (dd["peak_date"], dd["trough_date"], dd["recovery_date"]) == FULL_DRAWDOWN[1:]
    assert summary["total_return"] == pytest.approx(FULL_FINAL_EQUITY / 100000 - 1, rel=1e-9)
    assert D(summary["realized_pnl"]) == realized and D(summary["unrealized_pnl"]) == unrealized
    assert summary["trades"]["closed"] == FULL_TRADES - FULL_REASONS[None]
    check_metrics_by_hand(summary, [float(p.equity) for p in state.equity_curve],
                          [p.day for p in state.equity_curve])


def check_metrics_by_hand(summary: dict, equity: list[float], days: list[date]) -> None:
    """R8 from the equity curve with the standard library: Sharpe, CAGR, max drawdown."""
    import statistics
    returns = [b / a - 1 for a, b in zip(equity, equity[1:])]
    sharpe = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(252)
    assert summary["sharpe"] == pytest.approx(sharpe, rel=1e-9)
    years = (days[-1] - days[0]).days / 365.25
    assert summary["cagr"] == pytest.approx((equity[-1] / equity[0]) ** (1 / years) - 1, rel=1e-9)
    peak, depth = equity[0], 0.0
    for e in equity:
        peak = max(peak, e)
        depth = max(depth, (peak - e) / peak)
    assert summary["max_drawdown"]["depth"] == pytest.approx(depth, rel=1e-9)


# ---------------------------------------------------------------- 2. five paper sessions
def expected_hold_days() -> list[tuple[D, D]]:
    """(equity, cash) after each session of the HOLD_ROWS market, by hand."""
    cash = CAPITAL - QTY * ENTRY                               # 87,448.6612 from D2 on
    closes = [D(repr(r[3])) for r in HOLD_ROWS]                # 49.10, 48.85, 50.20, 49.95
    return [(CAPITAL, CAPITAL)] + [(cash + QTY * c, cash) for c in closes]


def test_paper_trading_cycle(tmp_path):
    check_premises(HOLD_ROWS)
    data = write_market(tmp_path / "data", HOLD_ROWS)
    config, state_dir = write_config(tmp_path), tmp_path / "portfolio"
    assert paper(config, data, state_dir, "--init", "--date", str(D1)) == 0
    store = StateStore(state_dir)
    expected = expected_hold_days()
    assert [e for e, _ in expected] == [D("100000"), D("100116.4612"), D("100051.9612"),
                                        D("100400.2612"), D("100335.7612")]
    highs = [D("49.30"), D("49.80"), D("50.40"), D("50.90")]
    for i, day in enumerate(SESSIONS):
        assert paper(config, data, state_dir, "--run", "--date", str(day)) == 0
        engine = store.load().engine
        book = engine.portfolio
        assert engine.last_step == day and len(engine.equity_curve) == i + 1
        point = engine.equity_curve[-1]
        assert (point.day, point.equity, point.cash) == (day, *expected[i])
        assert book.cash == expected[i][1] and book.equity == expected[i][0]
        if i == 0:
            # D1: the decision; LEAD waits for the next open with its cash reserved (R6.6)
            assert not book.positions
            [order] = book.pending_entries
            assert (order.ticker, order.quantity, order.reference_close) == (LEAD, QTY, D("48.40"))
            assert order.quantity == int(D(100000) * D("0.01") / (D("48.40") * D("0.08")))
            assert order.reserved_cash == QTY * D("48.40") * D("1.001")   # 12,499.6872
            continue
        assert not book.pending_entries
        pos = book.positions[LEAD]
        assert (pos.entry_date, pos.entry_price, pos.quantity) == (D2, D("48.6486"), QTY)
        assert (pos.stop_price, pos.target_price) == (D("44.756712"), D("58.37832"))
        assert pos.highest_high == highs[i - 1] and pos.trailing_stop is None  # < 53.51346
        assert pos.last_close == D(repr(HOLD_ROWS[i - 1][3]))
        assert pos.unrealized_pnl == (pos.last_close - ENTRY) * QTY
    # daily P&L: 0 on the first session, then qty * (close change), the entry day from the fill
    curve = store.load().engine.equity_curve
    pnl = [b.equity - a.equity for a, b in zip(curve, curve[1:], strict=False)]
    assert pnl == [D("116.4612"), D("-64.50"), D("348.30"), D("-64.50")]
    assert pnl[0] == QTY * (D("49.10") - ENTRY)
    # a --state-dir portfolio keeps its reports beside its state (issue 17 finding 11)
    report = (state_dir / "reports" / f"daily_report_{D5}.txt").read_text()
    assert "100,335.76" in report and "87,448.66" in report
    out = tmp_path / "export"
    assert paper(config, data, state_dir, "--export", str(out)) == 0
    assert csv_cells((out / "trades.csv").read_text()) == [
        ["LEAD", "stock", "2024-03-05", ENTRY, "", "", QTY, "", ""]]
    assert csv_cells((out / "equity.csv").read_text()) == [
        [str(d), e, c] for d, (e, c) in zip(SESSIONS, expected, strict=True)]
    assert (out / "rejections.csv").read_text().splitlines() == ["date,ticker,reason"]


# ---------------------------------------------------------------- 3. entry to exit
def test_entry_to_exit_flow(tmp_path):
    check_premises(EXIT_ROWS)
    data = write_market(tmp_path / "data", EXIT_ROWS)
    config = write_config(tmp_path, trading={"commission_stock": 0.0005})
    strategy = cli.MomentumStrategy(config, data_dir=data, mode="backtest",
                                    state_dir=tmp_path / "snapshots")
    days, positions = [], []

    def record(day, state):
        days.append(day)
        positions.append(state.portfolio.positions.get(LEAD))

    result = strategy.run_backtest(D1, D5, on_step=record)
    assert [d.day for d in days] == SESSIONS
    rate = D("0.0005")

    # D1: the signal and its approval, nothing filled yet
    [signal] = days[0].signals
    assert signal.ticker == LEAD and signal.strength == 90.0
    assert 50 <= signal.candidate.rsi14 <= 70 and signal.candidate.surge_ratio == 2.0
    [order] = days[0].entries
    assert (order.quantity, order.decided_on, order.decision_bar_date) == (QTY, D1, D1)
    assert order.reserved_cash == QTY * D("48.40") * (1 + D("0.001") + rate)
    assert positions[0] is None and not days[0].fills and days[0].equity == CAPITAL

    # D2: entry at the next open with slippage; commission on the fill; levels from F
    [buy] = days[1].fills
    entry_commission = rate * ENTRY * QTY                                # 6.2756694
    assert (buy.side, buy.day, buy.price, buy.quantity) == (Side.BUY, D2, ENTRY, QTY)
    assert buy.commission == entry_commission == D("6.2756694")
    cash_held = CAPITAL - ENTRY * QTY - entry_commission                # 87,442.3855306
    assert days[1].cash == cash_held == D("87442.3855306")
    p = positions[1]
    assert (p.stop_price, p.target_price, p.highest_high, p.trailing_stop) == \
        (STOP, TARGET, D("49.30"), None)
    assert days[1].equity == cash_held + QTY * D("49.10")

    # D3: the high of 54.00 reaches F * 1.10 = 53.51346: the trail activates after the checks
    p = positions[2]
    assert ENTRY * D("1.10") == D("53.51346") <= p.highest_high == D("54.00")
    assert p.trailing_stop == D("54.00") * D("0.92") == D("49.68") == p.protective_stop
    assert not days[2].fills and days[2].equity == cash_held + QTY * D("53.60")

    # D4: a new high ratchets the trail up; the low 53.20 stays above it
    p = positions[3]
    assert (p.highest_high, p.trailing_stop) == (D("56.50"), D("51.98"))
    assert not days[3].fills and days[3].equity == cash_held + QTY * D("55.90")

    # D5: the low 51.50 crosses the trail 51.98 (open 55.00 is above it): fill at the trail
    [sell] = days[4].fills
    exit_price = D("51.98") * D("0.999")                                 # 51.92802
    exit_commission = rate * exit_price * QTY                            # 6.69871458
    assert (sell.side, sell.day, sell.reason) == (Side.SELL, D5, ExitReason.TRAILING_STOP)
    assert (sell.price, sell.quantity, sell.commission) == (exit_price, QTY, exit_commission)
    assert positions[4] is None
    [trade] = result.state.portfolio.trades()
    pnl = (exit_price - ENTRY) * QTY - entry_commission - exit_commission
    assert trade.pnl == pnl == D("833.11597602")
    assert (trade.entry_date, trade.exit_date, trade.days_held) == (D2, D5, 3)
    assert days[4].cash == days[4].equity == CAPITAL + pnl == D("100833.11597602")
    # the exit leaves no re-entry: LEAD's volume is back to normal (no surge)
    assert not days[4].entries and not result.state.portfolio.pending_entries


# ---------------------------------------------------------------- 4. risk limits and the breaker
RISK_DAYS = weekdays(date(2023, 6, 1), 160)
R_PREV, R_DAY, R_NEXT = RISK_DAYS[-3:]            # 2024-01-08, 2024-01-09, 2024-01-10
# Seven identical signal shapes, prices scaled by 2**k (exact in binary, so every momentum,
# RSI and surge ratio is identical): equal scores, so R6 meets them in ticker order.
SIGNALS = {"SA": (0, "Information Technology"), "SB": (6, "Information Technology"),
           "SC": (5, "Health Care"), "SD": (0, "Financials"), "SE": (9, "Materials"),
           "SF": (7, "Industrials"), "SG": (0, "Energy")}
HELD = {"H1": "Energy", "H2": "Utilities", "H3": "Real Estate", "H4": "Consumer Staples"}
RISK_CFG = StrategyConfig.model_validate({
    "scanner": {"rescan_interval_days": 1},
    "risk": {"max_positions": 6, "max_portfolio_exposure": 1.0, "max_sector_exposure": 0.2}})


def risk_market():
    def frame(closes, volumes, days):
        rows = zigzag_rows(closes)
        return bar_frame(days, *zip(*rows, strict=True), volumes)

    base = zigzag(len(RISK_DAYS), 34.0, 0.015)         # ... 50.34 (R_PREV), 49.84, 50.59
    surge = [1e6] * (len(RISK_DAYS) - 2) + [2.5e6, 2.5e6]  # surges on R_DAY and R_NEXT
    items = {stock(t, sector, 1e10): frame([c * 2 ** k for c in base], surge, RISK_DAYS)
             for t, (k, sector) in SIGNALS.items()}
    for i, (start, up) in enumerate([(40.0, 0.011), (60.0, 0.0105), (25.0, 0.01), (45.0, 0.012),
                                     (70.0, 0.0095), (35.0, 0.0115)]):
        items[stock(f"F{i}", "Communication Services", 1e10)] = frame(
            zigzag(len(RISK_DAYS), start, up), [1e6] * len(RISK_DAYS), RISK_DAYS)
    # Held assets: unknown market cap, so never eligible (they stay out of every score's ref).
    for ticker, sector in HELD.items():
        items[stock(ticker, sector, None)] = frame([50.0] * 20, [1e6] * 20, RISK_DAYS[-20:])
    # XX: 10 bars only (RSI undefined, no momentum-fade exit); 50 -> 47 on R_DAY -> 47.20
    items[stock("XX", "Energy", None)] = frame([50.0] * 8 + [47.0, 47.2], [1e6] * 10,
                                               RISK_DAYS[-10:])
    return make_market(items)


def held(ticker: str, sector: str, qty: str, last_bar: date) -> Position:
    return Position(ticker=ticker, asset_type=AssetType.STOCK, sector=sector,
                    entry_date=date(2024, 1, 2), entry_price=D("50"), quantity=D(qty),
                    entry_commission=D(0), stop_price=D("46"), target_price=D("60"),
                    highest_high=D("50.25"), trailing_stop=None, last_close=D("50"),
                    last_bar_date=last_bar)


def size(equity: D, close: D) -> D:
    """R6.3 by hand: floor(equity * 1% / (close * 8%))."""
    return D(int(equity * D("0.01") / (close * D("0.08"))))


def test_risk_limits_enforcement():
    market, rules = risk_market(), Rules.from_config(RISK_CFG)
    close = {t: D("49.84") * 2 ** k for t, (k, _) in SIGNALS.items()}   # closes on R_DAY

    # ---- limits: four positions of 380 x $50 (19% each), cash set just under what the
    # first approval's slippage reserve leaves for SC.
    state = EngineState.start(D("23590"))
    for ticker, sector in HELD.items():
        state.portfolio.positions[ticker] = held(ticker, sector, "380", R_PREV)
    state.last_step = R_PREV
    day = run_day(R_DAY, state, market.until(R_DAY), rules)
    equity = D("23590") + 4 * 380 * D("50")                              # 99,590
    assert day.equity == equity and day.previous_equity is None
    assert [c.ticker for c in day.candidates] == list(SIGNALS)
    assert {c.score for c in day.candidates} == {50 * (2 * 6 + 7) / 13}   # 73.08: 6 fillers below
    assert [s.ticker for s in day.signals] == list(SIGNALS)

    qty = {t: size(equity, c) for t, c in close.items()}
    assert qty == {"SA": 249, "SB": 3, "SC": 7, "SD": 249, "SE": 0, "SF": 1, "SG": 249}
    v = {t: qty[t] * close[t] for t in SIGNALS}
    reserve_a = v["SA"] * D("1.001")
    # SA approved: gross 76,000 + 12,410.16 <= 99,590; IT 12,410.16 <= 19,918; cash ok
    # SB: IT 12,410.16 + 9,569.28 = 21,979.44 > 20% of 99,590
    assert v["SA"] + v["SB"] > D("0.2") * equity
    # SC: gross ok (76,000 + 12,410.16 + 11,164.16 <= 99,590) but it needs
    # 11,164.16 * 1.001 = 11,175.32 > 23,590 - 12,422.57 = 11,167.43 free cash
    assert 76000 + v["SA"] + v["SC"] <= equity
    assert v["SC"] * D("1.001") > D("23590") - reserve_a
    # SD: gross 76,000 + 12,410.16 + 12,410.16 > 99,590
    assert 76000 + v["SA"] + v["SD"] > equity
    # SE: 25,518.08 a share > 1% / 8% of equity: size 0
    # SF approved (one share, 6,379.52): 4 held + SA + SF = 6 = max_positions, so SG is refused
    assert [(o.ticker, o.quantity, o.reference_close) for o in day.entries] == \
        [("SA", D(249), D("49.84")), ("SF", D(1), D("6379.52"))]
    assert [(r.ticker, r.reason, r.rule) for r in day.rejections] == [
        ("SB", RejectReason.SECTOR_EXPOSURE, "R6.5"),
        ("SC", RejectReason.INSUFFICIENT_CASH, "R6.6"),
        ("SD", RejectReason.PORTFOLIO_EXPOSURE, "R6.4"),
        ("SE", RejectReason.SIZE_ZERO, "R6.3"),
        ("SG", RejectReason.MAX_POSITIONS, "R6.2")]
    assert day.rejections[1].detail == "needs 11175.32 > free cash 11167.43"
    assert state.portfolio.reserved_cash == reserve_a + v["SF"] * D("1.001")

    # ---- the breaker: 1,200 XX and 40,000 cash. R_PREV 100,000; R_DAY XX 50 -> 47:
    # 96,400 = -3.6% <= -3%: every signal of the day is refused; R_NEXT 96,640 (+0.25%).
    state = EngineState.start(D("40000"))
    state.portfolio.positions["XX"] = held("XX", "Energy", "1200", RISK_DAYS[-4])
    state.last_step = RISK_DAYS[-4]
    prev, crash = (run_day(d, state, market.until(d), rules) for d in (R_PREV, R_DAY))
    assert (prev.equity, crash.equity) == (D(100000), D(96400))
    assert not prev.signals and not prev.entries and not prev.rejections  # no surge on R_PREV
    assert crash.equity <= prev.equity * D("0.97")
    assert [s.ticker for s in crash.signals] == list(SIGNALS) and not crash.entries
    assert [(r.ticker, r.reason, r.rule) for r in crash.rejections] == \
        [(t, RejectReason.DAILY_LOSS_LIMIT, "R6.1") for t in SIGNALS]
    assert crash.rejections[0].detail == "equity -3.60% since the last step <= -3.00%"
    assert not state.portfolio.pending_entries and "XX" in state.portfolio.positions
    # entries resume the next day: size on 96,640 at R_NEXT's closes (SA 50.59)
    after = run_day(R_NEXT, state, market.until(R_NEXT), rules)
    assert after.equity == D(96640) > crash.equity * D("0.97")
    assert size(D(96640), D("50.59")) == 238
    assert [(o.ticker, o.quantity) for o in after.entries] == \
        [("SA", D(238)), ("SC", D(7)), ("SD", D(238))]
    assert [(r.ticker, r.reason) for r in after.rejections] == [
        ("SB", RejectReason.SECTOR_EXPOSURE), ("SE", RejectReason.SIZE_ZERO),
        ("SF", RejectReason.PORTFOLIO_EXPOSURE), ("SG", RejectReason.PORTFOLIO_EXPOSURE)]


# ---------------------------------------------------------------- 5. failures and missing data
TIINGO_KEY = "0123456789abcdef0123456789abcdef01234567"
AFTER_CLOSE_0717 = datetime(2020, 7, 17, 22, 0, tzinfo=UTC)   # Fri 18:00 ET


def test_error_handling(tmp_path, tiingo_fixtures, monkeypatch):
    from tests.tiingo_server import Fault, TiingoTestServer

    # ---- Tiingo: MSFT's prices answer 500 every time; ETHUSD has no data at all
    with TiingoTestServer(tiingo_fixtures, TIINGO_KEY) as server:
        server.alias_daily("SPY", "AAPL")                 # the benchmark TiingoSource adds
        server.inject(Fault(status=500, body="upstream exploded"),
                      path="/tiingo/daily/MSFT/prices", times=1000)
        monkeypatch.setenv("TIINGO_API_KEY", TIINGO_KEY)
        monkeypatch.setenv("TIINGO_BASE_URL", server.url)
        config = tmp_path / "tiingo.yaml"
        config.write_text(
            "api:\n  tiingo_api_key: ${TIINGO_API_KEY}\n  max_retries: 1\n  timeout_seconds: 5\n"
            f"data:\n  source: tiingo\n  cache_dir: {tmp_path / 'cache'}\n"
            "  history_start: 2019-07-21\n"
            "  universe:\n    stocks: [AAPL, MSFT]\n    crypto: [BTCUSD, ETHUSD]\n"
            f"logging:\n  log_file: {tmp_path / 'logs' / 'momentum_strategy.log'}\n"
            f"  report_dir: {tmp_path / 'reports'}\n  snapshot_dir: {tmp_path / 'snap'}\n")
        strategy = cli.MomentumStrategy(config, mode="paper", clock=FixedClock(AFTER_CLOSE_0717),
                                        state_dir=tmp_path / "snap")
        strategy.setup_logging(quiet=True)
        strategy.paper_init(None, date(2020, 7, 13), force=False)
        # MSFT's failure is transient: nothing is committed, exit 75 "run again later" (issue 11)
        with pytest.raises(DataIncomplete, match="MSFT could not be loaded") as info:
            strategy.paper_run(date(2020, 7, 17))
        assert info.value.exit_code == 75 and "run again later" in str(info.value)
        assert "ETHUSD" not in str(info.value)                         # unknown: permanent
        assert StateStore(tmp_path / "snap").load().engine.last_step is None
        assert server.count("/tiingo/daily/MSFT/prices") == 2          # tried, retried once
        outcome = strategy.paper_run(date(2020, 7, 17), allow_partial=True)
        assert server.count("/tiingo/daily/MSFT/prices") == 4
        assert server.count("/tiingo/crypto/prices") == 1
        # with --allow-partial the week completes: each session reports what was left out and why
        assert [d.day for d in outcome.days] == nyse_sessions(date(2020, 7, 13), date(2020, 7, 17))
        for day in outcome.days:
            assert [s.split(":")[0] for s in day.skipped] == ["ETHUSD", "MSFT"]
            assert day.skipped[1] == ("MSFT: daily prices of MSFT: Tiingo server error (HTTP 500: "
                                      "upstream exploded); try again later")
            assert day.skipped[0].startswith("ETHUSD: unknown crypto pair 'ETHUSD'")
            assert day.equity == D(100000)                              # nothing to trade
        market = strategy.market
        assert set(market.skipped) == {"ETHUSD", "MSFT"}
        # the healthy tickers were loaded in full: 2019-07-22 .. 2020-07-17 (BTC: to 07-16 UTC)
        bars = {t: len(market.history(t).dates) for t in market.tickers}
        assert bars == {"AAPL": 251, "BTCUSD": 362, "SPY": 251}
        report = (tmp_path / "reports" / "daily_report_2020-07-17.txt").read_text()
        assert "data: MSFT:" in report and "data: ETHUSD:" in report
        log = (tmp_path / "logs" / "momentum_strategy.log").read_text()
        assert "skipping MSFT" in log and "skipping ETHUSD" in log
        saved = StateStore(tmp_path / "snap").load().engine
        assert saved.last_step == date(2020, 7, 17)
        assert list(saved.left_out["2020-07-17"]) == ["MSFT"]          # the state records why
        # the CLI scan: exit 75 on incomplete data, exit 0 on the healthy assets when allowed
        assert cli.main(["scan", "--config", str(config), "--date", "2020-07-17", "-q"]) == 75
        assert cli.main(["scan", "--config", str(config), "--date", "2020-07-17", "-q",
                         "--allow-partial"]) == 0
        assert server.count("/tiingo/daily/MSFT/prices") == 8

    # ---- CSV: one corrupt price file among good ones
    monkeypatch.delenv("TIINGO_API_KEY")
    bad_rows = [(d, 10.0, 10.5, 9.5, 10.0, 1e6) for d in nyse_sessions(date(2024, 2, 1), D1)]
    data = write_market(tmp_path / "data", HOLD_ROWS, extra={"BADX": bad_rows})
    bad_file = data / "stocks" / "BADX.csv"
    lines = bad_file.read_text().splitlines()
    lines[6] = lines[6].replace(",10.00,1000000", ",abc,1000000")   # line 7: close
    bad_file.write_text("\n".join(lines) + "\n")
    csv_config = write_config(tmp_path, "csv.yaml")
    strategy = cli.MomentumStrategy(csv_config, data_dir=data, mode="paper",
                                    clock=FixedClock(datetime(2024, 3, 4, 22, tzinfo=UTC)),
                                    state_dir=tmp_path / "csv_state")
    strategy.paper_init(None, D1, force=False)
    [day] = strategy.paper_run(D1).days
    assert day.skipped == [f"BADX: {bad_file}: line 7: close 'abc' is not a finite number; "
                           "write a plain decimal number or delete the row"]
    assert {t: len(strategy.market.history(t).dates) for t in strategy.market.tickers} == \
        {LEAD: 140, **{t: 140 for t in FILLERS}}
    assert [(o.ticker, o.quantity) for o in day.entries] == [(LEAD, QTY)]   # the day still trades
    report = (tmp_path / "csv_state" / "reports" / f"daily_report_{D1}.txt").read_text()
    assert "BADX" in report and "line 7" in report


# ---------------------------------------------------------------- 6. state across restarts
def run_process(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIINGO_")}
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return done


def latest_document(state_dir: Path) -> dict:
    pointer = json.loads((state_dir / "latest.json").read_text())
    return json.loads((state_dir / pointer["file"]).read_text())


def exports(config: Path, data: Path, state_dir: Path, out: Path) -> dict[str, str]:
    assert paper(config, data, state_dir, "--export", str(out)) == 0
    return {n: (out / n).read_text() for n in ("trades.csv", "equity.csv", "rejections.csv")}


def test_state_persistence(tmp_path):
    data = write_market(tmp_path / "data", EXIT_ROWS)
    config = write_config(tmp_path)
    common = ["--config", str(config), "--data-dir", str(data)]
    split, whole = tmp_path / "split", tmp_path / "whole"
    for state_dir in (split, whole):
        assert paper(config, data, state_dir, "--init", "--date", str(D1)) == 0

    # three processes: D1 (an entry order is pending at the save), D2-D3, D4-D5
    for target in (D1, D3, D5):
        run_process("paper", "--run", "--date", str(target), *common, "--state-dir", str(split),
                    cwd=tmp_path)
    # one uninterrupted run over the same sessions
    run_process("paper", "--run", "--date", str(D5), *common, "--state-dir", str(whole),
                cwd=tmp_path)

    split_files = exports(config, data, split, tmp_path / "out_split")
    assert split_files == exports(config, data, whole, tmp_path / "out_whole")
    assert latest_document(split)["state"] == latest_document(whole)["state"]
    exit_price = D("51.98") * D("0.999")
    pnl = (exit_price - ENTRY) * QTY                                     # 846.09036
    assert csv_cells(split_files["trades.csv"]) == [
        ["LEAD", "stock", str(D2), ENTRY, str(D5), exit_price, QTY, "trailing_stop", pnl]]
    cash_held = CAPITAL - ENTRY * QTY
    assert csv_cells(split_files["equity.csv"]) == [
        [str(D1), CAPITAL, CAPITAL],
        [str(D2), cash_held + QTY * D("49.10"), cash_held],
        [str(D3), cash_held + QTY * D("53.60"), cash_held],
        [str(D4), cash_held + QTY * D("55.90"), cash_held],
        [str(D5), CAPITAL + pnl, CAPITAL + pnl]]
    # the same rules in a backtest give the same files (one code path)
    backtest = cli.MomentumStrategy(config, data_dir=data).run_backtest(D1, D5)
    assert trades_csv(backtest.state.portfolio.trades()) == split_files["trades.csv"]
    assert equity_csv(backtest.state.equity_curve) == split_files["equity.csv"]
    assert rejections_csv(backtest.state.rejections) == split_files["rejections.csv"]

    # what the second and third processes resumed from
    store = StateStore(split)
    after_d1 = store.read(split / f"state_{D1}.json").engine
    [order] = after_d1.portfolio.pending_entries
    assert (order.ticker, order.quantity, after_d1.portfolio.cash) == (LEAD, QTY, CAPITAL)
    after_d3 = store.read(split / f"state_{D3}.json").engine
    pos = after_d3.portfolio.positions[LEAD]
    assert (pos.entry_price, pos.highest_high, pos.trailing_stop, pos.last_bar_date) == \
        (ENTRY, D("54.00"), D("49.68"), D3)
    assert after_d3.portfolio.cash == cash_held

    # the latest state reloads exactly and holds the last day's numbers
    saved = store.load()
    assert encode_state(saved.engine) == latest_document(split)["state"]
    book = saved.engine.portfolio
    assert saved.engine.last_step == D5 and not book.positions and not book.pending_entries
    assert book.cash == CAPITAL + pnl == D("100846.09036")
    [trade] = book.closed_trades
    assert (trade.exit_reason, trade.exit_price, trade.pnl) == \
        (ExitReason.TRAILING_STOP, exit_price, pnl)
    assert saved.meta.start_date == D1 and saved.meta.source == "csv"
    # a further run of the same day is a no-op: the state does not move
    run_process("paper", "--run", "--date", str(D5), *common, "--state-dir", str(split),
                cwd=tmp_path)
    assert latest_document(split)["state"] == latest_document(whole)["state"]
