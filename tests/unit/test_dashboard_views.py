"""The dashboard's tab figures (views) on small hand-made sources: each number derived by hand."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from momentum.core.domain import AssetType, ExitReason, Position, Trade
from momentum.reports.dashboard import views
from momentum.reports.dashboard.feed import DayFeed
from momentum.reports.dashboard.readers import Point, Source

D = Decimal


def trade(ticker: str, entry: str, exit_: str, price: str, out: str, qty: str = "10",
          reason: ExitReason = ExitReason.STOP_LOSS) -> Trade:
    return Trade(ticker, AssetType.STOCK, "Tech", date.fromisoformat(entry), D(price), D(qty),
                 D(0), date.fromisoformat(exit_), D(out), D(0), reason)


def position(ticker: str, close: str, trail: str | None = None, sector: str = "Tech") -> Position:
    return Position(ticker, AssetType.STOCK, sector, date(2024, 1, 2), D("100"), D("10"), D(0),
                    stop_price=D("92"), target_price=D("120"), highest_high=D("112"),
                    trailing_stop=None if trail is None else D(trail), last_close=D(close),
                    last_bar_date=date(2024, 1, 10))


def source(**kw) -> Source:
    curve = kw.pop("curve", [Point(date(2024, 1, 9), D("10000"), D("10000")),
                             Point(date(2024, 1, 10), D("9800"), D("7600"))])
    return Source(kind="paper", path=None, initial_capital=D("10000"), curve=curve,
                  trades=kw.pop("trades", []), **kw)


def test_overview_day_pnl_and_exposure_come_from_the_last_two_points():
    o = views.overview(source(positions=[position("AAA", "110"), position("BBB", "110")]))
    assert o["day_pnl"] == D("-200") and o["day_pnl_pct"] == D("-0.02")
    assert o["exposure"] == (D("9800") - D("7600")) / D("9800")


def test_the_risk_to_stop_uses_the_trailing_stop_once_it_is_above_the_stop():
    frame = views.positions_frame(source(positions=[position("AAA", "110", trail="104"),
                                                    position("BBB", "95")]))
    rows = frame.set_index("ticker")
    assert rows.loc["AAA", "risk_to_stop"] == pytest.approx((110 - 104) * 10)
    assert rows.loc["BBB", "risk_to_stop"] == pytest.approx((95 - 92) * 10)
    assert rows.loc["BBB", "to_target_pct"] == pytest.approx(120 / 95 - 1)
    assert rows.loc["AAA", "days_held"] == 8


def test_trade_statistics_by_exit_reason_and_overall():
    trades = [trade("A", "2024-01-02", "2024-01-05", "100", "110", reason=ExitReason.PROFIT_TARGET),
              trade("B", "2024-01-02", "2024-01-09", "100", "95"),
              trade("C", "2024-01-03", "2024-01-04", "50", "48")]
    stats = views.trade_statistics(views.trades_frame(source(trades=trades)))
    rows = stats.set_index("exit_reason")
    assert rows.loc["all", "count"] == 3
    assert rows.loc["all", "win_rate"] == pytest.approx(1 / 3)
    assert rows.loc["all", "profit_factor"] == pytest.approx(100 / (50 + 20))
    assert rows.loc["all", "average_pnl"] == pytest.approx((100 - 50 - 20) / 3)
    assert rows.loc["stop_loss", "average_days_held"] == pytest.approx((7 + 1) / 2)
    assert pd.isna(rows.loc["profit_target", "profit_factor"])  # no loss: undefined


def test_filters_combine_date_range_ticker_and_reason():
    trades = [trade("A", "2024-01-02", "2024-01-05", "100", "110"),
              trade("B", "2024-01-02", "2024-02-09", "100", "95"),
              trade("A", "2024-02-03", "2024-02-14", "50", "48", reason=ExitReason.TIME_EXIT)]
    frame = views.trades_frame(source(trades=trades))
    assert len(views.filter_trades(frame, date(2024, 2, 1), date(2024, 2, 28))) == 2
    assert len(views.filter_trades(frame, tickers=["A"])) == 2
    assert len(views.filter_trades(frame, tickers=["A"], reasons=["time_exit"])) == 1


def test_limits_near_breach_are_flagged():
    positions = [position("AAA", "110", sector="Tech"), position("BBB", "100", sector="Energy")]
    src = source(positions=positions, strategy={"risk": {
        "max_portfolio_exposure": 0.25, "max_positions": 8, "max_sector_exposure": 0.12,
        "max_daily_loss": 0.03}})
    limits = views.risk_limits(src, 0.8).set_index("limit")
    assert limits.loc["sector Tech (R6.5)", "used"] == pytest.approx(1100 / 9800)
    assert bool(limits.loc["sector Tech (R6.5)", "near_breach"])   # 0.112 / 0.12 = 0.94
    assert not bool(limits.loc["open positions (R6.2)", "near_breach"])  # 2 of 8
    assert limits.loc["daily loss (R6.1)", "used"] == pytest.approx(0.02)
    assert not bool(limits.loc["daily loss (R6.1)", "near_breach"])  # 0.02 / 0.03 = 0.67


def test_signals_mark_taken_rejected_and_plain_candidates():
    doc = {"date": "2024-01-10", "candidates": [
        {"ticker": t, "sector": "Tech", "score": s, "momentum": 0.1, "rsi14": 60.0,
         "surge_ratio": 1.6, "close": 10.0, "signal": sig}
        for t, s, sig in (("AAA", 90.0, True), ("BBB", 80.0, True), ("CCC", 95.0, False))],
        "entries": [{"ticker": "AAA"}],
        "rejections": [{"ticker": "BBB", "rule": "R6.4", "detail": "gross exposure 0.3 > max 0.25",
                        "reason": "portfolio_exposure", "day": "2024-01-10"}], "marks": []}
    frame = views.signals_frame([DayFeed(date(2024, 1, 10), doc)], 5).set_index("ticker")
    assert list(frame.index) == ["CCC", "AAA", "BBB"]  # by score
    assert frame.loc["AAA", "status"] == "taken"
    assert (frame.loc["BBB", "status"], frame.loc["BBB", "rule"]) == ("rejected", "R6.4")
    assert frame.loc["CCC", "status"] == "no signal"


def test_rejection_counts_respect_the_window():
    rejections = [{"date": d, "ticker": "X", "reason": r, "rule": "R6.4"}
                  for d, r in (("2024-01-02", "portfolio_exposure"),
                               ("2024-01-20", "portfolio_exposure"),
                               ("2024-01-21", "sector_exposure"))]
    counts = views.rejection_counts(rejections, date(2024, 1, 15), date(2024, 1, 31))
    assert dict(zip(counts["reason"], counts["count"], strict=True)) == {
        "portfolio_exposure": 1, "sector_exposure": 1}


def test_monthly_table_is_year_by_month():
    curve = [Point(date(2024, 1, 31), D("100"), D("100")),
             Point(date(2024, 2, 29), D("110"), D("0")),
             Point(date(2025, 1, 31), D("99"), D("0"))]
    table = views.monthly_table(source(curve=curve))
    assert table.loc[2024, 2] == pytest.approx(0.10)
    assert table.loc[2025, 1] == pytest.approx(-0.10)
    assert list(table.columns) == list(range(1, 13))


def test_a_loss_at_the_daily_limit_shows_a_halt():
    risk = {"risk": {"max_daily_loss": 0.03}}
    down = [Point(date(2024, 1, 9), D("10000"), D("5000")),
            Point(date(2024, 1, 10), D("9700"), D("5000"))]  # exactly -3%
    assert "R6.1" in views.halts(source(curve=down, strategy=risk))[0]
    assert views.halts(source(strategy=risk)) == []  # -2%


def test_a_snapshot_nested_past_the_parser_depth_is_a_message_not_a_crash(tmp_path):
    # a hostile or damaged file must give the page one line (SourceError), never a RecursionError
    from momentum.reports.dashboard.readers import SourceError, parse_snapshot
    path = tmp_path / "state_2024-01-02.json"
    with pytest.raises(SourceError, match="not valid JSON"):
        parse_snapshot(path, "[" * 200_000 + "]" * 200_000)
