"""latest.json's checksum is still checked now that a load reads the snapshot only once."""
from __future__ import annotations

import json

import pytest

from momentum.core.errors import StateError
from momentum.run.state import StateStore
from tests.integration.test_state import META, NOW, backtest_state


@pytest.fixture
def store(tmp_path):
    store = StateStore(tmp_path / "snapshots")
    for steps in (38, 39, 40):  # three consecutive paper days
        store.save(backtest_state(steps=steps), META, NOW)
    return store


@pytest.mark.parametrize("recorded", ["sha256:" + "0" * 64, None, 7])
def test_a_pointer_whose_checksum_is_not_the_snapshots_is_refused(store, recorded):
    pointer_path = store.dir / "latest.json"
    pointer = json.loads(pointer_path.read_text())
    pointer["checksum"] = recorded
    pointer_path.write_text(json.dumps(pointer))
    with pytest.raises(StateError) as exc:
        store.load()
    message = str(exc.value)
    assert pointer["file"] in message and "checksum recorded in latest.json" in message
    assert "--from-snapshot" in message  # names the previous good snapshot to resume from


def test_the_snapshot_read_on_its_own_needs_no_pointer(store):
    name = json.loads((store.dir / "latest.json").read_text())["file"]
    (store.dir / "latest.json").unlink()
    assert store.read(store.dir / name).path.name == name
