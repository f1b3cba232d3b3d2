"""The backtest output folder: trades.csv, equity.csv, rejections.csv, summary.json, report.html.

Money and quantities are written at full precision (``money_str``), so ``Decimal(text)`` gives
back exactly what the engine held (R5.7). Every file is written atomically: a temporary file in
the same folder, then ``os.replace``, so a reader never sees half a file.
"""
from __future__ import annotations

import csv
import html
import io
import json
import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from momentum.core.config import ExitConfig
from momentum.core.domain import Rejection, Trade
from momentum.core.files import write_atomic
from momentum.rules.metrics import BenchmarkStats, benchmark_stats, summarize
from momentum.core.money import money_str
from momentum.reports.report_charts import DRAW_SCRIPT, chart_data, plotly_bundle, price_chart

if TYPE_CHECKING:  # types only
    from momentum.run.engine import EngineState
    from momentum.run.backtester import BacktestResult
    from momentum.run.engine import EquityPoint
    from momentum.data.market import Market

logger = logging.getLogger(__name__)

TRADES_HEADER = ("ticker", "asset_type", "entry_date", "entry_price", "exit_date", "exit_price",
                 "quantity", "exit_reason", "pnl")
EQUITY_HEADER = ("date", "equity", "cash")
REJECTIONS_HEADER = ("date", "ticker", "reason")


def write_backtest_outputs(result: BacktestResult, market: Market, out_dir: Path,
                           config_summary: dict | None = None, *,
                           exit_config: ExitConfig | None = None,
                           summary: dict[str, Any] | None = None,
                           cache_dir: Path | None = None) -> dict[str, Path]:
    """Write the five output files into `out_dir` (created if needed); return name -> path.

    The stop and target lines of the price charts need the exit rules: `exit_config`, or else
    `config_summary["signals"]["exit"]` (e.g. ``cfg.redacted()``); without either they are left out.
    `summary` is ``summarize(result, market)`` when the caller has it already (not changed here);
    `cache_dir` (``data.cache_dir``) keeps the compressed plotly.js between runs.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    trades = result.state.portfolio.trades()
    bench = benchmark_stats(market, result.start, result.end, result.state.initial_capital)
    summary = dict(summary) if summary is not None else summarize(result, market, bench=bench)
    if config_summary is not None:
        summary["config"] = config_summary
    exit_cfg = exit_config if exit_config is not None else _exit_config_from(config_summary)
    texts = {
        "trades.csv": trades_csv(trades),
        "equity.csv": equity_csv(result.state.equity_curve),
        "rejections.csv": rejections_csv(result.state.rejections),
        "summary.json": json.dumps(summary, indent=2, sort_keys=True, allow_nan=False) + "\n",
        "report.html": report_html(result, market, summary, exit_cfg, bench=bench,
                                   cache_dir=cache_dir),
    }
    paths = {}
    for name, text in texts.items():
        paths[name] = write_atomic(out_dir / name, text)
    logger.info("backtest outputs written to %s (%d trades)", out_dir, len(trades))
    return paths


def _exit_config_from(config_summary: dict | None) -> ExitConfig | None:
    section = ((config_summary or {}).get("signals") or {}).get("exit")
    if section is None:
        logger.info("no exit rules given: the price charts show no stop or target lines")
        return None
    return ExitConfig.model_validate(section)


# ---------------------------------------------------------------- files
def _csv_text(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def trades_csv(trades: Sequence[Trade]) -> str:
    """One row per position (closed, then open); open ones have empty exit fields and pnl."""
    rows = [(t.ticker, t.asset_type.value, t.entry_date.isoformat(), money_str(t.entry_price),
             t.exit_date.isoformat() if t.exit_date else "", money_str(t.exit_price),
             money_str(t.quantity), t.exit_reason.value if t.exit_reason else "",
             money_str(t.pnl))
            for t in trades]
    return _csv_text(TRADES_HEADER, rows)


def equity_csv(curve: Sequence[EquityPoint]) -> str:
    """date,equity,cash per step."""
    return _csv_text(EQUITY_HEADER, [(p.day.isoformat(), money_str(p.equity), money_str(p.cash))
                                     for p in curve])


def rejections_csv(rejections: Sequence[Rejection]) -> str:
    """date,ticker,reason in the order the rules met them."""
    return _csv_text(REJECTIONS_HEADER, [(r.day.isoformat(), r.ticker, r.reason.value)
                                         for r in rejections])


# ---------------------------------------------------------------- report.html
def report_html(result: BacktestResult, market: Market, summary: dict[str, Any],
                exit_cfg: ExitConfig | None, *, bench: BenchmarkStats | None = None,
                cache_dir: Path | None = None) -> str:
    """The self-contained report page: plotly.js embedded once, charts drawn from one JSON block.

    `bench` is this window's ``benchmark_stats`` when the caller has it; `cache_dir` as in
    ``write_backtest_outputs``.
    """
    curve = result.state.equity_curve
    if bench is None:
        bench = benchmark_stats(market, result.start, result.end, result.state.initial_capital)
    by_ticker = _trades_by_ticker(result)
    prices = {t: price_chart(market.history(t), trades, result.start, result.end, exit_cfg)
              for t, trades in by_ticker.items()}
    sections = [
        _chart_div("equity", 420), _chart_div("drawdown", 260),
        _chart_div("monthly-returns", 120 + 40 * (result.end.year - result.start.year + 1)),
        "<h2>Metrics</h2>" + metrics_table(summary),
        _ticker_sections(by_ticker),
    ]
    if "config" in summary:
        config = html.escape(json.dumps(summary["config"], indent=2, sort_keys=True))
        sections.append(f"<details><summary>Configuration</summary><pre>{config}</pre></details>")
    data = ('<script type="application/json" id="report-data">'
            f"{chart_data(curve, bench, prices)}</script>")
    sections += [plotly_bundle(cache_dir), data, DRAW_SCRIPT]
    title = f"Momentum backtest {result.start} to {result.end}"
    return _PAGE.format(title=html.escape(title), body="\n".join(sections))


def _chart_div(div_id: str, height: int) -> str:
    # The height is reserved up front so the page does not jump as charts are drawn.
    return f'<div id="{html.escape(div_id)}" class="chart" style="min-height:{height}px"></div>'


def _trades_by_ticker(result: BacktestResult) -> dict[str, list[Trade]]:
    by_ticker: dict[str, list[Trade]] = defaultdict(list)
    for t in result.state.portfolio.trades():
        by_ticker[t.ticker].append(t)
    return {t: by_ticker[t] for t in sorted(by_ticker)}


def _ticker_sections(by_ticker: dict[str, list[Trade]]) -> str:
    links = " ".join(f'<a href="#price-{html.escape(t)}">{html.escape(t)}</a>'
                     for t in by_ticker)
    parts = [f"<h2>Traded assets ({len(by_ticker)})</h2><p class='toc'>{links}</p>"]
    parts += [_chart_div(f"price-{ticker}", 360) for ticker in by_ticker]
    return "\n".join(parts)


_MONEY_RE = re.compile(r"^-?\d+(\.\d+)?$")
_PCT = {"total_return", "cagr", "depth", "average_exposure", "win_rate"}
_RATIO = {"sharpe", "sortino", "profit_factor", "average_days_held"}


def metrics_table(summary: dict[str, Any]) -> str:
    """The summary as an HTML table (rounded for display; summary.json keeps full precision)."""
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in _flatten(summary))
    return f"<table class='metrics'>{rows}</table>"


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, value in data.items():
        if key == "config":
            continue
        label = f"{prefix}{key}"
        if isinstance(value, dict):
            out += _flatten(value, f"{label}.")
        else:
            out.append((label, _display(key, value)))
    return out


def _display(key: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.2%}" if key in _PCT else f"{value:,.3f}" if key in _RATIO else f"{value:g}"
    if isinstance(value, str) and _MONEY_RE.match(value):
        return f"{float(value):,.2f}"
    return str(value)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 1.5em auto; max-width: 1200px;
       color: #222; }}
table.metrics {{ border-collapse: collapse; font-size: 0.9em; }}
table.metrics th, table.metrics td {{ border-bottom: 1px solid #eee; padding: 3px 12px;
                                      text-align: left; }}
table.metrics td {{ text-align: right; font-variant-numeric: tabular-nums; }}
p.toc a {{ margin-right: 0.6em; }}
</style>
</head>
<body>
<h1>{title}</h1>
{body}
</body>
</html>
"""


def write_trade_files(state: EngineState, out_dir: Path) -> list[Path]:
    """Write a portfolio's trades/equity/rejections CSV in the backtest's format to `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"trades.csv": trades_csv(state.portfolio.trades()),
             "equity.csv": equity_csv(state.equity_curve),
             "rejections.csv": rejections_csv(state.rejections)}
    return [write_atomic(out_dir / name, text) for name, text in files.items()]
