"""momentum: a daily momentum swing-trading system for US stocks and crypto.

    python main.py scan [--date D]                        the momentum candidates of a day
    python main.py backtest --start D --end D             replay the rules over history
    python main.py paper --init | --run | --report | --export DIR
                                                          paper trading, one saved day at a time
    python main.py analyze-trade TICKER [--date D]        why the strategy would or would not trade
    python main.py preflight [--skip-tests]               the deployment checklist, checked
    python main.py alerts --test                          a test alert on every configured channel

Run `python main.py <command> --help` for the options of each command.
"""
from __future__ import annotations

import argparse
import gc
import importlib
import logging
import sys
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logging_config import deferred_flush, setup_logging
from momentum.core.errors import ConfigError, ExitCode, MomentumError, StateError

# Everything else is imported where it is used, so a command pays only for what it runs:
# `--help` loads argparse and the error codes, `paper --report` no market data, charts or HTTP.
if TYPE_CHECKING:
    from momentum.core.clock import Clock
    from momentum.core.config import StrategyConfig
    from momentum.core.domain import DayResult, EntryOrder, Fill, Trade
    from momentum.data.base import MarketDataSource
    from momentum.data.market import Market
    from momentum.notify.alerts import Alert
    from momentum.notify.delivery import AlertDispatcher
    from momentum.rules.scanner import ScanResult
    from momentum.run.backtester import BacktestResult
    from momentum.run.engine import EngineState
    from momentum.run.kill_switch import HaltChange
    from momentum.run.paper import PaperRunOutcome
    from momentum.run.state import PaperMeta

# The names main.py used to import at the top, still readable as `main.X` (tests, scripts).
_LAZY_FROM = {
    "momentum.core.calendar": "NEW_YORK completed_through step_days",
    "momentum.core.clock": "Clock SystemClock",
    "momentum.core.config": "DEFAULT_CONFIG_PATH StrategyConfig load_config",
    "momentum.core.domain": "AssetType DayResult EntryOrder Fill Trade",
    "momentum.core.money": "to_money",
    "momentum.core.paths": "check_command_paths",
    "momentum.data.base": "MarketDataSource",
    "momentum.data.market": "Market last_step_day",
    "momentum.data.sources": "build_source choose_source",
    "momentum.notify.alerts": "Alert build_alerts",
    "momentum.notify.delivery": "AlertDispatcher dispatcher_from_config",
    "momentum.reports.analysis_view": "run_analysis_command",
    "momentum.reports.backtest": "write_backtest_outputs write_trade_files",
    "momentum.reports.console": ("make_console paper_run_lines print_text scan_counts "
                                 "scan_table step_progress summary_table"),
    "momentum.reports.daily": "render_daily_report write_daily_report",
    "momentum.reports.dashboard.feed": "write_day_feed",
    "momentum.reports.summary": "day_summary",
    "momentum.rules.metrics": "summarize",
    "momentum.rules.scanner": "ScanResult held_scores",
    "momentum.run.backtester": "BacktestResult run_backtest",
    "momentum.run.engine": "EngineState Rules decide_entries process_bars run_day",
    "momentum.run.kill_switch": "DEFAULT_REASON HaltChange halt resume",
    "momentum.run.paper": ("PaperRunOutcome PaperTrader require_complete "
                           "require_latest_session require_session_data"),
    "momentum.run.state": "PaperMeta StateStore",
}
_LAZY = {name: module for module, names in _LAZY_FROM.items() for name in names.split()}


def __getattr__(name: str) -> Any:
    """`main.X` for a name of _LAZY: imported on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def _seam(name: str) -> Any:
    """`main.X` as it is now: a test that patches it (tests/crash_main.py) sees its calls."""
    return globals()[name] if name in globals() else __getattr__(name)


logger = logging.getLogger("momentum.main")


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
                 config: StrategyConfig | None = None, state_dir: str | Path | None = None) -> None:
        from momentum.core.clock import SystemClock
        from momentum.core.config import DEFAULT_CONFIG_PATH
        from momentum.core.money import to_money
        from momentum.run.engine import EngineState, Rules
        from momentum.run.paper import PaperTrader
        from momentum.run.state import StateStore

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
        self._market_end: date | None = None
        self.state = EngineState.start(to_money(self.config.risk.initial_capital))
        self.state_dir = Path(state_dir or self.config.logging.snapshot_dir)
        # A portfolio of its own (--state-dir other than logging.snapshot_dir) keeps its reports
        # beside it, so two portfolios never write one report file.
        default_state = Path(self.config.logging.snapshot_dir).resolve()
        self.report_dir = (self.state_dir / "reports" if self.state_dir.resolve() != default_state
                           else Path(self.config.logging.report_dir))
        self.log_dir = Path(self.config.logging.log_file).parent
        self.store = StateStore(self.state_dir, keep_all=self.config.logging.save_daily_snapshots)
        self.paper = PaperTrader(self.config, self.store, self.rules)
        self.meta: PaperMeta | None = None
        self.show_reports = True  # paper: print each day's report on a terminal (else one line)
        self._dispatcher = None

    # ------------------------------------------------------------ set-up
    def setup_logging(self, verbose: bool = False, quiet: bool = False,
                      alerts_on_errors: bool = False) -> str:
        """Log to files under the configured folder, secrets masked, ERRORs alerted (7.2.7)."""
        level = "DEBUG" if verbose else self.config.logging.level.value
        sink = (lambda alert: self.send_alerts([alert])) if alerts_on_errors else None
        return setup_logging(level, quiet=quiet, log_dir=self.log_dir,
                             keep_days=self.config.logging.keep_days,
                             secrets=self.config.secrets(), alert_sink=sink)

    def report_requests(self) -> None:
        """Log how many requests the data source made (Tiingo budgets count them)."""
        count = getattr(self.source, "request_count", None)
        if count is not None:
            logger.info("%s requests made by this command: %d", self.source.name, count)

    def load_config(self, config_path: str | Path) -> StrategyConfig:
        """Load and validate the YAML configuration (ConfigError: one line per mistake)."""
        from momentum.core.config import load_config

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
        from momentum.data.sources import build_source, choose_source

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
        from momentum.core.calendar import completed_through
        from momentum.core.domain import AssetType
        from momentum.data.market import Market

        source = self.require_components()
        now = self.clock.now()
        market = Market.load(source, start=None, end=end,
                             complete_through={t: completed_through(t, now) for t in AssetType})
        if not market.histories:
            until = f" up to {end}" if end else ""
            raise MomentumError(f"the data source returned no bars{until}; check the dates and "
                                f"the data")
        self.market, self._market_end = market, end
        return market

    # ------------------------------------------------------------ the daily workflow
    def run_daily(self, day: date) -> dict[str, Any]:
        """Run the daily step (R7) for `day` on the loaded market and return the day as a dict."""
        from momentum.reports.summary import day_summary
        from momentum.run.engine import run_day

        if self.market is None:
            self.load_market(end=day)
        assert self.market is not None
        result = run_day(day, self.state, self.market.until(day), self.rules)
        return day_summary(result)

    def scan_and_select_candidates(self, day: date | None = None) -> ScanResult:
        """Run a full scan (R3) on `day` (default: the latest day with data)."""
        from momentum.data.market import last_step_day

        market = self.market if self.market is not None else self.load_market(end=day)
        scan_day = last_step_day(market, day)
        if day is not None and scan_day != day:
            print(f"{day} is not a trading day here; scanning {scan_day}", file=sys.stderr)
        return self.scanner.run_daily_scan(market.until(scan_day), cache=None)

    def process_signals(self, day: date) -> dict[str, list]:
        """Preview `day` without changing the state: {'exits': [...], 'entries': [...]}."""
        import copy

        from momentum.core.domain import DayResult
        from momentum.run.engine import decide_entries, process_bars

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
        from momentum.core.domain import DayResult
        from momentum.run.engine import process_bars

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

    # ------------------------------------------------------------ reports, alerts, state
    def generate_daily_report(self, day: date, result: DayResult | None = None) -> str:
        """Render the end-of-day report (7.1.9), save it under reports/, and return its text."""
        from momentum.reports.daily import render_daily_report
        from momentum.rules.scanner import held_scores

        scores = None
        if self.market is not None:
            scores = held_scores(self.market.until(day), self.state.scan_cache,
                                 list(self.state.portfolio.positions))
        kwargs = dict(data_dates=result.data_dates if result else None, held_scores=scores,
                      data_problems=result.skipped if result else ())
        text = render_daily_report(day, self.state, self.config, self.clock.now(), **kwargs)
        _seam("write_daily_report")(text, self.report_dir, day)
        if sys.stdout.isatty() and self.mode == "paper" and self.show_reports:
            print(render_daily_report(day, self.state, self.config, self.clock.now(),
                                      color=True, **kwargs))
        return text

    def send_alerts(self, alerts: list[Alert]) -> Any:
        """Deliver alerts to every configured channel (throttled; failures are only logged)."""
        return self.dispatcher().send(alerts)

    def dispatcher(self) -> AlertDispatcher:
        """The command's one alert dispatcher (a failed channel stays skipped in it)."""
        from momentum.notify.delivery import dispatcher_from_config

        if self._dispatcher is None:
            self._dispatcher = dispatcher_from_config(self.config, self.state_dir, self.clock,
                                                      guard=self.store.lock)
        return self._dispatcher

    def save_state(self, filepath: str | Path | None = None) -> Path:
        """Persist the state atomically (to `filepath`, or as the directory's next snapshot)."""
        from momentum.run.state import StateStore

        if self.meta is None:
            raise StateError("no paper portfolio is loaded; run `paper --init` first")
        if filepath is None:
            return self.store.save(self.state, self.meta, self.clock.now())
        store = StateStore(Path(filepath).parent)
        path = store.save(self.state, self.meta, self.clock.now())
        Path(path).replace(filepath)
        return Path(filepath)

    def load_state(self, filepath: str | Path | None = None) -> bool:
        """Load and verify a saved state (the latest one by default); False, logged, on failure."""
        try:
            saved = self.paper.load(str(filepath) if filepath else None)
        except MomentumError as e:
            logger.error("cannot load the state: %s", e)
            return False
        self.state, self.meta = saved.engine, saved.meta
        return True

    # ------------------------------------------------------------ paper trading
    def paper_init(self, capital: Decimal | None, start: date | None, force: bool) -> PaperMeta:
        """Create a paper portfolio (7.2.2) starting at `start` (default: today in New York)."""
        from momentum.core.calendar import NEW_YORK
        from momentum.core.money import to_money
        from momentum.data.sources import choose_source

        choice = choose_source(self.config, self.data_dir)
        first = start or self.clock.now().astimezone(NEW_YORK).date()
        amount = capital if capital is not None else to_money(self.config.risk.initial_capital)
        with self.store.lock():  # --force deletes the snapshots: never under a running --run
            saved = self.paper.init(amount, first, choice.name, self.clock.now(), force=force)
        self.state, self.meta = saved.engine, saved.meta
        return saved.meta

    def paper_run(self, target: date | None = None, from_snapshot: str | None = None,
                  allow_partial: bool = False) -> PaperRunOutcome:
        """Run paper trading through `target` (default: the latest completed session).

        Commits nothing and raises DataIncomplete (exit 75) when an asset is missing for a
        transient reason, unless `allow_partial`.
        """
        from momentum.core.calendar import NEW_YORK
        from momentum.data.market import last_step_day
        from momentum.notify.alerts import build_alerts
        from momentum.reports.dashboard.feed import write_day_feed
        from momentum.run.paper import require_latest_session, require_session_data

        with self.store.lock():
            saved = self.paper.load(from_snapshot)  # fail fast on a bad state, before a download
            market = self.load_market(end=target)
            if target is None and not allow_partial and getattr(self.source, "live_feed", False):
                require_latest_session(market, self.clock.now())  # else exit 75, try later
            day = target or last_step_day(market, self.clock.now().astimezone(NEW_YORK).date())
            require_session_data(market, day)

            def on_day(result: DayResult, state: EngineState) -> None:
                self.state = state
                self.generate_daily_report(result.day, result)
                self.send_alerts(build_alerts(result, state, self.config))
                write_day_feed(self.state_dir, result, state, market, self.config.dashboard)

            with self.dispatcher().digest():  # a catch-up: one email and one Slack post
                outcome = self.paper.run(market, day, self.clock.now(), on_day, from_snapshot,
                                         allow_partial, saved=saved)
        if outcome.state is not None:
            self.state = outcome.state
        return outcome

    def paper_trading_mode(self, target: date | None = None, from_snapshot: str | None = None,
                           allow_partial: bool = False) -> PaperRunOutcome:
        """The paper-trading workflow of 7.2.2, one call per scheduled or manual trigger.

        Loads the saved portfolio, fetches the latest market data, runs `run_daily` for every
        session since the last saved one up to `target` (each: daily report, alerts, state saved
        atomically), and returns what ran. Orders are simulated by the paper broker; the portfolio
        is the one of `--state-dir`, separate from any backtest.
        """
        self.mode = "paper"
        return self.paper_run(target, from_snapshot, allow_partial)

    def paper_halt(self, reason: str, flatten: bool) -> HaltChange:
        """Kill switch: no new entries from the next run on; `flatten` also exits every position."""
        from momentum.run.kill_switch import halt

        at = self.clock.now().isoformat(timespec="seconds")
        with self.store.lock():
            return self.paper.amend(lambda state: halt(state, at, reason, flatten),
                                    self.clock.now())

    def paper_resume(self) -> HaltChange | None:
        """Lift the kill switch: entries are allowed again from the next run on."""
        from momentum.run.kill_switch import resume

        at = self.clock.now().isoformat(timespec="seconds")
        with self.store.lock():
            return self.paper.amend(lambda state: resume(state, at), self.clock.now())

    def paper_export(self, out_dir: Path) -> list[Path]:
        """Write the paper portfolio's trades/equity/rejections CSV in the backtest's format."""
        from momentum.reports.backtest import write_trade_files

        return write_trade_files(self.paper.load().engine, out_dir)

    # ------------------------------------------------------------ backtest
    def run_backtest(self, start: date, end: date, on_step=None) -> BacktestResult:
        """Replay the daily step over `start`..`end` with all history before `start` (R1.4)."""
        from momentum.run.backtester import run_backtest

        market = self.market if self.market is not None and self._market_end == end else None
        market = market or self.load_market(end=end)  # cmd_backtest has loaded it already
        result = run_backtest(market, self.config, start, end, on_step=on_step)
        self.state = result.state
        return result




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
    _add_paper(sub)
    _add_analyze(sub)
    _add_preflight(sub)
    _add_alerts(sub)
    _add_optimize(sub)
    _add_walk_forward(sub)
    return parser


def _add_scan(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scan", help="list the momentum candidates of a day",
        description="Scan the universe on one day (a full scan, R3): eligibility, momentum score "
                    "and the top candidates with their entry signal, and the filter counts.")
    p.add_argument("--date", type=iso_date, metavar="YYYY-MM-DD",
                   help="the day to scan (default: the latest day with data); a weekend or "
                        "holiday scans the trading day before it")
    _add_allow_partial(p, "scan")
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


def _add_allow_partial(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--allow-partial", action="store_true",
                   help=f"{what} even when some assets could not be loaded for a passing reason "
                        "(network, server error, rate limit); they are left out and named. "
                        "Without it such a run changes nothing and exits 75: run again later")


def positive_amount(text: str) -> Decimal:
    """argparse type: a positive amount of money."""
    try:
        value = Decimal(text.replace(",", "").replace("_", ""))
    except ArithmeticError:
        value = None
    if value is None or not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"invalid amount {text!r}: write a positive number, "
                                         f"e.g. 10000")
    return value


def _add_paper(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "paper", help="paper trading: the backtest's daily step on the latest data, day by day",
        description="Simulated trading with a saved portfolio. The daily step is the backtest's "
                    "own; after each session the state is saved atomically, so a crash or a "
                    "missed day is resumed by simply running again.",
        epilog="Typical use: `paper --init --capital 10000` once, then `paper --run` after each "
               "close (cron: 4:05 PM ET on trading days).")
    action = p.add_mutually_exclusive_group(required=True)
    action.add_argument("--init", action="store_true",
                        help="create a new paper portfolio (refuses to replace one without "
                             "--force)")
    action.add_argument("--run", action="store_true",
                        help="run every session since the last saved one, up to --date")
    action.add_argument("--report", action="store_true",
                        help="print the portfolio's status from the saved state (no network)")
    action.add_argument("--export", metavar="DIR",
                        help="write trades.csv, equity.csv and rejections.csv in the backtest's "
                             "format to DIR")
    action.add_argument("--halt", action="store_true",
                        help="kill switch: cancel pending entry orders now and take no new entry "
                             "from the next run on (saved in the state; --resume lifts it)")
    action.add_argument("--resume", action="store_true",
                        help="lift the kill switch: entries are allowed again from the next run")
    p.add_argument("--date", type=iso_date, metavar="YYYY-MM-DD",
                   help="--init: the first session of the portfolio (default: today); --run: the "
                        "last session to run (default: the latest completed session)")
    p.add_argument("--capital", type=positive_amount, metavar="N",
                   help="--init: starting cash (default: risk.initial_capital of the config)")
    p.add_argument("--force", action="store_true", help="--init: replace an existing portfolio")
    p.add_argument("--flatten", action="store_true",
                   help="--halt: also sell every position at its next open (exit reason "
                        "kill_switch)")
    p.add_argument("--reason", metavar="TEXT",
                   help="--halt: why, kept in the state and shown in the reports")
    p.add_argument("--from-snapshot", metavar="FILE",
                   help="--run: resume from this snapshot instead of the latest (after a corrupt "
                        "file; the error message names the one to use)")
    p.add_argument("--state-dir", metavar="DIR",
                   help="where the portfolio's state lives (default: logging.snapshot_dir of the "
                        "config); use one per portfolio")
    _add_allow_partial(p, "--run: commit")
    _add_common(p)
    p.set_defaults(handler=cmd_paper)


def _add_analyze(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze-trade", help="explain what the strategy thinks of one ticker on a day",
        description="For one ticker on one day: its last bars, indicators, momentum score and "
                    "rank, which entry conditions hold or fail with the numbers, what the risk "
                    "manager would decide and why, the exit levels if held, and its trade history "
                    "(from the paper portfolio, or a backtest output with --backtest).")
    p.add_argument("ticker", metavar="TICKER", help="the ticker, e.g. AAPL or BTCUSD")
    p.add_argument("--date", type=iso_date, metavar="YYYY-MM-DD",
                   help="the day to analyse (default: the latest day with data)")
    p.add_argument("--backtest", metavar="DIR",
                   help="take the trade history from this backtest output folder (its trades.csv) "
                        "instead of the paper portfolio")
    p.add_argument("--html", metavar="FILE",
                   help="also write a self-contained plotly chart with the price and the levels")
    p.add_argument("--state-dir", metavar="DIR",
                   help="the paper portfolio to analyse against (default: logging.snapshot_dir)")
    _add_common(p)
    p.set_defaults(handler=cmd_analyze_trade)


def _add_preflight(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "preflight", help="check every item of DEPLOYMENT_CHECKLIST.md a program can check",
        description="Run the deployment checks and print one line each (pass / fail / n/a, the "
                    "reason and the fix): the test suites, the backtest's Sharpe, the paper "
                    "record against its backtest, the API key, logging, alerts, the dashboard, "
                    "the scheduler, the state round trip, the docs, and the paper-trading "
                    "requirements read from the saved portfolio.",
        epilog="Exit code 0 only when every check passes (n/a counts as a pass); a check not "
               "run (--skip-tests) or failed gives 2.")
    p.add_argument("--skip-tests", action="store_true",
                   help="do not run the test suites (reported as not run: the exit is not 0)")
    p.add_argument("--only", metavar="NAMES",
                   help="run only these checks, comma-separated (e.g. api_key,alerts)")
    p.add_argument("--start", type=iso_date, metavar="YYYY-MM-DD",
                   help="first day of the backtest check (default: 3 years before --end)")
    p.add_argument("--end", type=iso_date, metavar="YYYY-MM-DD",
                   help="last day of the backtest check (default: yesterday in New York)")
    p.add_argument("--state-dir", metavar="DIR",
                   help="the paper portfolio to check (default: logging.snapshot_dir)")
    _add_common(p)
    p.set_defaults(handler=cmd_preflight)


def _add_alerts(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "alerts", help="send a test alert to every configured channel",
        description="Send one test alert to the log, the console, and email and Slack when "
                    "configured, and say for each channel whether it was delivered.")
    p.add_argument("--test", action="store_true", required=True,
                   help="send the test alert (required: the only action)")
    p.add_argument("--state-dir", metavar="DIR", help=argparse.SUPPRESS)
    _add_common(p)
    p.set_defaults(handler=cmd_alerts)


def cmd_preflight(args: argparse.Namespace) -> int:
    from momentum.ops.preflight import (PreflightEnv, exit_code, render, run_preflight,
                                        select_checks, summary_line)
    checks = select_checks(args.only)
    strategy = make_strategy(args, "preflight")
    # absolute paths: the checks run commands from the checkout, the user may be elsewhere
    env = PreflightEnv(root=Path(__file__).resolve().parent,
                       config_path=strategy.config_path.resolve(), cfg=strategy.config,
                       state_dir=strategy.state_dir.resolve(),
                       data_dir=Path(args.data_dir).resolve() if args.data_dir else None,
                       start=args.start, end=args.end, skip_tests=args.skip_tests)
    results = run_preflight(env, checks)
    print("\n".join([*(render(r) for r in results), summary_line(results)]))
    return exit_code(results)


def cmd_alerts(args: argparse.Namespace) -> int:
    from momentum.ops.alert_test import send_test_alert
    strategy = make_strategy(args, "alerts")
    outcomes = send_test_alert(strategy.config, strategy.state_dir, strategy.clock)
    for o in outcomes:
        print(f"{'delivered' if o.delivered else 'FAILED':<10} {o.channel}"
              + (f": {o.error}" if o.error else ""))
    if all(o.delivered for o in outcomes):
        return ExitCode.OK
    raise ConfigError("the test alert was not delivered on every channel; fix the alerts: "
                      "settings above and run `python main.py alerts --test` again")

def _add_search(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--start", type=iso_date, required=True, metavar="YYYY-MM-DD",
                   help=f"first day of the {what}")
    p.add_argument("--end", type=iso_date, required=True, metavar="YYYY-MM-DD",
                   help=f"last day of the {what}")
    p.add_argument("--param", action="append", metavar="KEY=VALUES",
                   help="a config key and its values: v1,v2,v3 or lo:hi:step or lo:hi:logN "
                        "(repeatable), e.g. signals.entry.rsi_min=45,50,55")
    p.add_argument("--space", metavar="FILE", help="a YAML search space (key: [values] or "
                                                    "key: lo:hi:step)")
    p.add_argument("--search", choices=("grid", "random", "bayes"), default="grid",
                   help="grid: every combination; random; bayes: Optuna TPE (default: grid)")
    p.add_argument("--trials", type=int, default=50, metavar="N",
                   help="trials of a random or bayes search (default: 50)")
    p.add_argument("--seed", type=int, default=0, help="seed of the search (default: 0)")
    p.add_argument("--batch-size", type=int, default=8, metavar="N",
                   help="bayes: trials proposed per ask/tell round; fixed so results do not "
                        "depend on the worker count (default: 8)")
    p.add_argument("--objective", default="sharpe",
                   choices=("sharpe", "sortino", "cagr", "calmar", "return_over_drawdown"),
                   help="what to maximize (default: sharpe)")
    p.add_argument("--min-trades", type=int, default=0, metavar="N",
                   help="trials with fewer closed trades do not count")
    p.add_argument("--max-drawdown", type=float, default=None, metavar="X",
                   help="trials with a deeper max drawdown (e.g. 0.2) do not count")
    p.add_argument("--scheduler", metavar="tcp://HOST:8786",
                   help="run on this Dask scheduler (default: a local cluster)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="local cluster: worker processes (default: one per core)")
    p.add_argument("--name", help="output folder name under output/ (default: from the search "
                                  "and dates)")
    p.add_argument("--output", metavar="DIR", help="output folder (overrides --name)")
    _add_common(p)


def _add_optimize(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "optimize", help="search parameters on Dask: trials.csv, best_config.yaml, report.html",
        description="Run one backtest per parameter set (grid, random or Optuna TPE) on a Dask "
                    "cluster and rank them; see docs/OPTIMIZATION.md.")
    _add_search(p, "backtests")
    p.add_argument("--resume", metavar="DIR",
                   help="finish an interrupted search in DIR (its search.json); finished "
                        "trials are not re-run")
    p.set_defaults(handler=cmd_optimize)


def _add_walk_forward(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "walk-forward", help="optimize on each train window, trade the choice out of sample",
        description="Rolling (or --anchored) windows: optimize on --train, run the best "
                    "parameters on the next --test with the equity carried over; reports the "
                    "stitched out-of-sample equity and the walk-forward efficiency.")
    _add_search(p, "walk-forward")
    p.add_argument("--train", default="3y", help="train length, e.g. 3y (default: 3y)")
    p.add_argument("--test", default="6m", help="test length, e.g. 6m (default: 6m)")
    p.add_argument("--step", help="move by this much per window (default: --test)")
    p.add_argument("--anchored", action="store_true",
                   help="every train window starts at --start (expanding)")
    p.set_defaults(handler=cmd_walk_forward)


def cmd_optimize(args: argparse.Namespace) -> int:
    from momentum.reports.console import make_console

    from momentum.research.commands import optimize_command
    return optimize_command(args, make_strategy(args, "backtest").config, make_console())


def cmd_walk_forward(args: argparse.Namespace) -> int:
    from momentum.reports.console import make_console

    from momentum.research.commands import walk_forward_command
    return walk_forward_command(args, make_strategy(args, "backtest").config, make_console())


def cmd_analyze_trade(args: argparse.Namespace) -> int:
    from momentum.reports.analysis_view import run_analysis_command
    from momentum.reports.console import make_console

    strategy = make_strategy(args, "scan")
    return run_analysis_command(strategy, args.ticker, args.date,
                                Path(args.backtest) if args.backtest else None,
                                Path(args.html) if args.html else None, make_console())


def cmd_paper(args: argparse.Namespace) -> int:
    from momentum.reports.console import paper_run_lines, print_text
    from momentum.reports.daily import render_daily_report

    for flag, allowed in (("capital", args.init), ("force", args.init),
                          ("from_snapshot", args.run), ("date", args.init or args.run),
                          ("allow_partial", args.run), ("flatten", args.halt),
                          ("reason", args.halt)):
        if getattr(args, flag) not in (None, False) and not allowed:
            raise ConfigError(f"--{flag.replace('_', '-')} does not apply here; see "
                              f"`python main.py paper --help`")
    strategy = make_strategy(args, "paper")
    if args.init:
        meta = strategy.paper_init(args.capital, args.date, args.force)
        print_text(f"Paper portfolio created in {strategy.state_dir}/ with "
                   f"${strategy.state.portfolio.cash:,.2f}; first session {meta.start_date} "
                   f"or the next one. Run `python main.py paper --run` after each close.")
        return ExitCode.OK
    if args.export:
        paths = strategy.paper_export(Path(args.export))
        print_text("Wrote " + ", ".join(str(p) for p in paths))
        return ExitCode.OK
    if args.halt or args.resume:
        print_text(_halt_text(strategy, args))
        return ExitCode.OK
    if args.report:
        saved = strategy.paper.load()
        strategy.state, strategy.meta = saved.engine, saved.meta
        day = saved.engine.last_step or saved.meta.start_date
        print_text(render_daily_report(day, saved.engine, strategy.config,
                                       strategy.clock.now(), color=sys.stdout.isatty()))
        return ExitCode.OK
    strategy.show_reports = args.verbose  # else one line per day; the log file has the detail
    outcome = strategy.paper_trading_mode(args.date, args.from_snapshot, args.allow_partial)
    for line in paper_run_lines(outcome, strategy.report_dir):
        print_text(line, soft_wrap=True)  # one line per day, never wrapped
    if outcome.days and not args.verbose and sys.stdout.isatty():
        print_text(render_daily_report(outcome.days[-1].day, strategy.state, strategy.config,
                                       strategy.clock.now(), color=True))
    if outcome.state is not None and outcome.state.halt is not None:
        halt = outcome.state.halt
        print_text(f"Trading is HALTED (kill switch, since {halt.halted_at}: {halt.reason}): no "
                   f"new entries; `python main.py paper --resume` lifts it.")
    strategy.report_requests()
    return ExitCode.OK


def _halt_text(strategy: MomentumStrategy, args: argparse.Namespace) -> str:
    from momentum.run.kill_switch import DEFAULT_REASON

    if args.resume:
        change = strategy.paper_resume()
        if change is None:
            return "Trading was not halted; nothing changed."
        return (f"Kill switch lifted ({change.halt.resumed_at}): entries are allowed again from "
                f"the next `paper --run`.")
    change = strategy.paper_halt(args.reason or DEFAULT_REASON, args.flatten)
    since = f"HALTED since {change.halt.halted_at} ({change.halt.reason})"
    if not change.changed:
        return f"Already {since}; nothing changed. `paper --resume` lifts it."
    lines = [f"{since}: no new entry from the next `paper --run` on."]
    if change.cancelled:
        lines.append("Cancelled pending entries: " + ", ".join(change.cancelled))
    if change.flattened:
        lines.append("Market exits queued for the next open (kill_switch): "
                     + ", ".join(change.flattened))
    lines.append("`python main.py paper --resume` lifts it.")
    return "\n".join(lines)


def make_strategy(args: argparse.Namespace, mode: str) -> MomentumStrategy:
    """Load the config, then log to its files with its secrets masked."""
    from momentum.core.paths import check_command_paths

    strategy = MomentumStrategy(args.config, args.data_dir, mode=mode,
                                state_dir=getattr(args, "state_dir", None))
    check_command_paths(args, strategy.log_dir, strategy.report_dir)  # before any work (exit 2)
    strategy.setup_logging(args.verbose, quiet=_quiet(args), alerts_on_errors=(mode == "paper"))
    return strategy


def cmd_scan(args: argparse.Namespace) -> int:
    from momentum.reports.console import make_console, scan_counts, scan_table
    from momentum.run.paper import require_complete

    strategy = make_strategy(args, "scan")
    market = strategy.load_market(end=args.date)
    left_out = require_complete(market, args.allow_partial, "the scan",
                                consequence="the scan is not shown")
    result = strategy.scan_and_select_candidates(args.date)
    signals = {s.ticker for s in strategy.signal_generator.entry_signals(result.candidates)}
    console = make_console()
    console.print(scan_table(result, signals))
    for line in scan_counts(result):
        console.print(line)
    if left_out:
        console.print("Left out (--allow-partial): " + "; ".join(
            f"{t}: {why}" for t, why in left_out.items()))
    estimate = getattr(strategy.source, "estimate_cold_start_requests", None)
    if estimate is not None:
        api = strategy.config.api
        console.print(f"Tiingo: this scan made {strategy.source.request_count} requests; a cold "
                      f"start of this universe costs {estimate()} (plan budget "
                      f"{api.requests_per_hour}/hour, {api.requests_per_day}/day)")
    strategy.report_requests()
    return ExitCode.OK


def cmd_backtest(args: argparse.Namespace) -> int:
    from momentum.core.calendar import step_days
    from momentum.core.domain import AssetType
    from momentum.reports.backtest import write_backtest_outputs
    from momentum.reports.console import print_summary, print_text, step_progress
    from momentum.rules.metrics import summarize

    if args.end < args.start:
        raise ConfigError(f"--end {args.end} is before --start {args.start}; swap them")
    args.output = args.output or f"output/backtest_{args.start}_{args.end}"
    strategy = make_strategy(args, "backtest")  # checks --output before the backtest runs
    out_dir = Path(args.output)
    market = strategy.load_market(end=args.end)
    total = len(step_days(args.start, min(args.end, market.last_date or args.end),
                          market.has_type(AssetType.STOCK)))
    with step_progress(total, "backtest") as advance, deferred_flush():
        result = strategy.run_backtest(
            args.start, args.end,
            on_step=lambda day, state: advance(lambda: f"{day.day}  equity {day.equity:,.0f}"))
    summary = summarize(result, market)
    data = strategy.config.data
    paths = write_backtest_outputs(result, market, out_dir,
                                   config_summary=strategy.config.redacted(),
                                   exit_config=strategy.config.signals.exit, summary=summary,
                                   cache_dir=Path(data.cache_dir) if data.cache_enabled else None)
    print_summary(summary)
    print_text(f"Results in {out_dir}/: " + ", ".join(sorted(p.name for p in paths.values())))
    strategy.report_requests()
    return ExitCode.OK


def _quiet(args: argparse.Namespace) -> bool:
    # A backtest logs a line per trade and rejection: on the console only with -v (files get all).
    # A catch-up paper run too: the terminal gets one line per day, the log file every detail.
    quiet_command = (args.command in ("backtest", "preflight", "optimize", "walk-forward")
                     or (args.command == "paper" and args.run))
    return args.quiet or (quiet_command and not args.verbose)


def run_guarded(call: Callable[[], int], show_traceback: bool, bug_code: int = ExitCode.BUG) -> int:
    """Run a command: a MomentumError is one `error:` line and exit 2, never a traceback."""
    try:
        return int(call())
    except MomentumError as e:
        if show_traceback:
            raise
        for line in str(e).splitlines() or [e.__class__.__name__]:
            print(f"error: {line}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception:
        if show_traceback:
            raise
        logger.exception("unexpected error; please report it with the lines above")
        return bug_code


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the command, map errors to exit codes."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging("DEBUG" if args.verbose else "INFO", quiet=_quiet(args))
    return run_guarded(lambda: args.handler(args), args.traceback)


if __name__ == "__main__":
    # A command is one batch of allocations (a backtest keeps ~90,000 objects): the collector
    # runs every 10,000 new objects instead of 700, and the full collections go with it.
    # W1: 197 collections in 44 ms -> 26 in 35 ms (bench/gc_cost.py); cycles are still freed.
    gc.set_threshold(10_000, 10, 10)
    sys.exit(main())
