"""Check that paper trading matches the backtest, session by session (spec 7.2.8).

    python validate_paper_trading.py                          the last 30 sessions of the data
    python validate_paper_trading.py --data-dir ../shared/data --start 2018-01-02 --end 2019-03-01
    python validate_paper_trading.py --paper-config other.yaml   the paper side on other settings
    python validate_paper_trading.py --portfolio [--state-dir DIR]  the saved paper record

A paper portfolio is created in a temporary folder at the window's first session. Each session is
then run by a new MomentumStrategy that loads the state from disk, as a restart after every close
would; the state it saved is reloaded and checked. The backtest runs over the same window with
the same capital, and momentum.run.validation compares the two. The comparison report goes to
<reports>/validation_<start>_<end>.txt and .json. With --portfolio the paper side is the saved
portfolio's own record (momentum.run.record_check): the backtest is replayed over the sessions it
ran, from its capital, and each difference names its evidence. Exit codes: 0 match, 1 differences,
2 user error (one line on stderr), 3 unexpected error, 130 interrupted.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logging_config import setup_logging
from main import MomentumStrategy, iso_date, positive_amount, run_guarded
from momentum.core.calendar import NEW_YORK, step_days
from momentum.core.clock import Clock, SystemClock
from momentum.core.config import DEFAULT_CONFIG_PATH, StrategyConfig, load_config
from momentum.core.domain import AssetType, DayResult
from momentum.core.errors import ConfigError, MomentumError
from momentum.core.files import write_atomic
from momentum.core.money import to_money
from momentum.reports.validation import count_text, render_text, to_json
from momentum.run.engine import EngineState
from momentum.run.record_check import check_record, load_record, replay
from momentum.run.state import StateStore
from momentum.run.validation import PaperSnapshot, RunRecord, ValidationReport, compare

if TYPE_CHECKING:  # annotations only: --help and a bad argument load no market data
    from momentum.data.market import Market

logger = logging.getLogger("momentum.validate")
DEFAULT_SESSIONS = 30
DEFAULT_CAPITAL = Decimal(100000)


class ExitCode(IntEnum):
    MATCH = 0
    DIFFERENCES = 1
    USER_ERROR = 2
    BUG = 3
    INTERRUPTED = 130


class ReplayStrategy(MomentumStrategy):
    """A MomentumStrategy on an already loaded market: every restart reads the same bars."""

    def __init__(self, market: Market, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._replay_market = market

    def load_market(self, end: date | None = None) -> Market:
        """The preloaded market (its views still hide every bar after their day, R1.2)."""
        self.market = self._replay_market
        return self._replay_market


@dataclass(slots=True)
class PaperRun:
    """What the day-by-day paper side produced."""

    config: StrategyConfig
    days: list[DayResult] = field(default_factory=list)
    snapshots: list[PaperSnapshot] = field(default_factory=list)
    final: EngineState | None = None


# ---------------------------------------------------------------- configs and window
def backtest_config(cfg: StrategyConfig, capital: float) -> StrategyConfig:
    """The config with risk.initial_capital = --capital (not part of the paper fingerprint)."""
    return cfg.model_copy(update={"risk": cfg.risk.model_copy(update={"initial_capital": capital})})


def paper_config(cfg: StrategyConfig, folder: Path) -> StrategyConfig:
    """The config with logs, snapshots and reports under `folder`, and no email or Slack."""
    paths = {"log_file": str(folder / "logs" / "momentum_strategy.log"),
             "snapshot_dir": str(folder / "state"), "report_dir": str(folder / "reports")}
    alerts = cfg.alerts.model_copy(update={"email_enabled": False, "slack_webhook": None})
    return cfg.model_copy(update={"logging": cfg.logging.model_copy(update=paths),
                                  "alerts": alerts})


def check_dates(args: argparse.Namespace, today: date) -> None:
    """Refuse windows that are not wholly in the past (paper replays completed sessions)."""
    if args.start and args.end and args.end < args.start:
        raise ConfigError(f"--end {args.end} is before --start {args.start}; swap them")
    for flag in ("start", "end"):
        day = getattr(args, flag)
        if day is not None and day >= today:
            raise ConfigError(f"--{flag} {day} is today or later ({today} in New York): the "
                              f"validation replays completed sessions only; choose a date "
                              f"before {today}")


def resolve_window(market: Market, args: argparse.Namespace, today: date) -> list[date]:
    """The step dates to replay: --start..--end, else N sessions from --start or up to --end."""
    first, last = market.first_date, market.last_date
    assert first is not None and last is not None
    stocks = market.has_type(AssetType.STOCK)
    count = args.sessions or DEFAULT_SESSIONS
    end = min(args.end or today - timedelta(days=1), last)
    if args.start is not None:
        days = step_days(args.start, end, stocks)
        days = days if args.end is not None else days[:count]
    else:
        days = step_days(first, end, stocks)[-count:]
    if not days:
        raise ConfigError(f"no trading session in the chosen window (the data runs {first} to "
                          f"{last}); choose other dates")
    if days[-1] >= today:
        raise ConfigError(f"the window ends on {days[-1]}, today or later: choose --end before "
                          f"{today}")
    return days


# ---------------------------------------------------------------- the two sides
def run_paper(cfg: StrategyConfig, market: Market, days: list[date], capital: Decimal,
              folder: Path, data_dir: str | None, clock: Clock) -> PaperRun:
    """Init a portfolio, then one new strategy (state loaded from disk) per session."""
    state_dir = folder / "state"
    run = PaperRun(config=cfg)

    def restart() -> ReplayStrategy:
        return ReplayStrategy(market, config=cfg, data_dir=data_dir, mode="validate",
                              clock=clock, state_dir=state_dir)

    restart().paper_init(capital, days[0], force=False)
    for day in days:
        try:
            outcome = restart().paper_run(day)
        except MomentumError as e:  # recorded as a session missing on the paper side
            logger.warning("paper run for %s refused: %s", day, e)
            continue
        run.days += outcome.days
        reloaded = StateStore(state_dir).load().engine
        if outcome.state is not None:
            run.snapshots.append(PaperSnapshot(day, outcome.state, reloaded))
    run.final = StateStore(state_dir).load().engine
    return run


def run_both(args: argparse.Namespace, base: StrategyConfig, clock: Clock,
             folder: Path) -> ValidationReport:
    """Load the market, run the backtest and the paper side over the window, compare them."""
    paper_base = load_config(args.paper_config) if args.paper_config else base
    if paper_base.data != base.data:
        logger.warning("the data section of --paper-config is ignored: both sides read the "
                       "market data of --config / --data-dir")
    today = clock.now().astimezone(NEW_YORK).date()
    check_dates(args, today)
    capital = float(args.capital or DEFAULT_CAPITAL)
    bt_cfg = backtest_config(base, capital)
    backtest = MomentumStrategy(config=bt_cfg, data_dir=args.data_dir, mode="backtest",
                                clock=clock, state_dir=folder / "backtest-state")
    market = backtest.load_market(end=args.end or today - timedelta(days=1))
    days = resolve_window(market, args, today)
    logger.info("validating %d sessions %s .. %s", len(days), days[0], days[-1])
    bt = backtest.run_backtest(days[0], days[-1])
    with contextlib.ExitStack() as stack:
        if not args.verbose:  # the paper side's alert blocks go to stderr: shown with -v only
            sink = stack.enter_context((folder / "paper_console.txt").open("w", encoding="utf-8"))
            stack.enter_context(contextlib.redirect_stderr(sink))
        paper = run_paper(paper_config(paper_base, folder), market, days, to_money(capital),
                          folder, args.data_dir, clock)
    assert paper.final is not None
    return compare(RunRecord(paper.days, paper.final, paper.config),
                   RunRecord(bt.days, bt.state, bt_cfg), paper.snapshots, (days[0], days[-1]))


def check_portfolio(args: argparse.Namespace, cfg: StrategyConfig,
                    clock: Clock) -> ValidationReport:
    """The saved paper portfolio's record against the backtest replayed over its sessions."""
    from momentum.run.paper import fingerprint_changes, strategy_fingerprint
    store = StateStore(Path(args.state_dir or cfg.logging.snapshot_dir))
    record = load_record(store)
    if not record.sessions:
        raise ConfigError(f"the paper portfolio in {store.dir}/ has not run a session yet; "
                          f"run `python main.py paper --run` first")
    strategy = MomentumStrategy(config=cfg, data_dir=args.data_dir, mode="backtest",
                                clock=clock, state_dir=store.dir)
    market = strategy.load_market(end=record.sessions[-1])
    logger.info("replaying %d recorded sessions %s .. %s", len(record.sessions),
                record.sessions[0], record.sessions[-1])
    changes = fingerprint_changes(record.meta.strategy, strategy_fingerprint(cfg))
    return check_record(record, replay(record, market, cfg), market, cfg, changes)


# ---------------------------------------------------------------- output
def write_reports(report: ValidationReport, folder: Path) -> tuple[Path, Path]:
    """Write validation_<start>_<end>.txt and .json into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"validation_{report.start}_{report.end}"
    text = write_atomic(stem.with_suffix(".txt"), render_text(report))
    data = write_atomic(stem.with_suffix(".json"),
                        json.dumps(to_json(report), indent=2, allow_nan=False) + "\n")
    return text, data


def summary_lines(report: ValidationReport, paths: tuple[Path, Path], seconds: float) -> list[str]:
    """The short stdout summary: window, trades, result, first difference, report files."""
    passed = sum(c.passed for c in report.checks)
    lines = [f"window:   {report.start} .. {report.end}, {report.sessions} sessions, capital "
             f"{report.capital:,.2f}",
             f"trades:   paper {report.paper_trades}, backtest {report.backtest_trades}",
             f"equity:   paper {report.paper_final_equity:,.2f}, backtest "
             f"{report.backtest_final_equity:,.2f}",
             f"result:   {count_text(len(report.differences))}, {passed}/{len(report.checks)} "
             f"checks passed: {'MATCH' if report.ok else 'MISMATCH'}"]
    first = report.first_divergence
    if first is not None:
        lines += [f"first:    {first.describe()}", f"          cause: {first.cause}"]
    lines += [f"note:     {n}" for n in report.notes]
    lines += [f"          FAILED check {c.name}: {c.failures[0].day} {c.failures[0].detail}"
              for c in report.checks if not c.passed]
    lines += [f"reports:  {paths[0]}", f"          {paths[1]}", f"took {seconds:.1f} s"]
    return lines


# ---------------------------------------------------------------- CLI
def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: write a whole number >= 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="validate_paper_trading.py",
        description="Run paper trading day by day (saving and reloading the state after every "
                    "session) and the backtest over the same sessions, then compare signals, "
                    "rejections, orders, fills, daily equity and P&L, and check the risk limits "
                    "and the saved state.",
        epilog="Exit codes: 0 match, 1 differences, 2 user error, 3 unexpected error.")
    p.add_argument("--config", metavar="FILE", help="strategy configuration YAML "
                   "(default: config/strategy_config.yaml)")
    p.add_argument("--data-dir", metavar="DIR", help="read market data from this CSV directory "
                   "instead of the configured source")
    p.add_argument("--start", type=iso_date, metavar="YYYY-MM-DD", help="first session")
    p.add_argument("--end", type=iso_date, metavar="YYYY-MM-DD",
                   help="last session (before today; default: the last completed one)")
    p.add_argument("--sessions", type=positive_int, metavar="N",
                   help=f"how many sessions when --start and --end are not both given "
                        f"(default {DEFAULT_SESSIONS}: the last N of the data)")
    p.add_argument("--capital", type=positive_amount, metavar="N",
                   help="starting cash of both sides (default 100000)")
    p.add_argument("--reports", metavar="DIR",
                   help="folder of the comparison report (default: logging.report_dir)")
    p.add_argument("--paper-config", metavar="FILE", help="a second config used for the paper "
                   "side only (to see how a setting shows up as differences)")
    p.add_argument("--portfolio", action="store_true",
                   help="check the saved paper portfolio instead: replay the backtest over the "
                        "sessions it ran, from its starting capital, and explain each difference")
    p.add_argument("--state-dir", metavar="DIR", help="--portfolio: the portfolio's state folder "
                   "(default: logging.snapshot_dir of the config)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show the daily log lines and the paper side's alerts")
    p.add_argument("--traceback", action="store_true", help="show the Python traceback of an error")
    return p


def main(argv: list[str] | None = None, clock: Clock | None = None) -> int:
    """Parse the command line, validate, print the summary; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.sessions is not None and args.start and args.end:
        parser.error("--sessions does not apply when both --start and --end are given")
    window = [f for f in ("start", "end", "sessions", "capital", "paper_config")
              if getattr(args, f)]
    if args.portfolio and window:
        parser.error(f"--{window[0].replace('_', '-')} does not apply with --portfolio: the "
                     f"sessions are the ones the portfolio ran")
    if args.state_dir and not args.portfolio:
        parser.error("--state-dir applies with --portfolio only")
    setup_logging("DEBUG" if args.verbose else "INFO", quiet=not args.verbose)
    started = time.monotonic()

    def validate() -> int:
        base = load_config(args.config or DEFAULT_CONFIG_PATH)
        if args.portfolio:
            report = check_portfolio(args, base, clock or SystemClock())
        else:
            with tempfile.TemporaryDirectory(prefix="momentum-validate-") as tmp:
                report = run_both(args, base, clock or SystemClock(), Path(tmp))
        paths = write_reports(report, Path(args.reports or base.logging.report_dir))
        print("\n".join(summary_lines(report, paths, time.monotonic() - started)))
        return ExitCode.MATCH if report.ok else ExitCode.DIFFERENCES

    return run_guarded(validate, args.traceback, bug_code=ExitCode.BUG)


if __name__ == "__main__":
    sys.exit(main())
