"""Alerts (spec 7.1.10): what a day did that a trader wants to be told about.

    build_alerts(result, state, cfg) -> list[Alert]      pure: no I/O, no clock

Delivery (email, Slack, log, console), throttling and the dispatcher are in alert_delivery.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING

from momentum.core.domain import DayResult, Fill, RejectReason, Side, Trade
from momentum.core.money import ONE, ZERO, to_money
from momentum.notify.masking import (MASK, MIN_SECRET_CHARS, mask_secrets,  # noqa: F401
                                     secret_variants)

if TYPE_CHECKING:  # annotations only: an edge never runs the engine
    from momentum.core.config import AlertsConfig, StrategyConfig
    from momentum.run.engine import EngineState

logger = logging.getLogger(__name__)
THROTTLE_FILE = "alert_throttle.json"


class AlertKind(str, Enum):
    ENTRY = "entry"
    EXIT = "exit"
    RISK_LIMIT = "risk_limit"
    PERFORMANCE = "performance"
    ERROR = "error"
    DIGEST = "digest"  # several alerts in one message (a catch-up run)


class Severity(str, Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Alert:
    """One message for the user; `key` identifies "the same alert" for throttling."""

    kind: AlertKind
    severity: Severity
    title: str
    body: str
    key: str
    day: date


DIGEST_MAX_LINES = 400  # Slack cuts long messages; the log keeps every alert in full


def digest_alert(alerts: Sequence[Alert]) -> Alert:
    """One alert carrying several, oldest first, at the most severe one's severity."""
    order = list(Severity)
    worst = max((a.severity for a in alerts), key=order.index)
    days = sorted({a.day for a in alerts})
    span = str(days[0]) if len(days) == 1 else f"{days[0]} .. {days[-1]}"
    lines: list[str] = []
    for alert in alerts:
        lines += [f"[{alert.day}] {alert.title}", *(f"    {x}" for x in alert.body.splitlines())]
    if len(lines) > DIGEST_MAX_LINES:
        cut = len(lines) - DIGEST_MAX_LINES
        lines = lines[:DIGEST_MAX_LINES] + [f"... {cut} more lines: see the log"]
    return Alert(AlertKind.DIGEST, worst, f"{len(alerts)} alerts, {span}", "\n".join(lines),
                 f"digest:{span}", days[-1])


# ---------------------------------------------------------------- building (pure)
def build_alerts(result: DayResult, state: EngineState, cfg: StrategyConfig) -> list[Alert]:
    """Turn one daily step into the alerts the alert_on_* switches ask for (7.1.10)."""
    switches = cfg.alerts
    alerts: list[Alert] = []
    if switches.alert_on_entry:
        alerts += [_entry_alert(f, state, result.day) for f in result.fills if f.side is Side.BUY]
    if switches.alert_on_exit:
        alerts += [_exit_alert(f, state, result.day) for f in result.fills if f.side is Side.SELL]
    if switches.alert_on_risk_limit:
        alerts += risk_alerts(result, state, cfg)
    if switches.alert_on_performance:
        alerts += performance_alerts(result, state, switches)
    return alerts


def _entry_alert(fill: Fill, state: EngineState, day: date) -> Alert:
    pos = state.portfolio.positions.get(fill.ticker)
    lines = [f"Bought {_qty(fill.quantity)} {fill.ticker} at {_price(fill.price)} on {fill.day}",
             f"Position value: {_usd(fill.notional)} (commission {_usd(fill.commission)})"]
    if pos is not None and pos.entry_date == fill.day:
        lines += [f"Reason: momentum score {pos.entry_score:.1f}, RSI in the entry window (R4.1)",
                  f"Stop {_price(pos.stop_price)}, target {_price(pos.target_price)}"]
    else:  # bought and sold on the same bar: the position is already closed
        lines.append("Reason: momentum entry signal (R4.1)")
    return Alert(AlertKind.ENTRY, Severity.INFO, f"Entry: bought {fill.ticker}", "\n".join(lines),
                 f"entry:{fill.ticker}:{fill.day}", day)


def _exit_alert(fill: Fill, state: EngineState, day: date) -> Alert:
    trade = _closed_trade(fill, state.portfolio.closed_trades)
    why = fill.reason.value if fill.reason is not None else "exit"
    lines = [f"Sold {_qty(fill.quantity)} {fill.ticker} at {_price(fill.price)} on {fill.day}",
             f"Exit type: {why}"]
    title = f"Exit: sold {fill.ticker} ({why})"
    if trade is not None and trade.pnl is not None:
        pnl, ret = trade.pnl, trade.return_pct or ZERO
        title += f" P&L {_signed_usd(pnl)}"
        lines += [f"P&L: {_signed_usd(pnl)} ({ret:+.2%})",
                  f"Held {trade.days_held} days (entered {trade.entry_date} at "
                  f"{_price(trade.entry_price)})"]
    severity = Severity.WARNING if trade is not None and (trade.pnl or ZERO) < 0 else Severity.INFO
    return Alert(AlertKind.EXIT, severity, title, "\n".join(lines),
                 f"exit:{fill.ticker}:{fill.day}", day)


def _closed_trade(fill: Fill, trades: Sequence[Trade]) -> Trade | None:
    for trade in reversed(trades):
        if (trade.ticker, trade.exit_date, trade.exit_price) == (fill.ticker, fill.day, fill.price):
            return trade
    return None


def risk_alerts(result: DayResult, state: EngineState, cfg: StrategyConfig) -> list[Alert]:
    """Daily loss near its limit or hit (R6.1), positions near the cap (R6.2), sector (R6.5)."""
    # Risk keys carry no date: while a limit stays close, one alert per throttle window is enough.
    alerts, day = _daily_loss_alerts(result, cfg), result.day
    book, limit = state.portfolio, cfg.risk.max_positions
    held, pending = len(book.positions), len(book.pending_entries)
    if held + pending >= max(1, limit - 1):
        alerts.append(_risk(f"Risk: {held + pending} of {limit} position slots used",
                            f"Open positions {held}, pending entries {pending}, "
                            f"max_positions {limit} (R6.2)", "risk:max_positions", day))
    cap = to_money(cfg.risk.max_sector_exposure)
    warn_at = cap * to_money(cfg.alerts.sector_warning)
    for sector, share in sorted(result.sector_exposure.items()):
        if share >= warn_at:
            alerts.append(_risk(f"Risk: sector {sector} at {share:.1%} of equity",
                                f"{sector} exposure {share:.2%} >= warning {warn_at:.2%} "
                                f"(max_sector_exposure {cap:.2%}, R6.5)",
                                f"risk:sector:{sector}", day))
    return alerts


def _risk(title: str, body: str, key: str, day: date,
          severity: Severity = Severity.WARNING) -> Alert:
    return Alert(AlertKind.RISK_LIMIT, severity, title, body, key, day)


def _daily_loss_alerts(result: DayResult, cfg: StrategyConfig) -> list[Alert]:
    prev = result.previous_equity
    if prev is None or prev <= 0:
        return []
    loss, limit = ONE - result.equity / prev, to_money(cfg.risk.max_daily_loss)
    detail = f"Equity {_usd(result.equity)} vs {_usd(prev)} at the last step: loss {loss:.2%}"
    if any(r.reason is RejectReason.DAILY_LOSS_LIMIT for r in result.rejections):
        return [_risk("Risk: daily loss limit hit, new entries blocked",
                      f"{detail} >= limit {limit:.2%}; today's entry signals were rejected (R6.1)",
                      "risk:daily_loss_limit", result.day, Severity.CRITICAL)]
    warn_at = limit * to_money(cfg.alerts.daily_loss_warning)
    if loss >= warn_at:
        return [_risk(f"Risk: daily loss {loss:.2%} near the {limit:.2%} limit",
                      f"{detail}; warning at {warn_at:.2%} (R6.1)", "risk:daily_loss_warning",
                      result.day)]
    return []


def performance_alerts(result: DayResult, state: EngineState, cfg: AlertsConfig) -> list[Alert]:
    """Good day, bad day, and a new equity high (never on the first step)."""
    alerts: list[Alert] = []
    prev = result.previous_equity
    if prev is not None and prev > 0:
        ret = result.equity / prev - ONE
        text = f"Equity {_usd(result.equity)}, {ret:+.2%} since the last step ({_usd(prev)})"
        if ret > to_money(cfg.good_day_return):
            alerts.append(Alert(AlertKind.PERFORMANCE, Severity.INFO, f"Good day: {ret:+.2%}",
                                text, f"performance:good_day:{result.day}", result.day))
        elif ret < to_money(cfg.bad_day_return):
            alerts.append(Alert(AlertKind.PERFORMANCE, Severity.WARNING, f"Bad day: {ret:+.2%}",
                                text, f"performance:bad_day:{result.day}", result.day))
    earlier = [p.equity for p in state.equity_curve if p.day < result.day]
    if earlier and result.equity > max(earlier):
        # No date in the key: catching up several sessions at once sends one high, not five.
        alerts.append(Alert(AlertKind.PERFORMANCE, Severity.INFO,
                            f"New equity high: {_usd(result.equity)}",
                            f"Previous high {_usd(max(earlier))}", "performance:equity_high",
                            result.day))
    return alerts


def _qty(q: Decimal) -> str:
    return format(q.normalize(), "f")


def _price(p: Decimal) -> str:
    return f"{p:,.2f}" if abs(p) >= 1 else f"{p:.6f}"


def _usd(x: Decimal) -> str:
    return f"${x:,.2f}"


def _signed_usd(x: Decimal) -> str:
    return f"{'-' if x < 0 else '+'}${abs(x):,.2f}"
