"""The daily step handles every asset of a day, whatever happened to the one before it (R5.4, R7).

Each case has two or more assets on one bar date where the first, in the engine's order (ticker
order, or decision order for entries), takes an early way out (no pending exit, no bar, no cash,
an immediate stop): the next asset must still be handled. Plus the history a state keeps across
steps, and what a rejection records.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from momentum.core.domain import AssetType, ExitReason, Position, RejectReason, Side
from momentum.run.engine import EngineState
from tests.helpers import stock
from tests.unit.test_engine import DAYS, market_of, order, run, start

AAA, BBB, CCC = stock("AAA", sector="Tech"), stock("BBB", sector="Tech"), stock("CCC")
FLAT = [(d, 50, 51, 49, 50) for d in DAYS]


def holding(state: EngineState, ticker: str, sector: str = "Tech", pending_exit=None,
            last_bar: date = DAYS[0], qty: str = "10") -> None:
    """A position bought at 50 (stop 46, target 60), marked at 50 on `last_bar`."""
    state.portfolio.positions[ticker] = Position(
        ticker=ticker, asset_type=AssetType.STOCK, sector=sector, entry_date=DAYS[0],
        entry_price=D("50"), quantity=D(qty), entry_commission=D(0), stop_price=D("46"),
        target_price=D("60"), highest_high=D("51"), trailing_stop=None, last_close=D("50"),
        last_bar_date=last_bar, pending_exit=pending_exit)


def test_a_pending_exit_fills_even_after_a_position_without_one():
    # AAA has no pending exit; BBB (after it in ticker order) has a time exit: sold at 50 * 0.999
    state = start()
    holding(state, "AAA")
    holding(state, "BBB", pending_exit=ExitReason.TIME_EXIT)
    [day] = run(state, market_of({AAA: FLAT, BBB: FLAT}), DAYS[1:2])
    assert [(f.ticker, f.side, f.price, f.reason) for f in day.fills] == \
        [("BBB", Side.SELL, D("49.950"), ExitReason.TIME_EXIT)]
    assert sorted(state.portfolio.positions) == ["AAA"]


def test_an_entry_fills_after_an_earlier_order_without_a_bar():
    # AAA (sequence 0) has no bar on DAYS[1]; BBB (sequence 1) fills at 50 * 1.001 = 50.05
    halted = [FLAT[0], FLAT[3]]
    state = start(orders=[order("AAA", seq=0), order("BBB", seq=1)])
    [day] = run(state, market_of({AAA: halted, BBB: FLAT, CCC: FLAT}), DAYS[1:2])
    assert [(f.ticker, f.price) for f in day.fills] == [("BBB", D("50.050"))]
    # AAA expires at the end of the step (R5.5), with everything it records
    assert [(r.day, r.ticker, r.reason, r.rule, r.detail) for r in day.rejections] == \
        [(DAYS[1], "AAA", RejectReason.NO_FILL, "R5.5", f"no bar after {DAYS[0]} by {DAYS[1]}")]


def test_an_entry_fills_after_an_earlier_one_cancelled_for_cash():
    # cash 100: AAA opens at 500 (500.50 a share with slippage: 0 shares, cancelled, R5.3);
    # BBB at 10: 10 shares need 100.10 > 100, so it shrinks to floor(100 / 10.01) = 9
    dear = [(DAYS[0], 500, 501, 499, 500), (DAYS[1], 500, 501, 499, 500)]
    cheap = [(DAYS[0], 10, 11, 9.5, 10), (DAYS[1], 10, 11, 9.5, 10)]
    state = start(cash="100", orders=[order("AAA", seq=0, close="500"),
                                      order("BBB", seq=1, close="10")])
    [day] = run(state, market_of({AAA: dear, BBB: cheap}), DAYS[1:2])
    assert [(f.ticker, f.quantity, f.price) for f in day.fills] == [("BBB", D("9"), D("10.010"))]
    assert [(r.day, r.ticker, r.reason, r.rule, r.detail) for r in day.rejections] == \
        [(DAYS[1], "AAA", RejectReason.INSUFFICIENT_CASH, "R5.3",
          "cash 100.00 buys nothing at 500.000000")]


def test_a_held_position_is_checked_after_a_cancelled_order_of_an_earlier_ticker():
    # AAA's order is cancelled (no cash), so AAA has a bar but no position; BBB, held, stops
    # out on the same bar: low 45 <= stop 46, open 47 -> fill 46 * 0.999 = 45.954
    dear = [(DAYS[0], 500, 501, 499, 500), (DAYS[1], 500, 501, 499, 500)]
    state = start(cash="100", orders=[order("AAA", close="500")])
    holding(state, "BBB")
    [day] = run(state, market_of({AAA: dear, BBB: [FLAT[0], (DAYS[1], 47, 48, 45, 46)]}),
                DAYS[1:2])
    assert [(f.ticker, f.reason, f.price) for f in day.fills] == \
        [("BBB", ExitReason.STOP_LOSS, D("45.954"))]


def test_both_positions_stop_out_on_the_same_bar():
    state = start()
    holding(state, "AAA")
    holding(state, "BBB")
    crash = [FLAT[0], (DAYS[1], 47, 48, 45, 46)]       # low 45 <= stop 46 for both
    [day] = run(state, market_of({AAA: crash, BBB: crash}), DAYS[1:2])
    assert [(f.ticker, f.reason, f.price) for f in day.fills] == \
        [("AAA", ExitReason.STOP_LOSS, D("45.954")), ("BBB", ExitReason.STOP_LOSS, D("45.954"))]


def test_a_delisted_position_is_counted_after_one_that_trades():
    # AAA trades every day; ZZZ's last bar is DAYS[0]: DAYS[1..5] are its five missing steps
    zzz = stock("ZZZ")
    state = start()
    holding(state, "AAA")
    holding(state, "ZZZ")
    results = run(state, market_of({AAA: FLAT, zzz: FLAT[:1]}), DAYS[1:6])
    assert [f.ticker for r in results[:4] for f in r.fills] == []
    assert [(f.ticker, f.reason, f.price) for f in results[4].fills] == \
        [("ZZZ", ExitReason.DELISTED, D("49.950"))]


def test_a_bar_resets_the_delisting_count():
    # ZZZ misses DAYS[1..3] (3 steps), trades on DAYS[4], then misses DAYS[5..8] (4 steps):
    # never 5 in a row, so it is still held
    zzz = stock("ZZZ")
    state = start()
    holding(state, "AAA")
    holding(state, "ZZZ")
    run(state, market_of({AAA: FLAT, zzz: [FLAT[0], FLAT[4]]}), DAYS[1:9])
    assert sorted(state.portfolio.positions) == ["AAA", "ZZZ"]
    assert state.portfolio.positions["ZZZ"].missed_steps == 4


def test_two_positions_of_one_sector_add_up_in_the_exposure():
    # 10 AAA + 10 BBB (both Tech) at 50 = 1,000 of equity 100,000 + 1,000 (cash unchanged)
    state = start()
    holding(state, "AAA")
    holding(state, "BBB")
    [day] = run(state, market_of({AAA: FLAT, BBB: FLAT}), DAYS[1:2])
    assert day.equity == D("101000")
    assert day.sector_exposure == {"Tech": D("1000") / D("101000")}
    assert day.gross_exposure == D("1000") / D("101000")


def test_an_empty_account_has_zero_exposure():
    state = start(cash="0")
    [day] = run(state, market_of({AAA: FLAT}), DAYS[1:2])
    assert (day.equity, day.gross_exposure, day.sector_exposure) == (D("0"), D("0"), {})


def test_the_state_keeps_every_fill_and_rejection_of_every_step():
    # DAYS[1]: AAA buys (10 x 50.05); BBB's order finds no bar and expires. DAYS[2]: AAA stops
    # out (low 45): the state holds both fills and the rejection, in order
    rows = [FLAT[0], FLAT[1], (DAYS[2], 47, 48, 45, 46)]
    state = start(orders=[order("AAA", seq=0), order("BBB", seq=1)])
    first, second = run(state, market_of({AAA: rows, BBB: [FLAT[0], FLAT[3]]}), DAYS[1:3])
    assert state.fills == first.fills + second.fills
    assert [(f.ticker, f.side) for f in state.fills] == [("AAA", Side.BUY), ("AAA", Side.SELL)]
    assert state.rejections == first.rejections + second.rejections
    assert [r.ticker for r in state.rejections] == ["BBB"]


def test_the_opened_position_carries_the_order_and_the_fill():
    state = start(orders=[order("AAA", sector="Tech")])
    run(state, market_of({AAA: FLAT}), DAYS[1:2])
    pos = state.portfolio.positions["AAA"]
    # F 50.05; marked at the close of its entry bar, 50; the order's score 80
    assert (pos.sector, pos.entry_score, pos.entry_date, pos.last_close, pos.last_bar_date) == \
        ("Tech", 80.0, DAYS[1], D("50"), DAYS[1])
    assert (pos.highest_high, pos.trailing_stop, pos.missed_steps) == (D("51"), None, 0)


def test_skipped_assets_are_reported_on_the_day():
    from tests.helpers import bar_frame, make_market
    frame = bar_frame([r[0] for r in FLAT], *zip(*[r[1:] for r in FLAT], strict=True),
                      [1e6] * len(FLAT))
    market = make_market({AAA: frame}, skipped={"BAD": "no bars in the file"})
    [day] = run(start(), market, DAYS[1:2])
    assert day.skipped == ["BAD: no bars in the file"]
