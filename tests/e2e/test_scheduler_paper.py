"""scheduler.py --once really runs `main.py paper --run` (spec 7.2.4), in a temp project copy."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.scheduler_helpers import PYTHON, ROOT


def deployed_copy(tmp_path: Path, cache: Path) -> Path:
    """Only what a deployment needs, the config set to the synthetic market."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("main.py", "scheduler.py", "logging_config.py"):
        shutil.copy2(ROOT / name, project / name)
    for folder in ("momentum", "config"):
        shutil.copytree(ROOT / folder, project / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    path = project / "config" / "strategy_config.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["data"].update(source="synthetic", cache_dir=str(cache))
    raw["scheduler"]["command"] = ["main.py", "paper", "--run", "--date", "2024-03-05"]
    path.write_text(yaml.safe_dump(raw))
    return project


def test_once_runs_paper_on_the_synthetic_market_and_records_it(tmp_path):
    project = deployed_copy(tmp_path, tmp_path / "cache")
    env = {k: v for k, v in os.environ.items() if k != "TIINGO_API_KEY"}
    init = subprocess.run([PYTHON, "main.py", "paper", "--init", "--date", "2024-03-01"],
                          cwd=project, capture_output=True, text=True, timeout=300, env=env)
    assert init.returncode == 0, init.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run([PYTHON, str(project / "scheduler.py"), "--once", "--at",
                           "2024-03-05T16:05:00-05:00"], cwd=elsewhere, capture_output=True,
                          text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    assert not any(elsewhere.iterdir())  # everything lands in the project folder
    logs = project / "logs"
    status = json.loads((logs / "scheduler_status.json").read_text())
    last = status["last_run"]
    assert (last["session"], last["exit_code"], last["outcome"], last["attempts"]) == \
        ("2024-03-05", 0, "ok", 1)
    assert status["last_success"] == last and status["state"] == "idle"
    assert status["next_run"]["session"] == "2024-03-06"
    run_log = Path(last["log_file"])
    assert run_log.parent == logs / "runs" and run_log.name.startswith("paper_2024-03-05_")
    output = run_log.read_text()
    assert "paper --run --date 2024-03-05" in output.splitlines()[0]
    assert "Ran 3 session(s) 2024-03-01 .. 2024-03-05" in output
    scheduler_log = (logs / "scheduler.log").read_text()
    assert "run for session 2024-03-05 starting" in scheduler_log
    assert "run for session 2024-03-05 ended: ok, exit code 0" in scheduler_log
    pointer = json.loads((project / "snapshots" / "latest.json").read_text())
    assert pointer["file"] == "state_2024-03-05.json"  # the paper state advanced
    assert not (logs / "scheduler.lock").exists()
