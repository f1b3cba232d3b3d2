"""Regenerate the user guide's screenshots in docs/images/ from a seeded run (7.2.9).

    python docs/make_screenshots.py [--out docs/images]

On the embedded synthetic market (seed 42, no key, no network) it runs a paper portfolio from
2024-01-02 to 2024-06-28 and the backtest 2022-01-01 .. 2024-01-01 into a temporary folder, starts
`streamlit run dashboard.py` on 127.0.0.1, and photographs each dashboard tab, the backtest's
report.html and the daily report as a terminal shows it, with the system's headless Chromium
(/usr/bin/chromium; no browser is downloaded). Each image is kept under 400 KB. It reuses the
browser helpers of the test suite (tests/browser.py), so the pictures show what the tests check.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import main as cli  # noqa: E402
from tests.browser import CHROMIUM, dashboard_server, launch_chromium, wait_idle  # noqa: E402
from tests.dashboard_state import write_config  # noqa: E402

# each tab and a text that shows once it is drawn (the browser test's markers)
TABS = {"Overview": "Open positions", "Positions": "daily marks", "Trades": "Statistics",
        "Signals": "Rejection reasons", "Risk": "Download risk_limits.csv",
        "Performance": "Monthly returns"}
MAX_BYTES = 400 * 1024
VIEWPORT = {"width": 1280, "height": 900}


def seeded_run(root: Path) -> tuple[Path, Path, Path]:
    """A paper portfolio and a backtest on the synthetic market; returns config, state, backtest."""
    config = write_config(root)
    state_dir, backtest = root / "snapshots", root / "backtest"
    steps = (["paper", "--init", "--date", "2024-01-02", "--capital", "10000"],
             ["paper", "--run", "--date", "2024-06-28"],
             ["backtest", "--start", "2022-01-01", "--end", "2024-01-01", "--output",
              str(backtest)])
    for argv in steps:
        if cli.main([*argv, "--config", str(config), "-q"]) != 0:
            raise SystemExit(f"`main.py {' '.join(argv)}` failed; see the lines above")
    return config, state_dir, backtest


def save(page, path: Path) -> Path:
    """Screenshot the viewport as PNG, refusing one over the guide's size limit."""
    page.screenshot(path=str(path))
    if path.stat().st_size >= MAX_BYTES:
        raise SystemExit(f"{path} is {path.stat().st_size} bytes, over the 400 KB limit")
    return path


def dashboard_shots(browser, config: Path, state_dir: Path, out: Path) -> list[Path]:
    shots = []
    with dashboard_server("--state-dir", str(state_dir), "--config", str(config)) as server:
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(120_000)
        page.goto(server.url)
        wait_idle(page)
        for name, marker in TABS.items():
            page.get_by_role("tab", name=name).click()
            page.get_by_text(marker).locator("visible=true").first.wait_for()
            page.wait_for_timeout(2000)  # the tab's plotly charts draw after the script ends
            shots.append(save(page, out / f"dashboard_{name.lower()}.png"))
        page.close()
    return shots


def report_shot(browser, backtest: Path, out: Path) -> Path:
    page = browser.new_page(viewport=VIEWPORT)
    page.goto((backtest / "report.html").as_uri())
    page.wait_for_timeout(3000)
    path = save(page, out / "backtest_report.png")
    page.close()
    return path


def terminal_shot(browser, config: Path, state_dir: Path, root: Path, out: Path) -> Path:
    """The daily report of the last session, coloured as `paper --report` prints it."""
    from rich.console import Console
    from rich.text import Text

    from momentum.reports.daily import render_daily_report

    strategy = cli.MomentumStrategy(config, state_dir=state_dir)
    saved = strategy.paper.load()
    day = saved.engine.last_step
    text = render_daily_report(day, saved.engine, strategy.config,
                               datetime(2024, 6, 28, 21, 5, tzinfo=timezone.utc), color=True)
    console = Console(record=True, width=100, file=open(root / "console.txt", "w"))
    console.print(f"$ python main.py paper --report    # {day}")
    console.print(Text.from_ansi(text))
    html = root / "daily_report.html"
    html.write_text(console.export_html(inline_styles=True).replace(
        "<body>", '<body style="background:#1e1e1e;color:#ddd;margin:0;padding:12px">'))
    page = browser.new_page(viewport={"width": 900, "height": 1300})
    page.goto(html.as_uri())
    path = save(page, out / "daily_report_terminal.png")
    page.close()
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images",
                        help="folder for the images (default: docs/images)")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"error: {CHROMIUM} not found; install Debian's chromium (apt-get install -y "
              f"chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        root = Path(tmp)
        config, state_dir, backtest = seeded_run(root)
        browser = launch_chromium(p)
        shots = [*dashboard_shots(browser, config, state_dir, args.out),
                 report_shot(browser, backtest, args.out),
                 terminal_shot(browser, config, state_dir, root, args.out)]
        browser.close()
    for path in shots:
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}  "
              f"{path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
