"""`main.py optimize`: run a search on Dask, write trials.csv, best_config.yaml and report.html."""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from momentum.core.config import StrategyConfig
from momentum.core.errors import ConfigError, DataError, MomentumError
from momentum.core.files import write_atomic
from momentum.research.cluster import run_trial
from momentum.research.objective import Constraints, objective_value
from momentum.research.search import Search, SearchPlan
from momentum.research.space import apply_overrides, space_from_dict, space_to_dict
from momentum.research.trials import TrialLog, TrialRecord, read_trials

logger = logging.getLogger(__name__)
Progress = Callable[[str], None]
# Secrets never go into a written config: the file names the environment variable instead.
SECRET_PLACEHOLDERS = {("api", "tiingo_api_key"): "${TIINGO_API_KEY}",
                       ("alerts", "slack_webhook"): "${SLACK_WEBHOOK_URL}",
                       ("alerts", "smtp_password"): "${SMTP_PASSWORD}"}


@dataclass(frozen=True, slots=True)
class SearchSettings:
    """Everything that decides a search's trials (saved as search.json for --resume)."""

    plan: SearchPlan
    objective: str
    constraints: Constraints
    start: date
    end: date

    def to_json(self, config_id: str) -> str:
        """The settings as JSON, with the id of the config they ran on."""
        p = self.plan
        return json.dumps({
            "method": p.method, "trials": p.trials, "seed": p.seed, "batch_size": p.batch_size,
            "space": space_to_dict(list(p.params)), "objective": self.objective,
            "min_trades": self.constraints.min_trades,
            "max_drawdown": self.constraints.max_drawdown, "start": self.start.isoformat(),
            "end": self.end.isoformat(), "config_id": config_id}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> tuple[SearchSettings, str]:
        """Read settings saved by to_json; return them and their config id."""
        d = json.loads(text)
        plan = SearchPlan(d["method"], tuple(space_from_dict(d["space"])), d["trials"],
                          d["seed"], d["batch_size"])
        return cls(plan, d["objective"], Constraints(d["min_trades"], d["max_drawdown"]),
                   date.fromisoformat(d["start"]), date.fromisoformat(d["end"])), d["config_id"]


def config_id(cfg: StrategyConfig) -> str:
    """A short hash of the whole config (secrets masked): a resume must run on the same one."""
    text = json.dumps(cfg.redacted(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def prepare_dir(out_dir: Path, settings: SearchSettings | None, cfg: StrategyConfig,
                resume: bool) -> SearchSettings:
    """Create (or, with resume, re-open) an output folder; return the settings to run."""
    saved = out_dir / "search.json"
    if resume and settings is not None and saved.is_file():
        if saved.read_text(encoding="utf-8") != settings.to_json(config_id(cfg)):
            raise ConfigError(f"{out_dir} holds a different search (see its search.json); "
                              f"choose another --name or --output")
    if resume:
        if not saved.is_file():
            raise ConfigError(f"--resume {out_dir}: no search.json there; pass the folder of "
                              f"an earlier optimize run")
        loaded, cid = SearchSettings.from_json(saved.read_text(encoding="utf-8"))
        if cid != config_id(cfg):
            raise ConfigError(f"--resume {out_dir}: the config differs from the one this search "
                              f"ran on; pass the same --config")
        return loaded
    assert settings is not None
    if (out_dir / "trials.csv").exists():
        raise ConfigError(f"{out_dir} already holds a search; pass --resume {out_dir} to finish "
                          f"it, or choose another --name")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(saved, settings.to_json(config_id(cfg)))
    return settings


@dataclass(slots=True)
class SweepState:
    """The running sweep: finished trials, the best so far, and the market every worker saw."""

    log: TrialLog
    settings: SearchSettings
    fingerprint: str | None = None
    by_params: dict[str, TrialRecord] = field(default_factory=dict)

    def best(self) -> TrialRecord | None:
        scored = [r for r in self.log.records.values() if r.objective is not None]
        return max(scored, key=lambda r: (r.objective, -r.number)) if scored else None


def run_sweep(client: Any, plugin: str, settings: SearchSettings, log: TrialLog,
              progress: Progress, on_trial: Callable[[TrialRecord], None] | None = None
              ) -> list[TrialRecord]:
    """Run every trial of the search on the cluster; finished ones (resume) are not re-run."""
    state = SweepState(log, settings)
    for r in log.records.values():
        state.by_params[_params_key(r.params)] = r
        progress(_best_text(state))
    search = Search(settings.plan)
    for batch in search.batches():
        results = _run_batch(client, plugin, batch, state, progress, on_trial)
        search.tell(results)
    return log.finish()


def _run_batch(client: Any, plugin: str, batch: list[tuple[int, dict[str, Any]]],
               state: SweepState, progress: Progress,
               on_trial: Callable[[TrialRecord], None] | None) -> dict[int, float | None]:
    from distributed import as_completed
    results: dict[int, float | None] = {}
    futures = {}
    for number, overrides in batch:
        done = state.log.records.get(number)
        if done is not None and done.params == overrides:
            results[number] = done.objective
            continue
        copy = state.by_params.get(_params_key(overrides))
        if copy is not None:  # TPE may propose a point again: same parameters, same metrics
            again = {"error": copy.note} if copy.status == "invalid" else {"metrics": copy.metrics}
            _finish(state, _record(number, overrides, again, state), results, progress,
                    on_trial)
            continue
        future = client.submit(run_trial, plugin, overrides, state.settings.start,
                               state.settings.end, pure=False, retries=2)
        futures[future] = (number, overrides)
    for future in as_completed(list(futures)):
        number, overrides = futures[future]
        out = future.result()
        _check_fingerprint(state, out["fingerprint"])
        _finish(state, _record(number, overrides, out, state), results, progress, on_trial)
    return results


def _finish(state: SweepState, record: TrialRecord, results: dict[int, float | None],
            progress: Progress, on_trial: Callable[[TrialRecord], None] | None) -> None:
    state.log.add(record)
    state.by_params.setdefault(_params_key(record.params), record)
    results[record.number] = record.objective
    progress(_best_text(state))
    if on_trial is not None:
        on_trial(record)


def _record(number: int, overrides: dict[str, Any], out: dict[str, Any],
            state: SweepState) -> TrialRecord:
    s = state.settings
    base = TrialRecord(number, dict(overrides), "ok", seed=s.plan.seed,
                       duration_s=out.get("duration_s", 0.0))
    if "error" in out:
        base.status, base.note = "invalid", out["error"]
        return base
    base.metrics = out["metrics"]
    why = s.constraints.violation(base.metrics)
    base.objective = objective_value(base.metrics, s.objective, s.constraints)
    if why is not None:
        base.status, base.note = "rejected", why
    elif base.objective is None:
        base.status, base.note = "failed", f"no {s.objective} (too few returns or no losses)"
    return base


def _params_key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)


def _check_fingerprint(state: SweepState, fingerprint: str) -> None:
    if state.fingerprint is None:
        state.fingerprint = fingerprint
    elif fingerprint != state.fingerprint:
        raise DataError("two Dask workers loaded different market data (fingerprints "
                        f"{state.fingerprint} and {fingerprint}); give every worker the same "
                        f"data folder and cache")


def _best_text(state: SweepState) -> str:
    best = state.best()
    name = state.settings.objective
    return f"best {name} {best.objective:.4g} (trial {best.number})" if best else f"best {name} -"


def best_config_text(base: StrategyConfig, overrides: dict[str, Any], data_dir: str | None,
                     command: str) -> str:
    """A complete config YAML with the best parameters; secrets stay ${VAR} placeholders."""
    cfg = apply_overrides(base, overrides)
    if data_dir is not None:  # so `backtest --config` alone reads the same data
        cfg = apply_overrides(cfg, {"data.source": "csv", "data.csv_dir": data_dir})
    raw = cfg.model_dump(mode="json")
    for (section, key), placeholder in SECRET_PLACEHOLDERS.items():
        raw[section][key] = placeholder if getattr(getattr(cfg, section), key) else None
    lines = [f"# Written by `main.py optimize`: the base config with {len(overrides)} searched "
             f"parameter(s) set to the best trial's values:"]
    lines += [f"#   {k}: {v!r}" for k, v in overrides.items()]
    lines += [f"# Reproduce the best trial: {command}", ""]
    return "\n".join(lines) + yaml.safe_dump(raw, sort_keys=False)


def pick_best(records: list[TrialRecord]) -> TrialRecord:
    """The trial with the highest objective (the lowest number wins a tie)."""
    scored = [r for r in records if r.objective is not None]
    if not scored:
        raise MomentumError("no trial met the constraints (see the status and note columns of "
                            "trials.csv); loosen --min-trades / --max-drawdown or the space")
    return max(scored, key=lambda r: (r.objective, -r.number))


def open_log(out_dir: Path, settings: SearchSettings) -> TrialLog:
    """trials.csv of the folder, with the trials an earlier run finished."""
    params = list(settings.plan.params)
    path = out_dir / "trials.csv"
    return TrialLog(path, params, read_trials(path, params))
