"""to_money: its memo of float prices gives exactly Decimal(repr(x)), every time (R5.7)."""
from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from momentum.core import money
from momentum.core.money import to_money


def reference(value: float) -> Decimal:
    """The rule: a float enters money through its shortest repr."""
    return Decimal(repr(value))


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_is_its_shortest_repr_first_and_every_later_time(x: float) -> None:
    first, again = to_money(x), to_money(x)
    assert str(first) == str(again) == str(reference(x))


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=50))
def test_interleaved_prices_keep_their_own_text(xs: list[float]) -> None:
    for x in xs + xs[::-1]:
        assert str(to_money(x)) == str(reference(x))


def test_zero_and_minus_zero_keep_their_sign() -> None:
    for x in (0.0, -0.0, 0.0, -0.0):
        assert str(to_money(x)) == str(reference(x))


def test_a_full_memo_is_emptied_and_still_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(money, "_FROM_FLOAT_MAX", 3)
    monkeypatch.setattr(money, "_FROM_FLOAT", {})
    values = [1.1, 2.2, 3.3, 4.4, 1.1, 5.5]
    assert [str(to_money(v)) for v in values] == [str(reference(v)) for v in values]
    assert len(money._FROM_FLOAT) <= 3


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_non_finite_amounts_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="not a finite amount"):
        to_money(bad)
    with pytest.raises(ValueError, match="not a finite amount"):
        to_money(bad)  # never remembered


def test_other_types_convert_as_before() -> None:
    d = Decimal("1.25")
    assert to_money(d) is d
    assert to_money(3) == Decimal(3) and str(to_money("0.10")) == "0.10"
    assert str(to_money(True)) == "1"


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_numpy_float_is_the_shortest_repr_of_its_value_and_not_remembered(x: float) -> None:
    """np.float64 is a float subclass whose repr (numpy 2) is "np.float64(...)": it converts
    through the plain float, and only plain floats enter the memo (a hit keeps its own type)."""
    import numpy as np

    assert str(to_money(np.float64(x))) == str(reference(x))
    if x:
        money._FROM_FLOAT.pop(x, None)
        to_money(np.float64(x))
        assert x not in money._FROM_FLOAT
        assert str(to_money(x)) == str(reference(x)) and x in money._FROM_FLOAT


def test_the_memo_answers_a_repeated_price_with_the_same_decimal() -> None:
    money._FROM_FLOAT.pop(123.456789, None)  # converted here, whatever ran before
    first = to_money(123.456789)
    assert to_money(123.456789) is first  # found in the memo, not converted again
