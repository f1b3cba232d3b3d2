"""The kill switch (`paper --halt [--flatten]`, `paper --resume`): a flag in the engine state.

    halt(state, at, reason, flatten)   cancel pending entries now; no new entry from the next
                                       step on; flatten: every position exits at its next open
    resume(state, at)                  lift the active halt; entries resume on the next step

Both change the state only; the daily step (engine.run_day) reads `state.halt`, so backtest,
paper trading and validation replay treat a halt the same way. The record of every halt (when,
why, what it cancelled, when it was lifted) stays in the state.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from momentum.core.domain import ExitReason, Halt
from momentum.run.engine import EngineState

DEFAULT_REASON = "halted by the user"


@dataclass(frozen=True, slots=True)
class HaltChange:
    """What one --halt or --resume did to the state."""

    halt: Halt
    changed: bool            # False: it was already in that condition
    cancelled: tuple[str, ...] = ()
    flattened: tuple[str, ...] = ()


def halt(state: EngineState, at: str, reason: str = DEFAULT_REASON,
         flatten: bool = False) -> HaltChange:
    """Stop new entries: cancel pending entries, and with `flatten` queue kill_switch exits."""
    book = state.portfolio
    cancelled = tuple(o.ticker for o in book.pending_entries)
    book.pending_entries.clear()
    flattened: tuple[str, ...] = ()
    if flatten:
        flattened = tuple(sorted(t for t, p in book.positions.items() if p.pending_exit is None))
        for ticker in flattened:  # an exit already queued (fade, time) sells at the same open
            book.update_position(replace(book.positions[ticker],
                                         pending_exit=ExitReason.KILL_SWITCH))
    active = state.halt
    if active is not None:
        if not flattened:  # halted already: nothing is pending, nothing new to flatten
            return HaltChange(active, changed=False)
        # a flattening halt replaces the plain one, so a replay reissues each at its own step
        state.halts[-1] = replace(active, resumed_at=at, resumed_after=state.last_step)
        reason = active.reason if reason == DEFAULT_REASON else reason
    record = Halt(halted_at=at, reason=reason.strip() or DEFAULT_REASON, flatten=flatten,
                  after_step=state.last_step, cancelled=cancelled)
    state.halts.append(record)
    return HaltChange(record, True, cancelled, flattened)


def resume(state: EngineState, at: str) -> HaltChange | None:
    """Lift the active halt (None when trading was not halted)."""
    active = state.halt
    if active is None:
        return None
    lifted = replace(active, resumed_at=at, resumed_after=state.last_step)
    state.halts[-1] = lifted
    return HaltChange(lifted, changed=True)


def replay_halts(state: EngineState, halts: list[Halt], after_step: date | None) -> None:
    """Re-issue the recorded halts and resumes that happened right after `after_step`."""
    for record in halts:
        if record.after_step == after_step:
            halt(state, record.halted_at, record.reason, record.flatten)
        if record.resumed_at is not None and record.resumed_after == after_step:
            resume(state, record.resumed_at)
