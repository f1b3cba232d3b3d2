"""The validation report as text and JSON (reports/validation_<start>_<end>.txt / .json)."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from momentum.core.money import money_str
from momentum.run.validation import COMPARED, Difference, ValidationReport


def count_text(n: int) -> str:
    """'0 differences', '1 difference', '12 differences'."""
    return f"{n} difference{'' if n == 1 else 's'}"


def render_text(report: ValidationReport) -> str:
    """The comparison report as plain text: summary, first divergence, differences, checks."""
    passed = sum(c.passed for c in report.checks)
    lines = [f"Paper trading vs backtest: {report.start} .. {report.end} "
             f"({report.sessions} sessions), capital {report.capital:,.2f}",
             f"Result: {'MATCH' if report.ok else 'MISMATCH'}: "
             f"{count_text(len(report.differences))}, {passed}/{len(report.checks)} checks passed",
             f"Trades: paper {report.paper_trades}, backtest {report.backtest_trades}",
             f"Final equity: paper {report.paper_final_equity:,.2f}, backtest "
             f"{report.backtest_final_equity:,.2f} (exact values in the differences)",
             "Settings: " + ("; ".join(report.config_changes) or "the same rule settings")]
    first = report.first_divergence
    if first is not None:
        lines += ["", f"FIRST DIVERGENCE: {first.describe()}", f"  cause: {first.cause}"]
    lines += ["", f"Differences ({count_text(len(report.differences))}):"]
    lines += [f"  {d.describe()}\n      cause: {d.cause}" for d in report.differences] or ["  none"]
    lines += ["", f"Compared on {COMPARED}."]
    lines += ["", "Notes:", *(f"  {n}" for n in report.notes)] if report.notes else []
    lines += ["", "Checks of the paper side:"]
    for check in report.checks:
        lines.append(f"  {'PASS' if check.passed else 'FAIL'}  {check.name}: {check.description}"
                     f" ({check.checked} checked)")
        lines += [f"        {f.day}: {f.detail}" for f in check.failures]
    return "\n".join(lines) + "\n"


def to_json(report: ValidationReport) -> dict[str, Any]:
    """The comparison report as JSON-ready data (money as exact decimal text)."""
    first = report.first_divergence
    return {
        "start": report.start.isoformat(), "end": report.end.isoformat(),
        "sessions": report.sessions, "capital": money_str(report.capital), "ok": report.ok,
        "trades": {"paper": report.paper_trades, "backtest": report.backtest_trades},
        "final_equity": {"paper": money_str(report.paper_final_equity),
                         "backtest": money_str(report.backtest_final_equity)},
        "config_changes": list(report.config_changes),
        "difference_count": len(report.differences),
        "first_divergence": None if first is None else _difference_json(first),
        "differences": [_difference_json(d) for d in report.differences],
        "compared": COMPARED, "notes": list(report.notes),
        "checks": [{"name": c.name, "description": c.description, "checked": c.checked,
                    "passed": c.passed,
                    "failures": [{"date": f.day.isoformat(), "detail": f.detail}
                                 for f in c.failures]} for c in report.checks],
    }


def _difference_json(d: Difference) -> dict[str, Any]:
    out = asdict(d)
    out["day"] = None if d.day is None else d.day.isoformat()
    return out
