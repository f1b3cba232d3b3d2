"""The alert of a failed scheduled run: exit code, duration and the tail of its output.

Sent through the configured channels (log, console, e-mail, Slack) by the notify dispatcher;
a channel that fails is logged there and never stops the scheduler (STYLE 11).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

from momentum.notify.alerts import Alert, AlertKind, Severity, mask_secrets, secret_variants
from momentum.notify.delivery import AlertDispatcher
from momentum.ops.job import Outcome, RunRecord

logger = logging.getLogger(__name__)

_WHAT = {Outcome.FAILED: "failed with exit code {code}",
         Outcome.TIMEOUT: "was stopped after the {minutes:g}-minute timeout",
         Outcome.RETRIES_EXHAUSTED: "still had incomplete data (exit 75) after {tries} tries"}


def failure_alert(record: RunRecord, timeout_minutes: float,
                  secrets: Sequence[str] = ()) -> Alert:
    """The ERROR alert for a run that did not end with exit 0."""
    what = _WHAT[record.outcome].format(code=record.exit_code, minutes=timeout_minutes,
                                        tries=len(record.attempts))
    session = record.session.isoformat() if record.session else "no session"
    title = f"Scheduled paper run for {session} {what}"
    body = (f"Command: {' '.join(record.command)}\n"
            f"Exit code: {record.exit_code if record.exit_code is not None else 'none (timeout)'}\n"
            f"Started: {record.started.isoformat(timespec='seconds')}\n"
            f"Duration: {record.duration_seconds:.1f} s over {len(record.attempts)} attempt(s)\n"
            f"Log file: {record.log_file}\n\n"
            f"Last lines of output:\n{record.tail}")
    variants = secret_variants(secrets)
    key = f"scheduler:{session}:{record.outcome.value}:{record.exit_code}"
    day = record.session or record.started.date()
    return Alert(AlertKind.ERROR, Severity.ERROR, mask_secrets(title, variants),
                 mask_secrets(body, variants), key, day)


def send_failure_alert(alert: Alert, dispatcher: AlertDispatcher) -> bool:
    """Deliver the alert; True when some channel took it. Never raises."""
    try:
        report = dispatcher.send([alert])
    except Exception as e:  # an alert must never stop the scheduler (STYLE 11)
        logger.warning("could not send the failure alert: %s", type(e).__name__)
        return False
    return bool(report.sent)
