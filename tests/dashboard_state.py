"""A paper portfolio made by real `main.py paper` runs, for the dashboard tests and bench."""
from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import yaml

import main as cli
from momentum.core.config import DEFAULT_CONFIG_PATH

START, END = "2024-01-02", "2024-06-28"


@dataclass(frozen=True)
class PaperRun:
    root: Path
    config: Path
    state_dir: Path

    def state(self) -> dict:
        """The `state` of the latest snapshot, read straight from the JSON."""
        pointer = json.loads((self.state_dir / "latest.json").read_text())
        return json.loads((self.state_dir / pointer["file"]).read_text())["state"]


def write_config(root: Path, cache_dir: Path | None = None) -> Path:
    """The shipped config on the synthetic market, everything written under `root`."""
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["data"]["source"] = "synthetic"
    raw["data"]["cache_dir"] = str(cache_dir or root / "cache")
    raw["logging"].update(log_file=str(root / "logs" / "momentum_strategy.log"),
                          snapshot_dir=str(root / "snapshots"), report_dir=str(root / "reports"))
    raw["dashboard"]["scheduler_status"] = str(root / "logs" / "scheduler_status.json")
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def make_paper_run(root: Path, start: str = START, end: str = END) -> PaperRun:
    """`paper --init` on `start`, then one `paper --run` through `end`."""
    config = write_config(root)
    state_dir = root / "snapshots"
    assert cli.main(["paper", "--init", "--date", start, "--config", str(config), "-q"]) == 0
    assert cli.main(["paper", "--run", "--date", end, "--config", str(config), "-q"]) == 0
    return PaperRun(root, config, state_dir)


def money(text: str) -> str:
    """A state amount as the dashboard displays it."""
    return f"${Decimal(text):,.2f}"
