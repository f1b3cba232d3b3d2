"""Every comparison of R5 (fills, quantity floors) and R6 (risk approval) on its boundary.

Shipped rules: equity 100,000, risk 1% a trade, stop 8% (stocks) / 12% (crypto), at most 8
positions, gross exposure <= 25% and sector exposure <= 15% of equity, daily loss breaker at -3%,
stock slippage 0.1% and no commission, crypto slippage 0.3% and commission 0.1%. Each case puts
the value exactly on the limit, then one cent (or one unit of the last digit) over it; the
arithmetic is in the comments.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from momentum.core.config import StrategyConfig
from momentum.core.domain import AssetType, Candidate, EntrySignal, RejectReason
from momentum.core.money import floor_qty
from momentum.rules.broker import PaperBroker
from momentum.rules.risk import RiskBook, RiskManager

CFG = StrategyConfig()
# Built inside each test, not at import: mutation testing swaps code in only for calls made
# after the test process starts, so an object built at import would keep the original code.
def risk_manager() -> RiskManager:
    return RiskManager(CFG.risk, CFG.signals.exit, CFG.trading)


def broker() -> PaperBroker:
    return PaperBroker(CFG.trading)


DAY = date(2024, 3, 4)
STOCK, CRYPTO = AssetType.STOCK, AssetType.CRYPTO


def candidate(ticker: str = "AAA", close: float = 50.0, sector: str = "Tech",
              score: float = 80.0, asset_type: AssetType = STOCK) -> Candidate:
    return Candidate(ticker, asset_type, sector, score, 0.3, 60.0, 1e7, 2.0, close, DAY)


def book(equity: str = "100000", previous: str | None = None, free: str = "100000",
         count: int = 0, gross: str = "0", sectors: dict[str, str] | None = None) -> RiskBook:
    return RiskBook(equity=D(equity), previous_equity=None if previous is None else D(previous),
                    free_cash=D(free), open_count=count, gross_value=D(gross),
                    sector_values={k: D(v) for k, v in (sectors or {}).items()})


def verdict(b: RiskBook, *cands: Candidate) -> list[tuple[str, str, object]]:
    """('ok', ticker, quantity) or ('no', ticker, (reason, rule)) in the order R6 met them."""
    signals = [EntrySignal(c) for c in cands or [candidate()]]
    orders, rejected = risk_manager().approve_entries(DAY, signals, b)
    out = [("ok", o.ticker, o.quantity) for o in orders]
    return out + [("no", r.ticker, (r.reason, r.rule)) for r in rejected]


# A 50.00 stock on 100,000: floor(100000 * 0.01 / (50 * 0.08)) = floor(250) = 250 shares, value
# 12,500, reserve 12,500 * 1.001 = 12,512.50.
OK_250 = [("ok", "AAA", D("250"))]


# ---------------------------------------------------------------- R6.1 daily loss breaker
@pytest.mark.parametrize("equity,tripped", [("97000", True), ("97000.01", False),
                                            ("96999.99", True), ("100000", False)])
def test_breaker_trips_at_exactly_three_percent_down(equity, tripped):
    # floor 100,000 * (1 - 0.03) = 97,000; equity <= 97,000 trips it
    assert risk_manager().breaker_tripped(D(equity), D("100000")) is tripped
    got = verdict(book(equity=equity, previous="100000"))
    if tripped:
        assert got == [("no", "AAA", (RejectReason.DAILY_LOSS_LIMIT, "R6.1"))]
    else:
        assert got[0][0] == "ok"


def test_breaker_never_trips_without_a_previous_step():
    # R6.1: never on the first step, however low the equity is
    assert risk_manager().breaker_tripped(D("1"), None) is False
    assert verdict(book(equity="100000", previous=None)) == OK_250


def test_breaker_rejection_names_the_loss():
    orders, [rej] = risk_manager().approve_entries(DAY, [EntrySignal(candidate())],
                                         book(equity="96400", previous="100000"))
    # 96,400 / 100,000 - 1 = -3.60%
    assert orders == []
    assert (rej.day, rej.ticker, rej.reason, rej.rule, rej.detail) == \
        (DAY, "AAA", RejectReason.DAILY_LOSS_LIMIT, "R6.1",
         "equity -3.60% since the last step <= -3.00%")


# ---------------------------------------------------------------- R6.2 max positions
def test_eighth_position_is_allowed_and_a_ninth_is_not():
    # open + pending < 8: 7 held -> the 8th is approved; 8 held -> rejected
    assert verdict(book(count=7)) == OK_250
    assert verdict(book(count=8)) == [("no", "AAA", (RejectReason.MAX_POSITIONS, "R6.2"))]


def test_approvals_of_the_day_count_towards_max_positions():
    # 6 held + AAA approved = 7, BBB approved = 8, CCC refused (R6.2); exposure caps lifted
    cfg = CFG.risk.model_copy(update={"max_portfolio_exposure": 1.0, "max_sector_exposure": 1.0})
    risk = RiskManager(cfg, CFG.signals.exit, CFG.trading)
    cands = [candidate("AAA", score=90), candidate("BBB", score=80), candidate("CCC", score=70)]
    orders, rejected = risk.approve_entries(DAY, [EntrySignal(c) for c in cands], book(count=6))
    assert [o.ticker for o in orders] == ["AAA", "BBB"]
    assert [(r.ticker, r.reason) for r in rejected] == [("CCC", RejectReason.MAX_POSITIONS)]


# ---------------------------------------------------------------- R6.3 size
def test_size_of_exactly_one_share_is_approved_and_below_one_is_rejected():
    # close 12,500: 100000 * 0.01 / (12500 * 0.08) = 1000 / 1000 = 1 share (12,500 <= 15,000)
    assert risk_manager().position_size(D("100000"), D("12500"), STOCK) == D("1")
    assert verdict(book(), candidate(close=12500.0)) == [("ok", "AAA", D("1"))]
    # close 12,500.01: 1000 / 1000.0008 = 0.9999992 -> floor 0 -> R6.3
    assert verdict(book(), candidate(close=12500.01)) == \
        [("no", "AAA", (RejectReason.SIZE_ZERO, "R6.3"))]


def test_size_absorbs_binary_error_1e9_below_a_whole_share():
    # R5.2a: 99,999.9999996 * 0.01 / (50 * 0.08) = 249.999999999, 1e-9 below 250 -> 250
    assert risk_manager().position_size(D("99999.9999996"), D("50"), STOCK) == D("250")
    # 2e-9 below: 249.999999998 + 1e-9 = 249.999999999 -> floor 249
    assert risk_manager().position_size(D("99999.9999992"), D("50"), STOCK) == D("249")


def test_crypto_size_absorbs_binary_error_1e9_below_a_millionth():
    # 11.999999999999988 * 0.01 / (1 * 0.12) = 0.999999999999999: 1e-9 below 1,000,000 millionths
    assert risk_manager().position_size(D("11.999999999999988"), D("1"), CRYPTO) == D("1.000000")
    # 0.999999999999998: 2e-9 below -> 999,999 millionths
    assert risk_manager().position_size(D("11.999999999999976"), D("1"), CRYPTO) == D("0.999999")


@pytest.mark.parametrize("x,asset_type,expect", [
    ("2.999999999", STOCK, "3"),            # 2.999999999 + 1e-9 = 3.000000000 -> 3
    ("2.9999999989", STOCK, "2"),           # 2.9999999999 -> 2
    ("3", STOCK, "3"),
    ("0.123456999999999", CRYPTO, "0.123457"),   # 123456.999999999 + 1e-9 -> 123457
    ("0.123456999999998", CRYPTO, "0.123456"),   # 123456.999999999 -> 123456
    ("0", STOCK, "0"), ("-1.5", CRYPTO, "0"),  # never negative
    ("0.0000009", CRYPTO, "0"),             # 0.9 millionths -> 0
])
def test_floor_qty_at_the_unit_boundary(x, asset_type, expect):
    got = floor_qty(D(x), asset_type)
    assert got == D(expect) and got >= 0


# ---------------------------------------------------------------- R6.4 gross exposure
def test_gross_exposure_exactly_at_25_percent_is_allowed():
    # 12,500 held + 12,500 new = 25,000 = 0.25 * 100,000 (<=): approved
    assert verdict(book(gross="12500", sectors={"Other": "12500"})) == OK_250
    # 12,500.01 + 12,500 = 25,000.01 > 25,000: R6.4
    assert verdict(book(gross="12500.01", sectors={"Other": "12500.01"})) == \
        [("no", "AAA", (RejectReason.PORTFOLIO_EXPOSURE, "R6.4"))]


# ---------------------------------------------------------------- R6.5 sector exposure
def test_sector_exposure_exactly_at_15_percent_is_allowed():
    # Tech 2,500 + 12,500 = 15,000 = 0.15 * 100,000 (<=): approved (gross 15,000 <= 25,000)
    assert verdict(book(gross="2500", sectors={"Tech": "2500"})) == OK_250
    # 2,500.01 + 12,500 = 15,000.01 > 15,000: R6.5
    assert verdict(book(gross="2500.01", sectors={"Tech": "2500.01"})) == \
        [("no", "AAA", (RejectReason.SECTOR_EXPOSURE, "R6.5"))]
    # the same value in another sector does not count against Tech
    assert verdict(book(gross="2500.01", sectors={"Energy": "2500.01"})) == OK_250


# ---------------------------------------------------------------- R6.6 cash
def test_cash_exactly_enough_is_allowed():
    # 250 * 50 * (1 + 0.001 + 0) = 12,512.50 of free cash needed
    assert risk_manager().entry_cost(D("250"), D("50"), STOCK) == D("12512.50")
    assert verdict(book(free="12512.50")) == OK_250
    assert verdict(book(free="12512.49")) == \
        [("no", "AAA", (RejectReason.INSUFFICIENT_CASH, "R6.6"))]


def test_crypto_entry_cost_includes_slippage_and_commission():
    # 10 * 3 * (1 + 0.003 + 0.001) = 30.12
    assert risk_manager().entry_cost(D("10"), D("3"), CRYPTO) == D("30.120")


def test_approved_entry_reserves_its_cost_and_shrinks_free_cash_for_the_next():
    # AAA reserves 12,512.50 of 25,000: BBB (Energy) then needs 12,512.50 of 12,487.50 -> R6.6
    got = verdict(book(free="25000"), candidate("AAA", score=90),
                  candidate("BBB", sector="Energy", score=80))
    assert got == [("ok", "AAA", D("250")),
                   ("no", "BBB", (RejectReason.INSUFFICIENT_CASH, "R6.6"))]
    # with 25,025 both fit exactly: 2 * 12,512.50
    got = verdict(book(free="25025"), candidate("AAA", score=90),
                  candidate("BBB", sector="Energy", score=80))
    assert got == [("ok", "AAA", D("250")), ("ok", "BBB", D("250"))]


def test_approved_entries_grow_gross_and_sector_of_the_book():
    b = book(count=1, gross="1000", sectors={"Tech": "1000"})
    risk_manager().approve_entries(DAY, [EntrySignal(candidate())], b)
    # 250 * 50 booked on top of 1,000 of Tech: count 2, gross 13,500, Tech 13,500,
    # free 100,000 - 12,512.50
    assert (b.open_count, b.gross_value, b.sector_values, b.free_cash) == \
        (2, D("13500"), {"Tech": D("13500")}, D("87487.50"))


def test_crypto_entry_is_sized_and_reserved_with_crypto_rates():
    # floor6(100000 * 0.01 / (3 * 0.12)) = floor6(2777.7777...) = 2777.777777 (12% stop);
    # reserve 2777.777777 * 3 * (1 + 0.003 + 0.001) = 8366.666664324 (8,333.33 of value <= 15%)
    coin = candidate("BTCUSD", close=3.0, sector="Crypto", asset_type=CRYPTO)
    [order], rejected = risk_manager().approve_entries(DAY, [EntrySignal(coin)], book())
    assert rejected == []
    assert (order.quantity, order.reserved_cash) == (D("2777.777777"), D("8366.666664324"))


def test_a_book_worth_under_a_dollar_still_reports_its_ratio():
    # equity 0.50, close 0.0001: floor(0.005 / 0.000008) = 625 units worth 0.0625; gross
    # 0.10 + 0.0625 = 0.1625 > 0.25 * 0.50 = 0.125 -> R6.4 with the ratio 0.1625 / 0.5 = 0.3250
    _, [rej] = risk_manager().approve_entries(DAY, [EntrySignal(candidate(close=0.0001))],
                                              book(equity="0.50", free="0.50", gross="0.10"))
    assert (rej.rule, rej.detail) == ("R6.4", "gross exposure 0.3250 > max 0.25")


def test_order_carries_the_decision_and_its_reserve():
    [order], _ = risk_manager().approve_entries(DAY, [EntrySignal(candidate())], book())
    assert (order.ticker, order.decided_on, order.decision_bar_date, order.quantity,
            order.reference_close, order.reserved_cash, order.score, order.sequence) == \
        ("AAA", DAY, DAY, D("250"), D("50.0"), D("12512.5000"), 80.0, 0)


# ---------------------------------------------------------------- R5.1 / R5.3 broker
def test_buy_keeps_the_quantity_when_cash_covers_it_exactly():
    # 10 * 50 * 1.001 = 500.50 (no stock commission): cash 500.50 buys all 10
    fill = broker().buy("AAA", STOCK, DAY, 50.0, D("10"), D("500.50"))
    assert (fill.price, fill.quantity, fill.commission) == (D("50.050"), D("10"), D("0"))


def test_buy_shrinks_a_cent_short():
    # 500.49 / 50.05 = 9.9998 -> 9 shares
    assert broker().buy("AAA", STOCK, DAY, 50.0, D("10"), D("500.49")).quantity == D("9")


def test_buy_of_exactly_one_share_and_cancel_below_it():
    assert broker().buy("AAA", STOCK, DAY, 50.0, D("10"), D("50.05")).quantity == D("1")
    assert broker().buy("AAA", STOCK, DAY, 50.0, D("10"), D("50.04")) is None  # 0.9998 -> 0


def test_crypto_buy_with_commission_exactly_covered_and_a_hair_short():
    # price 2 * 1.003 = 2.006; 100 * 2.006 * 1.001 = 200.8006 covers 100 exactly
    fill = broker().buy("BTCUSD", CRYPTO, DAY, 2.0, D("100"), D("200.8006"))
    assert (fill.price, fill.quantity, fill.commission) == (D("2.006"), D("100"), D("0.2006"))
    # 200.8005 / 2.008006 = 99.99995019... -> 99.999950
    assert broker().buy("BTCUSD", CRYPTO, DAY, 2.0, D("100"), D("200.8005")).quantity == \
        D("99.999950")


def test_sell_prices_of_both_asset_types():
    from tests.unit.test_boundaries_exits import held
    stock_fill = broker().sell(held("54.00"), DAY, D("49.68"), None)
    # 49.68 * 0.999 = 49.63032, no commission; 10 shares
    assert (stock_fill.price, stock_fill.commission, stock_fill.quantity) == \
        (D("49.63032"), D("0"), D("10"))
    coin = held("250", asset_type=CRYPTO)
    fill = broker().sell(coin, DAY, D("300"), None)
    # 300 * 0.997 = 299.1; commission 0.001 * 299.1 * 10 = 2.991
    assert (fill.price, fill.commission) == (D("299.100"), D("2.9910"))


# ---------------------------------------------------------------- what a rejection says (STYLE 3)
@pytest.mark.parametrize("b,close,rule,detail", [
    (book(count=8), 50.0, "R6.2", "8 open or pending >= max 8"),
    (book(), 12500.01, "R6.3", "size rounds to 0 at close 12500.01 with equity 100000.00"),
    (book(gross="12500.01"), 50.0, "R6.4", "gross exposure 0.2500 > max 0.25"),
    (book(gross="2500.01", sectors={"Tech": "2500.01"}), 50.0, "R6.5",
     "Tech exposure 0.1500 > max 0.15"),
    (book(free="12512.49"), 50.0, "R6.6", "needs 12512.50 > free cash 12512.49"),
])
def test_each_rejection_names_its_rule_and_the_numbers(b, close, rule, detail):
    _, [rej] = risk_manager().approve_entries(DAY, [EntrySignal(candidate(close=close))], b)
    assert (rej.day, rej.ticker, rej.rule, rej.detail) == (DAY, "AAA", rule, detail)


def test_equal_strength_is_taken_in_ticker_order_and_numbered():
    # same score: BBB, AAA given in that order are met as AAA (sequence 0), BBB (sequence 1)
    orders, _ = risk_manager().approve_entries(DAY, [EntrySignal(candidate("BBB", sector="S1")),
                                           EntrySignal(candidate("AAA", sector="S2"))], book())
    assert [(o.ticker, o.sequence) for o in orders] == [("AAA", 0), ("BBB", 1)]


def test_risk_book_of_a_portfolio_counts_positions_and_pending_entries():
    from momentum.core.domain import EntryOrder
    from momentum.rules.portfolio import Portfolio
    from tests.unit.test_boundaries_exits import held
    pos = held("54.00")                                    # 10 shares marked at 54.00: 540
    pending = EntryOrder(ticker="BBB", asset_type=STOCK, sector="Energy", decided_on=DAY,
                         decision_bar_date=DAY, quantity=D("20"), score=75.0,
                         reference_close=D("10"), reserved_cash=D("200.20"), sequence=0)
    folio = Portfolio(cash=D("1000"), positions={"AAA": pos}, pending_entries=[pending])
    b = RiskBook.of(folio, D("1500"))
    # equity 1000 + 540 = 1540; free 1000 - 200.20; 1 + 1 open; gross 540 + 20 * 10 = 740
    assert (b.equity, b.previous_equity, b.free_cash, b.open_count, b.gross_value) == \
        (D("1540.00"), D("1500"), D("799.80"), 2, D("740.00"))
    assert b.sector_values == {"Tech": D("540.00"), "Energy": D("200")}


# ---------------------------------------------------------------- money text (R5.7)
def test_money_text_is_plain_decimal_and_round_trips():
    from momentum.core.money import money_str, to_money
    # files carry full Decimal text, never exponent notation
    assert (money_str(D("1E-7")), money_str(D("1.5E+3")), money_str(None)) == \
        ("0.0000001", "1500", "")
    assert D(money_str(D("49.63032"))) == D("49.63032")
    with pytest.raises(ValueError, match=r"^not a finite amount: nan$"):
        to_money(float("nan"))
