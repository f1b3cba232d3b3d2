"""Metrics (R8) on hand-computed equity curves and trade lists; undefined cases give None."""
from __future__ import annotations

import json
import math
from datetime import date, timedelta
from decimal import Decimal

import pytest

from momentum.core.domain import (Asset, AssetType, DayResult, ExitReason, Rejection, RejectReason,
                                  Trade)
from momentum.rules.metrics import (average_exposure, benchmark_stats, benchmark_ticker, cagr,
                                    daily_returns, drawdown_series, max_drawdown, monthly_returns,
                                    rejection_counts, sharpe_ratio, sortino_ratio, summarize,
                                    total_return, trade_stats)
from momentum.run.backtester import BacktestResult
from momentum.run.engine import EngineState, EquityPoint
from tests.helpers import crypto, make_market, stock, trend_frame, weekdays

D0 = date(2024, 1, 1)


def curve(*equities: float | str, start: date = D0) -> list[EquityPoint]:
    """One point a calendar day from `start`; cash is irrelevant to the metrics."""
    return [EquityPoint(start + timedelta(days=i), Decimal(str(e)), Decimal(0))
            for i, e in enumerate(equities)]


def day(i: int) -> date:
    return D0 + timedelta(days=i)


# ---------------------------------------------------------------- returns, Sharpe, Sortino
def test_daily_returns_are_step_over_step():
    assert daily_returns(curve(100, 110, 99, "108.9")) == [0.1, -0.1, 0.1]


def test_daily_returns_reject_non_positive_equity():
    with pytest.raises(ValueError, match="not positive"):
        daily_returns(curve(0, 10))


def test_sharpe_hand_computed():
    # returns 0.1, -0.1, 0.1: mean 1/30, std(ddof=1) sqrt(1/75)
    # -> sqrt(75)/30 * sqrt(252) = sqrt(21)
    assert sharpe_ratio([0.1, -0.1, 0.1]) == pytest.approx(math.sqrt(21), rel=1e-12)


def test_sortino_hand_computed():
    # downside deviation sqrt(0.01 / 3) over all 3 returns
    # -> (1/30) / sqrt(1/300) * sqrt(252) = sqrt(84)
    assert sortino_ratio([0.1, -0.1, 0.1]) == pytest.approx(math.sqrt(84), rel=1e-12)


@pytest.mark.parametrize("returns", [[], [0.05], [0.01, 0.01, 0.01], [0.0, 0.0]])
def test_sharpe_undefined_with_few_returns_or_zero_deviation(returns):
    assert sharpe_ratio(returns) is None


@pytest.mark.parametrize("returns", [[], [-0.05], [0.01, 0.02, 0.0]])
def test_sortino_undefined_with_few_returns_or_no_loss(returns):
    assert sortino_ratio(returns) is None


# ---------------------------------------------------------------- drawdown
def test_max_drawdown_with_recovery():
    # peak 120 (day 1) -> trough 90 (day 2): 25%; back to >= 120 on day 3;
    # a later 10% dip is smaller
    dd = max_drawdown(curve(100, 120, 90, 130, 117, 130))
    assert dd.depth == pytest.approx(0.25, abs=1e-15)
    assert (dd.peak_date, dd.trough_date, dd.recovery_date) == (day(1), day(2), day(3))


def test_max_drawdown_not_recovered():
    dd = max_drawdown(curve(100, 80, 90))
    assert dd.depth == pytest.approx(0.2, abs=1e-15)
    assert (dd.peak_date, dd.trough_date, dd.recovery_date) == (day(0), day(1), None)


def test_max_drawdown_peak_is_the_latest_point_at_the_high():
    dd = max_drawdown(curve(100, 90, 100, 80))
    assert dd.depth == pytest.approx(0.2, abs=1e-15)
    assert (dd.peak_date, dd.trough_date, dd.recovery_date) == (day(2), day(3), None)


@pytest.mark.parametrize("equities", [(100,), (100, 100, 101), ()])
def test_max_drawdown_zero_without_a_fall(equities):
    dd = max_drawdown(curve(*equities))
    assert dd.depth == 0.0 and dd.peak_date is None and dd.trough_date is None


def test_drawdown_series():
    assert drawdown_series(curve(100, 120, 90, 130)) == pytest.approx([0, 0, 0.25, 0])


# ---------------------------------------------------------------- CAGR and total return
def test_cagr_over_four_years_including_a_leap_day():
    # 2020-01-01 -> 2024-01-01 is 1461 days: exponent 365.25/1461 = 1/4; 1.4641 ** 0.25 = 1.1
    points = [EquityPoint(date(2020, 1, 1), Decimal(100), Decimal(0)),
              EquityPoint(date(2024, 1, 1), Decimal("146.41"), Decimal(0))]
    assert cagr(points) == pytest.approx(0.1, rel=1e-12)
    assert total_return(points) == pytest.approx(0.4641, rel=1e-12)


def test_cagr_undefined_for_a_single_step():
    assert cagr(curve(100)) is None
    assert cagr([]) is None
    assert total_return(curve(100)) == 0.0
    assert total_return([]) is None


def test_cagr_total_loss_is_minus_one():
    assert cagr(curve(100, 0)) == -1.0


def test_monthly_returns_from_month_end_equity():
    points = [EquityPoint(date(2024, 1, 2), Decimal(100), Decimal(0)),
              EquityPoint(date(2024, 1, 15), Decimal(130), Decimal(0)),
              EquityPoint(date(2024, 1, 31), Decimal(110), Decimal(0)),
              EquityPoint(date(2024, 2, 29), Decimal(99), Decimal(0))]
    out = monthly_returns(points)
    assert list(out) == [(2024, 1), (2024, 2)]
    assert out[(2024, 1)] == pytest.approx(0.1) and out[(2024, 2)] == pytest.approx(-0.1)


# ---------------------------------------------------------------- trades
def trade(entry: str, exit_: str | None, qty: int = 100, entry_comm: str = "0",
          exit_comm: str = "0", held: int = 5,
          reason: ExitReason | None = ExitReason.TIME_EXIT) -> Trade:
    closed = exit_ is not None
    return Trade("AAA", AssetType.STOCK, "Industrials", D0, Decimal(entry), Decimal(qty),
                 Decimal(entry_comm),
                 exit_date=D0 + timedelta(days=held) if closed else None,
                 exit_price=Decimal(exit_) if closed else None,
                 exit_commission=Decimal(exit_comm) if closed else None,
                 exit_reason=reason if closed else None)


def test_trade_stats_hand_computed():
    trades = [trade("10", "13", held=10, reason=ExitReason.PROFIT_TARGET),        # +300
              trade("10", "9", held=2, reason=ExitReason.STOP_LOSS),             # -100
              trade("20", "19.5", qty=90, entry_comm="2", exit_comm="3", held=3,
                    reason=ExitReason.STOP_LOSS),                                 # -45 - 5 = -50
              trade("10", "10", qty=5, held=1),                                   # 0: neither
              trade("10", None)]                                                  # open
    s = trade_stats(trades)
    assert (s.closed, s.open_positions, s.wins, s.losses) == (4, 1, 1, 2)
    assert s.win_rate == 0.25
    assert s.profit_factor == 2.0                        # 300 / |-150|
    assert s.gross_profit == Decimal(300) and s.gross_loss == Decimal(-150)
    assert s.average_win == Decimal(300) and s.average_loss == Decimal(-75)
    assert s.expectancy == Decimal("37.5")               # 150 / 4 closed trades
    assert s.realized_pnl == Decimal(150)
    assert s.average_days_held == 4.0                    # (10 + 2 + 3 + 1) / 4
    assert s.exit_reasons == {"stop_loss": 2, "profit_target": 1, "trailing_stop": 0,
                              "momentum_fade": 0, "time_exit": 1, "delisted": 0,
                              "kill_switch": 0}


def test_trade_stats_profit_factor_undefined_without_losses():
    s = trade_stats([trade("10", "11"), trade("10", None)])
    assert s.profit_factor is None and s.win_rate == 1.0 and s.average_loss is None


def test_trade_stats_of_no_closed_trade_are_undefined():
    s = trade_stats([trade("10", None)])
    assert s.closed == 0 and s.open_positions == 1
    assert s.win_rate is None and s.profit_factor is None and s.expectancy is None
    assert s.average_days_held is None and s.average_win is None
    assert set(s.exit_reasons) == {r.value for r in ExitReason}
    assert not any(s.exit_reasons.values())


def test_average_exposure_and_rejection_counts():
    days = [DayResult(day(0), gross_exposure=Decimal("0.2")),
            DayResult(day(1), gross_exposure=Decimal("0.4"))]
    assert average_exposure(days) == pytest.approx(0.3)
    assert average_exposure([]) is None
    counts = rejection_counts([Rejection(day(0), "A", RejectReason.NO_FILL, "R5.5")] * 2)
    assert counts["no_fill"] == 2 and set(counts) == {r.value for r in RejectReason}


# ---------------------------------------------------------------- benchmark and summary
SPY = Asset("SPY", AssetType.ETF, "ETF")
WEEKDAYS = weekdays(date(2024, 1, 1), 30)


def test_benchmark_is_spy_for_stocks_and_hold_over_the_window():
    frame = trend_frame(WEEKDAYS, 100.0, 0.01)
    market = make_market({stock("AAA"): frame, SPY: frame})
    first, last = WEEKDAYS[5], WEEKDAYS[20]
    b = benchmark_stats(market, first, last, Decimal(1000))
    closes = frame["close"].to_numpy()
    assert b.ticker == "SPY" and b.reason is None
    assert (b.curve[0].day, b.curve[-1].day) == (first, last)
    assert b.curve[0].equity == Decimal(1000)
    assert b.total_return == pytest.approx(closes[20] / closes[5] - 1, rel=1e-12)
    assert b.cagr is not None and b.max_drawdown is not None


def test_benchmark_absent_is_omitted_with_a_reason():
    market = make_market({stock("AAA"): trend_frame(WEEKDAYS, 100.0, 0.01)})
    b = benchmark_stats(market, WEEKDAYS[0], WEEKDAYS[-1], Decimal(1000))
    assert b.total_return is None and b.cagr is None and b.max_drawdown is None
    assert b.reason is not None and "SPY" in b.reason


def test_benchmark_is_btcusd_without_stocks():
    market = make_market({crypto("LTCUSD"): trend_frame(WEEKDAYS, 100.0, 0.01)})
    assert benchmark_ticker(market) == "BTCUSD"
    assert "BTCUSD" in (benchmark_stats(market, WEEKDAYS[0], WEEKDAYS[-1], Decimal(1)).reason or "")


def test_summarize_is_json_ready_with_exact_money():
    market = make_market({stock("AAA"): trend_frame(WEEKDAYS, 100.0, 0.01)})
    state = EngineState.start(Decimal(1000))
    state.equity_curve = curve("1000", "1100.123456789012345678", "1050", start=WEEKDAYS[0])
    state.portfolio.closed_trades = [trade("10", "13", qty=1)]
    state.portfolio.cash = Decimal("1050")
    result = BacktestResult(start=WEEKDAYS[0], end=WEEKDAYS[2], state=state,
                            days=[DayResult(p.day) for p in state.equity_curve])
    out = summarize(result, market)
    json.dumps(out, allow_nan=False)  # JSON-ready: no Decimal, date or NaN left
    assert out["final_equity"] == "1050" and out["net_pnl"] == "50"
    assert out["trades"]["realized_pnl"] == "3"
    assert out["trades"]["profit_factor"] is None
    assert out["benchmark"]["reason"] is not None and out["benchmark"]["total_return"] is None
    assert out["max_drawdown"]["peak_date"] == WEEKDAYS[1].isoformat()
