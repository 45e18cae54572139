"""MQTT notifier over TLS against a real Mosquitto with a TLS listener, certificates made here with openssl:
a CA, a server certificate for 127.0.0.1 / localhost, a client certificate, and an unrelated second CA."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from pydantic import TypeAdapter, ValidationError

from alerts import DeliveryError, NotifierConfig, OutboxWorker, RetryConfig, build_notifier
from tests.testkit.mosquitto import Mosquitto, needs_mosquitto
from tests.testkit.net import free_port, wait_until

pytestmark = [
    needs_mosquitto,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make test certificates"),
]
PAYLOAD = {"event": "alert.opened", "alert_id": 7, "site_id": "office-1", "camera_id": "window-03",
           "rule": "zone_unattended", "zone_id": "staff", "severity": "major", "title": "Zone staff unattended"}


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


class Pki:
    """CA -> server (SAN 127.0.0.1, localhost) and client certificates; `other_ca` signed nothing here."""

    def __init__(self, folder: Path) -> None:
        self.dir = folder
        for ca in ("ca", "other_ca"):
            openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN=jianguan test {ca}",
                    "-keyout", str(folder / f"{ca}.key"), "-out", str(folder / f"{ca}.pem"))
        self._issue("server", "/CN=localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost")
        self._issue("client", "/CN=jianguan-node", "extendedKeyUsage=clientAuth")
        for path in folder.iterdir():
            path.chmod(0o644)  # mosquitto, run as root, drops to its own account and must read them

    def _issue(self, name: str, subject: str, extension: str) -> None:
        d = self.dir
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", str(d / f"{name}.key"),
                "-out", str(d / f"{name}.csr"))
        (d / f"{name}.ext").write_text(extension + "\n")
        openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.pem"), "-CAkey", str(d / "ca.key"),
                "-CAcreateserial", "-days", "2", "-extfile", str(d / f"{name}.ext"), "-out", str(d / f"{name}.pem"))

    def path(self, name: str) -> str:
        return str(self.dir / name)


class TlsBroker(Mosquitto):
    """Mosquitto with a plain listener (`plain_port`) on 127.0.0.1 for the test's subscriber, a TLS listener
    (`tls_port`), and the same TLS listener on 127.0.0.2 (`alt_port`): an address the server certificate does
    not name."""

    def __init__(self, pki: Pki, require_client_cert: bool = False) -> None:
        self.tls_port, self.alt_port = free_port(), free_port()
        tls = [f"cafile {pki.path('ca.pem')}", f"certfile {pki.path('server.pem')}",
               f"keyfile {pki.path('server.key')}", f"require_certificate {'true' if require_client_cert else 'false'}"]
        plain = free_port()
        super().__init__(plain, extra=[f"listener {self.tls_port} 127.0.0.1", *tls,
                                       f"listener {self.alt_port} 127.0.0.2", *tls],
                         wait_ports=[plain, self.tls_port])
        self.plain_port = plain


class Subscriber:
    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, dict]] = []
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-sub-{port}")
        self.client.on_connect = lambda c, *_: c.subscribe("jianguan/alerts/#", qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = lambda _c, _u, msg: self.messages.append((msg.topic, json.loads(msg.payload)))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(10), "no SUBACK from mosquitto"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="module")
def pki():
    folder = Path(tempfile.mkdtemp(prefix="jianguan-pki-"))
    folder.chmod(0o755)
    yield Pki(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def broker(pki):
    b = TlsBroker(pki)
    yield b
    b.close()


def config(port: int, **extra: Any) -> dict[str, Any]:
    return {"type": "mqtt", "id": "mqtt", "host": "127.0.0.1", "port": port, "tls": True, "timeout_s": 3, **extra}


def build(raw: dict[str, Any]):
    return build_notifier(TypeAdapter(NotifierConfig).validate_python(raw))


def test_tls_config_defaults_and_refusals():
    adapter = TypeAdapter(NotifierConfig)
    assert adapter.validate_python({"type": "mqtt", "id": "m", "host": "h", "tls": True}).port == 8883
    assert adapter.validate_python({"type": "mqtt", "id": "m", "host": "h"}).port == 1883
    assert adapter.validate_python({"type": "mqtt", "id": "m", "host": "h", "tls": True, "port": 9999}).port == 9999
    for raw, problem in (({"ca_file": "/x"}, "need tls: true"),
                         ({"tls": True, "cert_file": "/c"}, "cert_file and key_file go together")):
        with pytest.raises(ValidationError) as err:
            adapter.validate_python({"type": "mqtt", "id": "m", "host": "h", **raw})
        assert problem in str(err.value)


def test_publish_over_tls_with_the_right_ca(broker, pki):
    sub = Subscriber(broker.plain_port)
    try:
        build(config(broker.tls_port, ca_file=pki.path("ca.pem"))).send(PAYLOAD, "alert-7-opened-mqtt")
        wait_until(lambda: sub.messages, 5, "the subscriber to get the message")
        ((topic, body),) = sub.messages
        assert topic == "jianguan/alerts/office-1/major" and body["idempotency_key"] == "alert-7-opened-mqtt"
    finally:
        sub.close()


@pytest.mark.parametrize("name, raw, reason", [
    ("wrong CA", {"ca_file": "other_ca.pem"}, "issuer not trusted (wrong ca_file?)"),
    ("system CAs", {}, "issuer not trusted (wrong ca_file?)"),
    ("name mismatch", {"ca_file": "ca.pem", "host": "127.0.0.2"}, "certificate not valid for the host name"),
])
def test_an_untrusted_broker_is_a_clear_delivery_error(broker, pki, name, raw, reason):
    if "ca_file" in raw:
        raw = dict(raw, ca_file=pki.path(raw["ca_file"]))
    sub = Subscriber(broker.plain_port)
    try:
        port = broker.alt_port if raw.get("host") == "127.0.0.2" else broker.tls_port
        with pytest.raises(DeliveryError) as err:
            build(config(port, **raw)).send(PAYLOAD, "k")
        assert str(err.value) == f"mqtt mqtt: TLS: broker certificate rejected: {reason}", name
        time.sleep(0.3)
        assert sub.messages == []
    finally:
        sub.close()


def test_a_plain_client_on_the_tls_port_fails_cleanly(broker):
    raw = {"type": "mqtt", "id": "mqtt", "host": "127.0.0.1", "port": broker.tls_port, "timeout_s": 2}
    with pytest.raises(DeliveryError) as err:
        build(raw).send(PAYLOAD, "k")
    assert str(err.value).startswith("mqtt mqtt: ")


def test_client_certificate_when_the_broker_requires_one(pki):
    broker = TlsBroker(pki, require_client_cert=True)
    sub = Subscriber(broker.plain_port)
    try:
        with_cert = config(broker.tls_port, ca_file=pki.path("ca.pem"), cert_file=pki.path("client.pem"),
                           key_file=pki.path("client.key"))
        build(with_cert).send(PAYLOAD, "k1")
        wait_until(lambda: sub.messages, 5, "the subscriber to get the message")
        with pytest.raises(DeliveryError) as err:  # TLS 1.3: the broker hangs up after the handshake
            build(config(broker.tls_port, ca_file=pki.path("ca.pem"))).send(PAYLOAD, "k2")
        assert str(err.value).startswith(("mqtt mqtt: connection refused", "mqtt mqtt: TLS handshake failed"))
        time.sleep(0.3)
        assert [m[1]["idempotency_key"] for m in sub.messages] == ["k1"]
    finally:
        sub.close()
        broker.close()


def test_missing_tls_files_fail_each_send_not_the_process(tmp_path):
    notifier = build(config(8883, ca_file=str(tmp_path / "nope.pem")))
    with pytest.raises(DeliveryError) as err:
        notifier.send(PAYLOAD, "k")
    assert str(err.value) == "mqtt mqtt: cannot load TLS files (FileNotFoundError)"


def test_wrong_ca_through_the_outbox_retries_then_lands_dead(db_dsn, broker, pki):
    with psycopg.connect(db_dsn) as conn:
        conn.execute("INSERT INTO outbox (channel, idempotency_key, payload) VALUES ('mqtt', 'alert-7-opened-mqtt',"
                     " %s)", (Jsonb(PAYLOAD),))
    notifier = build(config(broker.tls_port, ca_file=pki.path("other_ca.pem")))
    with ConnectionPool(db_dsn, min_size=1, max_size=2, open=True) as pool:
        worker = OutboxWorker(pool, {"mqtt": notifier}, RetryConfig(initial_s=0.05, max_s=0.1, max_attempts=3))

        def row():
            with psycopg.connect(db_dsn) as conn:
                return conn.execute("SELECT status, attempts, last_error FROM outbox").fetchone()

        worker.deliver_due()
        rejected = "mqtt mqtt: TLS: broker certificate rejected: issuer not trusted (wrong ca_file?)"
        assert row() == ("pending", 1, rejected)

        def settled() -> bool:
            worker.deliver_due()
            return row()[0] == "dead"

        wait_until(settled, 20, "the row to be given up")
        assert row()[1] == 3 and worker.stats.dead == 1
