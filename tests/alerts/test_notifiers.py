"""WeCom, DingTalk, MQTT and e-mail notifiers against real receivers on 127.0.0.1, alone and through the
durable outbox, including worker processes killed with SIGKILL and restarted.

Receivers: an HTTP server imitating the WeCom and DingTalk robot endpoints (it checks the robot key and
verifies DingTalk's signature itself), a Mosquitto broker started per test (skipped, with the reason, when
the binary is missing), an aiosmtpd SMTP server, and the demo's webhook receiver.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import json
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import paho.mqtt.client as mqtt
import psycopg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from paho.mqtt.enums import CallbackAPIVersion
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from pydantic import TypeAdapter, ValidationError

from alerts import AlertsConfig, DeliveryError, NotifierConfig, OutboxWorker, RetryConfig, build_notifier
from alerts.notifiers.mqtt import topic_for
from alerts.notifiers.robots import dingtalk_sign, signed_url
from jianguan.demo import WebhookReceiver
from tests.testkit.mosquitto import MOSQUITTO, Mosquitto, needs_mosquitto
from tests.testkit.net import free_port, wait_until

HERE = Path(__file__).resolve().parent
WECOM_KEY = "wecom-KEY-693a91f6"
DING_TOKEN = "ding-TOKEN-5b7c"
DING_SECRET = "SECdeadbeef0123456789+/secret"  # '+' and '/' make URL-encoding mistakes visible
SMTP_PASSWORD = "smtp-PASS-82d1"
MQTT_PASSWORD = "mqtt-PASS-1f0e"


def alert_payload(alert_id: int = 7, **extra: Any) -> dict[str, Any]:
    payload = {
        "event": "alert.opened", "alert_id": alert_id, "site_id": "office-1", "camera_id": "window-03",
        "rule": "zone_unattended", "zone_id": "staff", "severity": "major",
        "title": "Zone staff unattended for 8 s",
        "started_at": "2025-03-04T01:14:54+00:00", "raised_at": "2025-03-04T01:15:02+00:00",
        "confidence": 0.93, "measures": {"threshold_s": 8.0, "empty_s": 8.2},
        "review_url": f"http://127.0.0.1:8080/alerts/{alert_id}",
    }
    payload.update(extra)
    return payload


def assert_alert_text(text: str, alert_id: int = 7) -> None:
    # Chinese by default (the site's language), times at the site's with their offset, names not codes.
    for part in ("Zone staff unattended for 8 s", "office-1", "window-03", "岗位无人", "staff", "重要",
                 "2025-03-04 09:15:02 +08:00", "离岗 8.2 秒，阈值 8 秒", f"http://127.0.0.1:8080/alerts/{alert_id}"):
        assert part in text, part
    assert "zone_unattended" not in text and "threshold_s" not in text


# -- receivers ----------------------------------------------------------------------------------------
class RobotServer:
    """WeCom's robot at /cgi-bin/webhook/send?key=..., DingTalk's at /robot/send?access_token=...[&timestamp&sign].

    Like the real ones: HTTP 200 with {"errcode": 0} on success, a non-zero errcode otherwise. `fail` answers
    that many well-formed requests per robot with a rate-limit errcode (whose errmsg echoes the key, as real
    robots' hints can) before accepting.
    """

    def __init__(self, ding_secret: str | None = DING_SECRET) -> None:
        self.ding_secret = ding_secret
        self.fail = {"wecom": 0, "dingtalk": 0}
        self.attempts = {"wecom": 0, "dingtalk": 0}
        self.deliveries: dict[str, list[dict]] = {"wecom": [], "dingtalk": []}
        self.bad_signatures = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                url = urlsplit(self.path)
                self._reply(server.handle(url.path, parse_qs(url.query), body))

            def _reply(self, reply: dict) -> None:
                raw = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def wecom_url(self) -> str:
        return f"{self.base}/cgi-bin/webhook/send?key={WECOM_KEY}"

    @property
    def ding_url(self) -> str:
        return f"{self.base}/robot/send?access_token={DING_TOKEN}"

    def handle(self, path: str, query: dict[str, list[str]], body: dict) -> dict:
        with self.lock:
            if path == "/cgi-bin/webhook/send":
                kind = "wecom"
                if query.get("key") != [WECOM_KEY]:
                    return {"errcode": 93000, "errmsg": "invalid webhook url"}
                if body.get("msgtype") != "markdown" or not body.get("markdown", {}).get("content"):
                    return {"errcode": 40008, "errmsg": "invalid message type"}
                busy = 45009
            elif path == "/robot/send":
                kind = "dingtalk"
                if query.get("access_token") != [DING_TOKEN]:
                    return {"errcode": 300001, "errmsg": "token is not exist"}
                if self.ding_secret is not None and not self._signature_ok(query):
                    self.bad_signatures += 1
                    return {"errcode": 310000, "errmsg": "sign not match"}
                markdown = body.get("markdown", {})
                if body.get("msgtype") != "markdown" or not markdown.get("title") or not markdown.get("text"):
                    return {"errcode": 40035, "errmsg": "missing parameter"}
                busy = 130101
            else:
                return {"errcode": 404, "errmsg": "no such robot"}
            self.attempts[kind] += 1
            if self.attempts[kind] <= self.fail[kind]:
                return {"errcode": busy, "errmsg": f"send too fast, key={WECOM_KEY} token={DING_TOKEN}"}
            self.deliveries[kind].append(body)
            return {"errcode": 0, "errmsg": "ok"}

    def _signature_ok(self, query: dict[str, list[str]]) -> bool:
        """The robot's side of 加签, written from DingTalk's description, not from the notifier's code."""
        try:
            timestamp, sign = query["timestamp"][0], query["sign"][0]  # parse_qs has URL-decoded the sign
        except (KeyError, IndexError):
            return False
        if abs(time.time() * 1000 - int(timestamp)) > 3600 * 1000:
            return False
        secret = self.ding_secret.encode("utf-8")
        expected = base64.b64encode(hmac.new(secret, f"{timestamp}\n{self.ding_secret}".encode(),
                                             hashlib.sha256).digest()).decode()
        return hmac.compare_digest(expected, sign)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class SmtpSink:
    """aiosmtpd on 127.0.0.1; `fail_first` DATA commands get 451 (try again later)."""

    def __init__(self, fail_first: int = 0, **smtp_params: Any) -> None:
        self.fail_first = fail_first
        self.attempts = 0
        self.messages: list[email.message.EmailMessage] = []
        self.logins: list[str] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **smtp_params)
        self.controller.start()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        self.attempts += 1
        if self.attempts <= self.fail_first:
            return "451 4.3.0 Try again later"
        self.messages.append(email.message_from_bytes(envelope.original_content or envelope.content,
                                                      policy=email.policy.default))
        return "250 2.0.0 Accepted"

    def close(self) -> None:
        self.controller.stop()




class Subscriber:
    """A paho subscriber (QoS 1) that records every raw message: no dedupe."""

    def __init__(self, port: int, topic: str = "jianguan/alerts/#", auth: tuple[str, str] | None = None) -> None:
        self.messages: list[tuple[str, dict]] = []
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-sub-{port}")
        if auth:
            self.client.username_pw_set(*auth)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = lambda _c, _u, msg: self.messages.append((msg.topic, json.loads(msg.payload)))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(10), "no SUBACK from mosquitto"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def robots():
    server = RobotServer()
    yield server
    server.close()


@pytest.fixture
def smtp():
    sink = SmtpSink()
    yield sink
    sink.close()


@pytest.fixture
def webhook():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def brokers():
    started: list[Mosquitto] = []

    def start(**kwargs: Any) -> Mosquitto:
        started.append(Mosquitto(**kwargs))
        return started[-1]

    yield start
    for broker in started:
        broker.close()


@pytest.fixture
def pool(db_dsn):
    with ConnectionPool(db_dsn, min_size=1, max_size=2, open=True) as p:
        yield p


def configs(robots: RobotServer | None = None, smtp_port: int | None = None, mqtt_port: int | None = None,
            webhook_url: str | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if webhook_url:
        out.append({"type": "webhook", "id": "hook", "url": webhook_url, "hmac_secret": "k", "timeout_s": 3})
    if robots:
        out.append({"type": "wecom", "id": "wecom", "url": robots.wecom_url, "timeout_s": 3})
        out.append({"type": "dingtalk", "id": "ding", "url": robots.ding_url, "secret": DING_SECRET,
                    "timeout_s": 3})
    if mqtt_port:
        out.append({"type": "mqtt", "id": "mqtt", "host": "127.0.0.1", "port": mqtt_port, "timeout_s": 3})
    if smtp_port:
        out.append({"type": "email", "id": "mail", "host": "127.0.0.1", "port": smtp_port, "starttls": False,
                    "from_addr": "jianguan@office.example", "to": ["duty@office.example", "chief@office.example"],
                    "timeout_s": 3})
    return out


def build(raw: dict[str, Any]):
    return build_notifier(TypeAdapter(NotifierConfig).validate_python(raw))


def enqueue(dsn: str, key: str, channel: str, payload: dict[str, Any]) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO outbox (channel, idempotency_key, payload) VALUES (%s, %s, %s)",
                     (channel, key, Jsonb(payload)))


def outbox_rows(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT idempotency_key, channel, status, attempts, last_error FROM outbox"
                            " ORDER BY id").fetchall()


def drive(worker: OutboxWorker, dsn: str, until, timeout: float = 30.0) -> None:
    def settled() -> bool:
        worker.deliver_due()
        return until(outbox_rows(dsn))

    wait_until(settled, timeout, f"the outbox to settle: {outbox_rows(dsn)}")


# -- configuration --------------------------------------------------------------------------------------
def test_each_type_parses_into_the_union_and_builds():
    cfg = AlertsConfig(notifiers=[
        {"type": "wecom", "id": "w", "url": "https://robot/send?key=K"},
        {"type": "dingtalk", "id": "d", "url": "https://robot/send?access_token=T", "secret": "SEC1"},
        {"type": "mqtt", "id": "m", "host": "broker", "username": "u", "password": "p"},
        {"type": "email", "id": "e", "host": "smtp", "from_addr": "a@b.c", "to": ["d@e.f"],
         "username": "u", "password": "p"},
    ])
    kinds = [type(build_notifier(n)).__name__ for n in cfg.notifiers]
    assert kinds == ["WeComNotifier", "DingTalkNotifier", "MqttNotifier", "EmailNotifier"]
    assert "K" not in repr(cfg) and "SEC1" not in repr(cfg) and "'p'" not in repr(cfg)


@pytest.mark.parametrize("raw, problem", [
    ({"type": "mqtt", "id": "m", "host": "h", "topic": "a/{camera}"}, "unknown topic fields"),
    ({"type": "mqtt", "id": "m", "host": "h", "topic": "a/#"}, "wildcard"),
    ({"type": "email", "id": "e", "host": "h", "from_addr": "a@b", "to": []}, "at least 1"),
    ({"type": "email", "id": "e", "host": "h", "from_addr": "a@b", "to": ["c@d"], "starttls": False,
      "username": "u", "password": "p"}, "in clear"),
    ({"type": "wecom", "id": "w", "url": "u", "timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"type": "sms", "id": "s"}, "unknown type 'sms'; known: dingtalk, email, mqtt, webhook, wecom"),
])
def test_bad_notifier_configs_are_refused(raw, problem):
    with pytest.raises(ValidationError) as err:
        TypeAdapter(NotifierConfig).validate_python(raw)
    assert problem in str(err.value)


def test_site_config_refuses_clear_text_notifier_secrets():
    from jianguan.config import ConfigError, parse_config

    raw = {"site": {"id": "s"}, "cameras": [], "alerts": {"notifiers": [
        {"type": "wecom", "id": "w", "url": "https://robot/send?key=CLEAR"},
        {"type": "dingtalk", "id": "d", "url": "${DING_URL}", "secret": "SECclear"},
        {"type": "mqtt", "id": "m", "host": "h", "username": "u", "password": "clear"},
    ]}}
    with pytest.raises(ConfigError) as err:
        parse_config(raw, env={"DING_URL": "https://x"})
    text = str(err.value)
    for where in ("notifiers[0].url", "notifiers[1].secret", "notifiers[2].password"):
        assert where in text
    assert "CLEAR" not in text and "SECclear" not in text


# -- WeCom and DingTalk -----------------------------------------------------------------------------------
def test_dingtalk_sign_matches_the_published_algorithm():
    # Vector from an independent implementation (Rust crate `dingding`): timestamp 1700000000000, secret "secret".
    from urllib.parse import quote_plus

    assert quote_plus(dingtalk_sign("secret", 1700000000000)) == "OuzzJR5%2BxZ4%2FEYwqtNt6sMYZQMTa%2FHEGvc9miJe7XzY%3D"
    url = signed_url("https://oapi.example/robot/send?access_token=T", "secret", 1700000000000)
    assert url.endswith("?access_token=T&timestamp=1700000000000&sign=OuzzJR5%2BxZ4%2FEYwqtNt6sMYZQMTa%2FHEG"
                        "vc9miJe7XzY%3D")


def test_wecom_markdown_is_delivered(robots):
    build(configs(robots)[0]).send(alert_payload(), "alert-7-opened-wecom")
    (body,) = robots.deliveries["wecom"]
    assert body["msgtype"] == "markdown"
    assert_alert_text(body["markdown"]["content"])


def test_dingtalk_signed_markdown_is_delivered(robots):
    build(configs(robots)[1]).send(alert_payload(ack_url="http://127.0.0.1:8080/ack/tok"), "alert-7-opened-ding")
    assert robots.bad_signatures == 0
    (body,) = robots.deliveries["dingtalk"]
    assert body["markdown"]["title"] == "[监管告警] Zone staff unattended for 8 s"
    assert_alert_text(body["markdown"]["text"])
    assert "http://127.0.0.1:8080/ack/tok" in body["markdown"]["text"]


def test_dingtalk_wrong_secret_is_a_delivery_error_without_secrets(robots):
    raw = dict(configs(robots)[1], secret="SECwrong")
    with pytest.raises(DeliveryError) as err:
        build(raw).send(alert_payload(), "k")
    assert robots.bad_signatures == 1 and robots.deliveries["dingtalk"] == []
    assert str(err.value) == "dingtalk ding: errcode 310000"


def test_dingtalk_unsigned_robot():
    server = RobotServer(ding_secret=None)
    try:
        build({"type": "dingtalk", "id": "ding", "url": server.ding_url}).send(alert_payload(), "k")
        assert len(server.deliveries["dingtalk"]) == 1
    finally:
        server.close()


def test_robot_errors_never_show_key_token_or_errmsg(robots):
    robots.fail["wecom"] = robots.fail["dingtalk"] = 1
    for raw, code in ((configs(robots)[0], 45009), (configs(robots)[1], 130101)):
        with pytest.raises(DeliveryError) as err:
            build(raw).send(alert_payload(), "k")
        assert str(err.value).endswith(f"errcode {code}")
    port = free_port()  # nobody listens: httpx's own message would carry the URL
    for raw in ({"type": "wecom", "id": "w", "url": f"http://127.0.0.1:{port}/send?key={WECOM_KEY}"},
                {"type": "dingtalk", "id": "d", "url": f"http://127.0.0.1:{port}/send?access_token={DING_TOKEN}",
                 "secret": DING_SECRET}):
        with pytest.raises(DeliveryError) as err:
            build(raw).send(alert_payload(), "k")
        assert "ConnectError" in str(err.value)
        for secret in (WECOM_KEY, DING_TOKEN, DING_SECRET, "127.0.0.1"):
            assert secret not in str(err.value)


def test_robots_through_the_outbox_fail_then_deliver_once(pool, db_dsn, robots):
    robots.fail["wecom"] = robots.fail["dingtalk"] = 2
    notifiers = {n.id: n for n in map(build, configs(robots))}
    for channel in notifiers:
        enqueue(db_dsn, f"alert-7-opened-{channel}", channel, alert_payload())
    worker = OutboxWorker(pool, notifiers, RetryConfig(initial_s=0.05, max_s=0.1, max_attempts=5))
    drive(worker, db_dsn, lambda rs: all(r[2] == "delivered" for r in rs))
    assert robots.attempts == {"wecom": 3, "dingtalk": 3}
    assert len(robots.deliveries["wecom"]) == len(robots.deliveries["dingtalk"]) == 1
    assert [r[3] for r in outbox_rows(db_dsn)] == [3, 3]
    worker.deliver_due()
    assert robots.attempts == {"wecom": 3, "dingtalk": 3}


# -- MQTT ------------------------------------------------------------------------------------------------
def test_topic_values_cannot_add_levels_or_wildcards():
    payload = alert_payload(site_id="a/b+#", severity=None)
    assert topic_for("jianguan/alerts/{site_id}/{severity}", payload) == "jianguan/alerts/a_b__/-"


@needs_mosquitto
def test_mqtt_publish_reaches_a_subscriber(brokers):
    broker = brokers()
    sub = Subscriber(broker.port)
    try:
        build(configs(mqtt_port=broker.port)[0]).send(alert_payload(), "alert-7-opened-mqtt")
        wait_until(lambda: sub.messages, 5, "the subscriber to get the message")
        ((topic, body),) = sub.messages
        assert topic == "jianguan/alerts/office-1/major"
        assert body == dict(alert_payload(), idempotency_key="alert-7-opened-mqtt")
    finally:
        sub.close()


@needs_mosquitto
def test_mqtt_broker_down_then_up_through_the_outbox(pool, db_dsn, brokers):
    port = free_port()
    notifier = build(configs(mqtt_port=port)[0])
    enqueue(db_dsn, "alert-7-opened-mqtt", "mqtt", alert_payload())
    worker = OutboxWorker(pool, {"mqtt": notifier}, RetryConfig(initial_s=0.05, max_s=0.1, max_attempts=10))
    assert worker.deliver_due() == 1
    (_, _, status, attempts, last_error) = outbox_rows(db_dsn)[0]
    assert (status, attempts) == ("pending", 1)
    assert last_error == "mqtt mqtt: cannot connect (ConnectionRefusedError)"
    broker = brokers(port=port)
    sub = Subscriber(broker.port)
    try:
        drive(worker, db_dsn, lambda rs: rs[0][2] == "delivered")
        wait_until(lambda: sub.messages, 5, "the subscriber to get the message")
        assert [m[1]["idempotency_key"] for m in sub.messages] == ["alert-7-opened-mqtt"]
    finally:
        sub.close()


@needs_mosquitto
def test_mqtt_credentials(brokers):
    broker = brokers(users={"jianguan": MQTT_PASSWORD})
    sub = Subscriber(broker.port, auth=("jianguan", MQTT_PASSWORD))
    try:
        good = dict(configs(mqtt_port=broker.port)[0], username="jianguan", password=MQTT_PASSWORD)
        build(good).send(alert_payload(), "k1")
        wait_until(lambda: sub.messages, 5, "the subscriber to get the message")
        for bad in (dict(good, password="wrong-" + MQTT_PASSWORD), configs(mqtt_port=broker.port)[0]):
            with pytest.raises(DeliveryError) as err:
                build(bad).send(alert_payload(), "k2")
            assert "connection refused" in str(err.value) and MQTT_PASSWORD not in str(err.value)
        assert len(sub.messages) == 1
    finally:
        sub.close()


# -- e-mail ----------------------------------------------------------------------------------------------
def test_email_text_html_and_message_id(smtp):
    notifier = build(configs(smtp_port=smtp.port)[0])
    notifier.send(alert_payload(), "alert-7-opened-mail")
    notifier.send(alert_payload(), "alert-7-opened-mail")  # a repeat is recognisable: same Message-ID
    first, again = smtp.messages
    assert first["Message-ID"] == again["Message-ID"] == "<alert-7-opened-mail@jianguan.local>"
    assert first["X-Jianguan-Idempotency-Key"] == "alert-7-opened-mail"
    assert first["Subject"] == "[监管告警] Zone staff unattended for 8 s"
    assert first["To"] == "duty@office.example, chief@office.example"
    assert_alert_text(first.get_body(("plain",)).get_content())
    html = first.get_body(("html",)).get_content()
    assert_alert_text(html)
    assert '<a href="http://127.0.0.1:8080/alerts/7">' in html


def test_email_through_the_outbox_fails_then_delivers_once(pool, db_dsn, smtp):
    smtp.fail_first = 2
    enqueue(db_dsn, "alert-7-opened-mail", "mail", alert_payload())
    worker = OutboxWorker(pool, {"mail": build(configs(smtp_port=smtp.port)[0])},
                          RetryConfig(initial_s=0.05, max_s=0.1, max_attempts=5))
    worker.deliver_due()
    assert outbox_rows(db_dsn)[0][2:] == ("pending", 1, "email mail: SMTP 451 (SMTPDataError)")
    drive(worker, db_dsn, lambda rs: rs[0][2] == "delivered")
    assert smtp.attempts == 3 and len(smtp.messages) == 1


@pytest.fixture
def tls_files():
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = Path(tempfile.mkdtemp(prefix="jianguan-tls-"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(folder / "key.pem"),
                    "-out", str(folder / "cert.pem")], check=True, capture_output=True)
    yield folder / "cert.pem", folder / "key.pem"
    shutil.rmtree(folder, ignore_errors=True)


def test_email_starttls_then_login(tls_files):
    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        sink.logins.append(auth_data.login.decode())
        return AuthResult(success=auth_data.password.decode() == SMTP_PASSWORD)

    sink = SmtpSink(tls_context=context, require_starttls=True, authenticator=authenticator, auth_require_tls=True)
    try:
        raw = dict(configs(smtp_port=sink.port)[0], starttls=True, ca_file=str(cert), username="jianguan",
                   password=SMTP_PASSWORD)
        build(raw).send(alert_payload(), "alert-7-opened-mail")
        assert sink.logins == ["jianguan"] and len(sink.messages) == 1
        with pytest.raises(DeliveryError) as err:
            build(dict(raw, password="wrong")).send(alert_payload(), "k")
        # smtplib tries each offered mechanism; aiosmtpd answers 535 and may hang up: either way, a failure.
        assert str(err.value) in ("email mail: SMTP 535 (SMTPAuthenticationError)",
                                  "email mail: SMTPServerDisconnected")
        assert len(sink.messages) == 1
        with pytest.raises(DeliveryError) as err:  # an unknown CA: nothing, not even the login, goes out
            build(dict(raw, ca_file=None)).send(alert_payload(), "k")
        assert "SSLCertVerificationError" in str(err.value) and len(sink.logins) == 2
    finally:
        sink.close()


def test_email_refuses_to_log_in_where_no_starttls_is_offered(smtp):
    raw = dict(configs(smtp_port=smtp.port)[0], starttls=True, username="u", password=SMTP_PASSWORD)
    with pytest.raises(DeliveryError) as err:
        build(raw).send(alert_payload(), "k")
    assert str(err.value) == "email mail: server offers no STARTTLS"
    assert smtp.messages == []


def test_a_notifier_bug_costs_an_attempt_not_the_queue(pool, db_dsn):
    class Broken:
        id, min_severity = "broken", "info"

        def send(self, payload, key):
            raise KeyError("secret-detail")

    enqueue(db_dsn, "k", "broken", alert_payload())
    worker = OutboxWorker(pool, {"broken": Broken()}, RetryConfig(initial_s=5, max_attempts=5))
    assert worker.deliver_due() == 1
    assert outbox_rows(db_dsn)[0][2:] == ("pending", 1, "broken: unexpected KeyError")


# -- worker processes killed with SIGKILL ------------------------------------------------------------------
def spawn_worker(dsn: str, notifiers: list[dict], retry: dict, die_after_send: str | None = None):
    spec = {"dsn": dsn, "notifiers": notifiers, "retry": retry, "poll_s": 0.05, "die_after_send": die_after_send}
    proc = subprocess.Popen([sys.executable, str(HERE / "outbox_worker_proc.py")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=HERE.parent.parent, text=True)
    proc.stdin.write(json.dumps(spec))
    proc.stdin.close()
    return proc


def kill9(proc: subprocess.Popen) -> None:
    proc.kill()  # SIGKILL: no cleanup, no rollback by the process itself
    assert proc.wait(10) == -9
    proc.stdout.close()


@needs_mosquitto
def test_killed_between_attempts_and_restarted_every_alert_once_per_channel(db_dsn, robots, smtp, webhook,
                                                                             brokers):
    channels = ["hook", "wecom", "ding", "mqtt", "mail"]
    alerts = [101, 102, 103]
    keys = {ch: [f"alert-{a}-opened-{ch}" for a in alerts] for ch in channels}
    for a in alerts:
        for ch in channels:
            enqueue(db_dsn, f"alert-{a}-opened-{ch}", ch, alert_payload(a))
    # Every channel refuses its first attempt of each alert; the MQTT broker is not even up yet.
    webhook.fail_first = smtp.fail_first = robots.fail["wecom"] = robots.fail["dingtalk"] = len(alerts)
    mqtt_port = free_port()
    notifiers = configs(robots, smtp.port, mqtt_port, webhook.url)
    # The first retry is due 4-6 s after a failure: the first process is idle (between attempts) when killed.
    retry = {"initial_s": 5.0, "max_s": 5.0, "max_attempts": 10}

    first = spawn_worker(db_dsn, notifiers, retry)
    assert first.stdout.readline().strip() == "ready"
    wait_until(lambda: all(r[3] == 1 for r in outbox_rows(db_dsn)), 30, "every row's first attempt")
    raw_attempts = (webhook.attempts, smtp.attempts, dict(robots.attempts))
    kill9(first)
    # Every send the dead process made is on record, and none was cut off half-way.
    assert raw_attempts == (3, 3, {"wecom": 3, "dingtalk": 3})
    assert (webhook.attempts, smtp.attempts, robots.attempts) == raw_attempts
    assert all(r[2:4] == ("pending", 1) for r in outbox_rows(db_dsn))
    assert webhook.deliveries == [] and smtp.messages == [] and robots.deliveries == {"wecom": [], "dingtalk": []}

    broker = brokers(port=mqtt_port)
    sub = Subscriber(broker.port)
    second = spawn_worker(db_dsn, notifiers, retry)
    try:
        assert second.stdout.readline().strip() == "ready"
        wait_until(lambda: all(r[2] == "delivered" for r in outbox_rows(db_dsn)), 40, "every row delivered")
        time.sleep(0.5)  # a stray repeat would arrive now
    finally:
        kill9(second)
        sub.close()

    # Raw counts, no dedupe: exactly one delivery per alert per channel.
    assert sorted(d.headers["Idempotency-Key"] for d in webhook.deliveries) == keys["hook"]
    assert sorted(m[1]["idempotency_key"] for m in sub.messages) == keys["mqtt"]
    assert sorted(m["X-Jianguan-Idempotency-Key"] for m in smtp.messages) == keys["mail"]
    for kind in ("wecom", "dingtalk"):
        texts = [json.dumps(b, ensure_ascii=False) for b in robots.deliveries[kind]]
        assert len(texts) == 3
        assert sorted(a for a in alerts for t in texts if f"/alerts/{a})" in t) == alerts
    assert (webhook.attempts, smtp.attempts, robots.attempts) == (6, 6, {"wecom": 6, "dingtalk": 6})
    assert robots.bad_signatures == 0
    assert all(r[2:4] == ("delivered", 2) for r in outbox_rows(db_dsn))


@pytest.mark.parametrize("channel", ["hook", "mqtt", "mail"])
def test_killed_after_send_before_commit_repeats_with_the_same_key(db_dsn, smtp, webhook, brokers, channel):
    """The one window the outbox cannot close: the receiver took the message, the process died before the
    row was marked. The row is sent again with the same idempotency key, so a receiver that keys on it
    (webhook header, MQTT payload field, e-mail Message-ID) keeps exactly one. Chat robots cannot."""
    if channel == "mqtt" and MOSQUITTO is None:
        pytest.skip("the mosquitto broker is not installed (apt-get install -y mosquitto)")
    broker = brokers() if channel == "mqtt" else None
    sub = Subscriber(broker.port) if broker else None
    key = f"alert-9-opened-{channel}"
    enqueue(db_dsn, key, channel, alert_payload(9))
    notifiers = [n for n in configs(smtp_port=smtp.port, mqtt_port=broker.port if broker else None,
                                    webhook_url=webhook.url) if n["id"] == channel]
    retry = {"initial_s": 0.1, "max_attempts": 5}

    def received() -> list[str]:
        if channel == "hook":
            return [d.headers["Idempotency-Key"] for d in webhook.deliveries]
        if channel == "mqtt":
            return [m[1]["idempotency_key"] for m in sub.messages]
        return [m["Message-ID"] for m in smtp.messages]

    try:
        proc = spawn_worker(db_dsn, notifiers, retry, die_after_send=channel)
        wait_until(lambda: proc.poll() is not None, 30, "the worker to die right after its send")
        assert proc.returncode == -9
        proc.stdout.close()
        wait_until(lambda: len(received()) == 1, 5, "the first delivery")
        assert outbox_rows(db_dsn)[0][2:4] == ("pending", 0)  # the receiver has it; the outbox never knew

        survivor = spawn_worker(db_dsn, notifiers, retry)
        try:
            wait_until(lambda: outbox_rows(db_dsn)[0][2] == "delivered", 30, "the row delivered")
            wait_until(lambda: len(received()) == 2, 5, "the repeated delivery")
        finally:
            kill9(survivor)
    finally:
        if sub:
            sub.close()
    expected = f"<{key}@jianguan.local>" if channel == "mail" else key
    assert received() == [expected, expected]  # raw: twice, with one key ...
    assert len(set(received())) == 1  # ... so keyed on it, once
