"""Issue 17 finding 10: a channel that fails or hangs is tried once per command, and a catch-up
run sends one digest per remote channel, not one message per day. Real servers on 127.0.0.1:
a "hung" server accepts connections and never answers; aiosmtpd and an HTTP stand-in take mail
and posts."""
from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
import yaml

import main as cli
from tests.e2e import test_paper
from tests.integration import test_alerts
from tests.integration.test_alerts import PASSWORD, TOKEN_PATH, SlackStandIn

# the shared fixtures
cache_dir, config = test_paper.cache_dir, test_paper.config
quiet_smtp_server_log, smtp_server = test_alerts.quiet_smtp_server_log, test_alerts.smtp_server

START, END = "2024-01-02", "2024-03-28"  # 61 NYSE sessions


class HungServer:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte; counts the connections."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.received = b""
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)
            conn.settimeout(3)
            try:
                self.received += conn.recv(65536)
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()
        for conn in self.connections:
            conn.close()


def alert_config(config: Path, smtp_port: int) -> Path:
    raw = yaml.safe_load(config.read_text())
    raw["alerts"].update(email_enabled=True, email_address="trader@example.com",
                         smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_starttls=False,
                         smtp_user="bot", smtp_password="${SMTP_PASSWORD}", timeout_seconds=1)
    config.write_text(yaml.safe_dump(raw))
    return config


def run_catch_up(config: Path, monkeypatch, slack_url: str) -> int:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack_url)
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    assert cli.main(["paper", "--init", "--date", START, "--config", str(config)]) == 0
    return cli.main(["paper", "--run", "--date", END, "--config", str(config)])


def everything_written(tmp_path: Path, capsys) -> str:
    captured = capsys.readouterr()
    texts = [captured.out, captured.err]
    for folder in ("logs", "reports", "snapshots"):
        texts += [p.read_text(errors="replace") for p in (tmp_path / folder).rglob("*")
                  if p.is_file()]
    return "\n".join(texts)


def test_hung_smtp_and_slack_are_tried_once_in_a_60_session_catch_up(config, tmp_path,
                                                                       monkeypatch, capsys):
    smtp, hook = HungServer(), HungServer()
    try:
        code = run_catch_up(alert_config(config, smtp.port), monkeypatch,
                            f"http://127.0.0.1:{hook.port}{TOKEN_PATH}")
        assert code == 0
        assert len(smtp.connections) == 1 and len(hook.connections) == 1
    finally:
        smtp.close()
        hook.close()
    log = (tmp_path / "logs" / "momentum_strategy.log").read_text()
    assert log.count("not delivered by email") == 1 and log.count("not delivered by slack") == 1
    blob = everything_written(tmp_path, capsys)
    assert PASSWORD not in blob and "sEcReTtOkEn" not in blob
    assert PASSWORD.encode() not in smtp.received


def test_a_catch_up_sends_one_digest_per_channel(config, tmp_path, monkeypatch,
                                                 capsys, smtp_server):
    controller, inbox = smtp_server
    slack = SlackStandIn()
    try:
        code = run_catch_up(alert_config(config, controller.port), monkeypatch,
                            slack.url())
    finally:
        slack.close()
    assert code == 0
    assert len(inbox.messages) == 1 and len(slack.posts) == 1
    mail = inbox.messages[0]
    text = slack.posts[0][2]["text"]
    assert " alerts, 2024-" in mail["Subject"] and "[2024-0" in mail.get_content()
    assert len({line[:12] for line in text.splitlines() if line.startswith("[2024-")}) > 1
    assert inbox.logins == [("bot", True)]
    blob = everything_written(tmp_path, capsys)
    assert PASSWORD not in blob and "sEcReTtOkEn" not in blob


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch):
    monkeypatch.delenv("TIINGO_API_KEY", raising=False)
