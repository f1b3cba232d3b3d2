"""momentum: a daily momentum swing-trading system for US stocks and crypto.

    python main.py scan [--date D]                        the momentum candidates of a day
    python main.py backtest --start D --end D             replay the rules over history

Run `python main.py <command> --help` for the options of each command.
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
from datetime import date
from decimal import Decimal
from enum import IntEnum
from pathlib import Path
from typing import Any

from logging_config import setup_logging
from momentum.backtest_report import write_backtest_outputs
from momentum.backtester import BacktestResult, run_backtest
from momentum.calendar import step_days
from momentum.clock import Clock, SystemClock
from momentum.config import DEFAULT_CONFIG_PATH, StrategyConfig, load_config
from momentum.console import make_console, scan_counts, scan_table, step_progress, summary_table
from momentum.data import MarketDataSource
from momentum.domain import AssetType, DayResult, EntryOrder, Fill, Trade
from momentum.engine import EngineState, Rules, decide_entries, process_bars, run_day
from momentum.errors import ConfigError, MomentumError
from momentum.market import Market
from momentum.metrics import summarize
from momentum.money import money_str, to_money
from momentum.scanner import ScanResult
from momentum.sources import build_source, choose_source

logger = logging.getLogger("momentum.main")


class ExitCode(IntEnum):
    OK = 0
    BUG = 1
    USER_ERROR = 2
    INTERRUPTED = 130


class MomentumStrategy:
    """Wires the parts together and runs them; the rules themselves live in `momentum/`.

    Attributes:
        config: the validated StrategyConfig.
        tiingo_client: the TiingoClient when the data source is Tiingo, else None.
        scanner, signal_generator, risk_manager, broker: the rule objects (R3-R6).
        mode: 'backtest', 'paper', 'live' or 'scan'.
        state: the EngineState the daily step carries from day to day.
        market: the loaded market (bars and indicators of every asset).
    """

    def __init__(self, config_path: str | Path | None = None, data_dir: str | Path | None = None,
                 mode: str = "backtest", clock: Clock | None = None,
                 config: StrategyConfig | None = None) -> None:
        self.config_path = Path(config_path) if config_path else DEFAULT_CONFIG_PATH
        self.data_dir = Path(data_dir) if data_dir else None
        self.mode = mode
        self.clock = clock or SystemClock()
        self.config: StrategyConfig = config or self.load_config(self.config_path)
        self.rules = Rules.from_config(self.config)
        self.scanner = self.rules.scanner
        self.signal_generator = self.rules.signals
        self.risk_manager = self.rules.risk
        self.broker = self.rules.broker
        self.source: MarketDataSource | None = None
        self.tiingo_client: Any = None
        self.market: Market | None = None
        self.state = EngineState.start(to_money(self.config.risk.initial_capital))

    # ------------------------------------------------------------ set-up
    def load_config(self, config_path: str | Path) -> StrategyConfig:
        """Load and validate the YAML configuration (raises ConfigError with one line per mistake)."""
        return load_config(config_path)

    def initialize_components(self) -> bool:
        """Build the data source and check it is usable; log why not and return False on failure."""
        try:
            self.require_components()
        except MomentumError as e:
            logger.error("initialization failed: %s", e)
            return False
        logger.info("components ready: %s source, %d assets", self.source.name,
                    len(self.source.assets()))
        return True

    def require_components(self) -> MarketDataSource:
        """Build the data source once, raising a MomentumError that says what to fix."""
        if self.source is None:
            choice = choose_source(self.config, self.data_dir)
            print(f"data source: {choice.description}", file=sys.stderr)
            source = build_source(self.config, self.clock.now(), self.data_dir, choice)
            check = getattr(source, "check_connection", None)
            if check is not None:
                check()  # e.g. Tiingo's /api/test: a bad key fails here, not mid-run
            if not source.assets():
                raise MomentumError(f"the data source ({choice.description}) has no assets")
            self.source = source
            self.tiingo_client = getattr(source, "client", None)
        return self.source

    def load_market(self, end: date | None = None) -> Market:
        """Every asset's whole history up to `end` (R1.4), with indicators computed once."""
        source = self.require_components()
        market = Market.load(source, start=None, end=end,
                             complete_through=getattr(source, "complete_through", None))
        if not market.histories:
            raise MomentumError("the data source returned no bars"
                                + (f" up to {end}" if end else "") + "; check the dates and the data")
        self.market = market
        return market

    # ------------------------------------------------------------ the daily workflow
    def run_daily(self, day: date) -> dict[str, Any]:
        """Run the daily step (R7) for `day` on the loaded market and return the day as a dict."""
        if self.market is None:
            self.load_market(end=day)
        assert self.market is not None
        result = run_day(day, self.state, self.market.until(day), self.rules)
        return day_summary(result)

    def scan_and_select_candidates(self, day: date | None = None) -> ScanResult:
        """Run a full scan (R3) on `day` (default: the latest day with data)."""
        market = self.market if self.market is not None else self.load_market(end=day)
        scan_day = last_step_day(market, day)
        if day is not None and scan_day != day:
            print(f"{day} is not a trading day here; scanning {scan_day}", file=sys.stderr)
        return self.scanner.run_daily_scan(market.until(scan_day), cache=None)

    def process_signals(self, day: date) -> dict[str, list]:
        """Preview `day` without changing the state: {'exits': [...], 'entries': [...]}."""
        assert self.market is not None, "load_market() first"
        preview = copy.deepcopy(self.state)
        view = self.market.until(day)
        result = DayResult(day=day, previous_equity=preview.previous_equity)
        process_bars(preview, view, self.rules, result)
        decide_entries(preview, view, self.rules, result)
        exits = [f for f in result.fills if f.reason is not None]
        pending = [p for p in preview.portfolio.positions.values() if p.pending_exit is not None]
        return {"exits": exits + pending, "entries": result.entries,
                "rejections": result.rejections}

    def execute_approved_trades(self, trades: list[EntryOrder]) -> None:
        """Queue approved entries; the paper broker fills them at the next bar's open (R5.1)."""
        self.state.portfolio.pending_entries.extend(trades)

    def update_positions(self, day: date) -> list[Fill]:
        """Process every new bar of held and ordered assets up to `day` (fills, exit checks)."""
        assert self.market is not None, "load_market() first"
        result = DayResult(day=day)
        process_bars(self.state, self.market.until(day), self.rules, result)
        self.state.fills += result.fills
        return result.fills

    @property
    def paper_portfolio(self) -> dict[str, Any]:
        """Cash, positions and total value of the simulated account."""
        book = self.state.portfolio
        return {"cash": book.cash, "positions": dict(book.positions), "value": book.equity}

    @property
    def trade_log(self) -> list[Trade]:
        """Every position taken: closed trades, then open ones."""
        return self.state.portfolio.trades()

    # ------------------------------------------------------------ backtest
    def run_backtest(self, start: date, end: date, on_step=None) -> BacktestResult:
        """Replay the daily step over `start`..`end` with all history before `start` (R1.4)."""
        market = self.load_market(end=end)
        result = run_backtest(market, self.config, start, end, on_step=on_step)
        self.state = result.state
        return result


def day_summary(result: DayResult) -> dict[str, Any]:
    """A plain dict of one daily step: fills with reasons, entries, rejections, equity, P&L."""
    return {
        "date": result.day.isoformat(),
        "fills": [{"ticker": f.ticker, "side": f.side.value, "date": f.day.isoformat(),
                   "price": money_str(f.price), "quantity": money_str(f.quantity),
                   "commission": money_str(f.commission),
                   "reason": f.reason.value if f.reason else "entry"} for f in result.fills],
        "entries": [{"ticker": o.ticker, "quantity": money_str(o.quantity), "score": o.score,
                     "reference_close": money_str(o.reference_close)} for o in result.entries],
        "rejections": [{"ticker": r.ticker, "reason": r.reason.value, "rule": r.rule,
                        "detail": r.detail, "date": r.day.isoformat()} for r in result.rejections],
        "equity": money_str(result.equity), "cash": money_str(result.cash),
        "gross_exposure": money_str(result.gross_exposure),
        "sector_exposure": {s: money_str(v) for s, v in result.sector_exposure.items()},
        "daily_pnl": money_str(result.daily_pnl),
        "full_scan": result.full_scan,
        "candidates": [c.ticker for c in result.candidates],
        "data_dates": {k: v.isoformat() for k, v in result.data_dates.items()},
    }


def last_step_day(market: Market, day: date | None) -> date:
    """The latest step date (R7) on or before `day` for which the market has bars."""
    last = market.last_date
    assert last is not None
    end = min(day, last) if day else last
    start = market.first_date or end
    days = step_days(start, end, market.has_type(AssetType.STOCK))
    if not days:
        raise ConfigError(f"no trading day on or before {end} in the data (it starts {start})")
    return days[-1]


# ---------------------------------------------------------------- CLI


def iso_date(text: str) -> date:
    """argparse type: a date written YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid date {text!r}: write it as YYYY-MM-DD") from None


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", default=None,
                   help="strategy configuration YAML (default: config/strategy_config.yaml)")
    p.add_argument("--data-dir", metavar="DIR", default=None,
                   help="read market data from this CSV directory (stocks/, crypto/, benchmark/, "
                        "meta.csv) instead of the configured source")
    p.add_argument("-v", "--verbose", action="store_true", help="show debug log lines")
    p.add_argument("-q", "--quiet", action="store_true", help="show only warnings and errors")
    p.add_argument("--traceback", action="store_true",
                   help="show the full Python traceback of an error (for bug reports)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="main.py",
        description="Momentum swing trading for US stocks and crypto: scan for momentum, "
                    "backtest the rules, paper trade them day by day.",
        epilog="Market data: the embedded synthetic market by default (no API key needed); "
               "--data-dir DIR for CSV files; set TIINGO_API_KEY for Tiingo.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_scan(sub)
    _add_backtest(sub)
    return parser


def _add_scan(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scan", help="list the momentum candidates of a day",
        description="Scan the universe on one day (a full scan, R3): eligibility, momentum score "
                    "and the top candidates with their entry signal, and the filter counts.")
    p.add_argument("--date", type=iso_date, metavar="YYYY-MM-DD",
                   help="the day to scan (default: the latest day with data); a weekend or "
                        "holiday scans the trading day before it")
    _add_common(p)
    p.set_defaults(handler=cmd_scan)


def _add_backtest(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backtest", help="replay the strategy over a historical period",
        description="Run the daily step over every trading day from --start to --end, with all "
                    "history before --start for the indicators. Writes trades.csv, equity.csv, "
                    "rejections.csv, summary.json and report.html.")
    p.add_argument("--start", type=iso_date, required=True, metavar="YYYY-MM-DD",
                   help="first day that may trade")
    p.add_argument("--end", type=iso_date, required=True, metavar="YYYY-MM-DD",
                   help="last day of the backtest (clipped to the last day with data)")
    p.add_argument("--output", metavar="DIR", default=None,
                   help="folder for the results (default: output/backtest_<start>_<end>/)")
    _add_common(p)
    p.set_defaults(handler=cmd_backtest)


def cmd_scan(args: argparse.Namespace) -> int:
    strategy = MomentumStrategy(args.config, args.data_dir, mode="scan")
    result = strategy.scan_and_select_candidates(args.date)
    signals = {s.ticker for s in strategy.signal_generator.entry_signals(result.candidates)}
    console = make_console()
    console.print(scan_table(result, signals))
    for line in scan_counts(result):
        console.print(line)
    return ExitCode.OK


def cmd_backtest(args: argparse.Namespace) -> int:
    if args.end < args.start:
        raise ConfigError(f"--end {args.end} is before --start {args.start}; swap them")
    strategy = MomentumStrategy(args.config, args.data_dir, mode="backtest")
    out_dir = Path(args.output or f"output/backtest_{args.start}_{args.end}")
    market = strategy.load_market(end=args.end)
    total = len(step_days(args.start, min(args.end, market.last_date or args.end),
                          market.has_type(AssetType.STOCK)))
    with step_progress(total, "backtest") as advance:
        result = strategy.run_backtest(
            args.start, args.end,
            on_step=lambda day, state: advance(f"{day.day}  equity {day.equity:,.0f}"))
    summary = summarize(result, market)
    paths = write_backtest_outputs(result, market, out_dir, config_summary=strategy.config.redacted(),
                                   exit_config=strategy.config.signals.exit)
    console = make_console()
    console.print(summary_table(summary))
    console.print(f"Results in {out_dir}/: " + ", ".join(sorted(p.name for p in paths.values())))
    return ExitCode.OK


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the command, map errors to exit codes."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # A backtest logs a line per trade and rejection: on the console only with -v.
    quiet = args.quiet or (args.command == "backtest" and not args.verbose)
    setup_logging("DEBUG" if args.verbose else "INFO", quiet=quiet)
    try:
        return int(args.handler(args))
    except MomentumError as e:
        if args.traceback:
            raise
        for line in str(e).splitlines() or [e.__class__.__name__]:
            print(f"error: {line}", file=sys.stderr)
        return ExitCode.USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception:
        if args.traceback:
            raise
        logger.exception("unexpected error; please report it with the lines above")
        return ExitCode.BUG


if __name__ == "__main__":
    sys.exit(main())
