"""Alert delivery: email, Slack, log and console channels; per-key throttling; the dispatcher.

A channel raises when it cannot deliver; the dispatcher logs that as a WARNING (secrets masked)
and goes on, so a failed alert never stops a run (STYLE 11). Throttling is per alert key and
survives restarts through a small JSON file next to the paper-trading state.
"""
from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO

from momentum.core.clock import Clock
from momentum.core.config import AlertsConfig, StrategyConfig
from momentum.core.errors import MomentumError
from momentum.core.safeload import safe_json
from momentum.core.files import write_atomic
from momentum.notify.alerts import (MASK, Alert, AlertKind, Severity, digest_alert, mask_secrets,
                                    secret_variants)

if TYPE_CHECKING:  # requests, smtplib and ssl are imported by the channel when it sends
    import ssl
    from email.message import EmailMessage

    import requests

logger = logging.getLogger("momentum.notify.alerts")
THROTTLE_FILE = "alert_throttle.json"


# ---------------------------------------------------------------- channels
class AlertChannel(Protocol):
    name: str

    def send(self, alert: Alert) -> None: ...  # deliver one alert or raise


class DeliveryError(Exception):
    """A channel could not deliver; the message never holds a secret."""


class EmailChannel:
    """SMTP: STARTTLS when configured (never login in clear unless starttls is off), then login."""

    name = "email"
    remote = True  # slow and rate-limited: gets a digest inside AlertDispatcher.digest()

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
        from email.message import EmailMessage  # only an e-mail delivery pays for it

        msg = EmailMessage()
        msg["Subject"] = f"[momentum] {alert.severity.value.upper()}: {alert.title}"
        msg["From"], msg["To"] = self.sender, self.recipient
        msg.set_content(f"{alert.title}\n\n{alert.body}\n\n"
                        f"Kind: {alert.kind.value}\nDay: {alert.day}\n")
        return msg

    def send(self, alert: Alert) -> None:
        """Send one email; smtplib and socket errors propagate to the dispatcher."""
        import smtplib
        import ssl

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
    remote = True
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
        import requests  # only a Slack delivery pays for the HTTP stack

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

    def __init__(self, path: Path | None, window: timedelta = timedelta(minutes=60),
                 guard: Callable[[], AbstractContextManager[object]] | None = None) -> None:
        self.path, self.window = path, window
        self._guard = guard  # the portfolio lock: the file is written only while holding it
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
        with self._guard() if self._guard is not None else contextlib.nullcontext():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(doc, indent=1))

    def _load(self) -> dict[str, datetime]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            raw = safe_json(self.path.read_text(encoding="utf-8"))["sent"]
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
    """Throttle, then deliver each alert to every channel; failures are logged, never raised.

    A channel that fails once is skipped for the rest of the command (one dispatcher per
    command): a dead SMTP server costs its timeout once, not once per alert or per day. Inside
    `digest()`, the remote channels (email, Slack) get one message at the end instead of one per
    alert, so a catch-up of many sessions sends one digest per channel.
    """

    def __init__(self, channels: Sequence[AlertChannel], throttle: AlertThrottle, clock: Clock,
                 secrets: Sequence[str] = ()) -> None:
        self.channels = list(channels)
        self._throttle, self._clock = throttle, clock
        self._secrets = secret_variants(secrets)
        self._broken: set[str] = set()
        self._held: list[Alert] | None = None  # alerts waiting for the digest, inside digest()

    def send(self, alerts: Iterable[Alert]) -> DeliveryReport:
        """Deliver the alerts not sent within the throttle window; return what happened."""
        now = self._clock.now()
        sent: list[Alert] = []
        throttled: list[Alert] = []
        failures: list[DeliveryFailure] = []
        for alert in alerts:
            if not self._throttle.allows(alert.key, now):
                throttled.append(alert)
                logger.debug("alert %s throttled (sent within %s): %s", alert.key,
                             self._throttle.window, alert.title)
                continue
            failed = self._deliver(alert, self._now_channels())
            failures += failed
            if self._held is not None:
                self._held.append(alert)
            # Sent once any channel took it (log and console always do): a broken email
            # server must not make every run repeat the same Slack message.
            if self._held is not None or len(failed) < len(self.channels):
                sent.append(alert)
                self._throttle.record(alert.key, now)
        if sent:
            self._save(now)
        return DeliveryReport(tuple(sent), tuple(throttled), tuple(failures))

    @contextmanager
    def digest(self) -> Iterator[None]:
        """Hold the remote channels' alerts until the block ends, then send one message each."""
        if self._held is not None:  # already collecting
            yield
            return
        self._held = []
        try:
            yield
        finally:
            held, self._held = self._held, None
            if held:
                remote = [c for c in self.channels if getattr(c, "remote", False)]
                self._deliver(held[0] if len(held) == 1 else digest_alert(held), remote)

    def _now_channels(self) -> list[AlertChannel]:
        if self._held is None:
            return self.channels
        return [c for c in self.channels if not getattr(c, "remote", False)]

    def _deliver(self, alert: Alert, channels: Sequence[AlertChannel]) -> list[DeliveryFailure]:
        failures = []
        for channel in channels:
            if channel.name in self._broken:
                failures.append(DeliveryFailure(alert.key, channel.name, "skipped: failed earlier"))
                continue
            try:
                channel.send(alert)
            except Exception as e:  # any channel error: log it, the run goes on (STYLE 11)
                error = mask_secrets(f"{type(e).__name__}: {e}", self._secrets)
                logger.warning("alert %s not delivered by %s: %s; %s is skipped for the rest "
                               "of this command", alert.key, channel.name, error, channel.name)
                failures.append(DeliveryFailure(alert.key, channel.name, error))
                self._broken.add(channel.name)
        return failures

    def _save(self, now: datetime) -> None:
        try:
            self._throttle.save(now)
        except (OSError, MomentumError) as e:  # MomentumError: the portfolio lock is not ours
            logger.warning("cannot save the alert throttle file: %s",
                           mask_secrets(str(e), self._secrets))


def dispatcher_from_config(cfg: StrategyConfig, state_dir: Path, clock: Clock,
                           stream: TextIO | None = None,
                           guard: Callable[[], AbstractContextManager[object]] | None = None
                           ) -> AlertDispatcher:
    """Log and console always; email when email_enabled; Slack when a webhook is set."""
    a = cfg.alerts
    channels: list[AlertChannel] = [LogChannel(), ConsoleChannel(stream)]
    if a.email_enabled:
        channels.append(EmailChannel.from_config(a))
    if a.slack_webhook is not None:
        channels.append(SlackChannel(a.slack_webhook.get_secret_value(),
                                     timeout_seconds=a.timeout_seconds))
    throttle = AlertThrottle(Path(state_dir) / THROTTLE_FILE, timedelta(minutes=a.throttle_minutes),
                             guard)
    return AlertDispatcher(channels, throttle, clock, secrets=cfg.secrets())
