"""direct_init: the cheaper __init__ of frozen, slotted dataclasses behaves as the dataclass's."""
from __future__ import annotations

import dataclasses
import inspect
import pickle
from dataclasses import dataclass, field

import pytest

from momentum.core import domain
from momentum.core.slots import direct_init
from momentum.data import market_view
from momentum.rules import scanner, signals
from momentum.run import engine


@direct_init
@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    size: int = 3
    tags: list = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Plain:  # the same class with the dataclass's own __init__
    name: str
    size: int = 3
    tags: list = field(default_factory=list)


def test_it_sets_fields_positionally_by_keyword_and_from_defaults() -> None:
    for args, kwargs in [(("a",), {}), (("a", 5), {}), ((), {"name": "a", "tags": [1]}),
                         (("a",), {"tags": [2], "size": 9})]:
        got, expected = Sample(*args, **kwargs), Plain(*args, **kwargs)
        assert dataclasses.astuple(got) == dataclasses.astuple(expected)
    assert Sample("a").tags is not Sample("a").tags  # a factory's default is made per object


def test_it_refuses_what_the_dataclass_init_would_refuse() -> None:
    with pytest.raises(TypeError):
        Sample()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Sample("a", 1, [], 4)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Sample("a", colour="red")  # type: ignore[call-arg]


def test_the_rest_is_the_dataclass_own() -> None:
    s = Sample("a", 2, [1])
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.size = 4  # type: ignore[misc]
    assert dataclasses.replace(s, size=4) == Sample("a", 4, [1])
    assert pickle.loads(pickle.dumps(s)) == s and repr(s) == "Sample(name='a', size=2, tags=[1])"
    assert Sample.__init__.__qualname__ == "Sample.__init__"


@pytest.mark.parametrize("cls", [domain.Fill, domain.Position, domain.Rejection, domain.Candidate,
                                 market_view.BarPoint, scanner.ScanResult, scanner._Passed,
                                 signals.ExitCheck, engine.EquityPoint],
                         ids=lambda c: c.__name__)
def test_every_decorated_class_keeps_its_fields_defaults_and_order(cls: type) -> None:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    fields = dataclasses.fields(cls)
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields, strict=True):
        if f.default is not dataclasses.MISSING:
            assert p.default == f.default
        elif f.default_factory is dataclasses.MISSING:
            assert p.default is inspect.Parameter.empty


def test_it_is_only_for_frozen_slotted_dataclasses_without_post_init() -> None:
    @dataclass(slots=True)
    class Mutable:
        x: int

    @dataclass(frozen=True)
    class NoSlots:
        x: int

    @dataclass(frozen=True, slots=True)
    class Post:
        x: int

        def __post_init__(self) -> None:
            """A check direct_init's __init__ would skip: refused."""

    @dataclass(frozen=True, slots=True)
    class Hidden:
        x: int
        y: int = field(default=0, init=False)

    for cls in (Mutable, NoSlots, Post, Hidden, int):
        with pytest.raises(TypeError):
            direct_init(cls)
