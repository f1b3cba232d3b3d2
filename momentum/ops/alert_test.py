"""A test alert on every configured channel (`python main.py alerts --test`, preflight)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from momentum.core.calendar import NEW_YORK
from momentum.core.clock import Clock
from momentum.core.config import StrategyConfig
from momentum.notify.alerts import Alert, AlertKind, Severity
from momentum.notify.delivery import AlertDispatcher, AlertThrottle, dispatcher_from_config


@dataclass(frozen=True, slots=True)
class ChannelOutcome:
    channel: str
    error: str = ""          # secrets masked; "" = delivered

    @property
    def delivered(self) -> bool:
        return not self.error


def send_test_alert(cfg: StrategyConfig, state_dir: Path, clock: Clock,
                    stream: TextIO | None = None) -> list[ChannelOutcome]:
    """Send one test alert to every configured channel, unthrottled; one outcome per channel."""
    configured = dispatcher_from_config(cfg, state_dir, clock, stream)
    # No throttle file: a test must always go out and must not hold back a real alert later.
    dispatcher = AlertDispatcher(configured.channels, AlertThrottle(None), clock,
                                 secrets=cfg.secrets())
    now = clock.now()
    alert = Alert(AlertKind.ERROR, Severity.INFO, "momentum: test alert",
                  f"A test alert sent at {now.isoformat(timespec='seconds')} by `python main.py "
                  f"alerts --test`. If you read this, the channel works.",
                  key=f"test:{now.isoformat()}", day=now.astimezone(NEW_YORK).date())
    report = dispatcher.send([alert])
    failed = {f.channel: f.error for f in report.failures}
    return [ChannelOutcome(c.name, failed.get(c.name, "")) for c in dispatcher.channels]
