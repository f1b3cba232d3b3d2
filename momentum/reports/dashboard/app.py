"""The Streamlit page: sidebar (source, data as of, refresh), then the six tabs in a fragment
that re-runs every ``dashboard.refresh_seconds`` (spec 7.2.5).

    streamlit run dashboard.py [-- --state-dir DIR | --backtest DIR] [--config FILE]

The environment variables MOMENTUM_STATE_DIR, MOMENTUM_BACKTEST and MOMENTUM_CONFIG do the
same (tests use them). Only files are read; a problem is a message on the page, never a
traceback; no secret of the config is ever shown (only the dashboard and logging sections of
the config are used).
"""
from __future__ import annotations

import argparse
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import streamlit as st

from momentum.core.config import DEFAULT_CONFIG_PATH, StrategyConfig, load_config
from momentum.core.ops_config import DashboardConfig
from momentum.core.errors import MomentumError
from momentum.reports.dashboard import tabs
from momentum.reports.dashboard.readers import (FileCache, Source, SourceError, backtest_folders,
                                                load_backtest, load_paper,
                                                read_scheduler_status)

logger = logging.getLogger(__name__)
TAB_NAMES = ["Overview", "Positions", "Trades", "Signals", "Risk", "Performance"]
PAPER, BACKTEST = "Paper portfolio", "Backtest folder"


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The options after `--` of `streamlit run dashboard.py -- ...` (unknown ones ignored)."""
    p = argparse.ArgumentParser(prog="dashboard.py", add_help=False)
    p.add_argument("--state-dir", default=os.environ.get("MOMENTUM_STATE_DIR"))
    p.add_argument("--backtest", default=os.environ.get("MOMENTUM_BACKTEST"))
    p.add_argument("--config", default=os.environ.get("MOMENTUM_CONFIG"))
    return p.parse_known_args(argv)[0]


@st.cache_resource
def file_cache() -> FileCache:
    """One cache of parsed files per server process (keyed by path, mtime and size)."""
    return FileCache()


def settings(path: str | None) -> tuple[StrategyConfig, str | None]:
    """The config (defaults when it cannot be read, with the reason)."""
    try:
        return load_config(Path(path) if path else DEFAULT_CONFIG_PATH), None
    except MomentumError as e:
        return StrategyConfig(), f"config not loaded, defaults used: {e}"


def main(argv: list[str]) -> None:
    """Render the page."""
    st.set_page_config(page_title="momentum dashboard", layout="wide")
    args = parse_args(argv)
    cfg, problem = settings(args.config)
    if problem:
        st.sidebar.warning(problem)
    choice = sidebar(args, cfg)
    refresh = int(cfg.dashboard.refresh_seconds)

    with st.sidebar:  # a fragment writes only into its own container: one per place
        st.fragment(freshness, run_every=refresh)(choice)
    st.fragment(render, run_every=refresh)(choice, cfg.dashboard)


def freshness(choice: tuple[str, Path | None]) -> None:
    """The sidebar's 'data as of' (the last session of the source) and 'last refreshed'."""
    try:
        as_of = load(*choice).as_of
    except (SourceError, OSError):
        as_of = None
    st.caption(f"Data as of **{as_of.isoformat() if as_of else 'n/a'}**  \n"
               f"Last refreshed {_now()}")


def _now() -> str:
    return datetime.now(UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def sidebar(args: argparse.Namespace, cfg: StrategyConfig) -> tuple[str, Path | None]:
    """Pick the source: a paper portfolio's state folder or a backtest output folder."""
    bar = st.sidebar
    bar.title("momentum")
    kinds = [PAPER, BACKTEST]
    kind = bar.radio("Source", kinds, index=1 if args.backtest and not args.state_dir else 0,
                     key="source_kind")
    if kind == PAPER:
        default = args.state_dir or cfg.logging.snapshot_dir
        text = bar.text_input("State folder (--state-dir)", value=str(default), key="state_dir")
        path = Path(text) if text else None
    else:
        found = [str(p) for p in backtest_folders(Path("output"))]
        options = ([args.backtest] if args.backtest else []) + [f for f in found
                                                                if f != args.backtest]
        text = bar.selectbox("Backtest folder", options, key="backtest_dir",
                             accept_new_options=True) if options else bar.text_input(
            "Backtest folder", key="backtest_dir_text")
        path = Path(text) if text else None
    if bar.button("Refresh now", key="refresh"):
        st.rerun()
    bar.caption(f"Auto-refresh every {cfg.dashboard.refresh_seconds} s; only changed files "
                f"are re-read.")
    return kind, path


def load(kind: str, path: Path | None) -> Source:
    """Read the chosen source (SourceError: what is wrong and what to do)."""
    if path is None:
        raise SourceError("Choose a state folder or a backtest folder in the sidebar.")
    cache = file_cache()
    return load_paper(path, cache) if kind == PAPER else load_backtest(path, cache)


def render(choice: tuple[str, Path | None], dash: DashboardConfig) -> None:
    """The six tabs of the chosen source, or the message saying why they cannot be shown."""
    refreshed = _now()
    try:
        source = load(*choice)
    except SourceError as e:
        st.caption(f"Last refreshed {refreshed}")
        (st.info if "No paper portfolio" in str(e) or "Choose" in str(e) else st.error)(str(e))
        return
    except OSError as e:
        st.caption(f"Last refreshed {refreshed}")
        st.error(f"cannot read {e.filename}: {e.strerror}")
        return
    as_of = source.as_of.isoformat() if source.as_of else "no session yet"
    st.caption(f"{source.kind} · {source.path} · data as of **{as_of}** · last refreshed "
               f"{refreshed}")
    for warning in source.warnings:
        st.warning(warning)
    status = read_scheduler_status(Path(dash.scheduler_status), file_cache())
    renderers = (lambda: tabs.overview_tab(source, status, dash),
                 lambda: tabs.positions_tab(source), lambda: tabs.trades_tab(source),
                 lambda: tabs.signals_tab(source, dash),
                 lambda: tabs.risk_tab(source, dash), lambda: tabs.performance_tab(source))
    # Lazy tabs: only the open one is computed and sent, so a long history stays quick.
    opened = st.tabs(TAB_NAMES, key="tab", on_change="rerun")
    for tab, draw, name in zip(opened, renderers, TAB_NAMES, strict=True):
        if not tab.open:
            continue
        with tab:
            try:
                draw()
            except Exception as e:  # one tab's bug must not blank the page or show a traceback
                logger.exception("dashboard tab %s failed", name)
                st.error(f"The {name} tab could not be drawn ({e.__class__.__name__}: {e}); "
                         f"please report it.")
