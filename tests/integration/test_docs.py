"""The user guide and the deployment checklist say only what the code does (7.2.9, 7.2.10).

Every command and flag they show exists (checked against each command's real `--help`), every
image and link resolves, every image is small enough to ship, and every error message the
troubleshooting table quotes is one the code can raise.
"""
from __future__ import annotations

import ast
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "USER_GUIDE.md"
CHECKLIST = ROOT / "DEPLOYMENT_CHECKLIST.md"
DOCS = [p for p in (GUIDE, CHECKLIST, ROOT / "README.md") if p.exists()]
SCRIPTS = ("main.py", "scheduler.py", "validate_paper_trading.py", "docs/make_screenshots.py")
MAX_IMAGE_BYTES = 400 * 1024
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def commands_in(text: str) -> list[list[str]]:
    """Each `python SCRIPT ...` command of the document's code, as tokens."""
    found = []
    for line in re.findall(r"(?:^|`)\s*(python (?:[\w/]+\.py)[^`\n#]*)", text, re.M):
        try:
            tokens = shlex.split(line)
        except ValueError:
            continue
        if len(tokens) > 1 and tokens[1] in SCRIPTS:
            found.append(tokens)
    return found


@cache
def help_text(script: str, sub: str | None) -> str:
    args = [sys.executable, script, *([sub] if sub else []), "--help"]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"`{' '.join(args[1:])}` failed: {done.stderr[-500:]}"
    return done.stdout


def subcommands(script: str) -> set[str]:
    usage = help_text(script, None)
    match = re.search(r"\{([a-z,-]+)\}", usage)
    if match:
        return set(match.group(1).split(","))
    # a metavar hides the choices in the usage line: they are listed under it, indented
    return set(re.findall(r"^    ([a-z][a-z-]+)(?:\s{2,}|$)", usage, re.M))


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_command_and_flag_shown_exists(doc):
    problems = []
    for tokens in commands_in(doc.read_text()):
        script = tokens[1]
        if not (ROOT / script).exists():
            problems.append(f"{script} does not exist")
            continue
        subs = subcommands(script)
        sub = tokens[2] if len(tokens) > 2 and tokens[2] in subs else None
        placeholder = len(tokens) > 2 and tokens[2].isupper()  # `main.py COMMAND --help`
        if placeholder:
            continue
        if subs and sub is None and len(tokens) > 2 and not tokens[2].startswith("-"):
            problems.append(f"{' '.join(tokens)}: {tokens[2]!r} is not a command of {script}")
            continue
        text = help_text(script, sub)
        for flag in FLAG.findall(" ".join(tokens[2:])):
            if flag not in text:
                problems.append(f"{' '.join(tokens)}: {flag} is not an option")
    assert not problems, "\n".join(problems)


def test_the_guide_shows_every_command_of_main():
    shown = {t[2] for t in commands_in(GUIDE.read_text()) if t[1] == "main.py" and len(t) > 2}
    assert subcommands("main.py") <= shown, sorted(subcommands("main.py") - shown)


def slug(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_link_and_image_resolves(doc):
    text = doc.read_text()
    anchors = {slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}
    problems = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        if path:
            resolved = (doc.parent / path).resolve()
            if not resolved.exists():
                problems.append(f"{target}: no such file")
            elif anchor and resolved.suffix == ".md":
                other = resolved.read_text()
                if anchor not in {slug(h) for h in re.findall(r"^#+ (.+)$", other, re.M)}:
                    problems.append(f"{target}: no such heading")
        elif anchor not in anchors:
            problems.append(f"#{anchor}: no such heading in {doc.name}")
    assert not problems, "\n".join(problems)


def test_every_image_of_the_guide_exists_and_is_small():
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", GUIDE.read_text())
    assert images, "the guide shows no screenshot"
    for image in images:
        path = GUIDE.parent / image
        assert path.exists(), image
        assert path.stat().st_size < MAX_IMAGE_BYTES, f"{image}: {path.stat().st_size} bytes"


@cache
def message_literals() -> tuple[str, ...]:
    """The literal text of every string in the code, f-string parts split at their fields."""
    parts: list[str] = []
    files = [*ROOT.glob("*.py"), *(ROOT / "momentum").rglob("*.py")]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.JoinedStr):
                pieces = [v.value if isinstance(v, ast.Constant) else "\0" for v in node.values]
                parts.append("".join(str(p) for p in pieces))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                parts.append(node.value)
    return tuple(parts)


def troubleshooting_messages() -> list[str]:
    section = GUIDE.read_text().split("### Error messages explained", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", section, re.M)


def raisable(message: str) -> bool:
    pieces = [p for p in message.split("...") if len(p.strip()) >= 6]
    literals = message_literals()
    return bool(pieces) and all(any(piece in lit for lit in literals) for piece in pieces)


def test_the_troubleshooting_table_lists_the_messages_the_code_raises():
    messages = troubleshooting_messages()
    assert len(messages) >= 20
    missing = [m for m in messages if "Input should be" not in m and not raisable(m)]
    assert not missing, "not raised anywhere:\n" + "\n".join(missing)


def test_a_validation_message_in_the_table_is_the_one_load_config_gives(tmp_path):
    import yaml

    from momentum.core.config import DEFAULT_CONFIG_PATH, load_config
    from momentum.core.errors import ConfigError
    [quoted] = [m for m in troubleshooting_messages() if "Input should be" in m]
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["risk"]["max_positions"] = 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert quoted.removeprefix("...") in str(err.value)
