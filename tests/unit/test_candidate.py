"""Candidate's own __init__ (fast slot writes) behaves as the frozen dataclass's would."""
from __future__ import annotations

import dataclasses
import inspect
from datetime import date

import pytest

from momentum.core.domain import AssetType, Candidate

VALUES = ("AAA", AssetType.STOCK, "Tech", 80.0, 0.3, 55.0, 1e7, 2.0, 50.0, date(2024, 3, 4))


def test_init_parameters_are_the_fields_in_order() -> None:
    params = list(inspect.signature(Candidate.__init__).parameters)[1:]
    assert params == [f.name for f in dataclasses.fields(Candidate)]


def test_positional_and_keyword_construction_set_every_field() -> None:
    names = [f.name for f in dataclasses.fields(Candidate)]
    by_position, by_keyword = Candidate(*VALUES), Candidate(**dict(zip(names, VALUES, strict=True)))
    assert by_position == by_keyword
    assert dataclasses.astuple(by_position) == VALUES
    assert hash(by_position) == hash(by_keyword)


def test_it_stays_frozen_and_replace_works() -> None:
    c = Candidate(*VALUES)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.score = 90.0  # type: ignore[misc]
    moved = dataclasses.replace(c, score=91.0)
    assert moved.score == 91.0 and moved.ticker == "AAA" and c.score == 80.0
    assert dataclasses.asdict(moved)["score"] == 91.0
