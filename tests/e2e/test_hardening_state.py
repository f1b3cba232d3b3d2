"""Issue 17 finding 6 and state integrity: a snapshot whose checksum was recomputed after a hand
edit is refused by the replay check; a pointer that moved backwards is refused; deeply nested
JSON is one line. Each error names the last consistent snapshot."""
from __future__ import annotations

import json
from decimal import Decimal

from momentum.run.state import checksum
from tests.e2e import test_paper
from tests.e2e.test_paper import SESSIONS, latest_state, paper

cache_dir, config = test_paper.cache_dir, test_paper.config  # the shared fixtures


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def forge(path, edit) -> None:
    """Edit a snapshot and recompute its checksum and the pointer's, as an attacker would."""
    doc = json.loads(path.read_text())
    edit(doc["state"])
    doc["checksum"] = checksum(doc["meta"], doc["state"])
    path.write_text(json.dumps(doc))
    pointer_path = path.parent / "latest.json"
    pointer = json.loads(pointer_path.read_text())
    if pointer["file"] == path.name:
        pointer["checksum"] = doc["checksum"]
        pointer_path.write_text(json.dumps(pointer))


def test_hand_edited_cash_with_a_recomputed_checksum_is_refused(config, tmp_path, capsys):
    state = tmp_path / "snapshots"
    assert paper(config, "--init", "--date", SESSIONS[0]) == 0
    assert paper(config, "--run", "--date", SESSIONS[4]) == 0
    latest = state / f"state_{SESSIONS[4]}.json"

    def richer(doc):  # every number that state_codec cross-checks, moved together
        book, gift = doc["paper_portfolio"], Decimal(990_000)
        book["cash"] = str(Decimal(book["cash"]) + gift)
        book["value"] = str(Decimal(book["value"]) + gift)
        last = doc["equity_curve"][-1]
        last[1], last[2] = str(Decimal(last[1]) + gift), str(Decimal(last[2]) + gift)
        doc["risk"]["daily_loss_baseline"] = last[1]

    forge(latest, richer)
    capsys.readouterr()
    assert paper(config, "--run", "--date", SESSIONS[6]) == 2
    line = error_line(capsys)
    assert "is inconsistent (edited by hand?): cash" in line
    previous = state / f"state_{SESSIONS[3]}.json"
    assert f"--from-snapshot {previous}" in line
    assert paper(config, "--run", "--date", SESSIONS[6], "--from-snapshot", str(previous)) == 0
    assert latest_state(state)["date"] == SESSIONS[6]


def test_an_edited_position_quantity_is_refused(config, tmp_path, capsys):
    state = tmp_path / "snapshots"
    assert paper(config, "--init", "--date", SESSIONS[0]) == 0
    assert paper(config, "--run", "--date", SESSIONS[-1]) == 0
    doc = latest_state(state)
    assert doc["paper_portfolio"]["positions"], "the scenario needs an open position"

    def doubled(doc):  # twice the shares, paid for from cash so equity still adds up
        book, position = doc["paper_portfolio"], doc["paper_portfolio"]["positions"][0]
        quantity = Decimal(position["quantity"])
        position["quantity"] = str(quantity * 2)
        book["cash"] = str(Decimal(book["cash"]) - quantity * Decimal(position["last_close"]))
        doc["equity_curve"][-1][2] = book["cash"]

    forge(state / f"state_{SESSIONS[-1]}.json", doubled)
    capsys.readouterr()
    assert paper(config, "--report") == 2
    line = error_line(capsys)
    assert "is inconsistent" in line, line[:400]


def test_a_pointer_moved_backwards_is_refused_naming_the_newest(config, tmp_path, capsys):
    state = tmp_path / "snapshots"
    assert paper(config, "--init", "--date", SESSIONS[0]) == 0
    assert paper(config, "--run", "--date", SESSIONS[5]) == 0
    old = state / f"state_{SESSIONS[2]}.json"
    pointer = {"file": old.name, "date": SESSIONS[2],
               "checksum": json.loads(old.read_text())["checksum"]}
    (state / "latest.json").write_text(json.dumps(pointer))  # an old backup put back
    capsys.readouterr()
    assert paper(config, "--run", "--date", SESSIONS[6]) == 2
    line = error_line(capsys)
    assert "the pointer moved backwards" in line and "3 newer snapshots" in line
    assert f"--from-snapshot {state / f'state_{SESSIONS[5]}.json'}" in line
    # One step behind is the crash window (snapshot written, pointer not yet): resumed.
    one_back = state / f"state_{SESSIONS[4]}.json"
    pointer = {"file": one_back.name, "date": SESSIONS[4],
               "checksum": json.loads(one_back.read_text())["checksum"]}
    (state / "latest.json").write_text(json.dumps(pointer))
    assert paper(config, "--run", "--date", SESSIONS[6]) == 0


def test_a_deeply_nested_snapshot_is_one_line(config, tmp_path, capsys):
    state = tmp_path / "snapshots"
    assert paper(config, "--init", "--date", SESSIONS[0]) == 0
    assert paper(config, "--run", "--date", SESSIONS[1]) == 0
    (state / f"state_{SESSIONS[1]}.json").write_text("[" * 200_000 + "]" * 200_000)
    capsys.readouterr()
    assert paper(config, "--run", "--date", SESSIONS[2]) == 2
    line = error_line(capsys)
    assert "nested too deeply" in line and f"state_{SESSIONS[0]}.json" in line
