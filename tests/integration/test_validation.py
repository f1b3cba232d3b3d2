"""validate_paper_trading.py end to end, and momentum.run.validation on hand-built days (spec 7.2.8)."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

import validate_paper_trading as validate
from main import MomentumStrategy
from momentum.core.clock import FixedClock
from momentum.core.config import DEFAULT_CONFIG_PATH, StrategyConfig
from momentum.core.domain import (AssetType, Candidate, DayResult, EntryOrder, EntrySignal,
                                  ExitReason, Fill, Position, Rejection, RejectReason, Side)
from momentum.reports.validation import render_text, to_json
from momentum.run.engine import EngineState, EquityPoint
from momentum.run.validation import (MISSING, PRICE_CAUSE, PaperSnapshot, RunRecord, compare,
                                     compare_day, compare_days, persistence_checks, risk_checks)

# Saturday 2024-04-06: the synthetic market ends on Friday 2024-04-05, the window's last session.
CLOCK = FixedClock(datetime(2024, 4, 6, 12, tzinfo=UTC))
SHARED_WINDOW = ("2018-01-02", "2019-03-01")


# ---------------------------------------------------------------- the CLI
@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("synthetic-cache")


def write_config(path: Path, cache_dir: Path, **trading: float) -> Path:
    """The shipped config on the synthetic market, every folder under path's parent."""
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["data"].update(source="synthetic", cache_dir=str(cache_dir))
    raw["logging"].update(log_file=str(path.parent / "logs" / "momentum_strategy.log"),
                          snapshot_dir=str(path.parent / "snapshots"),
                          report_dir=str(path.parent / "reports"))
    raw["trading"].update(trading)
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture()
def config(tmp_path, cache_dir) -> Path:
    return write_config(tmp_path / "config.yaml", cache_dir)


def run(*argv: str) -> int:
    return validate.main(list(argv), clock=CLOCK)


def reports(folder: Path) -> tuple[str, dict]:
    [txt] = folder.glob("validation_*.txt")
    return txt.read_text(), json.loads(txt.with_suffix(".json").read_text())


def test_synthetic_last_25_sessions_match_with_0_differences(config, tmp_path, capsys):
    assert run("--config", str(config), "--sessions", "25") == 0
    out = capsys.readouterr().out
    assert "0 differences" in out and "2024-03-01 .. 2024-04-05, 25 sessions" in out
    text, data = reports(tmp_path / "reports")  # logging.report_dir of the config
    assert data["ok"] is True and data["difference_count"] == 0 and data["sessions"] == 25
    assert data["trades"]["paper"] == data["trades"]["backtest"] >= 2  # the window trades
    assert "0 differences" in text and "Differences (0 differences):\n  none" in text
    for check in ("max_positions", "cash", "equity", "gross_exposure", "sector_exposure",
                  "state_round_trip", "state_day"):
        assert f"PASS  {check}:" in text
    assert "(25 checked)" in text and "fills (ticker, side, date, price" in text
    # the paper side kept its state, daily reports and logs off the user's folders
    assert not (tmp_path / "snapshots").exists() and not (tmp_path / "logs").exists()
    assert sorted(p.suffix for p in (tmp_path / "reports").iterdir()) == [".json", ".txt"]


def test_shared_data_window_with_20_trades_matches(shared_data, config, tmp_path, capsys):
    start, end = SHARED_WINDOW
    assert run("--config", str(config), "--data-dir", str(shared_data), "--start", start,
               "--end", end, "--reports", str(tmp_path / "out")) == 0
    assert "0 differences" in capsys.readouterr().out
    _, data = reports(tmp_path / "out")
    assert data["trades"]["backtest"] >= 20 and data["ok"] is True
    assert (data["start"], data["end"]) == SHARED_WINDOW


def test_other_slippage_on_the_paper_side_is_named_with_its_cause(config, tmp_path, cache_dir,
                                                                  capsys):
    other = write_config(tmp_path / "paper.yaml", cache_dir, slippage_stock=0.002)
    assert run("--config", str(config), "--sessions", "25", "--paper-config", str(other)) == 1
    out = capsys.readouterr().out
    first = first_backtest_fill(config, date(2024, 3, 1), date(2024, 4, 5))
    named = f"{first.day} fills {first.ticker} buy price: paper "
    assert "MISMATCH" in out and named in out and "trading.slippage_stock" in out
    text, data = reports(tmp_path / "reports")
    assert f"FIRST DIVERGENCE: {named}" in text
    diff = data["first_divergence"]
    assert (diff["category"], diff["ticker"], diff["day"], diff["field"]) == (
        "fills", first.ticker, first.day.isoformat(), "buy price")
    assert diff["backtest_value"] == str(first.price) != diff["paper_value"]
    assert PRICE_CAUSE in diff["cause"]
    assert "trading.slippage_stock differs: paper 0.002 vs backtest 0.001" in diff["cause"]
    assert data["difference_count"] > 0 and data["ok"] is False


def first_backtest_fill(config: Path, start: date, end: date) -> Fill:
    """The backtest's first stock fill: the first one slippage_stock changes."""
    strategy = MomentumStrategy(config, clock=CLOCK)
    days = strategy.run_backtest(start, end).days
    assert strategy.market is not None
    return next(f for day in days for f in day.fills
                if strategy.market.history(f.ticker).asset.asset_type is AssetType.STOCK)


def test_window_ending_today_is_refused_in_one_line(config, capsys):
    assert run("--config", str(config), "--start", "2024-03-01", "--end", "2024-04-06") == 2
    err = capsys.readouterr().err
    assert "error: --end 2024-04-06 is today or later" in err and "Traceback" not in err


def test_sessions_with_a_full_window_is_a_usage_error(config):
    with pytest.raises(SystemExit) as exc:
        run("--config", str(config), "--start", "2024-03-01", "--end", "2024-03-05",
            "--sessions", "3")
    assert exc.value.code == 2


# ---------------------------------------------------------------- momentum.run.validation, by hand
D1, D2, D3 = date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)


def candidate(ticker: str, score: float = 80.0) -> Candidate:
    return Candidate(ticker, AssetType.STOCK, "Energy", score, 0.1, 60.0, 1e8, 2.0, 50.0, D1)


def order(ticker: str, quantity: str = "10", close: str = "50") -> EntryOrder:
    return EntryOrder(ticker, AssetType.STOCK, "Energy", D1, D1, Decimal(quantity), 80.0,
                      Decimal(close), Decimal(quantity) * Decimal(close), 0)


def fill(ticker: str, price: str = "50.05", quantity: str = "10", day: date = D2,
         side: Side = Side.BUY) -> Fill:
    return Fill(ticker, side, day, Decimal(price), Decimal(quantity), Decimal(0),
                None if side is Side.BUY else ExitReason.STOP_LOSS)


def day_result(day: date = D1, **kwargs) -> DayResult:
    values = dict(equity=Decimal(100000), cash=Decimal(100000))
    values.update(kwargs)
    return DayResult(day=day, **values)


def only(diffs, category):
    found = [d for d in diffs if d.category == category]
    assert found, f"no {category} difference in {diffs}"
    return found


def test_identical_days_have_no_difference():
    day = day_result(candidates=[candidate("AAA")], entries=[order("AAA")], fills=[fill("BBB")])
    assert compare_day(day, replace(day)) == []


def test_candidates_and_signals_missing_rescored_or_reordered_are_detected():
    a, b = candidate("AAA", 90.0), candidate("BBB", 80.0)
    [missing] = only(compare_day(day_result(candidates=[a, b]), day_result(candidates=[a])),
                     "candidates")
    assert (missing.ticker, missing.field, missing.backtest_value) == ("BBB", "candidate", MISSING)
    [score] = compare_day(day_result(candidates=[a]),
                          day_result(candidates=[replace(a, score=91.0)]))
    assert (score.field, score.paper_value, score.backtest_value) == ("score", "90.0", "91.0")
    [swapped] = compare_day(day_result(candidates=[a, b]), day_result(candidates=[b, a]))
    assert (swapped.field, swapped.paper_value, swapped.backtest_value) == (
        "order", "AAA, BBB", "BBB, AAA")
    [signal] = compare_day(day_result(signals=[EntrySignal(a)]), day_result())
    assert signal.describe() == f"{D1} signals AAA signal: paper listed vs backtest {MISSING}"


def test_orders_and_rejections_are_compared_by_ticker_and_in_order():
    [qty] = compare_day(day_result(entries=[order("AAA", "10")]),
                        day_result(entries=[order("AAA", "12")]))
    assert (qty.category, qty.field, qty.paper_value, qty.backtest_value) == (
        "orders", "quantity", "10", "12")
    r1 = Rejection(D1, "AAA", RejectReason.MAX_POSITIONS, "R6.2")
    r2 = Rejection(D1, "BBB", RejectReason.SECTOR_EXPOSURE, "R6.5")
    [reason] = compare_day(day_result(rejections=[r1]),
                           day_result(rejections=[replace(r1, reason=RejectReason.SIZE_ZERO,
                                                          rule="R6.3")]))
    assert (reason.paper_value, reason.backtest_value) == ("max_positions (R6.2)",
                                                           "size_zero (R6.3)")
    [order_diff] = compare_day(day_result(rejections=[r1, r2]), day_result(rejections=[r2, r1]))
    assert order_diff.field == "order" and order_diff.category == "rejections"


def test_fill_price_with_the_same_quantity_names_slippage_as_the_cause():
    paper = [day_result(D2, fills=[fill("AAA", "50.10")], cash=Decimal("99499.0"))]
    backtest = [day_result(D2, fills=[fill("AAA", "50.05")], cash=Decimal("99499.5"))]
    report = make_report(paper, backtest)
    price = report.differences[0]
    assert (price.category, price.ticker, price.field) == ("fills", "AAA", "buy price")
    assert price.cause == PRICE_CAUSE and report.first_divergence == price
    [cash] = only(report.differences, "cash")
    assert cash.cause == "follows from the fills of this session"
    text = render_text(report)
    assert f"FIRST DIVERGENCE: {D2} fills AAA buy price: paper 50.10 vs backtest 50.05" in text
    assert "MISMATCH: 2 differences" in text


def test_a_fill_missing_on_one_side_points_at_the_first_decision_difference():
    paper = [day_result(D1, entries=[order("AAA")]), day_result(D2, fills=[fill("AAA")])]
    backtest = [day_result(D1), day_result(D2)]
    report = make_report(paper, backtest)
    [missing_fill] = only(report.differences, "fills")
    assert missing_fill.backtest_value == MISSING and missing_fill.paper_value.startswith("price ")
    assert missing_fill.cause == f"decision differs on {D1}"
    assert report.first_divergence.category == "orders"


def test_equity_after_a_fill_difference_follows_from_it():
    paper = [day_result(D2, fills=[fill("AAA", "50.10")]),
             day_result(D3, equity=Decimal("100001"))]
    backtest = [day_result(D2, fills=[fill("AAA", "50.05")]), day_result(D3)]
    [equity] = only(make_report(paper, backtest).differences, "equity")
    assert equity.day == D3 and equity.cause == f"follows from the fill difference on {D2}"


def test_a_session_run_on_one_side_only_is_a_difference():
    [diff] = compare_days([day_result(D1)], [day_result(D1), day_result(D2)])
    assert (diff.category, diff.day, diff.paper_value, diff.backtest_value) == (
        "sessions", D2, "not run", "ran")


def test_trades_and_pnl_of_the_final_states_are_compared():
    paper, backtest = state_with_position("50.10"), state_with_position("50.05")
    report = make_report([], [], paper_final=paper, backtest_final=backtest)
    [trade] = only(report.differences, "trades")
    assert (trade.day, trade.ticker, trade.field) == (D2, "AAA", "entry price")
    assert trade.cause == PRICE_CAUSE
    assert {d.field for d in only(report.differences, "pnl")} == {"total P&L"}


def test_differing_settings_are_named_in_every_cause():
    cfg = StrategyConfig()
    other = cfg.model_copy(update={"trading": cfg.trading.model_copy(
        update={"slippage_stock": 0.002})})
    report = make_report([day_result(D2, fills=[fill("AAA", "50.10")])],
                         [day_result(D2, fills=[fill("AAA", "50.05")])], paper_config=other)
    assert report.config_changes == (
        "trading.slippage_stock differs: paper 0.002 vs backtest 0.001",)
    assert all("likely cause: trading.slippage_stock differs" in d.cause
               for d in report.differences)


def test_risk_checks_flag_each_broken_limit():
    cfg = StrategyConfig().risk.model_copy(update={"max_positions": 1})
    state = state_with_position("50.05", quantity="400")  # 400 x 50 = 20,000 in Energy
    state.portfolio.pending_entries.append(order("BBB"))
    state.portfolio.cash = Decimal("-1")
    result = day_result(D2, entries=[order("BBB")], equity=Decimal("50000"), cash=Decimal("-1"))
    checks = {c.name: c for c in risk_checks([result], [PaperSnapshot(D2, state, state)], cfg)}
    assert {n for n, c in checks.items() if not c.passed} == {
        "max_positions", "cash", "equity", "gross_exposure", "sector_exposure"}
    assert checks["max_positions"].failures[0].detail == "2 open or pending"
    assert checks["sector_exposure"].failures[0].detail.startswith("Energy 21000")


def test_persistence_checks_catch_a_state_that_did_not_round_trip_or_is_another_day():
    memory = state_with_position("50.05")
    result = day_result(D2, equity=memory.portfolio.equity, cash=memory.portfolio.cash)
    assert all(c.passed for c in persistence_checks([result], [PaperSnapshot(D2, memory, memory)]))
    reloaded = state_with_position("50.05")
    reloaded.portfolio.cash += Decimal("0.01")
    trip, day = persistence_checks([result], [PaperSnapshot(D2, memory, reloaded)])
    assert trip.failures[0].detail == "saved state differs from memory in paper_portfolio"
    assert day.passed
    reloaded = state_with_position("50.05")
    reloaded.last_step = D1
    trip, day = persistence_checks([result], [PaperSnapshot(D2, memory, reloaded)])
    assert not trip.passed and day.failures[0].detail == f"reloaded date {D1}, in memory {D2}"


def test_json_report_carries_every_difference_and_check():
    report = make_report([day_result(D2, fills=[fill("AAA", "50.10")])],
                         [day_result(D2, fills=[fill("AAA", "50.05")])])
    data = json.loads(json.dumps(to_json(report)))
    assert data["ok"] is False and data["difference_count"] == len(data["differences"]) == 1
    assert data["first_divergence"]["day"] == D2.isoformat()
    assert [c["name"] for c in data["checks"]][-2:] == ["state_round_trip", "state_day"]


def state_with_position(entry_price: str, quantity: str = "10") -> EngineState:
    state = EngineState.start(Decimal(100000))
    price, qty = Decimal(entry_price), Decimal(quantity)
    state.portfolio.apply_fill(fill("AAA", entry_price, quantity), Position(
        "AAA", AssetType.STOCK, "Energy", D2, price, qty, Decimal(0), price * Decimal("0.92"),
        price * Decimal("1.2"), price, None, Decimal("51.25"), D2))
    state.last_step = D2
    state.equity_curve.append(EquityPoint(D2, state.portfolio.equity, state.portfolio.cash))
    return state


def make_report(paper_days, backtest_days, paper_final=None, backtest_final=None,
                paper_config=None):
    cfg = StrategyConfig()
    paper = RunRecord(paper_days, paper_final or EngineState.start(Decimal(100000)),
                      paper_config or cfg)
    backtest = RunRecord(backtest_days, backtest_final or EngineState.start(Decimal(100000)), cfg)
    return compare(paper, backtest, [], (D1, D3))

