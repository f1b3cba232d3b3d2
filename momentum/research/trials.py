"""trials.csv: one row per finished trial, appended as trials complete, sorted at the end.

A row is appended and fsynced the moment its trial finishes, so an interrupted sweep keeps
every finished trial; `--resume DIR` reads them back and runs only the missing ones. Only
`duration_s` depends on the machine: every other column is the same for the same search.
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from momentum.core.errors import ConfigError
from momentum.core.files import write_atomic
from momentum.research.objective import METRICS
from momentum.research.space import Param

_INT_METRICS = {"trades", "steps"}
_TEXT_METRICS = {"final_equity"}


@dataclass(slots=True)
class TrialRecord:
    """A finished trial: its parameters, status, objective and metrics."""

    number: int
    params: dict[str, Any]
    status: str                      # ok | rejected | invalid | failed
    objective: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    duration_s: float = 0.0
    note: str = ""


def header(params: list[Param]) -> list[str]:
    """The columns: trial, status, objective, one per parameter, the metrics, seed, duration."""
    return (["trial", "status", "objective"] + [p.key for p in params] + list(METRICS)
            + ["seed", "duration_s", "note"])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # repr round-trips: a resumed file is byte-identical
    return str(value)


def row(record: TrialRecord, params: list[Param]) -> list[str]:
    """One CSV row of a record."""
    values = [record.number, record.status, record.objective]
    values += [record.params.get(p.key) for p in params]
    values += [record.metrics.get(m) for m in METRICS]
    values += [record.seed, f"{record.duration_s:.3f}", record.note]
    return [_cell(v) for v in values]


def _csv_line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


class TrialLog:
    """Appends finished trials to trials.csv; `finish()` rewrites it sorted by trial number."""

    def __init__(self, path: Path, params: list[Param], done: list[TrialRecord]) -> None:
        self.path = path
        self.params = params
        self.records: dict[int, TrialRecord] = {r.number: r for r in done}
        text = _csv_line(header(params)) + "".join(
            _csv_line(row(r, params)) for r in sorted(done, key=lambda r: r.number))
        write_atomic(path, text)  # drops a half-written last line of an interrupted run

    def add(self, record: TrialRecord) -> None:
        """Record a finished trial and append it to the file at once."""
        self.records[record.number] = record
        with self.path.open("a", encoding="utf-8", newline="") as handle:
            handle.write(_csv_line(row(record, self.params)))
            handle.flush()
            os.fsync(handle.fileno())

    def finish(self) -> list[TrialRecord]:
        """Rewrite the file in trial order (the same file whatever the worker count)."""
        ordered = [self.records[n] for n in sorted(self.records)]
        write_atomic(self.path, _csv_line(header(self.params))
                     + "".join(_csv_line(row(r, self.params)) for r in ordered))
        return ordered


def read_trials(path: Path, params: list[Param]) -> list[TrialRecord]:
    """Read the finished trials of a previous run; a cut-off last line is dropped."""
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return []
    if rows[0] != header(params):
        raise ConfigError(f"{path}: its columns do not match this search space; resume with "
                          f"the same --param options or start a new --name")
    out = []
    for cells in rows[1:]:
        if len(cells) != len(rows[0]):
            continue  # the line being written when the run was stopped
        out.append(_parse(dict(zip(rows[0], cells, strict=True)), params))
    return out


def _parse(cells: dict[str, str], params: list[Param]) -> TrialRecord:
    metrics = {m: _metric(m, cells[m]) for m in METRICS}
    return TrialRecord(
        number=int(cells["trial"]), status=cells["status"],
        params={p.key: _param(p, cells[p.key]) for p in params},
        objective=float(cells["objective"]) if cells["objective"] else None,
        metrics=metrics, seed=int(cells["seed"]), duration_s=float(cells["duration_s"]),
        note=cells["note"])


def _metric(name: str, text: str) -> Any:
    if text == "":
        return None
    if name in _INT_METRICS:
        return int(text)
    return text if name in _TEXT_METRICS else float(text)


def _param(param: Param, text: str) -> Any:
    if param.kind == "int":
        return int(text)
    if param.kind == "float":
        return float(text)
    if param.kind == "bool":
        return text == "true"
    return text
