"""report.html in a real headless Chromium: the page's own script draws every chart, offline."""
from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from momentum.core.config import StrategyConfig
from momentum.data.market import Market
from momentum.data.synthetic import SyntheticMarket
from momentum.reports.backtest import write_backtest_outputs
from momentum.run.backtester import run_backtest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    cfg = StrategyConfig()
    source = SyntheticMarket(cfg.data.synthetic, now=datetime(2024, 1, 2, tzinfo=UTC),
                            cache_dir=None)
    market = Market.load(source, end=date(2023, 12, 31))
    result = run_backtest(market, cfg, date(2023, 1, 1), date(2023, 12, 31))
    out = tmp_path_factory.mktemp("report")
    write_backtest_outputs(result, market, out, exit_config=cfg.signals.exit)
    return out / "report.html", {t.ticker for t in result.state.portfolio.trades()}


def test_report_draws_every_chart_in_the_browser_without_network(report):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium at /usr/bin/chromium")
    path, tickers = report
    assert tickers, "the 2023 synthetic run should trade"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.as_uri())
        page.wait_for_selector("#equity .main-svg", timeout=30_000)
        for div in ("drawdown", "monthly-returns", *sorted(f"price-{t}" for t in tickers)):
            page.locator(f"#{div}").scroll_into_view_if_needed()
            page.wait_for_selector(f"#{div} .main-svg", timeout=30_000)
        first = sorted(tickers)[0]
        traces = page.evaluate(f"document.getElementById('price-{first}').data.map(t => t.name)")
        browser.close()
    assert errors == []
    assert [u for u in requests if not u.startswith("file:")] == []
    assert {"close", "entry", "exit", "stop", "target"} <= set(traces)
