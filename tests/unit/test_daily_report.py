"""The daily report (spec 7.1.9) on a hand-built end-of-day state; every number worked out by hand.

The state of 2024-03-06 (previous step 2024-03-05, equity 99,500.00):
cash 80,000.00; positions AAA 100 x 51 (bought today at 50.05), BBB 50 x 107 (trail 105.80:
1.12% away), BTCUSD 0.1 x 46,500 (-7.10%), CCC 200 x 23.20 (target 24: 3.45% away) = 19,740.00;
equity 99,740.00 (+0.24%). DDD exited today at 44 (+400.00, +10.00%, 7 days); FFF was rejected
(R6.5); GGG is queued for the next open. Older fills, trades and rejections must not show.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D

import pytest

from momentum.core.config import RiskConfig, StrategyConfig
from momentum.core.domain import (AssetType, EntryOrder, ExitReason, Fill, Position, Rejection,
                                  RejectReason, Side, Trade)
from momentum.reports.daily import HEADINGS, render_daily_report, strip_ansi, write_daily_report
from momentum.run.engine import EngineState, EquityPoint, Rules, run_day
from tests.helpers import bar_frame, make_market, stock

DAY, PREV = date(2024, 3, 6), date(2024, 3, 5)
NOW = datetime(2024, 3, 6, 22, 15, tzinfo=timezone.utc)
CFG = StrategyConfig(risk=RiskConfig(max_positions=6))
S, C = AssetType.STOCK, AssetType.CRYPTO
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def position(ticker, asset_type, sector, entry, price, qty, comm, stop, target, high, trail,
             close, **kw) -> Position:
    return Position(ticker, asset_type, sector, entry, D(price), D(qty), D(comm), D(stop),
                    D(target), D(high), None if trail is None else D(trail), D(close), DAY, **kw)


def busy_state() -> EngineState:
    state = EngineState.start(D("100000"))
    book = state.portfolio
    book.cash = D("80000")
    for p in (position("AAA", S, "Tech", DAY, "50.05", "100", "0", "46.046", "60.06", "52", None,
                       "51"),
              position("BBB", S, "Energy", date(2024, 2, 20), "100", "50", "0", "92", "120", "115",
                       "105.80", "107"),
              position("BTCUSD", C, "Crypto", date(2024, 3, 1), "50000", "0.1", "5", "44000",
                       "65000", "51000", None, "46500"),
              position("CCC", S, "Health Care", date(2024, 2, 26), "20", "200", "0", "18.4", "24",
                       "23.5", "21.62", "23.2")):
        book.positions[p.ticker] = p
    book.closed_trades += [
        Trade("EEE", S, "Tech", date(2024, 2, 20), D("10"), D("100"), D("0"), date(2024, 3, 1),
              D("9"), D("0"), ExitReason.STOP_LOSS),
        Trade("DDD", S, "Tech", date(2024, 2, 28), D("40"), D("100"), D("0"), DAY, D("44"), D("0"),
              ExitReason.MOMENTUM_FADE)]
    state.fills += [Fill("OLD", Side.BUY, PREV, D("1"), D("1"), D("0")),
                    Fill("AAA", Side.BUY, DAY, D("50.05"), D("100"), D("0")),
                    Fill("DDD", Side.SELL, DAY, D("44"), D("100"), D("0"),
                         ExitReason.MOMENTUM_FADE)]
    state.rejections += [Rejection(PREV, "OLDREJ", RejectReason.MAX_POSITIONS, "R6.2", "old"),
                         Rejection(DAY, "FFF", RejectReason.SECTOR_EXPOSURE, "R6.5",
                                   "sector Tech 0.16 > max 0.15")]
    book.pending_entries.append(EntryOrder("GGG", S, "Materials", DAY, DAY, D("30"), 85.0, D("80"),
                                           D("2402.4"), 0))
    state.equity_curve += [EquityPoint(date(2024, 3, 4), D("100000"), D("100000")),
                           EquityPoint(PREV, D("99500"), D("90000")),
                           EquityPoint(DAY, book.equity, book.cash)]
    state.last_step = DAY
    return state


def busy_report(color: bool = False) -> str:
    return render_daily_report(DAY, busy_state(), CFG, NOW, color=color,
                               data_dates={"stock": DAY, "crypto": PREV},
                               held_scores={"AAA": 80.0, "BBB": 65.0, "BTCUSD": None})


def section(text: str, heading: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(heading)
    following = [i for i, line in enumerate(lines) if line in HEADINGS and i > start]
    body = lines[start + 2: following[0] if following else len(lines)]
    return [line for line in body if line]


def row(lines: list[str], first_cell: str) -> list[str]:
    [found] = [line.split() for line in lines if line.split()[:1] == [first_cell]]
    return found


def block(lines: list[str], title: str) -> list[str]:
    """The lines of one sub-block of a section: its title up to the next title."""
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("    ")),
               len(lines))
    return lines[start:end]


def test_render_daily_report_busy_day_has_six_headings_in_order():
    lines = busy_report().splitlines()
    assert [line for line in lines if line in HEADINGS] == list(HEADINGS)
    assert HEADINGS == ("Portfolio Summary", "Open Positions", "Today's Activity", "Risk Metrics",
                        "Upcoming Actions", "Alerts/Warnings")
    assert lines[0] == ("Momentum Daily Report - 2024-03-06 - generated "
                        "2024-03-06T22:15:00+00:00")


def test_render_daily_report_summary_shows_exact_money_and_daily_return():
    summary = section(busy_report(), "Portfolio Summary")
    assert row(summary, "Cash") == ["Cash", "80,000.00"]
    assert "Total account value    99,740.00" in "\n".join(summary)
    assert "Total position value   19,740.00" in "\n".join(summary)
    assert "Unrealized P&L           +730.00" in "\n".join(summary)
    assert "Realized P&L today       +400.00" in "\n".join(summary)  # DDD only, not EEE
    assert "Daily return              +0.24%" in "\n".join(summary)  # 99,740 / 99,500 - 1


def test_render_daily_report_positions_table_rows_have_equal_length():
    table = section(busy_report(), "Open Positions")
    assert len(table) == 6 and len({len(line) for line in table}) == 1
    assert row(table, "BTCUSD") == ["BTCUSD", "2024-03-01", "50,000.00", "46,500.00", "0.100000",
                                    "4,650.00", "-355.00", "-7.10%", "5"]
    assert row(table, "AAA")[-1] == "0"  # bought today: 0 days held


def test_render_daily_report_activity_shows_only_the_steps_window():
    activity = section(busy_report(), "Today's Activity")
    text = "\n".join(activity)
    assert row(activity, "AAA") == ["AAA", "2024-03-06", "50.05", "100", "5,005.00", "0.00"]
    assert row(activity, "DDD") == ["DDD", "2024-03-06", "44.00", "momentum_fade", "100",
                                    "+400.00", "+10.00%", "7"]
    assert "FFF     2024-03-06  sector_exposure  R6.5  sector Tech 0.16 > max 0.15" in text
    assert row(activity, "GGG") == ["GGG", "2024-03-06", "30", "80.00", "2,400.00", "85.0"]
    assert "OLD" not in text and "EEE" not in text


def test_render_daily_report_risk_metrics_show_exposure_and_loss_room():
    risk = "\n".join(section(busy_report(), "Risk Metrics"))
    assert "19.79% of equity in positions, 22.20% with pending entries (max 25.00%" in risk
    assert "4 open + 1 pending = 5 of max 6" in risk
    # 99,740 - 99,500 * 0.97 = 3,225.00 = 3.24% of 99,500
    assert "3.24% ($3,225.00) more loss today trips R6.1" in risk
    assert "AAA         51.00      46.05  495.40        0.50%" in risk  # 100 x (51 - 46.046)


def test_render_daily_report_upcoming_lists_near_target_near_stop_and_trails():
    upcoming = section(busy_report(), "Upcoming Actions")
    assert row(block(upcoming, "  Near profit target"), "CCC") == ["CCC", "23.20", "24.00", "3.45%"]
    assert row(block(upcoming, "  Near protective stop"), "BBB") == \
        ["BBB", "107.00", "105.80", "trailing", "1.12%"]
    trailing = block(upcoming, "  Trailing stops active")
    assert row(trailing, "BBB") == ["BBB", "115.00", "105.80", "107.00", "1.12%"]
    assert row(trailing, "CCC") == ["CCC", "23.50", "21.62", "23.20", "6.81%"]
    assert "  Exits pending at the next open: none" in upcoming


def test_render_daily_report_alerts_flag_slots_losses_and_low_scores():
    alerts = "\n".join(section(busy_report(), "Alerts/Warnings"))
    assert "positions 5 of max 6: one slot left (R6.2)" in alerts
    assert "BTCUSD unrealized loss -7.10% (-355.00)" in alerts
    assert "BBB momentum score 65.0 below the threshold 70" in alerts
    assert "not scorable): BTCUSD" in alerts and "AAA momentum" not in alerts


def test_render_daily_report_crypto_behind_the_day_notes_the_forming_bar():
    text = busy_report()
    assert "crypto: the UTC day 2024-03-06 is still forming, yesterday's bar was used" in text
    same_day = render_daily_report(DAY, busy_state(), CFG, NOW,
                                   data_dates={"stock": DAY, "crypto": DAY})
    assert "still forming" not in same_day


def test_render_daily_report_colour_codes_only_when_asked():
    plain, coloured = busy_report(), busy_report(color=True)
    assert "\x1b[" not in plain
    assert "\x1b[32m+400.00\x1b[0m" in coloured and "\x1b[31m-355.00\x1b[0m" in coloured
    assert "\x1b[33m" in coloured  # warnings
    assert strip_ansi(coloured) == plain


def test_render_daily_report_naive_timestamp_is_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        render_daily_report(DAY, busy_state(), CFG, datetime(2024, 3, 6, 22, 15))


def test_render_daily_report_empty_first_day_renders_none_and_na():
    state = EngineState.start(D("100000"))
    state.equity_curve.append(EquityPoint(DAY, D("100000"), D("100000")))
    text = render_daily_report(DAY, state, StrategyConfig(), NOW)
    assert section(text, "Open Positions") == ["  none"]
    assert section(text, "Alerts/Warnings") == ["  none"]
    activity = section(text, "Today's Activity")
    assert activity == ["  New entries: none", "  Exits: none", "  Signals not taken: none",
                        "  Entries queued for the next open: none"]
    summary = section(text, "Portfolio Summary")
    assert row(summary, "Daily")[-1] == "n/a" and row(summary, "Cash")[-1] == "100,000.00"
    assert "first step; R6.1 never applies" in "\n".join(section(text, "Risk Metrics"))


def test_write_daily_report_strips_colour_and_names_the_file_by_day(tmp_path):
    coloured = busy_report(color=True)
    path = write_daily_report(coloured, tmp_path / "reports", DAY)
    assert path == tmp_path / "reports" / "daily_report_2024-03-06.txt"
    content = path.read_text(encoding="utf-8")
    assert "\x1b" not in content and content == busy_report()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left behind


def test_render_daily_report_after_engine_steps_shows_the_stop_exit():
    aaa = stock("AAA", sector="Tech")
    days = [date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)]
    rows = [(50, 51, 49, 50), (50, 52, 49, 51), (45, 46, 44, 45.5)]  # gap below the stop
    market = make_market({aaa: bar_frame(days, *zip(*rows), [1e6] * 3)})
    state = EngineState.start(D("100000"))
    state.portfolio.pending_entries.append(EntryOrder(
        "AAA", S, "Tech", days[0], days[0], D("10"), 80.0, D("50"), D("500.5"), 0))
    state.last_step = days[0]
    rules = Rules.from_config(StrategyConfig())
    for d in days[1:]:
        run_day(d, state, market.until(d), rules)
    text = render_daily_report(days[2], state, StrategyConfig(), NOW)
    activity = section(text, "Today's Activity")
    # bought 10 at 50.05 on 03-05; stopped at the 45 open less slippage: 44.955
    assert row(activity, "AAA") == ["AAA", "2024-03-06", "44.96", "stop_loss", "10", "-50.95",
                                    "-10.18%", "1"]
    assert "  New entries: none" in activity
    summary = "\n".join(section(text, "Portfolio Summary"))
    assert "Cash                   99,949.05" in summary
    # 99,949.05 / (99,499.50 + 10 x 51) - 1 = -0.0604%
    assert "Daily return              -0.06%" in summary
    assert ANSI.search(text) is None and days[2] - days[1] == timedelta(days=1)


def test_render_daily_report_limits_within_warning_share_raise_alerts():
    state = EngineState.start(D("100000"))
    state.portfolio.cash = D("83500")
    state.portfolio.positions["XYZ"] = position("XYZ", S, "Tech", PREV, "100", "140", "0", "99",
                                                "120", "100", None, "100",
                                                pending_exit=ExitReason.TIME_EXIT)
    state.equity_curve += [EquityPoint(PREV, D("100000"), D("86000")),
                           EquityPoint(DAY, D("97500"), D("83500"))]
    text = render_daily_report(DAY, state, StrategyConfig(), NOW)
    alerts = "\n".join(section(text, "Alerts/Warnings"))
    # loss 2.50% >= 0.8 x 3%; Tech 14,000 / 97,500 = 14.36% >= 0.9 x 15%
    assert "daily loss 2.50% is near the 3.00% limit (R6.1)" in alerts
    assert "sector Tech 14.36% of equity is near the max 15.00% (R6.5)" in alerts
    assert "gross exposure" not in alerts  # 14.36% < 0.9 x 25%
    upcoming = section(text, "Upcoming Actions")
    assert row(block(upcoming, "  Exits pending"), "XYZ") == ["XYZ", "time_exit", "140", "100.00"]
    assert "  Near protective stop (within 2.00%): none" in upcoming  # pending exits skip R4.5
