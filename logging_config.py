"""Logging setup (spec 7.2.7): the only place handlers are created; never configured at import.

``setup_logging(...)`` installs on the root logger:

- console (stderr at call time): `level` and above, WARNING and above when quiet; colour by
  level only when the stream is a terminal;
- with `log_dir`, three files rotated at midnight, `keep_days` old files kept:
  ``momentum_strategy.log`` every record at `level`;
  ``trades.log`` trade lines only, INFO and above: records of logger ``momentum.trades``,
  records logged with ``extra={"trade": True}`` (entry/exit alerts do this), and the engine's
  ``BUY``/``SELL`` lines on ``momentum.run.engine``;
  ``errors.log`` ERROR and above;
- with `alert_sink`, an AlertHandler that turns each ERROR/CRITICAL record into an Alert.

Every line reads ``[YYYY-MM-DD HH:MM:SS] [LEVEL] [component] [run:abcd1234] message``, where the
component is the logger name without ``momentum.`` and the run id ties one command's lines
together. A SecretMaskingFilter on every handler replaces the secrets (and anything shaped like
``Authorization: Token x`` or a Slack webhook path) with ``***``, once per record however many
handlers write it; the file handlers share one formatter, so a line is formatted once too.

Importing this module loads the standard library and momentum.notify.masking only: every command
(``--help`` included) imports it, and the alert types are loaded when an error is alerted.
"""
from __future__ import annotations

import itertools
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from momentum.notify.masking import mask_secrets, secret_variants

if TYPE_CHECKING:  # loaded by AlertHandler.to_alert, when an error is alerted
    from momentum.notify.alerts import Alert

FORMAT = "[%(asctime)s] [%(levelname)s] [%(component)s] [run:%(run_id)s] %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S"
MAIN_LOG, TRADES_LOG, ERRORS_LOG = "momentum_strategy.log", "trades.log", "errors.log"
NOISY_LOGGERS = ("urllib3", "requests", "matplotlib", "asyncio", "PIL")
_OWNED = "_momentum_owned"  # marks the handlers setup_logging installed (removed on a new call)
_TRADE_LINE = re.compile(r"^(?:\S+: )?(?:BUY|SELL)\b")
_MASKED = "_momentum_masked"  # the token of the SecretMaskingFilter that already masked a record
_tokens = itertools.count(1)


@lru_cache(maxsize=512)
def component_of(logger_name: str) -> str:
    """The module part of a package logger (``momentum.run.engine`` -> ``engine``).

    The layer folder is left out so a line reads the same whichever layer its module sits in.
    """
    if not logger_name.startswith("momentum."):
        return logger_name
    return logger_name.rsplit(".", 1)[-1]


class RunContextFilter(logging.Filter):
    """Stamp each record with the run id and its component, for the line format."""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = self.run_id
        record.component = component_of(record.name)
        return True


class SecretMaskingFilter(logging.Filter):
    """Mask secrets in the message, its arguments and any traceback, in place.

    One instance sits on every handler of a setup; a record it has masked is marked with its
    token, so the next handlers pass it without masking (and formatting) it again.
    """

    _plain = logging.Formatter()

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = secret_variants(secrets)
        self._token = next(_tokens)  # an int, so a pickled record stays plain data

    def filter(self, record: logging.LogRecord) -> bool:
        if record.__dict__.get(_MASKED) == self._token:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # bad %-args: logging reports it; nothing to mask yet
            return True
        masked = mask_secrets(message, self.secrets)
        if not hasattr(record, "msg_template"):  # the alert handler throttles by the template
            # Without %-args the template is the message itself (getMessage is str(msg)).
            record.msg_template = (mask_secrets(str(record.msg), self.secrets) if record.args
                                   else masked)
        record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # Render the traceback now so the formatter uses the masked text, not the raw one.
            record.exc_text = self._plain.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info, self.secrets)
        record.__dict__[_MASKED] = self._token
        return True


class TradeFilter(logging.Filter):
    """Pass trade lines only: logger momentum.trades, extra={"trade": True}, engine BUY/SELL."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "momentum.trades" or getattr(record, "trade", False) is True:
            return True
        if record.name != "momentum.run.engine":
            return False
        try:
            return bool(_TRADE_LINE.match(record.getMessage()))
        except (TypeError, ValueError):
            return False


class ColourFormatter(logging.Formatter):
    """The line format, coloured by level when `colour` is on (terminals only)."""

    COLOURS = {logging.DEBUG: "\033[2m", logging.WARNING: "\033[33m",
               logging.ERROR: "\033[31m", logging.CRITICAL: "\033[1;31m"}
    RESET = "\033[0m"

    def __init__(self, colour: bool) -> None:
        super().__init__(FORMAT, DATEFMT)
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        code = self.COLOURS.get(record.levelno) if self.colour else None
        return f"{code}{line}{self.RESET}" if code else line


class _SharedLineFormatter(logging.Formatter):
    """The line format for the file handlers: a record written to two files is formatted once,
    and the time stamp once per second."""

    def __init__(self) -> None:
        super().__init__(FORMAT, DATEFMT)
        self._last: tuple[logging.LogRecord | None, str] = (None, "")
        self._stamp: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        second = int(record.created)
        if second != self._stamp[0]:
            self._stamp = (second, super().formatTime(record, datefmt))
        return self._stamp[1]

    def format(self, record: logging.LogRecord) -> str:
        last, line = self._last
        if last is record:
            return line
        line = super().format(record)
        self._last = (record, line)
        return line


class AlertHandler(logging.Handler):
    """Send each ERROR/CRITICAL record to `sink` as an Alert; never recurse, never raise."""

    def __init__(self, sink: Callable[[Alert], object], secrets: Iterable[str] = (),
                 level: int = logging.ERROR) -> None:
        super().__init__(level)
        self.sink = sink
        self.secrets = secret_variants(secrets)
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        # An error logged while alerting (e.g. by the sink) would alert again, forever.
        if getattr(self._local, "busy", False):
            return
        self._local.busy = True
        try:
            self.sink(self.to_alert(record))
        except Exception as e:  # a failing sink must not break the caller's logging call
            logging.getLogger("momentum.notify.alerts").warning(
                "alert handler could not deliver an error alert: %s",
                mask_secrets(f"{type(e).__name__}: {e}", self.secrets))
        finally:
            self._local.busy = False

    def to_alert(self, record: logging.LogRecord) -> Alert:
        """The Alert for one log record, secrets masked."""
        from momentum.notify.alerts import Alert, AlertKind, Severity

        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        message = mask_secrets(message, self.secrets)
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            message += f"\n{type(exc).__name__}: {mask_secrets(str(exc), self.secrets)}"
        component = component_of(record.name)
        first = (message.splitlines() or [""])[0]
        severity = Severity.CRITICAL if record.levelno >= logging.CRITICAL else Severity.ERROR
        # The key uses the message template, so one failure repeating with new values is
        # throttled as one alert.
        template = str(getattr(record, "msg_template", record.msg))
        key = mask_secrets(f"error:{record.name}:{template[:100]}", self.secrets)
        return Alert(AlertKind.ERROR, severity, f"{component}: {first[:160]}", message, key,
                     datetime.fromtimestamp(record.created).date())


def setup_logging(level: str = "INFO", quiet: bool = False, log_dir: Path | str | None = None,
                  keep_days: int = 30, secrets: Sequence[str] = (),
                  alert_sink: Callable[[Alert], object] | None = None, run_id: str | None = None,
                  console_stream: TextIO | None = None, main_log: str = MAIN_LOG) -> str:
    """Install the console, file and alert handlers on the root logger; return the run id.

    `main_log` names the file that gets every record (scheduler.py uses scheduler.log).
    """
    run_id = run_id or os.urandom(4).hex()  # 8 random hex digits (uuid4's first 8)
    _skip_unused_record_fields()
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else int(level)
    if not isinstance(numeric, int):
        numeric = logging.INFO
    reset_logging()
    stream = console_stream if console_stream is not None else sys.stderr
    console = logging.StreamHandler(stream)
    console.setFormatter(ColourFormatter(colour=_is_tty(stream)))
    console.setLevel(logging.WARNING if quiet else numeric)
    # The console alert channel already prints each alert as a block; its log line is for files.
    console.addFilter(lambda record: not getattr(record, "alert_line", False))
    handlers: list[logging.Handler] = [console]
    if log_dir is not None:
        handlers += _file_handlers(Path(log_dir), numeric, keep_days, main_log)
    if alert_sink is not None:
        handlers.append(AlertHandler(alert_sink, secrets))
    context, masking = RunContextFilter(run_id), SecretMaskingFilter(secrets)
    root = logging.getLogger()
    for handler in handlers:
        handler.addFilter(context)
        handler.addFilter(masking)
        setattr(handler, _OWNED, True)
        root.addHandler(handler)
    root.setLevel(min(h.level for h in handlers))
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return run_id


def _skip_unused_record_fields() -> None:
    """No line shows the caller's file and line, thread or process: don't collect them.

    These are the switches of the logging HOWTO's "Optimization" section. A backtest logs a
    line per trade and rejection (~2,000 in ten years of 550 assets); the caller lookup
    (sys._getframe) and the thread/process names were a third of each record's cost.
    """
    logging._srcfile = None  # type: ignore[attr-defined]  # noqa: SLF001 - the documented switch
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def reset_logging() -> None:
    """Remove and close the handlers setup_logging installed (others, e.g. pytest's, stay)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _OWNED, False):
            root.removeHandler(handler)
            handler.close()


_deferred = 0  # > 0 inside deferred_flush()
_FLUSH_EVERY_S = 1.0


@contextmanager
def deferred_flush() -> Iterator[None]:
    """Inside, the log files flush a WARNING or worse at once, other lines at most once a second,
    and everything on the way out.

    A backtest logs ~2,000 lines in a second; a flush per line (a write system call each) was
    ~5% of its daily steps. No line is dropped: leaving the block, by an exception too, and the
    interpreter's exit flush them; only a killed process can lose its last second of INFO lines.
    """
    global _deferred
    _deferred += 1
    try:
        yield
    finally:
        _deferred -= 1
        for handler in logging.getLogger().handlers:
            if getattr(handler, _OWNED, False):
                handler.flush()


@lru_cache(maxsize=1)
def _file_handler_class() -> type[logging.Handler]:
    from logging.handlers import TimedRotatingFileHandler  # socket, pickle: only with files

    class LineFileHandler(TimedRotatingFileHandler):
        """A log file rotated at midnight that flushes as deferred_flush() says."""

        _flushed = 0.0
        _urgent = True

        def emit(self, record: logging.LogRecord) -> None:
            self._urgent = record.levelno >= logging.WARNING
            super().emit(record)

        def flush(self) -> None:
            now = time.monotonic()
            if _deferred and not self._urgent and now - self._flushed < _FLUSH_EVERY_S:
                return
            self._flushed = now
            super().flush()

    return LineFileHandler


def _file_handlers(log_dir: Path, level: int, keep_days: int,
                   main_log: str = MAIN_LOG) -> list[logging.Handler]:
    file_handler = _file_handler_class()

    log_dir.mkdir(parents=True, exist_ok=True)
    # Trade lines are INFO: trades.log keeps them even when the main log is set to WARNING.
    specs = ((main_log, level, None), (TRADES_LOG, min(level, logging.INFO), TradeFilter()),
             (ERRORS_LOG, logging.ERROR, None))
    handlers: list[logging.Handler] = []
    lines = _SharedLineFormatter()
    for name, handler_level, only in specs:
        handler = file_handler(log_dir / name, when="midnight", backupCount=keep_days,
                               encoding="utf-8")
        handler.setFormatter(lines)
        handler.setLevel(handler_level)
        if only is not None:
            handler.addFilter(only)
        handlers.append(handler)
    return handlers


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or file-like without isatty
        return False
