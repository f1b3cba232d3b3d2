"""Portfolio (the one mutable object): fills move cash, trades carry their position, errors name it."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from momentum.core.domain import (AssetType, EntryOrder, ExitReason, Fill, Position, Side,
                                  Trade)
from momentum.core.errors import StateError
from momentum.rules.portfolio import Portfolio

DAY = date(2024, 3, 4)


def position(ticker: str = "AAA", sector: str = "Tech", entered: date = DAY,
             qty: str = "10", asset_type: AssetType = AssetType.STOCK) -> Position:
    return Position(ticker=ticker, asset_type=asset_type, sector=sector, entry_date=entered,
                    entry_price=D("50"), quantity=D(qty), entry_commission=D("0.5"),
                    stop_price=D("46"), target_price=D("60"), highest_high=D("51"),
                    trailing_stop=None, last_close=D("52"), last_bar_date=entered)


def pending(ticker: str, sector: str, qty: str, close: str) -> EntryOrder:
    return EntryOrder(ticker=ticker, asset_type=AssetType.STOCK, sector=sector, decided_on=DAY,
                      decision_bar_date=DAY, quantity=D(qty), score=75.0,
                      reference_close=D(close), reserved_cash=D(qty) * D(close), sequence=0)


def buy(ticker: str = "AAA") -> Fill:
    return Fill(ticker, Side.BUY, DAY, D("50"), D("10"), D("0.5"))


def test_buy_and_sell_move_cash_and_close_into_a_trade():
    book = Portfolio(cash=D("1000"))
    book.apply_fill(buy(), position(asset_type=AssetType.CRYPTO, sector="Crypto"))
    assert book.cash == D("1000") - D("500") - D("0.5")            # 499.5
    sell = Fill("AAA", Side.SELL, date(2024, 3, 8), D("55"), D("10"), D("0.55"),
                ExitReason.PROFIT_TARGET)
    trade = book.apply_fill(sell)
    assert book.cash == D("499.5") + D("550") - D("0.55")          # 1048.95
    assert (trade.ticker, trade.asset_type, trade.sector, trade.entry_date, trade.exit_date) == \
        ("AAA", AssetType.CRYPTO, "Crypto", DAY, date(2024, 3, 8))
    assert (trade.exit_price, trade.exit_commission, trade.exit_reason) == \
        (D("55"), D("0.55"), ExitReason.PROFIT_TARGET)
    assert trade.pnl == (D("55") - D("50")) * 10 - D("0.5") - D("0.55")   # 48.95
    assert book.positions == {} and book.closed_trades == [trade]


def test_a_buy_without_its_position_is_refused():
    book = Portfolio(cash=D("1000"))
    with pytest.raises(ValueError, match="^a buy fill needs the Position it opens$"):
        book.apply_fill(buy())
    with pytest.raises(ValueError, match="^a buy fill needs the Position it opens$"):
        book.apply_fill(buy("AAA"), position("BBB"))
    assert book.cash == D("1000") and book.positions == {}


def test_a_second_entry_and_a_sell_of_nothing_are_state_errors():
    book = Portfolio(cash=D("1000"))
    book.apply_fill(buy(), position())
    with pytest.raises(StateError, match="^AAA is already held; a second entry would double it$"):
        book.apply_fill(buy(), position())
    with pytest.raises(StateError, match="^sell fill for ZZZ, which is not held$"):
        book.apply_fill(Fill("ZZZ", Side.SELL, DAY, D("1"), D("1"), D("0")))
    with pytest.raises(StateError, match="^cannot update ZZZ: not held$"):
        book.update_position(position("ZZZ"))


def test_sector_values_add_positions_and_pending_entries_of_one_sector():
    book = Portfolio(cash=D("0"), positions={"AAA": position("AAA"), "BBB": position("BBB")},
                     pending_entries=[pending("CCC", "Tech", "2", "10"),
                                      pending("DDD", "Tech", "3", "10"),
                                      pending("EEE", "Energy", "1", "7")])
    # Tech: 10 * 52 + 10 * 52 + 2 * 10 + 3 * 10 = 1,090; Energy 7
    assert book.sector_values() == {"Tech": D("1090"), "Energy": D("7")}
    assert book.equity == D("1040") and book.market_value == D("1040")
    assert book.reserved_cash == D("57") and book.held_or_ordered == {"AAA", "BBB", "CCC",
                                                                      "DDD", "EEE"}


def test_trades_lists_closed_then_open_by_entry_date_and_ticker():
    book = Portfolio(cash=D("0"), positions={
        "ZZZ": position("ZZZ", entered=date(2024, 3, 1)),
        "BBB": position("BBB", entered=date(2024, 3, 2)),
        "AAA": position("AAA", entered=date(2024, 3, 2))})
    closed = Trade(ticker="OLD", asset_type=AssetType.STOCK, sector="Tech", entry_date=DAY,
                   entry_price=D("1"), quantity=D("1"), entry_commission=D("0"))
    book.closed_trades.append(closed)
    trades = book.trades()
    assert [t.ticker for t in trades] == ["OLD", "ZZZ", "AAA", "BBB"]
    zzz = trades[1]
    assert zzz == Trade(ticker="ZZZ", asset_type=AssetType.STOCK, sector="Tech",
                        entry_date=date(2024, 3, 1), entry_price=D("50"), quantity=D("10"),
                        entry_commission=D("0.5"))
    assert (zzz.exit_date, zzz.exit_price, zzz.exit_reason, zzz.pnl) == (None, None, None, None)
