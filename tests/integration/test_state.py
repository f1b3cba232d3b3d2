"""Saved paper state: exact round trips, atomic snapshots, corruption detection, the lock."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from momentum.core.domain import AssetType, Position
from momentum.core.errors import StateError
from momentum.run.backtester import run_backtest
from momentum.run.engine import EngineState
from momentum.run.state import PaperMeta, StateStore, checksum
from momentum.run.state_codec import decode_state, encode_state
from tests.unit.test_properties import loose_config, random_market

NOW = datetime(2024, 3, 8, 21, 5, tzinfo=timezone.utc)
META = PaperMeta(start_date=date(2022, 7, 1), created_at=NOW.isoformat(), source="test",
                 strategy={"risk": {"max_positions": 3}})


def backtest_state(seed: int = 3, steps: int = 60) -> EngineState:
    market, days = random_market(seed, 5, 2)
    result = run_backtest(market, loose_config(3, 0.6, 0.3, 30), days[130], days[130 + steps])
    return result.state


def roundtrip(state: EngineState) -> EngineState:
    return decode_state(json.loads(json.dumps(encode_state(state))))


def assert_same(a: EngineState, b: EngineState) -> None:
    assert a.portfolio.cash == b.portfolio.cash
    assert a.portfolio.positions == b.portfolio.positions
    assert a.portfolio.pending_entries == b.portfolio.pending_entries
    assert a.portfolio.closed_trades == b.portfolio.closed_trades
    assert a.equity_curve == b.equity_curve
    assert a.fills == b.fills and a.rejections == b.rejections
    assert a.scan_cache == b.scan_cache
    assert (a.last_step, a.initial_capital) == (b.last_step, b.initial_capital)
    assert encode_state(a) == encode_state(b)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 5000), steps=st.integers(1, 80))
def test_state_of_any_backtest_round_trips_exactly(seed, steps):
    state = backtest_state(seed, steps)
    assert_same(state, roundtrip(state))


money = st.decimals(min_value=D("0.000001"), max_value=D("1e9"), allow_nan=False,
                    allow_infinity=False, places=12)


@settings(max_examples=60, deadline=None)
@given(cash=money, price=money, qty=money, close=money, trail=st.none() | money,
       score=st.floats(0, 100))
def test_any_decimal_amount_round_trips_exactly(cash, price, qty, close, trail, score):
    state = EngineState.start(D("100000"))
    pos = Position(ticker="BTCUSD", asset_type=AssetType.CRYPTO, sector="Crypto",
                   entry_date=date(2024, 1, 2), entry_price=price, quantity=qty,
                   entry_commission=price * qty * D("0.001"), stop_price=price * D("0.88"),
                   target_price=price * D("1.3"), highest_high=close, trailing_stop=trail,
                   last_close=close, last_bar_date=date(2024, 1, 3), entry_score=score)
    state.portfolio.cash = cash
    state.portfolio.positions[pos.ticker] = pos
    assert_same(state, roundtrip(state))


# ---------------------------------------------------------------- the store
@pytest.fixture()
def store(tmp_path):
    return StateStore(tmp_path / "snapshots")


def saved_days(store, n=3):
    state = backtest_state(steps=40)
    curve = state.equity_curve
    paths = []
    # three consecutive snapshots of the same run, as after three paper days
    for k in range(n, 0, -1):
        trimmed = backtest_state(steps=40 - k + 1)
        paths.append(store.save(trimmed, META, NOW))
    return paths, state, curve


def test_store_saves_snapshot_and_pointer_and_loads_the_latest(store):
    paths, _, _ = saved_days(store)
    loaded = store.load()
    assert loaded.path == paths[-1] and loaded.meta == META
    assert json.loads((store.dir / "latest.json").read_text())["file"] == paths[-1].name
    assert not list(store.dir.glob(".*.tmp"))


def test_truncated_latest_names_the_previous_good_snapshot(store):
    paths, _, _ = saved_days(store)
    paths[-1].write_text(paths[-1].read_text()[:500])
    with pytest.raises(StateError) as exc:
        store.load()
    message = str(exc.value)
    assert str(paths[-1]) in message and "not valid JSON" in message
    assert f"--from-snapshot {paths[-2]}" in message
    assert store.load(from_snapshot=paths[-2]).path == paths[-2]


def test_hand_edited_cash_fails_the_checksum(store):
    paths, _, _ = saved_days(store)
    doc = json.loads(paths[-1].read_text())
    doc["state"]["paper_portfolio"]["cash"] = "999999"
    paths[-1].write_text(json.dumps(doc))
    with pytest.raises(StateError, match="fails its checksum"):
        store.load()


def test_hand_edit_with_recomputed_checksum_breaks_an_invariant(store):
    paths, _, _ = saved_days(store)
    doc = json.loads(paths[-1].read_text())
    doc["state"]["paper_portfolio"]["cash"] = "999999"
    doc["checksum"] = checksum(doc["meta"], doc["state"])
    paths[-1].write_text(json.dumps(doc))
    with pytest.raises(StateError, match="is not cash \\+ positions"):
        store.read(paths[-1])


def test_missing_field_is_named(store):
    paths, _, _ = saved_days(store)
    doc = json.loads(paths[-1].read_text())
    del doc["state"]["pending_entries"]
    doc["checksum"] = checksum(doc["meta"], doc["state"])
    paths[-1].write_text(json.dumps(doc))
    with pytest.raises(StateError, match="state.pending_entries: missing"):
        store.read(paths[-1])


def test_damaged_pointer_and_foreign_files_are_reported(store, tmp_path):
    paths, _, _ = saved_days(store)
    (store.dir / "latest.json").write_text("{")
    with pytest.raises(StateError, match="latest.json is unreadable.*--from-snapshot"):
        store.load()
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": 1}))
    with pytest.raises(StateError, match="not a momentum paper-trading state file"):
        store.load(from_snapshot=other)


def test_no_portfolio_says_how_to_create_one(store):
    with pytest.raises(StateError, match="paper --init"):
        store.load()


def test_lock_refuses_a_second_run(store):
    with store.lock():
        with pytest.raises(StateError, match="another paper run"):
            with StateStore(store.dir).lock():
                pass
    with store.lock():  # released again
        pass


def test_failed_write_keeps_the_previous_state(store, monkeypatch):
    paths, _, _ = saved_days(store)
    before = store.load()
    import momentum.core.files as files

    def full_disk(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full_disk)
    state = backtest_state(steps=41)
    with pytest.raises(StateError, match="No space left on device.*previous state is intact"):
        store.save(state, META, NOW)
    monkeypatch.undo()
    after = store.load()
    assert after.path == before.path and encode_state(after.engine) == encode_state(before.engine)
    assert not list(store.dir.glob(".*.tmp"))
