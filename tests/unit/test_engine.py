"""The daily step (R5, R7) on small hand-built bar tables; every fill is worked out by hand."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from momentum.core.config import StrategyConfig
from momentum.core.domain import (Asset, AssetType, EntryOrder, ExitReason, Position, RejectReason,
                                  Side)
from momentum.rules.signals import exit_levels
from momentum.run.backtester import backtest_days
from momentum.run.engine import EngineState, Rules, run_day
from tests.helpers import bar_frame, crypto, make_market, stock, weekdays

CFG = StrategyConfig()
MON = date(2024, 3, 4)
DAYS = [MON + timedelta(days=i) for i in (0, 1, 2, 3, 4, 7, 8, 9, 10, 11)]  # two weeks of weekdays


def market_of(table: dict[Asset, list[tuple]], **kw):
    """Rows are (day, open, high, low, close[, volume])."""
    frames = {}
    for asset, rows in table.items():
        days = [r[0] for r in rows]
        cols = list(zip(*[r[1:5] for r in rows]))
        volume = [r[5] if len(r) > 5 else 1e6 for r in rows]
        frames[asset] = bar_frame(days, *cols, volume)
    return make_market(frames, **kw)


def order(ticker="AAA", qty="10", decided=MON, asset_type=AssetType.STOCK, sector="Tech",
          seq=0, close="50", bar_day=None) -> EntryOrder:
    q, c = D(qty), D(close)
    return EntryOrder(ticker=ticker, asset_type=asset_type, sector=sector, decided_on=decided,
                      decision_bar_date=bar_day or decided, quantity=q, score=80.0,
                      reference_close=c, reserved_cash=q * c * D("1.001"), sequence=seq)


def start(cash="100000", orders=(), last_step=MON) -> EngineState:
    state = EngineState.start(D(cash))
    state.portfolio.pending_entries.extend(orders)
    state.last_step = last_step
    return state


# Built inside each test, not at import: mutation testing swaps code in only for calls made
# after the test process starts, so an object built at import would keep the original code.
def rules_of(cfg: StrategyConfig = CFG) -> Rules:
    return Rules.from_config(cfg)


def run(state, market, days, rules=None):
    rules = rules or rules_of()
    return [run_day(d, state, market.until(d), rules) for d in days]


AAA = stock("AAA", sector="Tech")
F = D("50") * D("1.001")                      # 50.05: the entry fill of most cases below
STOP, TARGET = exit_levels(F, AssetType.STOCK, CFG.signals.exit)  # 46.046, 60.06
ENTRY_ROWS = [(DAYS[0], 50, 51, 49, 50), (DAYS[1], 50, 52, 49, 51)]


def test_entry_fills_at_next_open_with_slippage_and_levels():
    state = start(orders=[order()])
    [day] = run(state, market_of({AAA: ENTRY_ROWS}), DAYS[1:2])
    pos = state.portfolio.positions["AAA"]
    assert (pos.entry_price, pos.quantity, pos.entry_date) == (D("50.050"), D("10"), DAYS[1])
    assert (pos.stop_price, pos.target_price) == (D("46.04600"), D("60.06000"))
    assert day.cash == D("100000") - D("500.50")
    assert day.equity == D("99499.50") + D("10") * D("51")
    assert [f.side for f in day.fills] == [Side.BUY]


def held_then(rows_after, orders=None):
    """Enter AAA on DAYS[1] at 50.05, then run the given later bars."""
    rows = ENTRY_ROWS + rows_after
    state = start(orders=orders or [order()])
    results = run(state, market_of({AAA: rows}), [r[0] for r in rows[1:]])
    return state, results


def exit_fill(state):
    [trade] = state.portfolio.closed_trades
    return trade


def test_stop_hit_through_gap_down_fills_at_the_open():
    state, _ = held_then([(DAYS[2], 45, 46, 44, 45.5)])
    trade = exit_fill(state)
    assert trade.exit_reason is ExitReason.STOP_LOSS and trade.exit_date == DAYS[2]
    assert trade.exit_price == D("45") * D("0.999")              # 44.955
    assert trade.pnl == (D("44.955") - D("50.05")) * 10          # -50.95
    assert state.portfolio.cash == D("100000") - D("500.5") + D("449.55")


def test_stop_touched_intrabar_fills_at_the_stop():
    state, _ = held_then([(DAYS[2], 48, 48.5, 45, 47)])
    assert exit_fill(state).exit_price == STOP * D("0.999")


def test_target_fills_at_the_target():
    state, _ = held_then([(DAYS[2], 55, 61, 54, 60)])
    trade = exit_fill(state)
    assert trade.exit_reason is ExitReason.PROFIT_TARGET
    assert trade.exit_price == TARGET * D("0.999")                # 59.99994


def test_stop_and_target_in_the_same_bar_is_a_stop():
    state, _ = held_then([(DAYS[2], 50, 61, 45, 55)])
    trade = exit_fill(state)
    assert trade.exit_reason is ExitReason.STOP_LOSS and trade.exit_price == STOP * D("0.999")


def test_position_is_checked_on_its_entry_bar():
    rows = [(DAYS[0], 50, 51, 49, 50), (DAYS[1], 50, 50.5, 45, 46)]
    state = start(orders=[order()])
    run(state, market_of({AAA: rows}), DAYS[1:2])
    trade = exit_fill(state)
    assert trade.entry_date == trade.exit_date == DAYS[1]
    assert trade.exit_reason is ExitReason.STOP_LOSS and trade.exit_price == STOP * D("0.999")


def test_trailing_never_active_on_entry_bar_then_ratchets_and_is_the_level_hit():
    rows = [(DAYS[0], 50, 51, 49, 50),
            (DAYS[1], 50, 57, 47, 56),     # entry bar: high 57 >= 55.055 activates after checks
            (DAYS[2], 56, 58, 53.5, 57),   # trail 52.44 -> ratchets to 58*0.92 = 53.36
            (DAYS[3], 57, 57.5, 52, 53)]   # low 52 <= 53.36 (> stop 46.046): trailing stop
    state = start(orders=[order()])
    results = run(state, market_of({AAA: rows}), DAYS[1:4])
    assert results[0].fills[0].side is Side.BUY and len(results[0].fills) == 1
    assert state.portfolio.closed_trades[0].exit_date == DAYS[3]
    trade = exit_fill(state)
    assert trade.exit_reason is ExitReason.TRAILING_STOP
    assert trade.exit_price == D("58") * D("0.92") * D("0.999")


def fade_rows():
    """20 calm bars (RSI defined), then a slide that pushes RSI14 under 40 without a stop."""
    days = [MON - timedelta(days=40) + timedelta(days=i) for i in range(40)]
    rows, price = [], 50.0
    for i, d in enumerate(days):
        step = 0.2 if i % 2 else -0.2
        if i >= 30:
            step = -0.35
        rows.append((d, price, price + 0.3, price + step - 0.3, price + step))
        price += step
    return rows


def test_momentum_fade_exit_fills_at_the_next_open():
    import numpy as np

    from momentum.data.indicators import rsi_wilder
    rows = fade_rows()
    closes = np.array([r[4] for r in rows])
    rsi = rsi_wilder(closes)
    entry_i = 28
    fade_i = next(i for i in range(entry_i + 1, len(rows)) if rsi[i] < 40)
    asset = stock("FADE")
    state = start(orders=[order("FADE", decided=rows[entry_i - 1][0], close=str(rows[entry_i - 1][4]))],
                  last_step=rows[entry_i - 1][0])
    run(state, market_of({asset: rows}), [r[0] for r in rows[entry_i:fade_i + 2]])
    trade = exit_fill(state)
    assert trade.exit_reason is ExitReason.MOMENTUM_FADE
    assert trade.exit_date == rows[fade_i + 1][0]
    assert trade.exit_price == D(repr(rows[fade_i + 1][1])) * D("0.999")


def test_time_exit_after_30_calendar_days_fills_at_the_next_open():
    days = [DAYS[0] + timedelta(days=i) for i in range(40)]
    rows = [(d, 50, 50.5, 49.5, 50 + (i % 3) * 0.1) for i, d in enumerate(days)]
    state = start(orders=[order()])
    run(state, market_of({AAA: rows}), days[1:33])
    trade = exit_fill(state)
    # entered days[1]; days[31] is 30 calendar days later -> order; fills at days[32] open
    assert trade.exit_reason is ExitReason.TIME_EXIT and trade.exit_date == days[32]
    assert trade.exit_price == D("50") * D("0.999")


def test_cash_shrinks_the_entry_at_the_fill():
    state = start(cash="1000", orders=[order(qty="30")])
    run(state, market_of({AAA: ENTRY_ROWS}), DAYS[1:2])
    pos = state.portfolio.positions["AAA"]
    assert pos.quantity == D("19") and state.portfolio.cash == D("1000") - D("19") * D("50.05")


def test_entry_cancelled_when_cash_buys_nothing():
    state = start(cash="40", orders=[order()])
    [day] = run(state, market_of({AAA: ENTRY_ROWS}), DAYS[1:2])
    assert not state.portfolio.positions and state.portfolio.cash == D("40")
    assert [(r.day, r.reason) for r in day.rejections] == [(DAYS[1], RejectReason.INSUFFICIENT_CASH)]


def test_entry_without_a_bar_by_the_next_step_expires_as_no_fill():
    halted = [(DAYS[0], 50, 51, 49, 50), (DAYS[3], 50, 51, 49, 50)]  # no bar on DAYS[1], DAYS[2]
    other = [(d, 10, 11, 9, 10) for d in DAYS[:4]]
    state = start(orders=[order()])
    results = run(state, market_of({AAA: halted, stock("BBB"): other}), DAYS[1:4])
    assert [(r.day, r.ticker, r.reason) for r in results[0].rejections] == \
        [(DAYS[1], "AAA", RejectReason.NO_FILL)]
    assert not state.portfolio.positions and not state.portfolio.pending_entries


def test_delisted_position_closes_on_the_fifth_missing_step_at_last_close():
    rows = ENTRY_ROWS + [(DAYS[2], 51, 52, 50, 51.5)]  # last bar DAYS[2]
    other = [(d, 10, 11, 9, 10) for d in DAYS]
    state = start(orders=[order()])
    results = run(state, market_of({AAA: rows, stock("BBB"): other}), DAYS[1:8])
    # DAYS[3..7] are five steps on which BBB trades and AAA does not: closed on the fifth
    assert all(not r.fills for r in results[2:6])
    assert [f.reason for f in results[6].fills] == [ExitReason.DELISTED]
    trade = exit_fill(state)
    assert trade.exit_reason is ExitReason.DELISTED and trade.exit_date == DAYS[7]
    assert trade.exit_price == D("51.5") * D("0.999")


def test_missing_steps_do_not_count_when_no_asset_of_the_class_trades():
    rows = ENTRY_ROWS + [(DAYS[2], 51, 52, 50, 51.5)]
    state = start(orders=[order()])
    run(state, market_of({AAA: rows}), DAYS[1:9])  # nobody else trades: never "delisted"
    assert "AAA" in state.portfolio.positions


def test_crypto_entry_quantity_has_six_decimals_and_commission():
    coin = crypto("COINUSD")
    rows = [(DAYS[0] + timedelta(days=i), 3.0, 3.1, 2.9, 3.0) for i in range(3)]
    state = start(orders=[order("COINUSD", qty="2777.777777", asset_type=AssetType.CRYPTO,
                                sector="Crypto", close="3")])
    run(state, market_of({coin: rows}), [DAYS[0] + timedelta(days=1)])
    pos = state.portfolio.positions["COINUSD"]
    price = D("3.0") * D("1.003")
    assert pos.quantity == D("2777.777777") and pos.entry_price == price
    assert pos.entry_commission == D("0.001") * price * D("2777.777777")
    assert state.portfolio.cash == D("100000") - price * pos.quantity - pos.entry_commission


def test_exits_fill_before_entries_and_stop_cash_does_not_fund_the_morning():
    bbb = stock("BBB", sector="Energy")
    rows_b = [(DAYS[0], 20, 21, 19, 20), (DAYS[1], 20, 21, 19, 20), (DAYS[2], 20, 21, 19, 20)]
    state = start(cash="600", orders=[order()])   # AAA: 10 x 50.05 = 500.5
    market = market_of({AAA: ENTRY_ROWS + [(DAYS[2], 45, 46, 44, 45)], bbb: rows_b})
    run(state, market, DAYS[1:2])
    state.portfolio.pending_entries.append(order("BBB", qty="10", decided=DAYS[1], sector="Energy",
                                                 close="20"))
    [day] = run(state, market, DAYS[2:3])
    # BBB fills at the open with the 99.50 left (4 shares at 20.02); AAA's gap-down stop comes after
    assert [(f.ticker, f.side) for f in day.fills] == [("BBB", Side.BUY), ("AAA", Side.SELL)]
    assert state.portfolio.positions["BBB"].quantity == D("4")


# ---------------------------------------------------------------- R6.1 through run_day
# A market with one entry signal on SIG_DAY (Wed 2024-01-10): LEAD zigzags +1.5% / -1.0% from 34
# to 50.59, RSI14 61.6 and volume 2.5x its 20-day mean on SIG_DAY; four weaker zigzags complete
# the eligible set, so LEAD scores 50 * (2*4 + 1) / 5 = 90. XX (unknown market cap: never
# eligible) is held, 1,200 shares beside 40,000 cash: 100,000 at 50.00 on PREV_DAY.
SIG_DAYS = weekdays(date(2023, 6, 1), 160)
PREV_DAY, SIG_DAY = SIG_DAYS[-2:]
WIDE = StrategyConfig.model_validate(  # exposure caps lifted: only R6.1 can refuse LEAD
    {"risk": {"max_portfolio_exposure": 1.0, "max_sector_exposure": 1.0}})


def zigzag(n: int, start: float, up: float, down: float = 0.01) -> list[float]:
    closes = [start]
    for i in range(1, n):
        closes.append(round(closes[-1] * (1 + (up if i % 2 else -down)), 2))
    return closes


def signal_market(xx_close_on_signal_day: float):
    def frame(closes, volumes, days):
        opens = [closes[0], *closes[:-1]]
        highs = [max(o, c) * 1.005 for o, c in zip(opens, closes, strict=True)]
        lows = [min(o, c) * 0.995 for o, c in zip(opens, closes, strict=True)]
        return bar_frame(days, opens, highs, lows, closes, volumes)

    n = len(SIG_DAYS)
    items = {stock("LEAD", "Tech"): frame(zigzag(n, 34.0, 0.015), [1e6] * (n - 1) + [2.5e6],
                                          SIG_DAYS)}
    for i, (s, up) in enumerate([(40.0, 0.011), (60.0, 0.0105), (25.0, 0.01), (45.0, 0.012)]):
        items[stock(f"F{i}", "Energy")] = frame(zigzag(n, s, up), [1e6] * n, SIG_DAYS)
    xx = [50.0] * 9 + [xx_close_on_signal_day]        # 10 bars: RSI undefined, no fade exit
    items[stock("XX", "Utilities", cap=None)] = bar_frame(SIG_DAYS[-10:], xx, xx, xx, xx,
                                                          [1e6] * 10)
    return make_market(items)


def holding_xx(first_step: bool) -> EngineState:
    state = EngineState.start(D("100000"))
    state.portfolio.cash = D("40000")
    state.portfolio.positions["XX"] = Position(
        ticker="XX", asset_type=AssetType.STOCK, sector="Utilities", entry_date=SIG_DAYS[-12],
        entry_price=D("50"), quantity=D("1200"), entry_commission=D(0), stop_price=D("40"),
        target_price=D("70"), highest_high=D("50"), trailing_stop=None, last_close=D("50"),
        last_bar_date=SIG_DAYS[-3])
    state.last_step = SIG_DAYS[-3]
    if not first_step:
        run(state, signal_market(50.0), [PREV_DAY], rules_of(WIDE))
    return state


def signal_day(xx_close: float, first_step: bool = False):
    state = holding_xx(first_step)
    [day] = run(state, signal_market(xx_close), [SIG_DAY], rules_of(WIDE))
    return state, day


def test_daily_loss_breaker_blocks_entries_in_the_engine():
    # XX 50 -> 47: equity 40,000 + 1,200 * 47 = 96,400 <= 100,000 * 0.97 = 97,000: LEAD refused
    state, day = signal_day(47.0)
    assert (day.previous_equity, day.equity) == (D("100000"), D("96400"))
    # a cache hit (full scan on PREV_DAY): LEAD's M rose above every stored M, its own too: 100
    assert (day.full_scan, [(s.ticker, s.strength) for s in day.signals]) == \
        (False, [("LEAD", 100.0)])
    assert day.entries == [] and state.portfolio.pending_entries == []
    assert [(r.day, r.ticker, r.reason, r.rule) for r in day.rejections] == \
        [(SIG_DAY, "LEAD", RejectReason.DAILY_LOSS_LIMIT, "R6.1")]


def test_daily_loss_breaker_trips_at_exactly_three_percent_in_the_engine():
    # XX 47.50: 40,000 + 57,000 = 97,000 == the floor: tripped (<=)
    _, day = signal_day(47.5)
    assert day.equity == D("97000") and day.entries == []
    assert [r.reason for r in day.rejections] == [RejectReason.DAILY_LOSS_LIMIT]
    # XX 47.51: 97,012 > 97,000: LEAD approved, floor(97012 * 0.01 / (50.59 * 0.08)) = 239
    _, day = signal_day(47.51)
    assert day.equity == D("97012") and day.rejections == []
    assert [(o.ticker, o.quantity) for o in day.entries] == [("LEAD", D("239"))]


def test_daily_loss_breaker_never_trips_on_the_first_step():
    # The same -3.6% day as the run's first step (no equity recorded before it, though the
    # capital was 100,000): R6.1 does not apply; size floor(96400 * 0.01 / 4.0472) = 238
    state, day = signal_day(47.0, first_step=True)
    assert day.previous_equity is None and day.equity == D("96400")
    assert day.equity <= state.initial_capital * D("0.97")      # would trip against the capital
    # a full scan: LEAD 50 * (2*4 + 1) / 5 = 90 and F3 50 * (2*3 + 1) / 5 = 70 are candidates;
    # F3 has no volume surge, so LEAD is the only signal
    assert [(c.ticker, c.score) for c in day.candidates] == [("LEAD", 90.0), ("F3", 70.0)]
    assert day.full_scan and [(s.ticker, s.strength) for s in day.signals] == [("LEAD", 90.0)]
    assert day.rejections == []
    assert [(o.ticker, o.quantity, o.decided_on) for o in day.entries] == \
        [("LEAD", D("238"), SIG_DAY)]
    assert state.portfolio.pending_entries == day.entries


# ---------------------------------------------------------------- R4.5 boundaries through run_day
def test_engine_stop_fills_when_the_low_equals_the_stop():
    # F 50.05, stop 46.046: low 46.046 touches it -> sold at 46.046 * 0.999 = 46.0999...
    state, _ = held_then([(DAYS[2], 48, 48.5, 46.046, 47)])
    trade = exit_fill(state)
    assert (trade.exit_reason, trade.exit_date) == (ExitReason.STOP_LOSS, DAYS[2])
    assert trade.exit_price == D("46.046") * D("0.999") == D("45.999954")


def test_engine_keeps_the_position_when_the_low_is_a_tenth_of_a_cent_above_the_stop():
    state, _ = held_then([(DAYS[2], 48, 48.5, 46.047, 47)])
    assert state.portfolio.closed_trades == [] and "AAA" in state.portfolio.positions


def test_engine_target_fills_when_the_high_equals_the_target():
    # target 50.05 * 1.2 = 60.06: high 60.06 -> sold at 60.06 * 0.999 = 59.99994
    state, _ = held_then([(DAYS[2], 55, 60.06, 54, 60)])
    trade = exit_fill(state)
    assert (trade.exit_reason, trade.exit_price) == (ExitReason.PROFIT_TARGET, D("59.99994"))
    state, _ = held_then([(DAYS[2], 55, 60.05, 54, 60)])
    assert state.portfolio.closed_trades == []


def test_engine_trailing_stop_fills_when_the_low_equals_the_trail():
    # entry bar high 57 >= 55.055 activates the trail at 57 * 0.92 = 52.44 (> stop 46.046)
    rows = [(DAYS[0], 50, 51, 49, 50), (DAYS[1], 50, 57, 47, 56), (DAYS[2], 56, 56.5, 52.44, 53)]
    state = start(orders=[order()])
    run(state, market_of({AAA: rows}), DAYS[1:3])
    trade = exit_fill(state)
    assert (trade.exit_reason, trade.exit_price) == (ExitReason.TRAILING_STOP,
                                                     D("52.44") * D("0.999"))


def test_mixed_calendars_over_a_weekend_and_a_holiday():
    # NYSE: Fri 2024-01-12, Mon 2024-01-15 is MLK day (closed), Tue 2024-01-16
    steps = backtest_days(market_of({stock("S"): [(date(2024, 1, 12), 1, 1, 1, 1),
                                                  (date(2024, 1, 16), 1, 1, 1, 1)]}),
                          date(2024, 1, 12), date(2024, 1, 16))
    assert steps == [date(2024, 1, 12), date(2024, 1, 16)]
    fri, sat, sun, mon, tue = (date(2024, 1, 12) + timedelta(days=i) for i in (0, 1, 2, 3, 4))
    coin, stk = crypto("COINUSD"), stock("STK", sector="Tech")
    coin_rows = [(fri, 10, 10.5, 9.5, 10), (sat, 10, 10.4, 9.8, 10.2), (sun, 10.2, 10.3, 8, 8.5),
                 (mon, 8.5, 9, 8.4, 8.8), (tue, 8.8, 9, 8.5, 8.9)]
    stk_rows = [(fri, 50, 51, 49, 50), (tue, 50, 51, 49.5, 50.5)]
    state = start(cash="1000", last_step=date(2024, 1, 11), orders=[
        order("COINUSD", qty="50", decided=fri, asset_type=AssetType.CRYPTO, sector="Crypto",
              close="10", seq=0),
        order("STK", qty="15", decided=fri, sector="Tech", seq=1)])
    state.last_step = date(2024, 1, 11)
    # orders decided on Fri (they would be queued by Fri's step): run only Tue's step
    [day] = run(state, market_of({coin: coin_rows, stk: stk_rows}), [tue])
    buy_coin, stop_coin, buy_stk = day.fills
    coin_price = D("10") * D("1.003")
    assert (buy_coin.ticker, buy_coin.day, buy_coin.price) == ("COINUSD", sat, coin_price)
    coin_stop = coin_price * D("0.88")
    assert (stop_coin.day, stop_coin.reason, stop_coin.price) == (sun, ExitReason.STOP_LOSS, coin_stop * D("0.997"))
    # Sunday's stop freed cash that Tuesday's stock entry can use (an earlier bar date)
    assert (buy_stk.ticker, buy_stk.day, buy_stk.quantity) == ("STK", tue, D("15"))
    cash = D("1000") - coin_price * 50 * D("1.001") + stop_coin.price * 50 * D("0.999") - D("50.05") * 15
    assert state.portfolio.cash == cash


def test_run_day_refuses_a_view_of_another_day():
    market = market_of({AAA: ENTRY_ROWS})
    with pytest.raises(ValueError, match=f"view is for {DAYS[0]}, not {DAYS[1]}"):
        run_day(DAYS[1], start(), market.until(DAYS[0]), rules_of())


def test_day_result_records_exposure_data_dates_and_the_history():
    state = start(orders=[order()])
    [day] = run(state, market_of({AAA: ENTRY_ROWS}), DAYS[1:2])
    # 10 AAA at the close 51 = 510 of equity 99,499.50 + 510 = 100,009.50
    assert day.gross_exposure == D("510") / D("100009.50")
    assert day.sector_exposure == {"Tech": D("510") / D("100009.50")}
    assert (sorted(day.data_dates), day.data_dates["stock"], day.skipped) == \
        (["crypto", "stock"], DAYS[1], [])
    assert (state.last_step, state.fills, state.rejections) == (DAYS[1], day.fills, [])
    assert [(p.day, p.equity, p.cash) for p in state.equity_curve] == \
        [(DAYS[1], D("100009.50"), D("99499.50"))]


def test_same_day_cannot_run_twice():
    state = start()
    market = market_of({AAA: ENTRY_ROWS})
    run(state, market, DAYS[1:2])
    with pytest.raises(Exception, match="not after the last step"):
        run(state, market, DAYS[1:2])


def test_after_bar_equals_a_replace_of_exactly_the_bar_fields():
    # after_bar builds the next Position positionally (it runs on every bar of every held
    # position); it must equal dataclasses.replace of only the fields a bar changes, whatever
    # the other fields hold, so a field added to Position or reordered cannot slip through.
    from dataclasses import fields, replace

    from momentum.data.market import BarPoint
    from momentum.run.engine import after_bar
    pos = Position(ticker="BTCUSD", asset_type=AssetType.CRYPTO, sector="Crypto",
                   entry_date=MON - timedelta(days=3), entry_price=D("1.5"), quantity=D("2.25"),
                   entry_commission=D("0.01"), stop_price=D("1.3"), target_price=D("1.9"),
                   highest_high=D("1.6"), trailing_stop=D("1.4"), last_close=D("1.55"),
                   last_bar_date=MON, entry_score=91.5, pending_exit=None, missed_steps=3)
    assert len({getattr(pos, f.name) for f in fields(pos)}) == len(fields(pos))  # all distinct
    bar = BarPoint(day=DAYS[1], open=1.6, high=1.8, low=1.5, close=1.75, rsi14=55.0)
    got = after_bar(pos, bar, ExitReason.TIME_EXIT, D("1.8"), D("1.65"))
    assert got == replace(pos, pending_exit=ExitReason.TIME_EXIT, highest_high=D("1.8"),
                          trailing_stop=D("1.65"), last_close=D("1.75"), last_bar_date=DAYS[1],
                          missed_steps=0)
