"""Transient data faults never change what the strategy trades (issue 11).

`main.main` runs in-process against FaultyTiingoServer (127.0.0.1, a thread) serving 20 synthetic
stocks, SPY, BTCUSD and ETHUSD in Tiingo's shapes. A clean server gives the reference results; a
server that fails 25% of requests at random (500, 429 + Retry-After, connection reset, a cut body,
a wrong shape; seeded) must give the same candidates and the same trades, equity and rejections,
directly or after re-running on exit 75. Retry waits are short through `api.backoff_seconds`
(Retry-After: 1 is honoured as sent).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import main as cli
from momentum.core.config import DEFAULT_CONFIG_PATH
from momentum.core.domain import AssetType
from momentum.core.errors import ExitCode
from momentum.data.tiingo.client import RateLimiter, ServerUnavailable, TiingoClient
from tests.fault_server import (_FAULTS, FAULT_KINDS, FaultyTiingoServer, market_bars,
                                write_universe)

KEY = "0123456789abcdef0123456789abcdef01234567"
INIT, MIDDLE, LAST = "2024-02-01", "2024-02-29", "2024-03-15"   # six weeks of sessions
TRY_LATER = int(ExitCode.TRY_LATER)


@pytest.fixture(scope="module")
def synthetic() -> tuple[dict, list]:
    return market_bars(n_stocks=20, n_crypto=2)


@pytest.fixture(scope="module")
def crypto(synthetic) -> list[str]:
    return [a.ticker for a in synthetic[1] if a.asset_type is AssetType.CRYPTO]


@pytest.fixture
def clean(synthetic, crypto) -> Iterator[FaultyTiingoServer]:
    with FaultyTiingoServer(KEY, synthetic[0], crypto) as server:
        yield server


@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch, tmp_path):
    monkeypatch.delenv("TIINGO_BASE_URL", raising=False)
    monkeypatch.delenv("TIINGO_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)


def write_config(tmp_path: Path, server: FaultyTiingoServer, synthetic, name: str,
                 cache: str | None = None, max_retries: int = 6) -> Path:
    """The shipped config on the test server; cache, logs and reports under tmp_path."""
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["api"].update(tiingo_api_key=KEY, tiingo_base_url=server.url, requests_per_hour=100000,
                      requests_per_day=1000000, timeout_seconds=5, max_retries=max_retries,
                      backoff_seconds=0.01)
    universe = write_universe(tmp_path / "universe.csv", synthetic[1])
    raw["data"].update(source="tiingo", cache_dir=str(tmp_path / (cache or f"cache-{name}")),
                       history_start="2023-01-03",
                       universe={"file": str(universe), "stocks": [], "crypto": []})
    raw["logging"].update(log_file=str(tmp_path / f"logs-{name}" / "momentum_strategy.log"),
                          snapshot_dir=str(tmp_path / f"state-{name}"),
                          report_dir=str(tmp_path / f"reports-{name}"))
    path = tmp_path / f"config-{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def until_done(capsys, *argv: str, tries: int = 6) -> tuple[list[int], str, str]:
    """Run a command again while it exits 75, as the scheduler does."""
    codes: list[int] = []
    for _ in range(tries):
        code, out, err = run(capsys, *argv)
        codes.append(code)
        if code != TRY_LATER:
            break
    return codes, out, err


def paper(capsys, config: Path, *args: str) -> tuple[int, str, str]:
    return run(capsys, "paper", *args, "--config", str(config))


def exported(capsys, config: Path, out: Path) -> dict[str, str]:
    assert paper(capsys, config, "--export", str(out))[0] == 0
    return {n: (out / n).read_text() for n in ("trades.csv", "equity.csv", "rejections.csv")}


def candidates(stdout: str) -> str:
    return "\n".join(line for line in stdout.splitlines() if not line.startswith("Tiingo:"))


def state_files(state_dir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(state_dir.iterdir()) if p.is_file()}


def latest_state(state_dir: Path) -> dict:
    pointer = json.loads((state_dir / "latest.json").read_text())
    return json.loads((state_dir / pointer["file"]).read_text())["state"]


def reference(capsys, tmp_path, clean, synthetic) -> tuple[str, dict[str, str], Path]:
    config = write_config(tmp_path, clean, synthetic, "clean")
    code, out, _ = run(capsys, "scan", "--date", LAST, "--config", str(config))
    assert code == 0
    assert paper(capsys, config, "--init", "--date", INIT)[0] == 0
    assert paper(capsys, config, "--run", "--date", LAST)[0] == 0
    return candidates(out), exported(capsys, config, tmp_path / "export-clean"), config


def client_of(server: FaultyTiingoServer, sleeps: list[float]) -> TiingoClient:
    limiter = RateLimiter(10**6, 10**7, sleep=sleeps.append, clock=lambda: 0.0)
    return TiingoClient(KEY, server.url, max_retries=1, backoff_seconds=0.5, limiter=limiter,
                        sleep=sleeps.append, clock=lambda: 0.0)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_kind_is_transient_and_retried(clean, kind):
    sleeps: list[float] = []
    client = client_of(clean, sleeps)
    ticker = next(t for t in clean.daily if t != "SPY")
    clean.inject(_FAULTS[kind], path="/prices")
    assert len(client.daily_prices(ticker, _day("2024-01-02"), _day("2024-03-01"))) > 30
    assert clean.count("/prices") == 2 and sleeps == ([1.0] if kind == "429" else [0.5])
    clean.inject(_FAULTS[kind], path="/prices", times=2)
    with pytest.raises(Exception) as info:
        client.daily_prices(ticker, _day("2024-01-02"), _day("2024-03-01"))
    assert getattr(info.value, "transient", False)
    # A 429 that outlasts the retries stops the load (every other request would meet it too),
    # still with exit 75; the other kinds leave only this asset missing.
    assert getattr(info.value, "fatal", False) == (kind == "429")
    assert info.value.exit_code == TRY_LATER  # should it reach main: "run again later"
    assert KEY not in str(info.value)


def test_a_reset_is_not_mistaken_for_a_wrong_address(clean):
    clean.inject(_FAULTS["reset"], times=2)
    with pytest.raises(ServerUnavailable, match="dropped the connection") as info:
        client_of(clean, []).test_connection()
    assert not info.value.fatal  # the address works; only a refused connection stops the run


def _day(text: str):
    from datetime import date
    return date.fromisoformat(text)


@pytest.mark.parametrize("max_retries", [6, 1])
def test_random_faults_give_the_clean_servers_scan_and_trades(capsys, tmp_path, clean,
                                                              synthetic, crypto, max_retries):
    scan_ref, files_ref, _ = reference(capsys, tmp_path, clean, synthetic)
    assert files_ref["trades.csv"].count("\n") > 2  # the six weeks really trade
    with FaultyTiingoServer(KEY, synthetic[0], crypto, fault_rate=0.25, seed=2) as faulty:
        # One retry only: some requests still fail after it, so runs also end with exit 75.
        config = write_config(tmp_path, faulty, synthetic, "faulty", max_retries=max_retries)
        scan_codes, out, _ = until_done(capsys, "scan", "--date", LAST, "--config", str(config))
        assert scan_codes[-1] == 0 and set(scan_codes) <= {0, TRY_LATER}
        assert candidates(out) == scan_ref
        assert paper(capsys, config, "--init", "--date", INIT)[0] == 0
        run_codes, _, _ = until_done(capsys, "paper", "--run", "--date", LAST, "--config",
                                     str(config))
        assert run_codes[-1] == 0 and set(run_codes) <= {0, TRY_LATER}
        assert exported(capsys, config, tmp_path / "export-faulty") == files_ref
        assert set(faulty.injected) == set(FAULT_KINDS)  # every fault kind was really sent
        assert sum(faulty.injected.values()) >= 8
        if max_retries == 1:  # seeded: this sequence gives up on a request at least once
            assert TRY_LATER in scan_codes + run_codes


def test_one_ticker_failing_commits_nothing_and_resumes_identically(capsys, tmp_path, clean,
                                                                    synthetic):
    stuck = next(a.ticker for a in synthetic[1] if a.asset_type is AssetType.STOCK
                 and len(synthetic[0][a.ticker].loc["2024-03"]) > 0)
    # Uninterrupted: two runs on a clean server.
    straight = write_config(tmp_path, clean, synthetic, "straight")
    assert paper(capsys, straight, "--init", "--date", INIT)[0] == 0
    assert paper(capsys, straight, "--run", "--date", MIDDLE)[0] == 0
    assert paper(capsys, straight, "--run", "--date", LAST)[0] == 0
    # Interrupted: the second run meets a cold cache and a ticker that keeps failing.
    first = write_config(tmp_path, clean, synthetic, "resumed")
    assert paper(capsys, first, "--init", "--date", INIT)[0] == 0
    assert paper(capsys, first, "--run", "--date", MIDDLE)[0] == 0
    before = state_files(tmp_path / "state-resumed")
    clean.failing = {stuck}
    cold = write_config(tmp_path, clean, synthetic, "resumed", cache="cache-cold")
    code, out, err = paper(capsys, cold, "--run", "--date", LAST)
    assert code == TRY_LATER
    assert stuck in err and "HTTP 500" in err and "run again later" in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1
    assert state_files(tmp_path / "state-resumed") == before  # byte for byte
    assert not list((tmp_path / "reports-resumed").glob(f"daily_report_{LAST}.txt"))
    clean.failing = set()  # healed
    assert paper(capsys, cold, "--run", "--date", LAST)[0] == 0
    assert latest_state(tmp_path / "state-resumed") == latest_state(tmp_path / "state-straight")


def test_allow_partial_commits_and_names_the_left_out_asset(capsys, tmp_path, clean, synthetic):
    stuck = next(a.ticker for a in synthetic[1] if a.asset_type is AssetType.STOCK
                 and len(synthetic[0][a.ticker].loc["2024-03"]) > 0)
    clean.failing = {stuck}
    config = write_config(tmp_path, clean, synthetic, "partial")
    assert paper(capsys, config, "--init", "--date", MIDDLE)[0] == 0
    code, out, err = paper(capsys, config, "--run", "--date", LAST, "--allow-partial")
    assert code == 0
    assert f"Left out (--allow-partial): {stuck}: " in out and "HTTP 500" in out
    report = (tmp_path / "reports-partial" / f"daily_report_{LAST}.txt").read_text()
    assert f"data: {stuck}: " in report and "(left out today)" in report
    left_out = latest_state(tmp_path / "state-partial")["left_out"]
    assert LAST in left_out and list(left_out[LAST]) == [stuck]
    assert "HTTP 500" in left_out[LAST][stuck]
    code, _, err = run(capsys, "scan", "--date", LAST, "--config", str(config))
    assert code == TRY_LATER and "the scan is not shown" in err and stuck in err
    code, out, _ = run(capsys, "scan", "--date", LAST, "--config", str(config),
                       "--allow-partial")
    assert code == 0 and f"Left out (--allow-partial): {stuck}: " in out
