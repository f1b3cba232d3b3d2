"""The search space: `--param key=v1,v2` / `key=lo:hi:step` / `key=lo:hi:logN`, or a YAML file.

Every key is a dotted config path (`signals.entry.rsi_min`); each value is checked through the
config model at parse time, so a typo or an out-of-range value is one ConfigError line (exit 2).
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from momentum.core.config import StrategyConfig
from momentum.core.errors import ConfigError

# Keys a trial may not change: they pick the data, or they are secrets.
FORBIDDEN_PREFIXES = ("data.", "api.", "alerts.", "logging.")


@dataclass(frozen=True, slots=True)
class Param:
    """One dimension: explicit values, or a range (lo..hi by `step`, or `log` spaced)."""

    key: str
    kind: str                      # "int" | "float" | "bool" | "str"
    values: tuple[Any, ...] = ()   # the choices (a range expands to its grid points)
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False

    @property
    def is_range(self) -> bool:
        return self.low is not None

    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "float")


def apply_overrides(base: StrategyConfig, overrides: dict[str, Any]) -> StrategyConfig:
    """Return `base` with dotted-key overrides, validated by the config model (pydantic)."""
    raw = base.model_dump()
    for key, value in overrides.items():
        node = raw
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return StrategyConfig.model_validate(raw)


def field_kind(key: str) -> str:
    """The type of a dotted config key; ConfigError (with a suggestion) for an unknown key."""
    model: type[BaseModel] = StrategyConfig
    parts = key.split(".")
    for i, part in enumerate(parts):
        fields = model.model_fields
        if part not in fields:
            close = difflib.get_close_matches(part, list(fields), n=1)
            hint = f" (did you mean '{'.'.join(parts[:i] + [close[0]])}'?)" if close else ""
            raise ConfigError(f"--param {key}: unknown config key{hint}; see "
                              f"config/strategy_config.yaml for the keys")
        annotation = fields[part].annotation
        if i < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                raise ConfigError(f"--param {key}: {'.'.join(parts[:i + 1])} is not a section")
            model = annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        raise ConfigError(f"--param {key}: is a section; name one of its keys")
    names = {bool: "bool", int: "int", float: "float"}
    return names.get(annotation, "str")


def parse_param(spec: str, base: StrategyConfig) -> Param:
    """Parse one `--param KEY=VALUES` and check every value through the config model."""
    key, sep, text = spec.partition("=")
    key, text = key.strip(), text.strip()
    if not sep or not key or not text:
        raise ConfigError(f"--param {spec!r}: write KEY=v1,v2 or KEY=lo:hi:step, e.g. "
                          f"signals.entry.rsi_min=45,50,55")
    return _checked(_build(key, text), base)


def _build(key: str, text: str) -> Param:
    if key.startswith(FORBIDDEN_PREFIXES):
        raise ConfigError(f"--param {key}: the data, api, alerts and logging sections cannot "
                          f"be searched; set them in the config file")
    kind = field_kind(key)
    if ":" in text:
        return _range(key, kind, text)
    return Param(key, kind, values=tuple(_scalar(key, kind, v) for v in text.split(",")))


def _range(key: str, kind: str, text: str) -> Param:
    parts = text.split(":")
    if len(parts) != 3 or kind not in ("int", "float"):
        raise ConfigError(f"--param {key}={text}: a range is lo:hi:step or lo:hi:logN on a "
                          f"numeric key")
    low, high = (float(_scalar(key, "float", p)) for p in parts[:2])
    if not low < high:
        raise ConfigError(f"--param {key}={text}: lo must be below hi")
    if parts[2].startswith("log"):
        count = int(_scalar(key, "int", parts[2][3:] or "5"))
        if low <= 0 or count < 2:
            raise ConfigError(f"--param {key}={text}: a log range needs lo > 0 and logN, N >= 2")
        ratio = (high / low) ** (1 / (count - 1))
        values = [low * ratio ** i for i in range(count)]
        values = [_tidy(v, kind) for v in values[:-1]] + [_tidy(high, kind)]
        return Param(key, kind, tuple(dict.fromkeys(values)), low, high, None, log=True)
    step = float(_scalar(key, "float", parts[2]))
    if step <= 0:
        raise ConfigError(f"--param {key}={text}: the step must be positive")
    count = int(math.floor((high - low) / step + 1e-9)) + 1
    values = tuple(dict.fromkeys(_tidy(low + i * step, kind) for i in range(count)))
    return Param(key, kind, values, low, high, step)


def _tidy(value: float, kind: str) -> int | float:
    # round away binary noise (0.05 + 7 * 0.01 = 0.12000000000000001): the grid a user means
    return int(round(value)) if kind == "int" else float(f"{value:.10g}")


def _scalar(key: str, kind: str, text: str) -> Any:
    text = text.strip()
    try:
        if kind == "bool":
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        return text
    except ValueError:
        raise ConfigError(f"--param {key}: {text!r} is not a valid {kind}") from None


def _checked(param: Param, base: StrategyConfig) -> Param:
    if not param.values:
        raise ConfigError(f"--param {param.key}: no values")
    for value in param.values:
        try:
            apply_overrides(base, {param.key: value})
        except ValidationError as e:
            msg = e.errors()[0]["msg"].removeprefix("Value error, ")
            raise ConfigError(f"--param {param.key}={value!r}: {msg}; choose values the config "
                              f"accepts") from None
    return param


def load_space_file(path: Path, base: StrategyConfig) -> list[Param]:
    """Read a YAML space: `key: [v1, v2]` or `key: "lo:hi:step"` per line (the --param forms)."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read the search space ({e.__class__.__name__}); "
                          f"write a YAML mapping of config key to values") from None
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{path}: the search space must be a mapping of config key to values")
    specs = []
    for key, value in raw.items():
        text = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
        specs.append(f"{key}={text}")
    return parse_space(specs, base)


def parse_space(specs: list[str], base: StrategyConfig) -> list[Param]:
    """Parse every --param; a key given twice is a mistake."""
    params = [parse_param(s, base) for s in specs]
    keys = [p.key for p in params]
    for key in keys:
        if keys.count(key) > 1:
            raise ConfigError(f"--param {key} is given twice; give it once with all its values")
    if not params:
        raise ConfigError("no search space: pass --param KEY=VALUES or --space FILE")
    return params


def space_to_dict(params: list[Param]) -> list[dict[str, Any]]:
    """A JSON-ready description of the space (saved beside the trials for --resume)."""
    return [{"key": p.key, "kind": p.kind, "values": list(p.values), "low": p.low,
             "high": p.high, "step": p.step, "log": p.log} for p in params]


def space_from_dict(rows: list[dict[str, Any]]) -> list[Param]:
    """The inverse of space_to_dict."""
    return [Param(r["key"], r["kind"], tuple(r["values"]), r["low"], r["high"], r["step"],
                  r["log"]) for r in rows]
