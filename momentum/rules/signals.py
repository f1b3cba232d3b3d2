"""SignalGenerator (STRATEGY R4): entry signals, exit levels, the trailing stop and exit checks."""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from momentum.core.config import EntryConfig, ExitConfig
from momentum.core.domain import (AssetType, Candidate, Candidates, EntrySignal, ExitReason,
                                   Position)
from momentum.core.money import ONE, to_money
from momentum.core.slots import direct_init

if TYPE_CHECKING:  # annotations only: importing this module loads no pandas (`paper --report`)
    from momentum.data.market import BarPoint


@direct_init
@dataclass(frozen=True, slots=True)
class ExitCheck:
    """The outcome of R4.5 on one bar: an intrabar fill (stop/target) or a next-open order."""

    reason: ExitReason
    price: Decimal | None  # intrabar fill price before slippage; None = market order next open

    @property
    def immediate(self) -> bool:
        return self.price is not None


def is_entry_signal(c: Candidate, cfg: EntryConfig) -> bool:
    """R4.1: RSI14 within [rsi_min, rsi_max] and, if required, a volume surge."""
    return entry_fits(c.rsi14, c.surge_ratio, cfg)


def entry_fits(rsi14: float, surge_ratio: float, cfg: EntryConfig) -> bool:
    """R4.1 on a candidate's two numbers: RSI14 in the window and, if required, a surge."""
    if not math.isfinite(rsi14) or not cfg.rsi_min <= rsi14 <= cfg.rsi_max:
        return False
    if cfg.require_volume_surge:
        # NaN (no 20-bar history, or 0/0) fails; +inf (volume after a silent month) passes (R2.6)
        return not math.isnan(surge_ratio) and surge_ratio >= cfg.volume_surge_threshold
    return True


def exit_levels(fill_price: Decimal, asset_type: AssetType,
                cfg: ExitConfig) -> tuple[Decimal, Decimal]:
    """R4.2: (stop, target) from the entry fill price F."""
    stop = fill_price * (ONE - to_money(cfg.stop_loss(asset_type)))
    target = fill_price * (ONE + to_money(cfg.profit_target(asset_type)))
    return stop, target


def check_exit(pos: Position, bar: BarPoint, cfg: ExitConfig) -> ExitCheck | None:
    """R4.5: stop, then target, then momentum fade, then time; the first hit wins."""
    open_ = to_money(bar.open)
    level = pos.protective_stop
    if to_money(bar.low) <= level:
        trail_is_level = pos.trailing_stop is not None and level == pos.trailing_stop \
            and pos.trailing_stop > pos.stop_price
        reason = ExitReason.TRAILING_STOP if trail_is_level else ExitReason.STOP_LOSS
        return ExitCheck(reason, min(open_, level))
    if to_money(bar.high) >= pos.target_price:
        return ExitCheck(ExitReason.PROFIT_TARGET, max(open_, pos.target_price))
    if math.isfinite(bar.rsi14) and bar.rsi14 < cfg.momentum_exit_rsi:
        return ExitCheck(ExitReason.MOMENTUM_FADE, None)
    if (bar.day - pos.entry_date).days >= cfg.max_holding_days:
        return ExitCheck(ExitReason.TIME_EXIT, None)
    return None


def update_trailing(pos: Position, bar: BarPoint, cfg: ExitConfig) -> Position:
    """R4.3/R4.4: raise the highest high with bar B; activate or ratchet the trailing stop."""
    high, trail = trailing_after(pos, to_money(bar.high), *trail_factors(cfg))
    return replace(pos, highest_high=high, trailing_stop=trail)


def trail_factors(cfg: ExitConfig) -> tuple[Decimal, Decimal]:
    """(1 + trailing_stop_activation, 1 - trailing_stop_distance) as exact Decimals (R4.3)."""
    return (ONE + to_money(cfg.trailing_stop_activation),
            ONE - to_money(cfg.trailing_stop_distance))


def trailing_after(pos: Position, bar_high: Decimal, activation: Decimal,
                   keep: Decimal) -> tuple[Decimal, Decimal | None]:
    """R4.3: the highest high and the trailing stop after a bar with this high; the trail is
    active once the high reaches F * activation, at high * keep, and never moves down."""
    high = max(pos.highest_high, bar_high)
    trail = pos.trailing_stop
    if high >= pos.entry_price * activation:
        candidate = high * keep
        trail = candidate if trail is None else max(trail, candidate)  # only ever moves up
    return high, trail


class SignalGenerator:
    """R4 with the configured thresholds."""

    def __init__(self, entry: EntryConfig, exit: ExitConfig) -> None:
        self.entry = entry
        self.exit = exit
        self._trail_factors = trail_factors(exit)

    def entry_signals(self, candidates: Iterable[Candidate]) -> list[EntrySignal]:
        """Entry signals among the candidates, in strength order (score desc, ticker asc)."""
        cfg = self.entry
        if isinstance(candidates, Candidates):  # a scan's: only those that signal are built
            signals = [EntrySignal(candidates[k])
                       for k, (rsi, surge) in enumerate(candidates.rsi14_and_surge())
                       if entry_fits(rsi, surge, cfg)]
        else:
            signals = [EntrySignal(c) for c in candidates if is_entry_signal(c, cfg)]
        return sorted(signals, key=lambda s: (-s.strength, s.ticker))

    def exit_levels(self, fill_price: Decimal, asset_type: AssetType) -> tuple[Decimal, Decimal]:
        return exit_levels(fill_price, asset_type, self.exit)

    def check_exit(self, pos: Position, bar: BarPoint) -> ExitCheck | None:
        return check_exit(pos, bar, self.exit)

    def update_trailing(self, pos: Position, bar: BarPoint) -> Position:
        return update_trailing(pos, bar, self.exit)

    def trailing_after(self, pos: Position, bar: BarPoint) -> tuple[Decimal, Decimal | None]:
        """(highest high, trailing stop) of the position after bar B (R4.3)."""
        return trailing_after(pos, to_money(bar.high), *self._trail_factors)
