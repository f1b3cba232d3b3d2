"""The two commands main.py wires in: `optimize` and `walk-forward` (argparse Namespace in,
exit code out; results to the console main.py passes)."""
from __future__ import annotations

import argparse
import csv
import io
import json
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

from momentum.core.clock import SystemClock
from momentum.core.config import StrategyConfig
from momentum.core.errors import ConfigError, ExitCode
from momentum.core.files import write_atomic
from momentum.reports.console import step_progress
from momentum.research.cluster import (MarketSpec, TrialContext, absolute, benchmark_curve,
                                       dask_client, installed, run_trial)
from momentum.research.objective import OBJECTIVES, Constraints
from momentum.research.optimize import (SearchSettings, best_config_text, open_log, pick_best,
                                        prepare_dir, run_sweep)
from momentum.research.overfit import guards
from momentum.research.report import search_html, top_table, walk_forward_html
from momentum.research.search import SearchPlan
from momentum.research.space import load_space_file, parse_space
from momentum.research.trials import TrialLog
from momentum.research.walkforward import (Window, curve_cagr, efficiency, make_windows,
                                           parse_span, stitch, window_row, with_sessions)

logger = logging.getLogger(__name__)


def settings_from_args(args: argparse.Namespace, cfg: StrategyConfig, start: Any = None,
                       end: Any = None) -> SearchSettings:
    """The search of the command line: space, method, trials, seed, objective, constraints."""
    if args.end < args.start:
        raise ConfigError(f"--end {args.end} is before --start {args.start}; swap them")
    params = list(args.param or [])
    space = parse_space(params, cfg) if params else []
    if args.space:
        space += load_space_file(Path(args.space), cfg)
        keys = [p.key for p in space]
        if len(set(keys)) != len(keys):
            raise ConfigError("a key is both in --space and --param; give it once")
    if not space:
        raise ConfigError("no search space: pass --param KEY=VALUES or --space FILE")
    if args.objective not in OBJECTIVES:
        raise ConfigError(f"--objective {args.objective}: use one of {', '.join(OBJECTIVES)}")
    plan = SearchPlan(args.search, tuple(space), args.trials, args.seed, args.batch_size)
    return SearchSettings(plan, args.objective, Constraints(args.min_trades, args.max_drawdown),
                          start or args.start, end or args.end)


def optimize_command(args: argparse.Namespace, cfg: StrategyConfig, console: Any) -> int:
    """`main.py optimize`: sweep, then trials.csv, best_config.yaml, report.html, top 10."""
    if args.resume and (args.param or args.space):
        raise ConfigError("--resume takes the search from DIR/search.json; drop --param/--space")
    out_dir = Path(args.resume or args.output or f"output/optimize_{_name(args)}")
    settings = None if args.resume else settings_from_args(args, cfg)
    settings = prepare_dir(out_dir, settings, cfg, bool(args.resume))
    spec = MarketSpec(cfg, absolute(args.data_dir), settings.end, SystemClock().now())
    with dask_client(args.scheduler, args.workers) as client, \
            installed(client, TrialContext(cfg, spec)) as plugin:
        log = open_log(out_dir, settings)
        with step_progress(settings.plan.total(), "trials") as advance:
            records = run_sweep(client, plugin, settings, log, advance)
    params = list(settings.plan.params)
    best = pick_best(records)
    command = (f"python main.py backtest --config {out_dir / 'best_config.yaml'} "
               f"--start {settings.start} --end {settings.end}")
    write_atomic(out_dir / "best_config.yaml",
                 best_config_text(cfg, best.params, absolute(args.data_dir), command))
    checks = guards(records, best, params)
    write_atomic(out_dir / "report.html", search_html(records, params, settings.objective,
                                                      checks, best, f"optimize {out_dir.name}"))
    console.print(top_table(records, params, settings.objective))
    for line in checks.lines():
        console.print(line)
    console.print(f"Results in {out_dir}/: trials.csv, best_config.yaml, report.html. "
                  f"Reproduce the best trial: {command}")
    return ExitCode.OK


def _name(args: argparse.Namespace) -> str:
    return args.name or f"{args.search}_{args.start}_{args.end}"


def walk_forward_command(args: argparse.Namespace, cfg: StrategyConfig, console: Any) -> int:
    """`main.py walk-forward`: per window optimize on train, run the choice on test."""
    windows = with_sessions(make_windows(args.start, args.end, parse_span(args.train),
                                         parse_span(args.test),
                                         parse_span(args.step) if args.step else None,
                                         args.anchored))
    out_dir = Path(args.output or f"output/walkforward_{_name(args)}")
    base = settings_from_args(args, cfg)
    spec = MarketSpec(cfg, absolute(args.data_dir), args.end, SystemClock().now())
    rows, curves = [], []
    capital = Decimal(repr(cfg.risk.initial_capital))
    with dask_client(args.scheduler, args.workers) as client, \
            installed(client, TrialContext(cfg, spec)) as plugin:
        for window in windows:
            row, curve = _run_window(client, plugin, args, cfg, base, window, out_dir, capital)
            rows.append(row)
            if curve:
                curves.append(curve)
                capital = Decimal(curve[-1][1])  # the next test window starts from here
        stitched = stitch(curves)
        bench = client.submit(benchmark_curve, plugin, windows[0].test_start, windows[-1].test_end,
                              repr(cfg.risk.initial_capital), pure=False).result()
    oos = curve_cagr(stitched)
    wfe = efficiency(oos, [r["is_cagr"] for r in rows])
    _write_walk_forward(out_dir, rows, stitched, bench, oos, wfe)
    console.print(f"{len(rows)} windows; out-of-sample CAGR {_pct(oos)}, walk-forward "
                  f"efficiency {'-' if wfe is None else f'{wfe:.2f}'}")
    console.print(f"Results in {out_dir}/: windows.csv, oos_equity.csv, summary.json, "
                  f"report.html, window_<n>/trials.csv")
    return ExitCode.OK


def _run_window(client: Any, plugin: str, args: argparse.Namespace, cfg: StrategyConfig,
                base: SearchSettings, window: Window, out_dir: Path,
                capital: Decimal) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    folder = out_dir / f"window_{window.index}"
    settings = SearchSettings(base.plan, base.objective, base.constraints, window.train_start,
                              window.train_end)
    # a window folder of an earlier, stopped run with the same search is picked up again
    settings = prepare_dir(folder, settings, cfg, resume=(folder / "search.json").is_file())
    log: TrialLog = open_log(folder, settings)
    with step_progress(settings.plan.total(), f"window {window.index} trials") as advance:
        records = run_sweep(client, plugin, settings, log, advance)
    best = pick_best(records)
    out = client.submit(run_trial, plugin, best.params, window.test_start, window.test_end,
                        str(capital), True, pure=False, retries=2).result()
    if "error" in out:
        raise ConfigError(f"window {window.index} test run failed: {out['error']}")
    row = window_row(window, best.params, best.metrics, out["metrics"])
    row["oos_start_equity"] = str(capital)
    params = list(settings.plan.params)
    checks = guards(records, best, params)
    row["deflated_sharpe"] = checks.deflated_sharpe
    row["edge_params"] = " ".join(checks.edge_params)
    write_atomic(folder / "report.html", search_html(records, params, settings.objective, checks,
                                                     best, f"walk-forward window {window.index}"))
    return row, out["curve"]


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.2%}"


def _write_walk_forward(out_dir: Path, rows: list[dict[str, Any]], stitched: list[tuple],
                        bench: dict[str, Any], oos: float | None, wfe: float | None) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    keys = list(rows[0])
    writer.writerow(keys)
    for r in rows:
        writer.writerow(["" if r[k] is None else (json.dumps(r[k], sort_keys=True)
                         if isinstance(r[k], dict) else r[k]) for k in keys])
    write_atomic(out_dir / "windows.csv", buffer.getvalue())
    held = dict(bench.get("curve") or [])
    equity = "date,equity,buy_and_hold\n" + "".join(
        f"{d},{e},{held.get(d, '')}\n" for d, e in stitched)
    write_atomic(out_dir / "oos_equity.csv", equity)
    summary = {"windows": len(rows), "oos_cagr": oos, "walk_forward_efficiency": wfe,
               "benchmark": bench.get("ticker"), "benchmark_reason": bench.get("reason"),
               "final_equity": stitched[-1][1] if stitched else None}
    write_atomic(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_atomic(out_dir / "report.html",
                 walk_forward_html(rows, stitched, bench, wfe, f"walk-forward {out_dir.name}"))
