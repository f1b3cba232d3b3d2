"""momentum: a daily momentum swing-trading system for US stocks and crypto.

    python main.py scan [--date D]             today's momentum candidates

Run `python main.py <command> --help` for the options of each command.
"""
from __future__ import annotations

import argparse
import logging
import sys
from datetime import date
from enum import IntEnum
from pathlib import Path

from rich.console import Console
from rich.table import Table

from logging_config import setup_logging
from momentum.calendar import step_days
from momentum.clock import Clock, SystemClock
from momentum.config import DEFAULT_CONFIG_PATH, StrategyConfig, load_config
from momentum.data import MarketDataSource
from momentum.domain import AssetType
from momentum.errors import ConfigError, MomentumError
from momentum.market import Market
from momentum.scanner import AssetScanner, ScanResult
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
        scanner: the AssetScanner (R3).
        mode: 'backtest', 'paper', 'live' or 'scan'.
    """

    def __init__(self, config_path: str | Path | None = None, data_dir: str | Path | None = None,
                 mode: str = "backtest", clock: Clock | None = None) -> None:
        self.config_path = Path(config_path) if config_path else DEFAULT_CONFIG_PATH
        self.data_dir = Path(data_dir) if data_dir else None
        self.mode = mode
        self.clock = clock or SystemClock()
        self.config: StrategyConfig = self.load_config(self.config_path)
        self.source: MarketDataSource | None = None
        self.tiingo_client = None
        self.scanner = AssetScanner(self.config.scanner)

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
        return True

    def require_components(self) -> MarketDataSource:
        """Build the data source once, raising a MomentumError that says what to fix."""
        if self.source is None:
            choice = choose_source(self.config, self.data_dir)
            print(f"data source: {choice.description}", file=sys.stderr)
            source = build_source(self.config, self.clock.now(), self.data_dir, choice)
            if not source.assets():
                raise MomentumError(f"the data source ({choice.description}) has no assets")
            self.source = source
            self.tiingo_client = getattr(source, "client", None)
        return self.source

    def load_market(self, end: date | None = None) -> Market:
        """Every asset's whole history up to `end` (R1.4), with indicators."""
        source = self.require_components()
        market = Market.load(source, start=None, end=end)
        if not market.histories:
            raise MomentumError("the data source returned no bars"
                                + (f" up to {end}" if end else "") + "; check the date and the data")
        return market

    def scan_and_select_candidates(self, day: date | None = None) -> ScanResult:
        """Run a full scan (R3) on `day` (default: the latest day with data) and return the result."""
        market = self.load_market(end=day)
        scan_day = last_step_day(market, day)
        if day is not None and scan_day != day:
            print(f"{day} is not a trading day here; scanning {scan_day}", file=sys.stderr)
        return self.scanner.run_daily_scan(market.until(scan_day), cache=None)


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

    scan = sub.add_parser(
        "scan", help="list the momentum candidates of a day",
        description="Scan the universe on one day (a full scan, R3): eligibility, momentum score "
                    "and the top candidates, printed as a table with the filter counts.")
    scan.add_argument("--date", type=iso_date, metavar="YYYY-MM-DD",
                      help="the day to scan (default: the latest day with data); a weekend or "
                           "holiday scans the trading day before it")
    _add_common(scan)
    scan.set_defaults(handler=cmd_scan)
    return parser


def make_console() -> Console:
    """A stdout console: colour on a terminal only, wide enough for tables in pipes and files."""
    tty = sys.stdout.isatty()
    return Console(file=sys.stdout, width=None if tty else 140, no_color=not tty,
                   force_terminal=False if not tty else None, highlight=False)


def cmd_scan(args: argparse.Namespace) -> int:
    strategy = MomentumStrategy(args.config, args.data_dir, mode="scan")
    result = strategy.scan_and_select_candidates(args.date)
    print_scan(result, make_console())
    return ExitCode.OK


def print_scan(result: ScanResult, console: Console) -> None:
    table = Table(title=f"Momentum candidates on {result.day}", title_justify="left")
    for name, justify in (("Ticker", "left"), ("Type", "left"), ("Sector", "left"),
                          ("Score", "right"), ("M", "right"), ("RSI14", "right"),
                          ("ADV20 $", "right"), ("Surge", "right")):
        table.add_column(name, justify=justify)
    for c in result.candidates:
        table.add_row(c.ticker, c.asset_type.value, c.sector, f"{c.score:.1f}",
                      f"{c.momentum:+.3f}", f"{c.rsi14:.1f}", f"{c.adv20_usd:,.0f}",
                      f"{c.surge_ratio:.2f}x")
    console.print(table)
    eligible = ", ".join(f"{n} {t.value}" for t, n in result.eligible.items())
    console.print(f"Eligible: {eligible}; passed the score threshold: {len(result.passed)}; "
                  f"shown: {len(result.candidates)}")
    if result.filtered:
        parts = [f"{why}: {n}" for why, n in sorted(result.filtered.items()) if n]
        console.print("Filtered out: " + "; ".join(parts))


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the command, map errors to exit codes."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging("DEBUG" if args.verbose else "INFO", quiet=args.quiet)
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
