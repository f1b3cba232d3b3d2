"""The dashboard's six tabs in Streamlit's AppTest, on a portfolio made by a real paper run.

Every expected number is read straight from the snapshot JSON, not through the dashboard's
readers, so a reader bug shows up as a mismatch.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from momentum.reports.dashboard.readers import FileCache, SourceError, load_paper
from tests.dashboard_state import money

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboard.py")


def run_app(monkeypatch, state_dir: Path | None = None, backtest: Path | None = None,
            config: Path | None = None, tab: str = "Overview") -> AppTest:
    for name, value in (("MOMENTUM_STATE_DIR", state_dir), ("MOMENTUM_BACKTEST", backtest),
                        ("MOMENTUM_CONFIG", config)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, str(value))
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["tab"] = tab  # the tab the user clicked (only the open tab is drawn)
    at.run()
    assert not at.exception, at.exception
    return at


def open_tab(at: AppTest, tab: str) -> AppTest:
    at.session_state["tab"] = tab
    at.run()
    assert not at.exception, at.exception
    return at


def metric(at: AppTest, label: str):
    return next(m for m in at.metric if m.label == label)


def by_key(at: AppTest, key: str):
    """The table whose CSV button is `key` (each table is drawn with its button right after)."""
    name = key.removeprefix("table_")
    labels = [b.proto.label for b in at.get("download_button")]
    index = next((i for i, label in enumerate(labels)
                  if label.startswith(f"Download {name}.csv")), None)
    assert index is not None, f"no table {name}: {labels}"
    assert len(labels) == len(at.dataframe)
    return at.dataframe[index].value


@pytest.fixture()
def app(dashboard_run, monkeypatch):
    return run_app(monkeypatch, dashboard_run.state_dir, config=dashboard_run.config)


def test_overview_shows_the_states_equity_cash_pnl_and_exposure(app, dashboard_run):
    state = dashboard_run.state()
    book, curve = state["paper_portfolio"], state["equity_curve"]
    value, cash = Decimal(book["value"]), Decimal(book["cash"])
    assert metric(app, "Account value").value == money(book["value"])
    assert metric(app, "Cash").value == money(book["cash"])
    day_pnl = Decimal(curve[-1][1]) - Decimal(curve[-2][1])
    assert metric(app, "Today's P&L").value == f"${day_pnl:,.2f}"
    assert metric(app, "Today's P&L").delta == f"{day_pnl / Decimal(curve[-2][1]) * 100:.2f}%"
    assert metric(app, "Exposure").value == f"{(value - cash) / value * 100:.2f}%"
    assert not app.error
    assert any(state["date"] in c.value for c in app.caption), "data as of is shown"
    sidebar = " ".join(c.value for c in app.sidebar.caption)
    assert f"Data as of **{state['date']}**" in sidebar and "Last refreshed" in sidebar
    labels = [b.proto.label for b in app.get("download_button")]
    assert not [x for x in labels if "trades.csv" in x], "only the open tab is drawn"


def test_positions_tab_lists_every_position_with_its_levels(app, dashboard_run):
    open_tab(app, "Positions")
    positions = {p["ticker"]: p for p in dashboard_run.state()["paper_portfolio"]["positions"]}
    assert positions, "the window should end with open positions"
    table = by_key(app, "table_positions")
    assert sorted(table["ticker"]) == sorted(positions)
    for _, row in table.iterrows():
        p = positions[row["ticker"]]
        assert row["shares"] == float(p["quantity"])
        assert row["stop"] == pytest.approx(float(Decimal(p["stop_price"])))
        assert row["value"] == pytest.approx(float(Decimal(p["quantity"]) *
                                                   Decimal(p["last_close"])))
        resting = max(Decimal(p["stop_price"]), Decimal(p["trailing_stop"] or 0))
        risk = max(Decimal(p["last_close"]) - resting, Decimal(0)) * Decimal(p["quantity"])
        assert row["risk_to_stop"] == pytest.approx(float(risk))
    assert app.selectbox(key="position_pick").options == list(table["ticker"])


def test_choosing_a_position_shows_its_history(app, dashboard_run):
    open_tab(app, "Positions")
    tickers = app.selectbox(key="position_pick").options
    app.selectbox(key="position_pick").select(tickers[-1]).run()
    history = by_key(app, f"table_position_{tickers[-1]}_history")
    assert len(history) > 0
    entry = next(p for p in dashboard_run.state()["paper_portfolio"]["positions"]
                 if p["ticker"] == tickers[-1])["entry_date"]
    assert history["date"].min() >= entry


def test_trades_tab_counts_and_filters_by_exit_reason(app, dashboard_run):
    open_tab(app, "Trades")
    closed = dashboard_run.state()["closed_trades"]
    assert len(by_key(app, "table_trades")) == len(closed)
    reasons = Counter(t["exit_reason"] for t in closed)
    reason, count = reasons.most_common()[-1]
    app.multiselect(key="trade_reasons").select(reason).run()
    shown = by_key(app, "table_trades")
    assert len(shown) == count < len(closed)
    assert set(shown["exit_reason"]) == {reason}
    stats = by_key(app, "table_trade_statistics")
    overall = stats[stats["exit_reason"] == "all"].iloc[0]
    assert overall["count"] == count


def test_trades_filter_by_ticker(app, dashboard_run):
    open_tab(app, "Trades")
    closed = dashboard_run.state()["closed_trades"]
    ticker = closed[0]["ticker"]
    app.multiselect(key="trade_tickers").select(ticker).run()
    shown = by_key(app, "table_trades")
    assert list(set(shown["ticker"])) == [ticker]
    assert len(shown) == sum(t["ticker"] == ticker for t in closed)


def test_signals_tab_shows_candidates_taken_and_rejected(app, dashboard_run):
    open_tab(app, "Signals")
    state = dashboard_run.state()
    signals = by_key(app, "table_signals")
    days = sorted(p.name[4:14] for p in (dashboard_run.state_dir / "dashboard").glob("day_*"))
    assert set(signals["date"]) <= set(days[-10:])
    assert signals["signal"].all()
    recent = [j for j in state["rejections"] if j["day"] in days[-10:]]
    rejected = signals[signals["status"] == "rejected"]
    assert len(rejected) == len([j for j in recent if j["rule"] != "R5.3"])
    assert all(rejected["rule"].str.startswith("R6"))
    app.checkbox(key="signals_all").check().run()
    every = by_key(app, "table_signals")
    assert set(every["date"]) == set(days[-10:]) and len(every) > len(signals)
    app.number_input(key="reject_window").set_value(3650).run()
    counts = by_key(app, "table_rejection_reasons")
    assert counts["count"].sum() == len(state["rejections"])


def test_risk_tab_measures_exposure_against_the_caps(app, dashboard_run):
    open_tab(app, "Risk")
    state = dashboard_run.state()
    book = state["paper_portfolio"]
    limits = by_key(app, "table_risk_limits").set_index("limit")
    value, cash = Decimal(book["value"]), Decimal(book["cash"])
    assert limits.loc["gross exposure (R6.4)", "used"] == pytest.approx(
        float((value - cash) / value))
    assert limits.loc["gross exposure (R6.4)", "cap"] == 0.25
    assert limits.loc["open positions (R6.2)", "used"] == len(book["positions"]) + len(
        state["pending_entries"])
    near = limits[limits["status"] == "NEAR LIMIT"].index
    assert list(near) == [k for k in limits.index if limits.loc[k, "usage"] >= 0.8]


def test_performance_tab_has_the_metrics(app, dashboard_run):
    open_tab(app, "Performance")
    curve = dashboard_run.state()["equity_curve"]
    metrics = by_key(app, "table_metrics").set_index("metric")["value"]
    total = Decimal(curve[-1][1]) / Decimal(curve[0][1]) - 1
    assert metrics["total return"] == f"{total * 100:.2f}%"
    assert metrics["closed trades"] == str(len(dashboard_run.state()["closed_trades"]))


def test_no_portfolio_says_how_to_start_one(monkeypatch, tmp_path, dashboard_run):
    at = run_app(monkeypatch, tmp_path / "none", config=dashboard_run.config)
    assert "paper --init" in at.info[0].value
    assert not at.error


def test_a_corrupt_snapshot_names_the_file_and_the_last_good_one(monkeypatch, tmp_path,
                                                                 dashboard_run):
    copy = tmp_path / "state"
    shutil.copytree(dashboard_run.state_dir, copy)
    latest = copy / json.loads((copy / "latest.json").read_text())["file"]
    latest.write_text(latest.read_text()[:500])
    at = run_app(monkeypatch, copy, config=dashboard_run.config)
    text = " ".join(w.value for w in at.warning)
    assert latest.name in text and "not valid JSON" in text and "last good snapshot" in text
    assert metric(at, "Account value").value.startswith("$")


def test_a_backtest_folder_missing_a_file_names_it(monkeypatch, tmp_path, dashboard_run):
    folder = tmp_path / "bt"
    folder.mkdir()
    (folder / "trades.csv").write_text("ticker\n")
    at = run_app(monkeypatch, backtest=folder, config=dashboard_run.config)
    assert "equity.csv" in at.error[0].value and "rejections.csv" in at.error[0].value


def test_a_backtest_folder_shows_its_trades(monkeypatch, tmp_path, dashboard_run):
    import main as cli
    out = tmp_path / "bt"
    assert cli.main(["backtest", "--start", "2024-01-02", "--end", "2024-03-29", "--config",
                     str(dashboard_run.config), "--output", str(out), "-q"]) == 0
    at = run_app(monkeypatch, backtest=out, config=dashboard_run.config, tab="Trades")
    trades = (out / "trades.csv").read_text().splitlines()[1:]
    closed = [t for t in trades if t.split(",")[4]]
    assert len(by_key(at, "table_trades")) == len(closed)
    summary = json.loads((out / "summary.json").read_text())
    open_tab(at, "Overview")
    assert metric(at, "Account value").value == money(summary["final_equity"])
    page = json.dumps([e.value for e in at.markdown] + [c.value for c in at.caption])
    assert "api" not in [t.label for t in at.tabs]
    assert "tiingo_api_key" not in page


def test_the_cache_rereads_only_changed_files(dashboard_run, tmp_path):
    copy = tmp_path / "state"
    shutil.copytree(dashboard_run.state_dir, copy)
    cache = FileCache()
    first = load_paper(copy, cache)
    reads = cache.reads
    assert load_paper(copy, cache).as_of == first.as_of and cache.reads == reads
    day = sorted((copy / "dashboard").glob("day_*"))[-1]
    day.write_text(day.read_text() + " ")
    load_paper(copy, cache)
    assert cache.reads == reads + 1


def test_an_edited_snapshot_fails_its_checksum(dashboard_run, tmp_path):
    copy = tmp_path / "state"
    shutil.copytree(dashboard_run.state_dir, copy)
    files = sorted(copy.glob("state_2*.json"))
    for path in files:  # every snapshot edited: no good one is left
        path.write_text(path.read_text().replace('"cash": "', '"cash": "1'))
    (copy / "state_init.json").unlink()
    with pytest.raises(SourceError, match="fails its checksum"):
        load_paper(copy, FileCache())


def test_the_paper_run_writes_each_sessions_feed(dashboard_run):
    state = dashboard_run.state()
    feed = dashboard_run.state_dir / "dashboard"
    days = sorted(p.name[4:14] for p in feed.glob("day_*.json"))
    assert days == [p[0] for p in state["equity_curve"]]
    last = json.loads((feed / f"day_{state['date']}.json").read_text())
    assert last["equity"] == state["paper_portfolio"]["value"]
    assert sorted(m["ticker"] for m in last["marks"]) == sorted(
        p["ticker"] for p in state["paper_portfolio"]["positions"])
    logged = [j for d in days for j in json.loads((feed / f"day_{d}.json").read_text())
              ["rejections"]]
    assert sorted(json.dumps(j, sort_keys=True) for j in logged) == sorted(
        json.dumps(j, sort_keys=True) for j in state["rejections"])
    bars = json.loads((feed / "bars.json").read_text())
    for p in state["paper_portfolio"]["positions"]:
        assert bars["bars"][p["ticker"]][-1][0] <= state["date"]
    assert bars["benchmark"]["closes"][0][0] == state["equity_curve"][0][0]


def test_a_feed_that_cannot_be_written_does_not_stop_the_run(tmp_path, caplog):
    import main as cli
    from tests.dashboard_state import write_config
    config = write_config(tmp_path)
    state_dir = tmp_path / "snapshots"
    assert cli.main(["paper", "--init", "--date", "2024-03-01", "--config", str(config)]) == 0
    (state_dir / "dashboard").write_text("a file where the folder should be")
    assert cli.main(["paper", "--run", "--date", "2024-03-05", "--config", str(config)]) == 0
    assert "could not write the dashboard feed" in caplog.text
    assert json.loads((state_dir / "latest.json").read_text())["date"] == "2024-03-05"


def test_no_secret_of_the_config_reaches_the_page(monkeypatch, dashboard_run):
    secrets = {"TIINGO_API_KEY": "tiingo-secret-0123456789",
               "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/secret987",
               "SMTP_PASSWORD": "smtp-secret-pw"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    at = run_app(monkeypatch, dashboard_run.state_dir, config=dashboard_run.config)
    page = repr([str(e.proto) for e in at.main]) + repr([str(e.proto) for e in at.sidebar])
    assert "Account value" in page
    for value in secrets.values():
        assert value not in page


def test_the_dashboard_never_loads_the_engine_broker_or_network_code():
    code = ("import sys; import momentum.reports.dashboard.app, momentum.reports.dashboard.tabs;"
            "print(sorted(m for m in sys.modules if m.startswith(('momentum.run', "
            "'momentum.rules.broker', 'momentum.data.tiingo', 'requests'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_the_trades_date_range_filters_rows(app, dashboard_run):
    from datetime import date
    closed = dashboard_run.state()["closed_trades"]
    open_tab(app, "Trades")
    exits = sorted(t["exit_date"] for t in closed)
    middle = exits[len(exits) // 2]
    app.date_input(key="trade_dates").set_value((date.fromisoformat(exits[0]),
                                                 date.fromisoformat(middle))).run()
    shown = by_key(app, "table_trades")
    assert len(shown) == sum(t["exit_date"] <= middle for t in closed) < len(closed)


def test_the_scheduler_status_is_shown_without_secrets(monkeypatch, tmp_path, dashboard_run):
    import yaml
    raw = yaml.safe_load(dashboard_run.config.read_text())
    status = tmp_path / "scheduler_status.json"
    raw["dashboard"]["scheduler_status"] = str(status)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    status.write_text(json.dumps({"last_run": "2024-06-28T16:05:00-04:00", "last_exit_code": 75,
                                  "next_run": "2024-07-01T16:05:00-04:00",
                                  "smtp_password": "hunter2", "webhook_url": "https://x/y"}))
    at = run_app(monkeypatch, dashboard_run.state_dir, config=config)
    table = by_key(at, "table_scheduler_status").set_index("field")["value"]
    assert table["last_exit_code"] == "75" and "next_run" in table
    assert "hunter2" not in repr([str(e.proto) for e in at.main])


def test_a_damaged_feed_file_is_skipped_with_a_warning(monkeypatch, tmp_path, dashboard_run):
    copy = tmp_path / "state"
    shutil.copytree(dashboard_run.state_dir, copy)
    day = sorted((copy / "dashboard").glob("day_*.json"))[-1]
    day.write_text("{ not json")
    at = run_app(monkeypatch, copy, config=dashboard_run.config, tab="Signals")
    assert any(day.name in w.value and "skipped" in w.value for w in at.warning)
    assert not at.error
