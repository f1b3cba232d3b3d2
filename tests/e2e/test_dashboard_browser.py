"""The dashboard in a real headless Chromium: `streamlit run dashboard.py` on 127.0.0.1, every
tab opened and checked, a position's chart, a CSV download compared with the state, and a
screenshot of every tab under tests/artifacts/dashboard/ (kept for the user guide)."""
from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, dashboard_server, launch_chromium, wait_idle
from tests.dashboard_state import money

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="no /usr/bin/chromium (.ci/run installs it)")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "dashboard"
TABS = {"Overview": "Open positions", "Positions": "daily marks", "Trades": "Statistics",
        "Signals": "Rejection reasons", "Risk": "Download risk_limits.csv",
        "Performance": "Monthly returns"}


@pytest.fixture(scope="module")
def page(dashboard_run):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with dashboard_server("--state-dir", str(dashboard_run.state_dir), "--config",
                          str(dashboard_run.config)) as server, sync_playwright() as p:
        browser = launch_chromium(p)
        context = browser.new_context(viewport={"width": 1400, "height": 2000},
                                      accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(90_000)
        page.goto(server.url)
        wait_idle(page)
        yield page
        browser.close()


def visible(page, text: str):
    return page.get_by_text(text).locator("visible=true").first


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    visible(page, TABS[name]).wait_for()


def test_every_tab_opens_with_its_content_and_is_screenshotted(page, dashboard_run):
    state = dashboard_run.state()
    visible(page, "Account value").wait_for()
    assert visible(page, money(state["paper_portfolio"]["value"])).is_visible()
    # waited for, not checked at once: the caption and the sidebar are separate fragments,
    # and a fragment may still be drawing when the account value shows
    visible(page, f"data as of {state['date']}").wait_for()
    for name in TABS:
        open_tab(page, name)
        page.wait_for_timeout(500)  # let the plotly charts of the tab draw
        page.screenshot(path=str(ARTIFACTS / f"{name.lower()}.png"), full_page=True)
        assert (ARTIFACTS / f"{name.lower()}.png").stat().st_size > 10_000
    assert not page.locator('[data-testid="stException"]').count()


def test_choosing_a_position_draws_its_chart(page, dashboard_run):
    tickers = sorted(p["ticker"] for p in dashboard_run.state()["paper_portfolio"]["positions"])
    open_tab(page, "Positions")
    assert len(tickers) >= 2, "the window should end with two positions or more"
    grid = page.locator('[data-testid="stDataFrame"]').locator("visible=true").first
    box = grid.bounding_box()  # the grid is a canvas: click the second row's selection box
    page.mouse.click(box["x"] + 15, box["y"] + 35 * 2 + 17)
    visible(page, f"{tickers[1]}: entry, stop, target, trailing").wait_for()
    choice = tickers[0]
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Position")
    box.locator("visible=true").first.click()
    page.get_by_role("option", name=choice).click()
    visible(page, f"{choice}: entry, stop, target, trailing").wait_for()
    visible(page, f"{choice}: daily marks").wait_for()
    page.screenshot(path=str(ARTIFACTS / "position_chart.png"), full_page=True)


def test_the_trades_csv_download_equals_the_state(page, dashboard_run):
    closed = dashboard_run.state()["closed_trades"]
    open_tab(page, "Trades")
    with page.expect_download() as info:
        page.get_by_role("button", name=f"Download trades.csv ({len(closed)} rows)").click()
    rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text())))
    assert len(rows) == len(closed)
    expected = {(t["ticker"], t["entry_date"], t["exit_date"]): t for t in closed}
    for row in rows:
        t = expected[(row["ticker"], row["entry_date"], row["exit_date"])]
        pnl = ((Decimal(t["exit_price"]) - Decimal(t["entry_price"])) * Decimal(t["quantity"])
               - Decimal(t["entry_commission"]) - Decimal(t["exit_commission"]))
        assert abs(Decimal(row["pnl"]) - pnl) < Decimal("0.000001")
        assert row["exit_reason"] == t["exit_reason"]


def test_selecting_a_trade_draws_its_chart_with_entry_and_exit(page, dashboard_run):
    closed = sorted(dashboard_run.state()["closed_trades"],
                    key=lambda t: (t["exit_date"], t["ticker"]), reverse=True)
    open_tab(page, "Trades")
    grid = page.locator('[data-testid="stDataFrame"]').locator("visible=true").first
    box = grid.bounding_box()  # newest exit first: the second row is the second newest trade
    page.mouse.click(box["x"] + 15, box["y"] + 35 * 2 + 17)
    t = closed[1]
    visible(page, f"{t['ticker']} {t['entry_date']} -> {t['exit_date']}").wait_for()
    page.screenshot(path=str(ARTIFACTS / "trade_chart.png"), full_page=True)
