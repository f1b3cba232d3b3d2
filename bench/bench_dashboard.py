"""Dashboard speed in a real browser: first render and tab switches on two years of paper
trading with about 500 trades (spec 7.2.5; figures printed, never asserted).

    python bench/bench_dashboard.py [--keep DIR] [--repeat N]

Builds the portfolio with real `main.py paper --init` / `paper --run` calls on the synthetic
market (settings loosened so that 2022-01-03 .. 2023-12-29 makes ~500 trades), starts
`streamlit run dashboard.py` on 127.0.0.1 and drives the system Chromium with Playwright.
Wall times depend on the machine's load; the server's CPU time (user + sys) is printed beside.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

import main as cli  # noqa: E402
from tests.browser import dashboard_server, launch_chromium, wait_idle  # noqa: E402
from tests.dashboard_state import write_config  # noqa: E402

START, END = "2022-01-03", "2023-12-29"
TABS = {"Positions": "daily marks", "Trades": "Statistics", "Signals": "Rejection reasons",
        "Risk": "Download risk_limits.csv", "Performance": "Monthly returns",
        "Overview": "Open positions"}


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def browser_cpu(server_pid: int) -> float:
    """user + sys CPU of the live processes under this one, the server excepted: Chromium."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1]
                                              .split()[1])
            except (OSError, ValueError):
                continue
    me, total = os.getpid(), 0.0
    for pid in parent:
        chain, p = set(), pid
        while p in parent and p not in (0, 1, me, server_pid) and p not in chain:
            chain.add(p)
            p = parent[p]
        if p == me and pid != server_pid:
            try:
                total += _cpu(pid)
            except OSError:
                continue
    return total


def busy_config(root: Path) -> Path:
    """The shipped config with limits loosened so that two years make about 500 trades."""
    path = write_config(root)
    raw = yaml.safe_load(path.read_text())
    raw["risk"].update(max_portfolio_exposure=1.0, max_sector_exposure=0.5, max_positions=12,
                       risk_per_trade=0.004)
    raw["scanner"]["max_candidates"] = 30
    raw["signals"]["entry"]["require_volume_surge"] = False
    path.write_text(yaml.safe_dump(raw))
    return path


def build(root: Path) -> tuple[Path, Path]:
    config, state_dir = root / "config.yaml", root / "snapshots"
    if (state_dir / "latest.json").exists():
        return config, state_dir
    config = busy_config(root)
    t0, c0 = time.perf_counter(), time.process_time()
    assert cli.main(["paper", "--init", "--date", START, "--config", str(config), "-q"]) == 0
    assert cli.main(["paper", "--run", "--date", END, "--config", str(config), "-q"]) == 0
    print(f"paper run {START}..{END}: {time.perf_counter() - t0:.1f} s wall, "
          f"{time.process_time() - c0:.1f} s CPU (includes the dashboard feed)")
    return config, state_dir


def describe(state_dir: Path) -> None:
    pointer = json.loads((state_dir / "latest.json").read_text())
    state = json.loads((state_dir / pointer["file"]).read_text())["state"]
    feed = state_dir / "dashboard"
    size = sum(p.stat().st_size for p in feed.iterdir()) / 1e6
    print(f"history: {len(state['equity_curve'])} sessions, {len(state['closed_trades'])} closed "
          f"trades, {len(state['paper_portfolio']['positions'])} open positions, "
          f"{len(state['rejections'])} rejections; snapshot "
          f"{(state_dir / pointer['file']).stat().st_size / 1e6:.2f} MB, feed {size:.2f} MB")


def measure(config: Path, state_dir: Path, repeat: int) -> None:
    from playwright.sync_api import sync_playwright

    with dashboard_server("--state-dir", str(state_dir), "--config", str(config)) as server, \
            sync_playwright() as p:
        for run in range(repeat):
            browser = launch_chromium(p)  # a fresh browser: no process of the last run exits
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(180_000)
            cpu0, b0, t0 = server.cpu_seconds(), browser_cpu(server.pid), time.perf_counter()
            page.goto(server.url)
            wait_idle(page)
            page.get_by_text("Account value").locator("visible=true").first.wait_for()
            page.locator(".js-plotly-plot .main-svg").first.wait_for()  # the chart is drawn
            first = time.perf_counter() - t0
            print(f"run {run + 1}: first render {first:6.2f} s wall, CPU server "
                  f"{server.cpu_seconds() - cpu0:5.2f} s + browser "
                  f"{browser_cpu(server.pid) - b0:5.2f} s "
                  f"({'cold' if run == 0 else 'warm'} file cache)")
            switches = []
            for name, marker in TABS.items():
                cpu0, b0, t0 = server.cpu_seconds(), browser_cpu(server.pid), time.perf_counter()
                page.get_by_role("tab", name=name).click()
                page.get_by_text(marker).locator("visible=true").first.wait_for()
                switches.append(time.perf_counter() - t0)
                print(f"    tab {name:<12} {switches[-1] * 1000:7.0f} ms wall, CPU server "
                      f"{(server.cpu_seconds() - cpu0) * 1000:5.0f} ms + browser "
                      f"{(browser_cpu(server.pid) - b0) * 1000:5.0f} ms")
            print(f"    tab switch median {statistics.median(switches) * 1000:.0f} ms, "
                  f"max {max(switches) * 1000:.0f} ms")
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", metavar="DIR", help="build (or reuse) the portfolio here")
    parser.add_argument("--repeat", type=int, default=3, help="page loads measured")
    args = parser.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="dash-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    config, state_dir = build(root)
    describe(state_dir)
    print("baseline: the same page on an empty state folder (Streamlit itself, no data):")
    baseline(config, root / "empty")
    measure(config, state_dir, args.repeat)


def baseline(config: Path, empty: Path) -> None:
    from playwright.sync_api import sync_playwright

    empty.mkdir(exist_ok=True)
    with dashboard_server("--state-dir", str(empty), "--config", str(config)) as server, \
            sync_playwright() as p:
        for run in range(2):
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(180_000)
            cpu0, b0, t0 = server.cpu_seconds(), browser_cpu(server.pid), time.perf_counter()
            page.goto(server.url)
            page.get_by_text("No paper portfolio").first.wait_for()
            print(f"    load {run + 1}: {time.perf_counter() - t0:6.2f} s wall, CPU server "
                  f"{server.cpu_seconds() - cpu0:5.2f} s + browser "
                  f"{browser_cpu(server.pid) - b0:5.2f} s")
            browser.close()


if __name__ == "__main__":
    main()
