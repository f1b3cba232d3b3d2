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


# ---------------------------------------------------------------- Candidates: built when read
import pickle  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from momentum.core.config import EntryConfig, ExitConfig  # noqa: E402
from momentum.core.domain import Asset, Candidates  # noqa: E402
from momentum.rules.signals import SignalGenerator  # noqa: E402


def _eager(rows: list[tuple]) -> tuple[Candidate, ...]:
    return tuple(Candidate(*r) for r in rows)


def _lazy(rows: list[tuple]) -> Candidates:
    """Candidates from the columns a scan hands over: assets, bar dates, scores, by field."""
    assets = [Asset(r[0], r[1], r[2]) for r in rows]
    by_field = [[r[4] for r in rows], [r[6] for r in rows], [r[5] for r in rows],
                [r[7] for r in rows], [r[8] for r in rows]]  # momentum, adv, rsi, surge, close
    return Candidates(assets, [r[9] for r in rows], [r[3] for r in rows], by_field)


ROWS = [("AAA", AssetType.STOCK, "Tech", 90.0, 0.3, 55.0, 1e7, 2.0, 50.0, date(2024, 3, 4)),
        ("BTCUSD", AssetType.CRYPTO, "Crypto", 85.0, 0.5, 75.0, 3e8, float("nan"), 6e4,
         date(2024, 3, 4)),
        ("CCC", AssetType.STOCK, "Energy", 80.0, 0.2, 60.0, 2e7, float("inf"), 12.5,
         date(2024, 3, 4))]


def test_candidates_read_as_the_candidates_a_scan_would_build() -> None:
    lazy, eager = _lazy(ROWS), _eager(ROWS)
    assert len(lazy) == 3 and lazy == eager and lazy == list(eager) and eager == tuple(lazy)
    assert lazy[0] == eager[0] and lazy[-1] == eager[-1] and lazy[1:] == eager[1:]
    assert [c.ticker for c in lazy] == ["AAA", "BTCUSD", "CCC"]
    assert hash(lazy) == hash(eager)
    assert lazy != eager[:2] and lazy != _eager(ROWS[::-1]) and lazy != "AAA"
    with pytest.raises(IndexError):
        lazy[3]


def test_candidates_build_nothing_until_read_and_each_once() -> None:
    lazy = _lazy(ROWS)
    assert list(lazy.rsi14_and_surge())[0] == (55.0, 2.0)
    assert lazy._built == [None, None, None]  # noqa: SLF001 - what is built is the point here
    first = lazy[1]
    assert lazy._built[0] is None and lazy._built[1] is first  # noqa: SLF001
    assert lazy[1] is first and lazy[-2] is first


def test_candidates_pickle_and_of_keep_type_and_values() -> None:
    lazy = _lazy(ROWS)
    back = pickle.loads(pickle.dumps(lazy))
    # repr: a NaN read back is another float object, and NaN equals only itself
    assert isinstance(back, Candidates) and repr(list(back)) == repr(list(_eager(ROWS)))
    again = Candidates.of(_eager(ROWS))
    assert again == lazy and list(again.rsi14_and_surge())[2][0] == 60.0
    assert Candidates.of(()) == () and not Candidates.of(())


_number = st.one_of(st.floats(0, 100), st.just(float("nan")), st.just(float("inf")),
                    st.floats(-1, 5))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_number, _number), max_size=15), st.booleans(),
       st.floats(0.5, 3.0), st.integers(0, 60), st.integers(61, 100))
def test_entry_signals_of_candidates_match_the_one_by_one_check(pairs, surge_needed, threshold,
                                                                 rsi_min, rsi_max) -> None:
    """R4.1 read from the scan's numbers picks exactly what the per-Candidate check picks."""
    rows = [(f"T{k:02d}", AssetType.STOCK, "Tech", 99.0 - k, 0.1, rsi, 1e7, surge, 10.0,
             date(2024, 3, 4)) for k, (rsi, surge) in enumerate(pairs)]
    entry = EntryConfig(rsi_min=rsi_min, rsi_max=rsi_max, require_volume_surge=surge_needed,
                        volume_surge_threshold=threshold)
    signals = SignalGenerator(entry, ExitConfig())
    lazy = _lazy(rows)
    assert signals.entry_signals(lazy) == signals.entry_signals(_eager(rows))
    assert sum(c is not None for c in lazy._built) == len(signals.entry_signals(lazy))  # noqa: SLF001
