"""Reading YAML and JSON that may be hostile: size and nesting capped, no alias expansion.

    read_capped(path, max_bytes, what)   the file's text, refused past `max_bytes` (/dev/zero too)
    safe_yaml(text)                      SafeLoader that refuses aliases to lists or mappings
                                         (the "billion laughs" bomb) and nesting past MAX_DEPTH
    safe_json(text)                      json.loads with deep nesting reported as ValueError
    substitute_values(tree, environ)     ${VAR} / ${VAR:-default} in parsed string values only
    clip(value)                          a value for a message: repr, cut to about 80 characters
"""
from __future__ import annotations

import json
import os
import re
import reprlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.nodes import MappingNode, SequenceNode

MAX_DEPTH = 32                 # the shipped config nests 3 deep
MAX_CONFIG_BYTES = 1 << 20     # the shipped config is 5 KB
CLIP_CHARS = 80
VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = CLIP_CHARS
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 6
_repr.maxlevel = 3


def clip(value: Any, limit: int = CLIP_CHARS) -> str:
    """repr() of `value` cut to about `limit` characters: a message never echoes a whole field."""
    if isinstance(value, str):
        return repr(value[:limit]) + ("..." if len(value) > limit else "")
    text = _repr.repr(value)
    return text if len(text) <= limit + 3 else text[:limit] + "..."


def read_capped(path: Path, max_bytes: int) -> bytes:
    """The bytes of `path`; ValueError past `max_bytes` (checked while reading, not by stat)."""
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"larger than {max_bytes:,} bytes")
    return data


class LoaderLimit(ComposerError):
    """A YAML document refused for its shape (an alias to a collection, too deep), not syntax."""


class _CappedLoader(yaml.SafeLoader):
    """SafeLoader without expansion bombs: scalar aliases only, nesting capped."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            if isinstance(self.anchors.get(event.anchor), (MappingNode, SequenceNode)):
                raise LoaderLimit(None, None, f"alias *{clip(event.anchor, 20)[1:-1]} refers "
                                    f"to a list or mapping; aliases may only repeat plain values",
                                    event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise LoaderLimit(None, None, f"nested more than {MAX_DEPTH} levels deep",
                                    self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def safe_yaml(text: str) -> Any:
    """Parse YAML with _CappedLoader; yaml.YAMLError (with its mark) on any problem."""
    loader = _CappedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def safe_json(text: str | bytes) -> Any:
    """json.loads, with nesting too deep for the parser reported as a ValueError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def substitute_values(tree: Any, environ: Mapping[str, str] | None = None) -> Any:
    """Replace ${VAR} and ${VAR:-default} inside string values of a parsed tree.

    The value is inserted as text and never parsed again, so '*x', '!x', '&x' or 'a #b' stay
    exactly what the environment holds. A value that is only an unset ${VAR} becomes None.
    """
    env = os.environ if environ is None else environ
    if isinstance(tree, dict):
        return {key: substitute_values(value, env) for key, value in tree.items()}
    if isinstance(tree, list):
        return [substitute_values(value, env) for value in tree]
    if not isinstance(tree, str) or "${" not in tree:
        return tree
    whole = VAR_RE.fullmatch(tree)
    if whole is not None and whole.group(2) is None and not env.get(whole.group(1)):
        return None

    def repl(m: re.Match[str]) -> str:
        value = env.get(m.group(1))
        return value if value else (m.group(2) or "")

    return VAR_RE.sub(repl, tree)
