"""Exceptions users can act on.

    MomentumError            expected failure: shown as one line on stderr, exit code 2
    ├── ConfigError          the YAML or a CLI value is wrong; the message names key, value and fix
    ├── DataError            bad CSV or API payload, invalid or unknown ticker
    │   ├── TickerError      a symbol that is not a valid ticker (never reaches a path or URL)
    │   └── DataUnavailable  network down, rate limited, server error after retries: exit 75
    │       └── DataIncomplete   some assets are missing for such a reason: the day is not run
    └── StateError           a paper-trading state file is corrupt, locked or from another config

Anything else that escapes is a bug and is reported with a traceback. Each class carries the
process exit code it maps to, so every entry point (main.py, scheduler.py, validation) agrees.
"""
from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a command's exit status means, everywhere (the scheduler retries TRY_LATER)."""

    OK = 0
    BUG = 1
    USER_ERROR = 2          # config, input or arguments: fix and run again
    TRY_LATER = 75          # EX_TEMPFAIL: the data is not complete yet
    INTERRUPTED = 130


class MomentumError(Exception):
    """Expected failure: shown as one line, no traceback."""

    exit_code: ExitCode = ExitCode.USER_ERROR


class ConfigError(MomentumError):
    """The configuration file or a command-line value is invalid."""


class DataError(MomentumError):
    """Market data is malformed, missing or refers to an unknown ticker."""

    # True when asking again later may succeed (network, 5xx, 429, a cut or garbled body);
    # False when the answer is final (unknown ticker, a series that fails validation).
    transient: bool = False


class TickerError(DataError):
    """A ticker symbol is not valid (letters, digits, '.', '-')."""


class DataUnavailable(DataError):
    """Data could not be fetched right now (network, rate limit, server error)."""

    exit_code = ExitCode.TRY_LATER
    transient = True


class DataIncomplete(DataUnavailable):
    """Assets are missing for a transient reason: nothing was committed, run again later."""

    def __init__(self, missing: dict[str, str], consequence: str) -> None:
        self.missing = dict(missing)
        first, cause = sorted(self.missing.items())[0]
        more = f"; and {len(missing) - 1} more, see the log" if len(missing) > 1 else ""
        super().__init__(f"incomplete data: {', '.join(sorted(missing))} could not be loaded "
                         f"({first}: {cause}{more}); {consequence}: run again later, or pass "
                         f"--allow-partial to go on without them")


class StateError(MomentumError):
    """A saved paper-trading state cannot be used."""
