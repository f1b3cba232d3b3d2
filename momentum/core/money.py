"""Money arithmetic: exact Decimals, floors that absorb binary error (R5.2, R5.2a, R5.7)."""
from __future__ import annotations

import math
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from momentum.core.domain import AssetType

ZERO = Decimal(0)
ONE = Decimal(1)
_FLOOR_EPSILON = Decimal("1e-9")


# Decimal of each float price seen: a held asset's bar converts its open, low, high and close,
# often twice, and the shortest repr (float -> text) is the dearest part of it. Decimals are
# immutable, so one can be shared; a bounded memo, emptied when full.
_FROM_FLOAT: dict[float, Decimal] = {}
_FROM_FLOAT_MAX = 1 << 16


def to_money(value: float | int | str | Decimal) -> Decimal:
    """Convert a price or config number to Decimal through its shortest repr.

    ``Decimal(repr(101.1))`` is ``101.1``: the value a CSV or API wrote, not the binary neighbour.
    """
    if type(value) is float:  # the common case first: a bar price
        found = _FROM_FLOAT.get(value)
        return found if found is not None else _float_to_money(value)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return _float_to_money(value)
    return Decimal(value)


def _float_to_money(value: float) -> Decimal:
    """Decimal(repr(value)) of a finite float, remembered for the next time (to_money)."""
    if not math.isfinite(value):
        raise ValueError(f"not a finite amount: {value!r}")
    money = Decimal(repr(float(value)))  # numpy 2 reprs np.float64(1.5) as "np.float64(1.5)"
    if value and type(value) is float:  # 0.0 and -0.0 are one dict key with two reprs: not kept
        if len(_FROM_FLOAT) >= _FROM_FLOAT_MAX:
            _FROM_FLOAT.clear()
        _FROM_FLOAT[value] = money
    return money


def quantity_decimals(asset_type: AssetType) -> int:
    """Whole shares for stocks, 6 decimals for crypto (R5.2)."""
    return 6 if asset_type is AssetType.CRYPTO else 0


def floor_qty(x: Decimal, asset_type: AssetType) -> Decimal:
    """R5.2a: floor(x * 10^k + 1e-9) / 10^k, never negative."""
    if x <= 0:
        return ZERO
    k = quantity_decimals(asset_type)
    scaled = (x * (Decimal(10) ** k) + _FLOOR_EPSILON).to_integral_value(rounding=ROUND_FLOOR)
    return scaled.scaleb(-k) if k else scaled


def money_str(value: Decimal | None) -> str:
    """Full-precision text for files (state, CSV): round-trips exactly through Decimal(text)."""
    return "" if value is None else format(value, "f")


def display_money(value: Decimal | float | int) -> str:
    """Cash, equity or P&L for a log or console line: 2 decimals (R5.7, display only)."""
    return format(to_money(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN), "f")


def display_price(value: Decimal | float | int, asset_type: AssetType) -> str:
    """A price for a log or console line: 2 decimals for stocks, up to 8 significant digits
    for crypto (R5.7, display only: files and state keep every digit)."""
    amount = to_money(value)
    if asset_type is not AssetType.CRYPTO or not amount:
        return display_money(amount)
    rounded = amount.quantize(Decimal(1).scaleb(amount.adjusted() - 7), rounding=ROUND_HALF_EVEN)
    text = format(rounded.normalize(), "f")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"  # at least cents: 43000.00, 0.00012346
