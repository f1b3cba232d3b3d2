"""Alerts (7.1.10): what build_alerts says, and delivery to REAL local SMTP and HTTP servers.

What the SMTP tests cover:
- AUTH (LOGIN/PLAIN) with STARTTLS off: aiosmtpd on 127.0.0.1 with an authenticator that allows
  AUTH in clear; the config path (dispatcher_from_config) sends through it.
- STARTTLS + AUTH: aiosmtpd with a TLS context and require_starttls/auth_require_tls, using a
  self-signed certificate made at test time with the `openssl` command (the `cryptography`
  package is not installed here); skipped when `openssl` is missing. A client that does not trust
  the certificate fails before it logs in.
- STARTTLS configured against a server that does not advertise it: the channel fails and never
  sends the password.
The Slack stand-in is stdlib http.server on 127.0.0.1, port 0, recording posts; it can answer 500.
"""
from __future__ import annotations

import email
import io
import json
import logging
import shutil
import smtplib
import socket
import ssl
import subprocess
import threading
from copy import deepcopy
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

import logging_config
from momentum.core.config import AlertsConfig, RiskConfig, StrategyConfig
from momentum.core.domain import (AssetType, DayResult, EntryOrder, ExitReason, Fill, Position,
                                  Rejection, RejectReason, Side)
from momentum.notify.alerts import Alert, AlertKind, Severity, build_alerts, mask_secrets
from momentum.notify.delivery import (AlertDispatcher, AlertThrottle, ConsoleChannel, DeliveryError,
                                      EmailChannel, LogChannel, SlackChannel, dispatcher_from_config)
from momentum.run.engine import EngineState, EquityPoint

DAY = date(2024, 3, 4)
T0 = datetime(2024, 3, 4, 21, 0, tzinfo=timezone.utc)
PASSWORD = "smtp-Pa55word-9f3c"
TOKEN_PATH = "/services/T0ABCDEF/B0GHIJKL/sEcReTtOkEn1234567890"
ALERT = Alert(AlertKind.ENTRY, Severity.INFO, "Entry: bought AAPL", "Bought 10 AAPL at 150.00",
              "entry:AAPL:2024-03-04", DAY)
OTHER = Alert(AlertKind.PERFORMANCE, Severity.INFO, "Good day: +6.00%", "Equity up",
              "performance:good_day:2024-03-04", DAY)


# ---------------------------------------------------------------- helpers and servers
class FakeClock:
    def __init__(self, instant: datetime = T0) -> None:
        self.instant = instant

    def now(self) -> datetime:
        return self.instant

    def advance(self, minutes: float) -> None:
        self.instant += timedelta(minutes=minutes)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """aiosmtpd handler and authenticator: records messages and login attempts."""

    def __init__(self, user: str = "bot", password: str = PASSWORD) -> None:
        self.user, self.password = user.encode(), password.encode()
        self.messages: list[email.message.EmailMessage] = []
        self.logins: list[tuple[str, bool]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 Message accepted for delivery"

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == self.user
              and auth_data.password == self.password)
        self.logins.append((auth_data.login.decode(), ok))
        return AuthResult(success=ok)


@pytest.fixture
def quiet_smtp_server_log():
    # aiosmtpd's own "mail.log" traces the session (base64 AUTH lines) at DEBUG: not our logs.
    log = logging.getLogger("mail.log")
    old = log.level
    log.setLevel(logging.WARNING)
    yield
    log.setLevel(old)


@pytest.fixture
def smtp_server(quiet_smtp_server_log):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), authenticator=inbox,
                            auth_require_tls=False)
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: cannot make a certificate for STARTTLS")
    base = tmp_path_factory.mktemp("tls")
    cert, key = base / "cert.pem", base / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=30)
    return cert, key


class SlackStandIn:
    """A webhook on 127.0.0.1: records (path, content type, JSON body), answers `status`."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str, dict]] = []
        self.status = 200
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stand_in.posts.append((self.path, self.headers.get("Content-Type", ""),
                                       json.loads(body)))
                self.send_response(stand_in.status)
                self.end_headers()
                self.wfile.write(b"ok" if stand_in.status == 200 else b"server error")

            def log_message(self, *args) -> None:  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,),
                                       daemon=True)  # a short poll: shutdown() returns fast
        self.thread.start()

    def url(self, path: str = TOKEN_PATH) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slack():
    stand_in = SlackStandIn()
    yield stand_in
    stand_in.close()


def config(**alerts) -> StrategyConfig:
    return StrategyConfig(alerts=AlertsConfig(**alerts))


def email_config(port: int, **extra) -> StrategyConfig:
    return config(email_enabled=True, email_address="trader@example.com", smtp_host="127.0.0.1",
                  smtp_port=port, smtp_starttls=False, smtp_user="bot", smtp_password=PASSWORD,
                  email_from="momentum@example.com", timeout_seconds=5, **extra)


# ---------------------------------------------------------------- email
def test_email_channel_delivers_with_login_to_a_local_smtp_server(smtp_server, tmp_path):
    controller, inbox = smtp_server
    console = io.StringIO()
    dispatcher = dispatcher_from_config(email_config(controller.port), tmp_path, FakeClock(),
                                        stream=console)
    report = dispatcher.send([ALERT])
    assert report.sent == (ALERT,) and report.failures == ()
    assert inbox.logins == [("bot", True)]
    [msg] = inbox.messages
    assert msg["Subject"] == "[momentum] INFO: Entry: bought AAPL"
    assert msg["To"] == "trader@example.com" and msg["From"] == "momentum@example.com"
    assert msg.get_content_type() == "text/plain"
    text = msg.get_content()
    assert "Bought 10 AAPL at 150.00" in text and "Day: 2024-03-04" in text
    assert "Entry: bought AAPL" in console.getvalue()


def test_email_channel_uses_starttls_then_login(tls_cert, quiet_smtp_server_log):
    cert, key = tls_cert
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=server_ctx,
                            require_starttls=True, authenticator=inbox, auth_require_tls=True)
    controller.start()
    try:
        trusted = ssl.create_default_context(cafile=str(cert))
        EmailChannel("127.0.0.1", controller.port, "m@example.com", "t@example.com", user="bot",
                     password=PASSWORD, starttls=True, timeout_seconds=5,
                     ssl_context=trusted).send(ALERT)
        assert inbox.logins == [("bot", True)] and len(inbox.messages) == 1
        # The default context does not trust a self-signed certificate: no login happens.
        untrusting = EmailChannel("127.0.0.1", controller.port, "m@example.com", "t@example.com",
                                  user="bot", password=PASSWORD, timeout_seconds=5)
        with pytest.raises(ssl.SSLCertVerificationError):
            untrusting.send(ALERT)
        assert len(inbox.logins) == 1 and len(inbox.messages) == 1
    finally:
        controller.stop()


def test_email_channel_with_starttls_never_logs_in_on_a_server_without_it(smtp_server):
    controller, inbox = smtp_server
    channel = EmailChannel("127.0.0.1", controller.port, "m@example.com", "t@example.com",
                           user="bot", password=PASSWORD, starttls=True, timeout_seconds=5)
    with pytest.raises(smtplib.SMTPNotSupportedError):
        channel.send(ALERT)
    assert inbox.logins == [] and inbox.messages == []
    assert PASSWORD not in repr(channel)


# ---------------------------------------------------------------- Slack
def test_slack_channel_posts_one_mrkdwn_text_to_the_webhook(slack):
    alert = Alert(AlertKind.RISK_LIMIT, Severity.WARNING, "Risk: sector <Tech> & co",
                  "line one\nline two", "risk:sector:Tech", DAY)
    channel = SlackChannel(slack.url(), timeout_seconds=5)
    channel.send(alert)
    [(path, ctype, body)] = slack.posts
    assert path == TOKEN_PATH and ctype == "application/json"
    assert body == {"text": ":warning: *Risk: sector &lt;Tech&gt; &amp; co*\nline one\nline two"}
    assert TOKEN_PATH not in repr(channel)


def test_slack_channel_raises_on_500_and_on_no_server_without_the_token(slack):
    slack.status = 500
    with pytest.raises(DeliveryError, match="HTTP 500") as err:
        SlackChannel(slack.url(), timeout_seconds=5).send(ALERT)
    assert "sEcReTtOkEn" not in str(err.value)
    closed = f"http://127.0.0.1:{free_port()}{TOKEN_PATH}"
    with pytest.raises(DeliveryError, match="unreachable") as err:
        SlackChannel(closed, timeout_seconds=5).send(ALERT)
    assert "sEcReTtOkEn" not in str(err.value) and err.value.__cause__ is None


# ---------------------------------------------------------------- log and console channels
def test_log_channel_marks_trade_alerts_and_never_logs_errors_at_error(caplog):
    caplog.set_level(logging.DEBUG, logger="momentum.notify.alerts")
    channel = LogChannel()
    channel.send(ALERT)
    channel.send(Alert(AlertKind.ERROR, Severity.CRITICAL, "main: boom", "x", "error:x", DAY))
    entry, error = caplog.records
    assert entry.levelno == logging.INFO and entry.trade is True
    assert "ALERT entry info: Entry: bought AAPL | Bought 10 AAPL" in entry.getMessage()
    assert error.levelno == logging.WARNING and error.trade is False


def test_console_channel_writes_title_and_indented_body():
    out = io.StringIO()
    ConsoleChannel(out).send(OTHER)
    assert out.getvalue() == "ALERT [INFO] Good day: +6.00%\n    Equity up\n"


def test_dispatcher_from_config_builds_only_enabled_channels(tmp_path):
    assert [c.name for c in dispatcher_from_config(config(), tmp_path, FakeClock()).channels] == [
        "log", "console"]
    full = config(email_enabled=True, email_address="t@example.com",
                  slack_webhook="https://hooks.slack.com/services/T/B/C")
    names = [c.name for c in dispatcher_from_config(full, tmp_path, FakeClock()).channels]
    assert names == ["log", "console", "email", "slack"]


# ---------------------------------------------------------------- throttling
def test_throttle_holds_the_same_alert_within_the_window_and_sends_it_after(slack, tmp_path):
    clock = FakeClock()
    cfg = config(slack_webhook=slack.url(), throttle_minutes=60)
    dispatcher = dispatcher_from_config(cfg, tmp_path, clock, stream=io.StringIO())
    assert dispatcher.send([ALERT]).sent == (ALERT,)
    clock.advance(59)
    report = dispatcher.send([ALERT, OTHER])
    assert report.throttled == (ALERT,) and report.sent == (OTHER,)
    clock.advance(1)  # exactly 60 minutes after the first send
    assert dispatcher.send([ALERT]).sent == (ALERT,)
    assert [p[2]["text"].split("*")[1] for p in slack.posts] == [
        "Entry: bought AAPL", "Good day: +6.00%", "Entry: bought AAPL"]


def test_throttle_survives_a_restart(slack, tmp_path):
    clock = FakeClock()
    cfg = config(slack_webhook=slack.url(), throttle_minutes=30)
    dispatcher_from_config(cfg, tmp_path, clock, stream=io.StringIO()).send([ALERT])
    saved = json.loads((tmp_path / "alert_throttle.json").read_text())
    assert saved["sent"] == {ALERT.key: T0.isoformat()}
    assert [p.name for p in tmp_path.iterdir()] == ["alert_throttle.json"]  # no temp files left
    clock.advance(10)
    restarted = dispatcher_from_config(cfg, tmp_path, clock, stream=io.StringIO())
    assert restarted.send([ALERT]).throttled == (ALERT,)
    clock.advance(25)
    assert dispatcher_from_config(cfg, tmp_path, clock, stream=io.StringIO()).send(
        [ALERT]).sent == (ALERT,)
    assert len(slack.posts) == 2


def test_throttle_window_zero_never_holds_an_alert(tmp_path):
    dispatcher = dispatcher_from_config(config(throttle_minutes=0), tmp_path, FakeClock(),
                                        stream=io.StringIO())
    assert [len(dispatcher.send([ALERT]).sent) for _ in range(3)] == [1, 1, 1]


@pytest.mark.parametrize("content", ["{not json", '{"sent": ["a list"]}', '{"sent": {"k": 5}}'])
def test_throttle_with_a_corrupt_file_starts_empty_and_warns(tmp_path, caplog, content):
    path = tmp_path / "alert_throttle.json"
    path.write_text(content)
    with caplog.at_level(logging.WARNING, logger="momentum.notify.alerts"):
        throttle = AlertThrottle(path, timedelta(minutes=60))
    assert "unreadable" in caplog.text and throttle.allows("k", T0)
    throttle.record("k", T0)
    throttle.save(T0)
    assert AlertThrottle(path).allows("k", T0 + timedelta(minutes=59)) is False


# ---------------------------------------------------------------- failures
def test_failed_deliveries_are_logged_and_the_run_goes_on(slack, tmp_path, caplog, capsys):
    # Our logger only: urllib3's DEBUG lines quote the webhook path, and only setup_logging
    # (tested below) quiets and masks them.
    caplog.set_level(logging.DEBUG, logger="momentum.notify.alerts")
    slack.status = 500
    down = free_port()  # nothing listens there: connection refused
    cfg = email_config(down, slack_webhook=slack.url())
    console = io.StringIO()
    report = dispatcher_from_config(cfg, tmp_path, FakeClock(), stream=console).send([ALERT])
    assert report.sent == (ALERT,)  # log and console still took it
    assert {f.channel: f.error for f in report.failures} == {
        "email": "ConnectionRefusedError: [Errno 111] Connection refused",
        "slack": "DeliveryError: Slack webhook answered HTTP 500"}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("not delivered by email" in w for w in warnings)
    assert any("not delivered by slack" in w and "HTTP 500" in w for w in warnings)
    assert "Entry: bought AAPL" in console.getvalue()
    captured = capsys.readouterr()
    for text in (caplog.text, console.getvalue(), captured.out, captured.err, str(report)):
        assert PASSWORD not in text and "sEcReTtOkEn" not in text


def test_a_channel_error_that_quotes_a_secret_is_masked(tmp_path, caplog):
    url = f"https://hooks.slack.com{TOKEN_PATH}"

    class Leaky:
        name = "leaky"

        def send(self, alert: Alert) -> None:
            raise RuntimeError(f"failed posting to {url} with {PASSWORD} (path {TOKEN_PATH})")

    caplog.set_level(logging.WARNING)
    dispatcher = AlertDispatcher([Leaky()], AlertThrottle(None), FakeClock(),
                                 secrets=[url, PASSWORD])
    report = dispatcher.send([ALERT])
    assert report.sent == () and len(report.failures) == 1  # no channel took it: not throttled
    assert report.failures[0].error == "RuntimeError: failed posting to *** with *** (path ***)"
    assert "sEcReTtOkEn" not in caplog.text and PASSWORD not in caplog.text
    assert mask_secrets("Authorization: Token abc123", ()) == "Authorization: Token ***"


def test_a_channel_that_failed_is_skipped_for_the_rest_of_the_batch():
    class Dead:
        name = "dead"
        calls = 0

        def send(self, alert: Alert) -> None:
            Dead.calls += 1
            raise TimeoutError("timed out")

    out = io.StringIO()
    report = AlertDispatcher([Dead(), ConsoleChannel(out)], AlertThrottle(None), FakeClock()).send(
        [ALERT, OTHER])
    assert Dead.calls == 1 and report.sent == (ALERT, OTHER)
    assert [f.error for f in report.failures] == ["TimeoutError: timed out",
                                                  "skipped: failed earlier"]
    assert out.getvalue().count("ALERT [INFO]") == 2


def test_no_secret_in_any_log_after_a_run_with_secrets_set(slack, tmp_path, capsys):
    """Full logging set up with the config's secrets; every channel fails or succeeds loudly."""
    cfg = email_config(free_port(), slack_webhook=slack.url())
    slack.status = 500
    console = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    noisy = {n: logging.getLogger(n).level for n in logging_config.NOISY_LOGGERS}
    dispatcher = dispatcher_from_config(cfg, tmp_path / "state", FakeClock(), stream=console)
    try:
        logging_config.setup_logging("DEBUG", log_dir=tmp_path / "logs", secrets=cfg.secrets(),
                                     alert_sink=lambda a: dispatcher.send([a]),
                                     console_stream=console)
        logging.getLogger("urllib3").setLevel(logging.DEBUG)  # it would print the webhook path
        dispatcher.send([ALERT])
        logging.getLogger("momentum.main").error("cannot reach %s", cfg.alerts.slack_webhook
                                                 .get_secret_value())
    finally:
        logging_config.reset_logging()
        root.handlers[:], root.level = saved
        for name, level in noisy.items():
            logging.getLogger(name).setLevel(level)
    captured = capsys.readouterr()
    texts = [p.read_text() for p in (tmp_path / "logs").iterdir()]
    texts += [console.getvalue(), captured.out, captured.err]
    for text in texts:
        assert PASSWORD not in text and "sEcReTtOkEn" not in text and TOKEN_PATH not in text
    main_log = (tmp_path / "logs" / "momentum_strategy.log").read_text()
    assert '"POST *** HTTP/1.1" 500' in main_log  # the urllib3 line was there, masked
    assert "[main] " in main_log and "cannot reach ***" in main_log
    # The entry alert got HTTP 500: Slack is skipped for the rest of the command, so the ERROR
    # alert from the log handler is not posted (issue 17 finding 10).
    assert len(slack.posts) == 1


# ---------------------------------------------------------------- build_alerts (pure)
def make_position(ticker: str, qty: str = "10", price: str = "150", sector: str = "Tech",
                  score: float = 83.4) -> Position:
    p = Decimal(price)
    return Position(ticker=ticker, asset_type=AssetType.STOCK, sector=sector, entry_date=DAY,
                    entry_price=p, quantity=Decimal(qty), entry_commission=Decimal(0),
                    stop_price=p * Decimal("0.92"), target_price=p * Decimal("1.2"),
                    highest_high=p, trailing_stop=None, last_close=p, last_bar_date=DAY,
                    entry_score=score)


def buy(state: EngineState, ticker: str, price: str = "150", qty: str = "10", **kw) -> Fill:
    fill = Fill(ticker, Side.BUY, DAY, Decimal(price), Decimal(qty), Decimal(0))
    state.portfolio.apply_fill(fill, make_position(ticker, qty, price, **kw))
    return fill


def sell(state: EngineState, ticker: str, price: str, reason: ExitReason) -> Fill:
    pos = state.portfolio.positions[ticker]
    fill = Fill(ticker, Side.SELL, DAY, Decimal(price), pos.quantity, Decimal("1"), reason)
    state.portfolio.apply_fill(fill)
    return fill


def old_position(state: EngineState, ticker: str, entered: date, price: str = "50") -> None:
    fill = Fill(ticker, Side.BUY, entered, Decimal(price), Decimal("20"), Decimal("1"))
    state.portfolio.apply_fill(fill, replace(make_position(ticker, "20", price),
                                             entry_date=entered, entry_commission=Decimal("1")))


def day_result(state: EngineState, fills=(), previous: str | None = None, equity: str = "100000",
               **kw) -> DayResult:
    result = DayResult(day=DAY, fills=list(fills), equity=Decimal(equity),
                       previous_equity=None if previous is None else Decimal(previous), **kw)
    state.equity_curve.append(EquityPoint(DAY, result.equity, state.portfolio.cash))
    return result


def fresh_state(curve: tuple[str, ...] = ()) -> EngineState:
    state = EngineState.start(Decimal("100000"))
    for i, equity in enumerate(curve):
        state.equity_curve.append(EquityPoint(DAY - timedelta(days=len(curve) - i), Decimal(equity),
                                              Decimal(equity)))
    return state


def kinds(alerts: list[Alert]) -> list[tuple[AlertKind, str]]:
    return [(a.kind, a.key) for a in alerts]


def test_build_alerts_entry_alert_has_price_size_value_and_reason():
    state = fresh_state()
    fill = buy(state, "AAPL", "150.15", "10", score=83.4)
    [alert] = build_alerts(day_result(state, [fill]), state, StrategyConfig())
    assert (alert.kind, alert.severity, alert.key) == (AlertKind.ENTRY, Severity.INFO,
                                                       "entry:AAPL:2024-03-04")
    assert alert.title == "Entry: bought AAPL"
    for text in ("Bought 10 AAPL at 150.15", "Position value: $1,501.50",
                 "momentum score 83.4", "Stop 138.14", "target 180.18"):
        assert text in alert.body


def test_build_alerts_exit_alert_has_exit_type_pnl_and_holding_period():
    state = fresh_state()
    old_position(state, "MSFT", DAY - timedelta(days=12), price="50")
    fill = sell(state, "MSFT", "46", ExitReason.STOP_LOSS)
    [alert] = build_alerts(day_result(state, [fill]), state, StrategyConfig())
    assert alert.kind is AlertKind.EXIT and alert.severity is Severity.WARNING  # a loss
    assert alert.title == "Exit: sold MSFT (stop_loss) P&L -$82.00"
    assert "Exit type: stop_loss" in alert.body and "P&L: -$82.00 (-8.20%)" in alert.body
    assert "Held 12 days (entered 2024-02-21 at 50.00)" in alert.body


def test_build_alerts_daily_loss_warning_at_the_warning_share():
    cfg = StrategyConfig(alerts=AlertsConfig(alert_on_performance=False))
    state = fresh_state(("100000",))  # 2.4% loss = 80% of the 3% limit: warns
    [alert] = build_alerts(day_result(state, previous="100000", equity="97600"), state, cfg)
    assert alert.key == "risk:daily_loss_warning" and alert.severity is Severity.WARNING
    assert alert.title == "Risk: daily loss 2.40% near the 3.00% limit"
    state = fresh_state(("100000",))  # 2.3%: below the warning share
    assert build_alerts(day_result(state, previous="100000", equity="97700"), state, cfg) == []


def test_build_alerts_breaker_trip_is_one_distinct_critical_alert():
    state = fresh_state(("100000",))
    tripped = Rejection(DAY, "NVDA", RejectReason.DAILY_LOSS_LIMIT, "R6.1", "equity -3.5%")
    result = day_result(state, previous="100000", equity="96500", rejections=[tripped])
    cfg = StrategyConfig(alerts=AlertsConfig(alert_on_performance=False))
    [alert] = build_alerts(result, state, cfg)
    assert alert.key == "risk:daily_loss_limit" and alert.severity is Severity.CRITICAL
    assert "new entries blocked" in alert.title


def test_build_alerts_positions_near_the_cap_counts_pending_entries():
    state = fresh_state()
    cfg = StrategyConfig(risk=RiskConfig(max_positions=3))
    buy(state, "AAPL")
    assert build_alerts(day_result(state), state, cfg) == []
    state.portfolio.pending_entries.append(EntryOrder(
        "MSFT", AssetType.STOCK, "Tech", DAY, DAY, Decimal(5), 80.0, Decimal(100), Decimal(500), 0))
    state.equity_curve.clear()
    [alert] = build_alerts(day_result(state), state, cfg)
    assert alert.key == "risk:max_positions" and alert.title == "Risk: 2 of 3 position slots used"


@pytest.mark.parametrize("share,alerted", [("0.135", True), ("0.1349", False)])
def test_build_alerts_sector_concentration_at_the_warning_share(share, alerted):
    state = fresh_state()
    result = day_result(state, sector_exposure={"Tech": Decimal(share), "Energy": Decimal("0.01")})
    alerts = build_alerts(result, state, StrategyConfig())  # 0.9 * 0.15 = 0.135
    assert kinds(alerts) == ([(AlertKind.RISK_LIMIT, "risk:sector:Tech")] if alerted else [])


@pytest.mark.parametrize("equity,key", [
    ("106000", "performance:good_day:2024-03-04"),
    ("97900", "performance:bad_day:2024-03-04"),
    ("101000", None),
])
def test_build_alerts_good_and_bad_days(equity, key):
    state = fresh_state(("100000", "110000"))  # an old high: no new-high alert here
    cfg = StrategyConfig(alerts=AlertsConfig(alert_on_risk_limit=False))
    alerts = build_alerts(day_result(state, previous="100000", equity=equity), state, cfg)
    assert [a.key for a in alerts] == ([key] if key else [])


def test_build_alerts_new_equity_high_never_on_the_first_step():
    cfg = StrategyConfig()
    first = fresh_state()
    assert build_alerts(day_result(first, equity="100500"), first, cfg) == []
    state = fresh_state(("100000", "101000"))
    [alert] = build_alerts(day_result(state, previous="101000", equity="101001"), state, cfg)
    assert alert.key == "performance:equity_high" and "Previous high $101,000.00" in alert.body
    level = fresh_state(("100000", "101000"))
    assert build_alerts(day_result(level, previous="101000", equity="101000"), level, cfg) == []


def busy_day() -> tuple[DayResult, EngineState]:
    """A day that triggers one alert of every kind."""
    state = fresh_state(("90000", "100000"))
    old_position(state, "MSFT", DAY - timedelta(days=3))
    exit_fill = sell(state, "MSFT", "60", ExitReason.PROFIT_TARGET)
    entry_fill = buy(state, "AAPL")
    result = day_result(state, [exit_fill, entry_fill], previous="100000", equity="106000",
                        sector_exposure={"Tech": Decimal("0.2")})
    return result, state


@pytest.mark.parametrize("switch,kind", [
    ("alert_on_entry", AlertKind.ENTRY), ("alert_on_exit", AlertKind.EXIT),
    ("alert_on_risk_limit", AlertKind.RISK_LIMIT), ("alert_on_performance", AlertKind.PERFORMANCE),
])
def test_build_alerts_each_switch_turns_off_only_its_kind(switch, kind):
    result, state = busy_day()
    everything = build_alerts(result, state, StrategyConfig())
    assert {a.kind for a in everything} == {AlertKind.ENTRY, AlertKind.EXIT, AlertKind.RISK_LIMIT,
                                            AlertKind.PERFORMANCE}
    off = build_alerts(result, state, StrategyConfig(alerts=AlertsConfig(**{switch: False})))
    assert off == [a for a in everything if a.kind is not kind]


def test_build_alerts_is_pure():
    result, state = busy_day()
    before_state, before_result = deepcopy(state), deepcopy(result)
    first = build_alerts(result, state, StrategyConfig())
    assert build_alerts(result, state, StrategyConfig()) == first
    assert state == before_state and result == before_result
