"""Pure rules worked out by hand: exit levels and checks (R4), sizing and limits (R6), fills (R5)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from momentum.core.config import StrategyConfig
from momentum.core.domain import (AssetType, Candidate, EntrySignal, ExitReason, Position,
                                  RejectReason)
from momentum.core.money import floor_qty
from momentum.data.market import BarPoint
from momentum.rules.broker import PaperBroker
from momentum.rules.risk import RiskBook, RiskManager
from momentum.rules.signals import check_exit, exit_levels, is_entry_signal, update_trailing

CFG = StrategyConfig()
EXIT = CFG.signals.exit
DAY = date(2024, 3, 4)


def position(entry=D("100"), qty=D("10"), asset_type=AssetType.STOCK, trail=None, high=None,
             entry_date=DAY) -> Position:
    stop, target = exit_levels(entry, asset_type, EXIT)
    return Position(ticker="AAA", asset_type=asset_type, sector="Tech", entry_date=entry_date,
                    entry_price=entry, quantity=qty, entry_commission=D(0), stop_price=stop,
                    target_price=target, highest_high=high or entry, trailing_stop=trail,
                    last_close=entry, last_bar_date=entry_date)


def bar(o, h, l, c, rsi=55.0, day=date(2024, 3, 5)) -> BarPoint:
    return BarPoint(day=day, open=o, high=h, low=l, close=c, rsi14=rsi)


# ---------------------------------------------------------------- R4.2 levels
def test_exit_levels_stock_and_crypto():
    assert exit_levels(D("100"), AssetType.STOCK, EXIT) == (D("92.00"), D("120.00"))
    assert exit_levels(D("50"), AssetType.CRYPTO, EXIT) == (D("44.00"), D("65.00"))


# ---------------------------------------------------------------- R4.5 checks
def test_stop_through_gap_down_fills_at_the_open():
    check = check_exit(position(), bar(90, 91, 85, 88), EXIT)
    assert check.reason is ExitReason.STOP_LOSS and check.price == D("90")


def test_stop_touched_intrabar_fills_at_the_stop():
    check = check_exit(position(), bar(95, 96, 91, 93), EXIT)
    assert check.reason is ExitReason.STOP_LOSS and check.price == D("92.00")


def test_target_fills_at_target_or_better_open():
    assert check_exit(position(), bar(110, 121, 109, 119), EXIT).price == D("120.00")
    gap = check_exit(position(), bar(125, 126, 122, 124), EXIT)
    assert gap.reason is ExitReason.PROFIT_TARGET and gap.price == D("125")


def test_stop_and_target_in_the_same_bar_is_a_stop():
    check = check_exit(position(), bar(100, 125, 90, 110), EXIT)
    assert check.reason is ExitReason.STOP_LOSS and check.price == D("92.00")


def test_active_trail_above_stop_is_the_level_hit():
    pos = position(trail=D("105"), high=D("114.13"))
    check = check_exit(pos, bar(108, 109, 104, 106), EXIT)
    assert check.reason is ExitReason.TRAILING_STOP and check.price == D("105")


def test_trail_below_stop_leaves_the_stop_as_level():
    pos = position(trail=D("90"))
    check = check_exit(pos, bar(95, 96, 91, 93), EXIT)
    assert check.reason is ExitReason.STOP_LOSS and check.price == D("92.00")


def test_momentum_fade_and_time_exit_are_next_open_orders():
    fade = check_exit(position(), bar(100, 101, 99, 100, rsi=39.99), EXIT)
    assert fade.reason is ExitReason.MOMENTUM_FADE and not fade.immediate
    assert check_exit(position(), bar(100, 101, 99, 100, rsi=40.0), EXIT) is None
    assert check_exit(position(), bar(100, 101, 99, 100, rsi=float("nan")), EXIT) is None
    old = position(entry_date=date(2024, 2, 4))  # 30 calendar days before 2024-03-05
    assert check_exit(old, bar(100, 101, 99, 100), EXIT).reason is ExitReason.TIME_EXIT
    young = position(entry_date=date(2024, 2, 5))  # 29 days
    assert check_exit(young, bar(100, 101, 99, 100), EXIT) is None


def test_stop_beats_fade_and_time():
    old = position(entry_date=date(2024, 1, 1))
    assert check_exit(old, bar(95, 96, 91, 93, rsi=10), EXIT).reason is ExitReason.STOP_LOSS


# ---------------------------------------------------------------- R4.3 trailing
def test_trailing_activates_at_ten_percent_and_ratchets_up_only():
    pos = position()
    pos = update_trailing(pos, bar(105, 109.99, 104, 109), EXIT)
    assert pos.trailing_stop is None and pos.highest_high == D("109.99")
    pos = update_trailing(pos, bar(109, 110, 108, 109), EXIT)
    assert pos.trailing_stop == D("101.20")  # 110 * 0.92
    pos = update_trailing(pos, bar(112, 115, 111, 114), EXIT)
    assert pos.trailing_stop == D("105.80")
    pos = update_trailing(pos, bar(110, 112, 109, 110), EXIT)
    assert pos.trailing_stop == D("105.80") and pos.highest_high == D("115")


# ---------------------------------------------------------------- R4.1 entry
def candidate(rsi=60.0, surge=2.0, score=80.0, ticker="AAA", close=50.0, sector="Tech",
              asset_type=AssetType.STOCK) -> Candidate:
    return Candidate(ticker, asset_type, sector, score, 0.3, rsi, 1e7, surge, close, DAY)


@pytest.mark.parametrize("rsi,surge,ok", [(50, 1.5, True), (70, 1.5, True), (49.99, 2, False),
                                          (70.01, 2, False), (60, 1.49, False),
                                          (60, float("inf"), True), (60, float("nan"), False),
                                          (float("nan"), 2, False)])
def test_entry_signal_window_and_surge(rsi, surge, ok):
    assert is_entry_signal(candidate(rsi=rsi, surge=surge), CFG.signals.entry) is ok


def test_entry_signal_without_surge_requirement():
    entry = CFG.signals.entry.model_copy(update={"require_volume_surge": False})
    assert is_entry_signal(candidate(surge=float("nan")), entry)


# ---------------------------------------------------------------- R6
# Built inside each test, not at import: mutation testing swaps code in only for calls made
# after the test process starts, so an object built at import would keep the original code.
def risk_manager() -> RiskManager:
    return RiskManager(CFG.risk, EXIT, CFG.trading)


def book(equity="100000", previous=None, free="100000", count=0, gross="0", sectors=None) -> RiskBook:
    return RiskBook(equity=D(equity), previous_equity=None if previous is None else D(previous),
                    free_cash=D(free), open_count=count, gross_value=D(gross),
                    sector_values={k: D(v) for k, v in (sectors or {}).items()})


def approve(signals, b):
    return risk_manager().approve_entries(DAY, [EntrySignal(c) for c in signals], b)


def test_size_is_one_percent_risk_over_stop_distance():
    assert risk_manager().position_size(D("100000"), D("50"), AssetType.STOCK) == D("250")
    assert risk_manager().position_size(D("100000"), D("3"), AssetType.CRYPTO) == D("2777.777777")
    assert risk_manager().position_size(D("100000"), D("0.7"), AssetType.STOCK) == D("17857")


def test_floor_absorbs_binary_error():
    assert floor_qty(D("2.9999999999"), AssetType.STOCK) == D("3")
    assert floor_qty(D("2.99999"), AssetType.STOCK) == D("2")
    assert floor_qty(D("0.1234569999999999"), AssetType.CRYPTO) == D("0.123457")
    assert floor_qty(D("0.1234569999"), AssetType.CRYPTO) == D("0.123456")


def test_approved_entry_reserves_cost_with_slippage():
    orders, rejected = approve([candidate()], book())
    assert rejected == [] and orders[0].quantity == D("250")
    assert orders[0].reserved_cash == D("250") * D("50") * D("1.001")


def test_daily_loss_breaker_rejects_everything_at_the_limit():
    _, rejected = approve([candidate(), candidate(ticker="BBB")], book(equity="97000", previous="100000"))
    assert [r.reason for r in rejected] == [RejectReason.DAILY_LOSS_LIMIT] * 2
    orders, _ = approve([candidate()], book(equity="97001", previous="100000"))
    assert len(orders) == 1


def test_max_positions_counts_open_and_pending():
    _, rejected = approve([candidate()], book(count=8))
    assert rejected[0].reason is RejectReason.MAX_POSITIONS and rejected[0].rule == "R6.2"


def test_size_zero_when_price_too_high():
    _, rejected = approve([candidate(close=20000.0)], book())
    assert rejected[0].reason is RejectReason.SIZE_ZERO


def test_gross_exposure_cap():
    _, rejected = approve([candidate()], book(gross="12500.01", sectors={"Other": "12500.01"}))
    assert rejected[0].reason is RejectReason.PORTFOLIO_EXPOSURE
    assert "gross exposure 0.2500 > max 0.25" in rejected[0].detail
    orders, _ = approve([candidate()], book(gross="12500", sectors={"Other": "12500"}))
    assert len(orders) == 1  # exactly at the cap is allowed


def test_sector_exposure_cap():
    _, rejected = approve([candidate()], book(gross="2500.01", sectors={"Tech": "2500.01"}))
    assert rejected[0].reason is RejectReason.SECTOR_EXPOSURE


def test_insufficient_cash_at_approval():
    _, rejected = approve([candidate()], book(free="12512.49"))
    assert rejected[0].reason is RejectReason.INSUFFICIENT_CASH
    orders, _ = approve([candidate()], book(free="12512.50"))
    assert len(orders) == 1


def test_approved_entries_count_against_later_ones_in_strength_order():
    signals = [candidate(ticker="LOW", score=75), candidate(ticker="HIGH", score=90)]
    orders, rejected = approve(signals, book())
    assert [o.ticker for o in orders] == ["HIGH"]
    assert rejected[0].ticker == "LOW" and rejected[0].reason is RejectReason.SECTOR_EXPOSURE
    signals = [candidate(ticker="A", sector="S1"), candidate(ticker="B", sector="S2"),
               candidate(ticker="C", sector="S3")]
    orders, rejected = approve(signals, book())
    assert [o.ticker for o in orders] == ["A", "B"] and rejected[0].reason is RejectReason.PORTFOLIO_EXPOSURE


# ---------------------------------------------------------------- R5 broker
def broker() -> PaperBroker:
    return PaperBroker(CFG.trading)


def test_buy_fills_at_open_plus_slippage():
    fill = broker().buy("AAA", AssetType.STOCK, DAY, 50.0, D("10"), D("100000"))
    assert fill.price == D("50.050") and fill.quantity == D("10") and fill.commission == 0


def test_buy_shrinks_to_cash_and_cancels_at_zero():
    fill = broker().buy("AAA", AssetType.STOCK, DAY, 50.0, D("30"), D("1000"))
    assert fill.quantity == D("19")  # floor(1000 / 50.05)
    assert broker().buy("AAA", AssetType.STOCK, DAY, 50.0, D("30"), D("40")) is None


def test_crypto_buy_shrinks_with_commission_to_six_decimals():
    fill = broker().buy("BTCUSD", AssetType.CRYPTO, DAY, 2.0, D("1000"), D("1000"))
    price = D("2.0") * D("1.003")
    assert fill.price == price
    assert fill.quantity == floor_qty(D("1000") / (price * D("1.001")), AssetType.CRYPTO) == D("498.006480")
    assert fill.commission == D("0.001") * price * fill.quantity
    assert fill.notional + fill.commission <= D("1000")


def test_sell_applies_slippage_and_commission():
    pos = position(asset_type=AssetType.CRYPTO, qty=D("1.5"))
    fill = broker().sell(pos, DAY, D("200"), ExitReason.PROFIT_TARGET)
    assert fill.price == D("199.400") and fill.commission == D("0.001") * D("199.400") * D("1.5")
