"""Alerts (spec 7.1.10): what a day did, told by email, Slack, the log and the console.

    build_alerts(result, state, cfg) -> list[Alert]      pure: no I/O, no clock
    dispatcher_from_config(cfg, state_dir, clock).send(alerts) -> DeliveryReport

A channel raises when it cannot deliver; the dispatcher logs that as a WARNING (secrets masked)
and goes on, so a failed alert never stops a run (STYLE 11). Throttling is per alert key and
survives restarts through a small JSON file next to the paper-trading state.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import smtplib
import ssl
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from email.message import EmailMessage
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO
from urllib.parse import urlsplit

import requests

from momentum.clock import Clock
from momentum.config import AlertsConfig, StrategyConfig
from momentum.domain import DayResult, Fill, RejectReason, Side, Trade
from momentum.money import ONE, ZERO, to_money

if TYPE_CHECKING:  # annotations only: an edge never runs the engine
    from momentum.engine import EngineState

logger = logging.getLogger(__name__)
MASK = "***"
THROTTLE_FILE = "alert_throttle.json"


class AlertKind(str, Enum):
    ENTRY = "entry"
    EXIT = "exit"
    RISK_LIMIT = "risk_limit"
    PERFORMANCE = "performance"
    ERROR = "error"


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


# ---------------------------------------------------------------- secrets
_SECRET_PATTERNS = (
    re.compile(r"(Authorization['\"]?\s*[:=]\s*['\"]?Token\s+)[^\s'\",}]+", re.IGNORECASE),
    re.compile(r"(hooks\.slack\.com/services/)[^\s'\"<>)]+", re.IGNORECASE),
)


def secret_variants(secrets: Iterable[str]) -> tuple[str, ...]:
    """Each secret plus, for a URL, its path: HTTP errors quote the path without the host."""
    found: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        found.add(secret)
        parts = urlsplit(secret)
        tail = parts.path + (f"?{parts.query}" if parts.query else "")
        if parts.scheme and parts.netloc and len(tail.strip("/")) >= 6:
            found.add(tail)
    return tuple(sorted(found, key=len, reverse=True))  # longest first: no partial leftovers


def mask_secrets(text: str, secrets: Sequence[str]) -> str:
    """Replace every secret, `Authorization: Token x` and Slack webhook path in `text` by ***."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


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


# ---------------------------------------------------------------- channels
class AlertChannel(Protocol):
    name: str

    def send(self, alert: Alert) -> None: ...  # deliver one alert or raise


class DeliveryError(Exception):
    """A channel could not deliver; the message never holds a secret."""


class EmailChannel:
    """SMTP: STARTTLS when configured (never login in clear unless starttls is off), then login."""

    name = "email"

    def __init__(self, host: str, port: int, sender: str, recipient: str, *,
                 user: str | None = None, password: str | None = None, starttls: bool = True,
                 timeout_seconds: float = 10.0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.host, self.port, self.sender, self.recipient = host, port, sender, recipient
        self.user, self._password, self.starttls = user, password, starttls
        self.timeout_seconds, self.ssl_context = timeout_seconds, ssl_context

    @classmethod
    def from_config(cls, cfg: AlertsConfig) -> EmailChannel:
        """Build the channel from the alerts section (email_address must be set)."""
        if not cfg.email_address:
            raise ValueError("alerts.email_address is not set")
        password = cfg.smtp_password.get_secret_value() if cfg.smtp_password else None
        return cls(cfg.smtp_host, cfg.smtp_port, cfg.email_from or cfg.smtp_user or
                   "momentum@localhost", cfg.email_address, user=cfg.smtp_user,
                   password=password, starttls=cfg.smtp_starttls,
                   timeout_seconds=cfg.timeout_seconds)

    def __repr__(self) -> str:
        return f"EmailChannel({self.host}:{self.port}, to={self.recipient})"

    def message(self, alert: Alert) -> EmailMessage:
        """A plain-text email: the title as subject, the body and the alert's kind and day."""
        msg = EmailMessage()
        msg["Subject"] = f"[momentum] {alert.severity.value.upper()}: {alert.title}"
        msg["From"], msg["To"] = self.sender, self.recipient
        msg.set_content(f"{alert.title}\n\n{alert.body}\n\n"
                        f"Kind: {alert.kind.value}\nDay: {alert.day}\n")
        return msg

    def send(self, alert: Alert) -> None:
        """Send one email; smtplib and socket errors propagate to the dispatcher."""
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds)
        # Not `with smtp`: its QUIT on a broken session would replace the real error.
        try:
            smtp.ehlo()
            if self.starttls:  # raises SMTPNotSupportedError if the server cannot: no clear login
                smtp.starttls(context=self.ssl_context or ssl.create_default_context())
                smtp.ehlo()
            if self.user and self._password:
                smtp.login(self.user, self._password)
            smtp.send_message(self.message(alert))
            with contextlib.suppress(smtplib.SMTPException, OSError):  # already delivered
                smtp.quit()
        finally:
            smtp.close()


class SlackChannel:
    """A Slack incoming webhook: POST {"text": mrkdwn}; the URL itself is the secret."""

    name = "slack"
    _ICONS = {Severity.INFO: ":information_source:", Severity.WARNING: ":warning:",
              Severity.ERROR: ":x:", Severity.CRITICAL: ":rotating_light:"}

    def __init__(self, webhook_url: str, *, timeout_seconds: float = 10.0,
                 session: requests.Session | None = None) -> None:
        self._url, self.timeout_seconds, self._session = webhook_url, timeout_seconds, session

    def __repr__(self) -> str:
        return f"SlackChannel(webhook={MASK})"

    def text(self, alert: Alert) -> str:
        """One mrkdwn block: icon and bold title, then the body."""
        def esc(s: str) -> str:
            return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return f"{self._ICONS[alert.severity]} *{esc(alert.title)}*\n{esc(alert.body)}"

    def send(self, alert: Alert) -> None:
        """Post the alert; raise DeliveryError on a network error or a non-2xx answer."""
        post = self._session.post if self._session is not None else requests.post
        try:
            resp = post(self._url, json={"text": self.text(alert)}, timeout=self.timeout_seconds)
        except requests.RequestException as e:
            # str(e) quotes the webhook path (the token): name only the error type.
            raise DeliveryError(f"Slack webhook unreachable ({type(e).__name__})") from None
        with contextlib.closing(resp):
            if not 200 <= resp.status_code < 300:
                raise DeliveryError(f"Slack webhook answered HTTP {resp.status_code}")


class LogChannel:
    """The log file: entry and exit alerts are trade lines (routed to trades.log)."""

    name = "log"

    def __init__(self, log: logging.Logger | None = None) -> None:
        self._log = log or logger

    def send(self, alert: Alert) -> None:
        """Log one line; ERROR/CRITICAL alerts at WARNING so the alert handler is not re-fired."""
        level = logging.INFO if alert.severity is Severity.INFO else logging.WARNING
        trade = alert.kind in (AlertKind.ENTRY, AlertKind.EXIT)
        body = " | ".join(alert.body.splitlines())
        self._log.log(level, "ALERT %s %s: %s | %s", alert.kind.value, alert.severity.value,
                      alert.title, body, extra={"trade": trade, "alert_line": True})


class ConsoleChannel:
    """A human-readable block on a stream (default: stderr at the time of sending)."""

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def send(self, alert: Alert) -> None:
        """Write the title line and the indented body."""
        stream = self._stream or sys.stderr
        lines = [f"ALERT [{alert.severity.value.upper()}] {alert.title}"]
        lines += [f"    {line}" for line in alert.body.splitlines()]
        stream.write("\n".join(lines) + "\n")
        stream.flush()


# ---------------------------------------------------------------- throttling and dispatch
class AlertThrottle:
    """Last-sent time per alert key, kept in a JSON file so a restart does not re-send."""

    def __init__(self, path: Path | None, window: timedelta = timedelta(minutes=60)) -> None:
        self.path, self.window = path, window
        self._sent: dict[str, datetime] = self._load()

    def allows(self, key: str, now: datetime) -> bool:
        """True when `key` was not sent within the window before `now`."""
        last = self._sent.get(key)
        return last is None or now - last >= self.window

    def record(self, key: str, now: datetime) -> None:
        """Remember that `key` was sent at `now` (call save() to persist)."""
        self._sent[key] = now

    def save(self, now: datetime) -> None:
        """Drop expired keys and write the file atomically (temp file, fsync, replace)."""
        self._sent = {k: t for k, t in self._sent.items() if now - t < self.window}
        if self.path is None:
            return
        doc = {"version": 1, "sent": {k: t.isoformat() for k, t in sorted(self._sent.items())}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _load(self) -> dict[str, datetime]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))["sent"]
            sent = {str(k): datetime.fromisoformat(v) for k, v in raw.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            logger.warning("alert throttle file %s is unreadable (%s); starting empty",
                           self.path, type(e).__name__)
            return {}
        return {k: t if t.tzinfo else t.replace(tzinfo=timezone.utc) for k, t in sent.items()}


@dataclass(frozen=True, slots=True)
class DeliveryFailure:
    alert_key: str
    channel: str
    error: str  # secrets masked


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What one send() did: sent (by at least one channel), throttled, and channel failures."""

    sent: tuple[Alert, ...] = ()
    throttled: tuple[Alert, ...] = ()
    failures: tuple[DeliveryFailure, ...] = ()


class AlertDispatcher:
    """Throttle, then deliver each alert to every channel; failures are logged, never raised."""

    def __init__(self, channels: Sequence[AlertChannel], throttle: AlertThrottle, clock: Clock,
                 secrets: Sequence[str] = ()) -> None:
        self.channels = list(channels)
        self._throttle, self._clock = throttle, clock
        self._secrets = secret_variants(secrets)

    def send(self, alerts: Iterable[Alert]) -> DeliveryReport:
        """Deliver the alerts not sent within the throttle window; return what happened."""
        now = self._clock.now()
        sent: list[Alert] = []
        throttled: list[Alert] = []
        failures: list[DeliveryFailure] = []
        # A channel that failed in this batch is skipped for the rest of it: a dead SMTP
        # server would otherwise cost its timeout once per alert.
        broken: set[str] = set()
        for alert in alerts:
            if not self._throttle.allows(alert.key, now):
                throttled.append(alert)
                logger.debug("alert %s throttled (sent within %s): %s", alert.key,
                             self._throttle.window, alert.title)
                continue
            failed = self._deliver(alert, broken)
            failures += failed
            # Sent once any channel took it (log and console always do): a broken email
            # server must not make every run repeat the same Slack message.
            if len(failed) < len(self.channels):
                sent.append(alert)
                self._throttle.record(alert.key, now)
        if sent:
            self._save(now)
        return DeliveryReport(tuple(sent), tuple(throttled), tuple(failures))

    def _deliver(self, alert: Alert, broken: set[str]) -> list[DeliveryFailure]:
        failures = []
        for channel in self.channels:
            if channel.name in broken:
                failures.append(DeliveryFailure(alert.key, channel.name, "skipped: failed earlier"))
                continue
            try:
                channel.send(alert)
            except Exception as e:  # any channel error: log it, the run goes on (STYLE 11)
                error = mask_secrets(f"{type(e).__name__}: {e}", self._secrets)
                logger.warning("alert %s not delivered by %s: %s", alert.key, channel.name, error)
                failures.append(DeliveryFailure(alert.key, channel.name, error))
                broken.add(channel.name)
        return failures

    def _save(self, now: datetime) -> None:
        try:
            self._throttle.save(now)
        except OSError as e:
            logger.warning("cannot save the alert throttle file: %s",
                           mask_secrets(str(e), self._secrets))


def dispatcher_from_config(cfg: StrategyConfig, state_dir: Path, clock: Clock,
                           stream: TextIO | None = None) -> AlertDispatcher:
    """Log and console always; email when email_enabled; Slack when a webhook is set."""
    a = cfg.alerts
    channels: list[AlertChannel] = [LogChannel(), ConsoleChannel(stream)]
    if a.email_enabled:
        channels.append(EmailChannel.from_config(a))
    if a.slack_webhook is not None:
        channels.append(SlackChannel(a.slack_webhook.get_secret_value(),
                                     timeout_seconds=a.timeout_seconds))
    throttle = AlertThrottle(Path(state_dir) / THROTTLE_FILE, timedelta(minutes=a.throttle_minutes))
    return AlertDispatcher(channels, throttle, clock, secrets=cfg.secrets())
