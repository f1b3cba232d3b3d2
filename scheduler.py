"""scheduler.py: run `python main.py paper --run` after each NYSE close, unattended (spec 7.2.4).

    python scheduler.py                        run continuously; fire at scheduler.run_at
                                               (default 16:05 America/New_York) on sessions
    python scheduler.py --once                 one firing now (what cron / Task Scheduler call)
    python scheduler.py --dry-run              the next 10 firings, holidays marked
    python scheduler.py --install cron [--write]   print (or install) the crontab lines
    python scheduler.py --install windows      write a Task Scheduler XML for this machine

The logic lives in momentum/ops/; setup, checks and removal are in docs/SCHEDULING.md.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
from datetime import datetime
from pathlib import Path

from momentum.core.clock import Clock, FixedClock, SystemClock
from momentum.core.config import DEFAULT_CONFIG_PATH, StrategyConfig, load_config
from momentum.core.errors import ConfigError, ExitCode, MomentumError

# The momentum.ops modules are imported by the command that uses them: --help and
# --install cron do not need the NYSE calendar (pandas) or the alert channels (requests).

PROJECT = Path(__file__).resolve().parent
SCHEDULER_LOG = "scheduler.log"
logger = logging.getLogger("momentum.scheduler")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="scheduler.py",
        description="Run the paper-trading step (main.py paper --run) after each NYSE close: "
                    "holidays skipped, exit 75 retried, failures alerted by e-mail and Slack.",
        epilog="Setup for cron, Windows Task Scheduler and this loop: docs/SCHEDULING.md.")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--once", action="store_true",
                      help="do what one firing does, now, and exit with the run's code "
                           "(for cron and Task Scheduler)")
    what.add_argument("--dry-run", action="store_true",
                      help="print the next 10 firings with their dates, holidays marked")
    what.add_argument("--install", choices=("cron", "windows"),
                      help="cron: print the crontab lines (--write installs them); windows: "
                           "write a Task Scheduler XML")
    p.add_argument("--write", action="store_true", help="--install cron: install the lines")
    p.add_argument("--output", metavar="FILE",
                   help="--install windows: where to write the XML (default: "
                        "momentum_task.xml in the project folder)")
    p.add_argument("--config", metavar="FILE", default=None,
                   help="strategy configuration YAML (default: config/strategy_config.yaml); "
                        "passed on to main.py")
    p.add_argument("--at", type=aware_time, metavar="TIME",
                   help="--once and --dry-run: decide as if it were this time, e.g. "
                        "2026-11-27T16:05-05:00 (checks, replays and tests); the command "
                        "itself still runs now")
    p.add_argument("-v", "--verbose", action="store_true", help="show debug log lines")
    p.add_argument("--traceback", action="store_true",
                   help="show the full Python traceback of an error (for bug reports)")
    return p


def aware_time(text: str) -> datetime:
    """argparse type: an ISO date-time with its UTC offset."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"invalid time {text!r}: write it as "
                                         f"YYYY-MM-DDTHH:MM+HH:MM, e.g. 2026-11-27T16:05-05:00")
    return value


def command_argv(cfg: StrategyConfig, config: Path | None) -> list[str]:
    """The command to run: this interpreter, scheduler.command, and --config passed on."""
    argv = [sys.executable, *cfg.scheduler.command]
    if config is not None and cfg.scheduler.command[0].endswith("main.py") \
            and "--config" not in cfg.scheduler.command:
        argv += ["--config", str(config)]
    return argv


def decision_clock(args: argparse.Namespace) -> Clock:
    """The clock the firing decision reads: --at when given, else the machine's."""
    return FixedClock(args.at) if args.at is not None else SystemClock()


def cmd_dry_run(cfg: StrategyConfig, clock: Clock) -> int:
    from momentum.ops.timing import describe, upcoming
    now = clock.now()
    sc = cfg.scheduler
    print(f"Next 10 firings at {sc.run_at} {sc.timezone} (this machine's time in brackets):")
    for firing in upcoming(now, sc, 10, include_skipped=True):
        print(f"  {describe(firing)}   [{firing.at.astimezone():%a %H:%M %Z}]")
    return ExitCode.OK


def cmd_install(args: argparse.Namespace, cfg: StrategyConfig, config: Path | None) -> int:
    from momentum.ops.install import cron_block, install_crontab, task_xml
    extra = ["--config", str(config)] if config is not None else []
    if args.install == "cron":
        block = cron_block(cfg.scheduler, PROJECT / "scripts" / "cron_schedule.sh", extra)
        if not args.write:
            print(block, end="")
            print("# add these lines with `crontab -e`, or run again with --write")
            return ExitCode.OK
        install_crontab(block)
        print(f"Installed in your crontab:\n{block}", end="")
        return ExitCode.OK
    out = Path(args.output) if args.output else PROJECT / "momentum_task.xml"
    now = SystemClock().now()
    xml = task_xml(cfg.scheduler, sys.executable, PROJECT, now, now.astimezone().tzinfo, extra)
    out.write_text(xml, encoding="utf-16")  # what schtasks /XML reads without complaint
    print(f"Wrote {out}. Register it with:\n  schtasks /Create /TN \"momentum paper\" "
          f"/XML \"{out}\"")
    return ExitCode.OK


def cmd_run(args: argparse.Namespace, cfg: StrategyConfig, config: Path | None) -> int:
    from logging_config import setup_logging
    from momentum.ops.lock import RunLock
    from momentum.ops.loop import SchedulerPaths, build_scheduler, run_forever
    from momentum.ops.timing import describe, next_firing
    paths = SchedulerPaths.from_config(cfg, PROJECT)
    setup_logging("DEBUG" if args.verbose else cfg.logging.level.value, log_dir=paths.log_dir,
                  keep_days=cfg.logging.keep_days, secrets=cfg.secrets(), main_log=SCHEDULER_LOG)
    clock = SystemClock()
    mode = "once" if args.once else "loop"
    with RunLock(paths.lock_file, f"scheduler.py ({mode})", clock.now()):
        if args.once:
            return build_scheduler(cfg, paths, clock, command_argv(cfg, config), mode,
                                   decide=decision_clock(args)).once()
        scheduler = build_scheduler(cfg, paths, clock, command_argv(cfg, config), mode)
        first = next_firing(clock.now(), cfg.scheduler)
        logger.info("scheduler started (PID lock %s); next firing %s", paths.lock_file,
                    describe(first))
        scheduler.status.set_next(first)
        scheduler.status.save(clock.now())
        run_forever(scheduler)
    return ExitCode.OK


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # the same clean stop as Ctrl-C: the child is stopped first


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run it, map errors to exit codes (one line, no traceback)."""
    args = build_parser().parse_args(argv)
    try:
        if args.write and args.install != "cron":
            raise ConfigError("--write goes with --install cron")
        if args.output and args.install != "windows":
            raise ConfigError("--output goes with --install windows")
        if args.at is not None and not (args.once or args.dry_run):
            raise ConfigError("--at goes with --once or --dry-run")
        config = Path(args.config).resolve() if args.config else None
        cfg = load_config(config or DEFAULT_CONFIG_PATH)
        if args.dry_run:
            return cmd_dry_run(cfg, decision_clock(args))
        if args.install:
            return cmd_install(args, cfg, config)
        signal.signal(signal.SIGTERM, _stop_on_sigterm)
        return cmd_run(args, cfg, config)
    except MomentumError as e:
        if args.traceback:
            raise
        for line in str(e).splitlines() or [type(e).__name__]:
            print(f"error: {line}", file=sys.stderr)
        return e.exit_code
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
