"""DEPLOYMENT_CHECKLIST.md: every item of the spec's three lists (7.2.10), and every command and
flag it shows exists (checked against the `--help` of each command)."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import main as cli
import validate_paper_trading as vpt

ROOT = Path(__file__).resolve().parents[2]
CHECKLIST = ROOT / "DEPLOYMENT_CHECKLIST.md"
SPEC_ITEMS = {  # spec step 7.2.10, word for word
    "Pre-deployment validation": [
        "All unit tests pass", "Integration tests pass",
        "Backtest shows positive results (Sharpe > 1.0)", "Paper trading validated against backtest",
        "API credentials configured", "Logging working correctly", "Alerts configured and tested",
        "Dashboard accessible", "Scheduler configured", "State persistence tested",
        "Error handling tested", "Documentation complete"],
    "Paper trading requirements": [
        "Start with small paper capital ($10k)", "Run for 30 days minimum", "Monitor daily",
        "Compare to backtest expectations", "Verify all components working",
        "Review all trades manually"],
    "Go-live checklist (if moving to live)": [
        "Successful paper trading (60+ days)", "Consistent with backtest",
        "Start with small real capital", "Double-check all order execution code",
        "Test with 1 position first", "Have kill switch ready"],
}
ENTRY_POINTS = {"scheduler.py", "dashboard.py"}  # the top-level scripts besides main.py


def commands() -> list[list[str]]:
    """Every `python ...` / `streamlit ...` command of the checklist, inline or in a block."""
    text = CHECKLIST.read_text(encoding="utf-8")
    blocks = re.findall(r"^```\w*\n(.*?)^```", text, flags=re.M | re.S)
    spans = re.findall(r"`([^`\n]+(?:\n[^`\n]+)?)`", re.sub(r"^```.*?^```", "", text,
                                                          flags=re.M | re.S))
    spans += [line.split("#")[0] for b in blocks for line in b.splitlines()]
    found = []
    for span in spans:
        words = shlex.split(" ".join(span.split()))
        if words and words[0] in ("python", "streamlit") and words not in found:
            found.append(words)
    return found


def help_text(words: list[str], capsys) -> str:
    script, rest = words[1], words[2:]
    if script == "main.py":
        sub = [rest[0]] if rest and not rest[0].startswith("-") else []
        run, argv = cli.main, [*sub, "--help"]
    elif script == "validate_paper_trading.py":
        run, argv = vpt.main, ["--help"]
    else:
        assert (ROOT / script).is_file(), f"the checklist names {script}, which does not exist"
        done = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout
    with pytest.raises(SystemExit) as exc:
        run(argv)
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_every_item_of_the_three_lists_is_in_the_checklist():
    text = CHECKLIST.read_text(encoding="utf-8")
    sections = re.split(r"^## ", text, flags=re.M)[1:]
    by_title = {s.splitlines()[0].strip(): s for s in sections}
    assert set(by_title) == set(SPEC_ITEMS)
    for title, items in SPEC_ITEMS.items():
        listed = re.findall(r"^- \[ \] (.+?)(?: \*\(you\)\*)?$", by_title[title], flags=re.M)
        assert listed == items, title


def test_every_item_names_a_command_or_a_preflight_check():
    text = CHECKLIST.read_text(encoding="utf-8")
    for block in re.split(r"^- \[ \] ", text, flags=re.M)[1:]:
        item = block.splitlines()[0]
        assert "`" in block or "[" in block.split("\n", 1)[1], item


def test_the_checklist_shows_the_main_commands():
    shown = {" ".join(w[:3]) for w in commands()}
    for expected in ("python main.py preflight", "python main.py alerts", "python main.py paper",
                     "python validate_paper_trading.py --portfolio", "python scheduler.py --once"):
        assert expected in shown, expected


@pytest.mark.parametrize("words", commands(), ids=lambda w: " ".join(w)[:60])
def test_every_command_and_flag_of_the_checklist_exists(words, capsys):
    if words[:2] == ["python", "-m"]:
        assert words[2] == "pytest"
        for path in (w for w in words[3:] if not w.startswith("-")):
            assert (ROOT / path).exists(), path
        return
    if words[0] == "streamlit":
        assert words[1] == "run" and words[2] in ENTRY_POINTS
        assert (ROOT / words[2]).is_file(), f"the checklist names {words[2]}, which does not exist"
        return
    text = help_text(words, capsys)
    for flag in (w.split("=")[0] for w in words if w.startswith("--")):
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text), (flag, words)


def test_every_preflight_check_named_in_the_checklist_exists():
    from momentum.ops.checks import ALL_CHECKS
    names = {c.__name__.removeprefix("check_") for c in ALL_CHECKS}
    named = set(re.findall(r"\[([a-z_]+)\]", CHECKLIST.read_text(encoding="utf-8")))
    assert named and named <= names, named - names
    assert names <= named, names - named  # and every check is in the checklist
