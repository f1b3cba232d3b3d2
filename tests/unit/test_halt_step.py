"""The kill switch inside the daily step (issue #16 mutation survivors): a halted state shows the
entry signals but rejects each one (reason `halted`, rule `halt`) and still manages the exits."""
from __future__ import annotations

from decimal import Decimal as D

from momentum.core.domain import ExitReason, Halt, RejectReason, Rejection
from tests.unit.test_engine import SIG_DAY, WIDE, holding_xx, rules_of, run, signal_market


def halted_day(xx_close: float):
    state = holding_xx(first_step=False)
    state.halts.append(Halt(halted_at="2024-01-09T22:00:00+00:00", reason="manual stop",
                            flatten=False, after_step=state.last_step))
    [day] = run(state, signal_market(xx_close), [SIG_DAY], rules_of(WIDE))
    return state, day


def test_halted_step_rejects_every_signal_with_reason_halted():
    # The same day as test_daily_loss_breaker_trips_at_exactly_three_percent_in_the_engine's
    # 47.51 case, where LEAD is approved for 239 shares: halted, it is shown and refused.
    state, day = halted_day(47.51)
    assert [(s.ticker, s.strength) for s in day.signals] == [("LEAD", 100.0)]
    assert day.entries == [] and state.portfolio.pending_entries == []
    assert day.rejections == [Rejection(SIG_DAY, "LEAD", RejectReason.HALTED, "halt",
                                        "kill switch since 2024-01-09T22:00:00+00:00: manual stop")]


def test_halted_step_still_manages_exits():
    # XX gaps to 39 (o = h = l = c), below its stop 40: though halted, the stop fills at the
    # open less 0.1% slippage, 39 * 0.999 = 38.961
    state, day = halted_day(39.0)
    assert [(f.ticker, f.price, f.reason) for f in day.fills] == \
        [("XX", D("38.961"), ExitReason.STOP_LOSS)]
    assert "XX" not in state.portfolio.positions
    assert [(r.ticker, r.reason, r.rule) for r in day.rejections] == \
        [("LEAD", RejectReason.HALTED, "halt")]


def test_resumed_halt_lets_entries_through():
    state = holding_xx(first_step=False)
    state.halts.append(Halt(halted_at="2024-01-08T22:00:00+00:00", reason="manual stop",
                            flatten=False, after_step=None, resumed_at="2024-01-09T22:00:00+00:00"))
    [day] = run(state, signal_market(47.51), [SIG_DAY], rules_of(WIDE))
    assert day.rejections == [] and [(o.ticker, o.quantity) for o in day.entries] == \
        [("LEAD", D("239"))]
