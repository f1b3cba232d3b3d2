"""Issue 17 finding 1 end to end: a Tiingo key with a trailing newline or a non-ASCII character
is refused at load in one line (never sent, never printed), and user info in TIINGO_BASE_URL is
not printed. A subprocess against the local Tiingo stand-in on 127.0.0.1."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiingo_server import TiingoTestServer

ROOT = Path(__file__).resolve().parents[2]
KEY = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def server(tiingo_fixtures: Path):
    with TiingoTestServer(tiingo_fixtures, KEY) as srv:
        srv.alias_daily("SPY", "MSFT")
        yield srv


def scan(tmp_path: Path, env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    config = tmp_path / "config.yaml"
    config.write_text(
        "api:\n  tiingo_api_key: ${TIINGO_API_KEY}\n  max_retries: 1\n"
        f"data:\n  source: tiingo\n  cache_dir: {tmp_path / 'cache'}\n"
        "  history_start: 2019-07-21\n"
        "  universe:\n    stocks: [AAPL, MSFT]\n    crypto: [BTCUSD]\n", encoding="utf-8")
    env = {**os.environ, **env_extra}
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "scan", "--config", str(config)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def logs(tmp_path: Path) -> str:
    return "".join(p.read_text() for p in (tmp_path / "logs").glob("*.log")) \
        if (tmp_path / "logs").is_dir() else ""


@pytest.mark.parametrize("bad", [KEY + "\n", KEY[:-1] + "é"])
def test_malformed_key_is_refused_before_any_request(server, tmp_path, bad):
    done = scan(tmp_path, {"TIINGO_API_KEY": bad, "TIINGO_BASE_URL": server.url})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "api.tiingo_api_key" in lines[0]
    assert KEY[:-1] not in done.stdout + done.stderr + logs(tmp_path)
    assert server.requests == []


def test_user_info_in_the_base_url_is_never_printed(server, tmp_path):
    host = server.url.removeprefix("http://")
    done = scan(tmp_path, {"TIINGO_API_KEY": KEY,
                           "TIINGO_BASE_URL": f"http://alice:pw-s3cret-77@{host}"})
    # requests turns the user info into Basic auth, which the stand-in rejects: one line, exit 2.
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"Tiingo API at http://***@{host}" in done.stderr
    everything = done.stdout + done.stderr + logs(tmp_path)
    assert "pw-s3cret-77" not in everything and KEY not in everything


def test_deeply_nested_json_from_the_server_is_a_malformed_answer(server):
    from datetime import date

    from tests.integration.test_tiingo import FakeTime, MalformedResponse, make_client
    from tests.tiingo_server import Fault

    # every try of the request gets it: a garbled answer is transient and asked again (#11)
    server.inject(Fault(body="[" * 200_000 + "]" * 200_000), path="/prices", times=3)
    with pytest.raises(MalformedResponse) as info:
        make_client(server, FakeTime()).daily_prices("AAPL", date(2020, 7, 1), date(2020, 7, 2))
    assert len(str(info.value)) < 300
