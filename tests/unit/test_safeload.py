"""safe_yaml uses libyaml when it can: the data and the refusals stay the pure-Python ones."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from momentum.core import safeload
from momentum.core.safeload import LoaderLimit, safe_yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    (ROOT / "config" / "strategy_config.yaml").read_text(encoding="utf-8"),
    "a: 1\nb: 1.5\nc: 1e3\nd: .inf\ne: 0x1F\nf: 0o17\ng: 1_000\nh: yes\ni: off\nj: ~\n",
    "k: 2024-03-01\nl: 2024-03-01T10:00:00Z\nm: '007'\nn: \"tab\\there\"\no: !!str 12\n",
    "p: [a, b, {c: d}]\nq:\n  - x\n  - y: z\nr: |\n  two\n  lines\ns: >\n  folded\n  text\n",
    "t: &v 5\nu: *v\nw: 'it''s'\nx: \"\\u00e9\"\ny: caf\u00e9\nz: a #comment\n",
    "",
    "# only a comment\n",
    "- 1\n- two\n",
    "\ufeffkey: bom\n",
]


@pytest.mark.skipif(safeload._FAST_LOADER is None, reason="libyaml is not installed")
@pytest.mark.parametrize("text", DOCS)
def test_libyaml_gives_the_data_of_the_python_loader(text: str):
    python = safeload._load(safeload._CappedLoader, text)
    assert safeload._load(safeload._FAST_LOADER, text) == python
    assert safe_yaml(text) == python


@pytest.mark.parametrize("text", ["a: [1, 2\n", "a: b: c\n", "a:\n\tb: 1\n", "k: 1\nk2: 'x\n"])
def test_a_syntax_error_is_the_python_loaders_error(text: str):
    with pytest.raises(yaml.YAMLError) as python:
        safeload._load(safeload._CappedLoader, text)
    with pytest.raises(yaml.YAMLError) as ours:
        safe_yaml(text)
    assert str(ours.value) == str(python.value)


def test_the_caps_hold_with_libyaml():
    with pytest.raises(LoaderLimit, match="aliases may only repeat plain values"):
        safe_yaml("a: &x [1, 2]\nb: *x\n")
    with pytest.raises(LoaderLimit, match="nested more than 32 levels deep"):
        safe_yaml("a: " + "[" * 40 + "]" * 40 + "\n")
