"""A scheduled `paper --run` (no --date) on a live feed waits for the session that has closed.

At 16:05 New York time the vendor may not have published the day yet. Without a check, the run
would take the last session in the data as its target, report "already done" and exit 0, and the
session would run a day late. It must exit 75 (try again later) and commit nothing instead, and
run normally once the bars are out. The feed is the Tiingo stand-in on 127.0.0.1.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

import main as cli
from momentum.core.clock import FixedClock
from momentum.core.errors import DataIncomplete, ExitCode
from tests.fault_server import FaultyTiingoServer, market_bars
from tests.integration.test_transient_faults import KEY, write_config

# The server's bars end on Friday 2024-03-15; Monday 2024-03-18 closes at 16:00 EDT (20:00 UTC).
MONDAY_EVENING = datetime(2024, 3, 18, 21, 5, tzinfo=timezone.utc)
SATURDAY = datetime(2024, 3, 16, 15, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def synthetic():
    return market_bars(n_stocks=8, n_crypto=1, now=datetime(2024, 3, 16, tzinfo=timezone.utc))


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.delenv("TIINGO_BASE_URL", raising=False)
    monkeypatch.delenv("TIINGO_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)


def state_files(state_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(state_dir.iterdir()) if p.is_file()}


def test_a_run_before_the_session_is_published_exits_75_then_runs_when_it_is(tmp_path,
                                                                             synthetic):
    crypto = [a.ticker for a in synthetic[1] if a.asset_type.value == "crypto"]
    with FaultyTiingoServer(KEY, synthetic[0], crypto) as server:
        config = write_config(tmp_path, server, synthetic, "late")
        assert cli.main(["paper", "--init", "--date", "2024-03-01", "--config", str(config),
                         "-q"]) == 0
        assert cli.main(["paper", "--run", "--date", "2024-03-15", "--config", str(config),
                         "-q"]) == 0
        state_dir = tmp_path / "state-late"
        before = state_files(state_dir)

        monday = cli.MomentumStrategy(config, mode="paper", clock=FixedClock(MONDAY_EVENING))
        with pytest.raises(DataIncomplete) as late:
            monday.paper_trading_mode()
        assert late.value.exit_code == ExitCode.TRY_LATER == 75
        assert "2024-03-18 is not published yet (the data ends 2024-03-15)" in str(late.value)
        assert "run again later" in str(late.value)
        assert state_files(state_dir) == before  # nothing committed

        # --allow-partial goes on with what the feed has: the last session in the data
        partial = cli.MomentumStrategy(config, mode="paper", clock=FixedClock(MONDAY_EVENING))
        assert partial.paper_trading_mode(allow_partial=True).already_done

        # on the weekend the last closed session is Friday's, which the feed has
        saturday = cli.MomentumStrategy(config, mode="paper", clock=FixedClock(SATURDAY))
        assert saturday.paper_trading_mode().already_done
