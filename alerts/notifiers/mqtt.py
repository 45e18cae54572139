"""MQTT publish with paho-mqtt 2.x: QoS 1, success only once the broker's PUBACK is in.

One short connection per message (clean session): alerts are rare, and a fresh connection leaves no half-
acknowledged in-flight message behind a failure that paho would replay on its own beside the outbox's retry.
The JSON payload carries the idempotency key, so a subscriber can drop the repeat that a crash between the
PUBACK and the database commit can cause.

TLS (`tls: true`): the broker's certificate is verified against `ca_file` (else the system's CAs) and its
name against `host`, during `connect()`, before the CONNECT packet (and any password) is sent. A rejected
certificate is a `DeliveryError` naming the reason, so the message is retried and, if it never works,
ends `dead` in the outbox with that reason; the notifier never crashes the worker.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from alerts.config import NOTIFIER_KINDS, MqttNotifierConfig
from alerts.notifiers.webhook import DeliveryError

log = logging.getLogger(__name__)

# OpenSSL verify codes worth a plain word; others are reported by number.
_UNTRUSTED = "issuer not trusted (wrong ca_file?)"
_VERIFY_REASONS = {10: "certificate expired", 18: _UNTRUSTED, 19: _UNTRUSTED, 20: _UNTRUSTED, 21: _UNTRUSTED,
                   62: "certificate not valid for the host name", 64: "certificate not valid for the host name"}

_TOPIC_UNSAFE = str.maketrans({"/": "_", "+": "_", "#": "_", "\0": "_"})


def topic_for(template: str, payload: dict[str, Any]) -> str:
    """Fill the template; a value can neither add a topic level nor a wildcard."""
    values = {}
    for name in ("event", "alert_id", "site_id", "camera_id", "rule", "zone_id", "severity"):
        value = payload.get(name)
        values[name] = "-" if value is None or value == "" else str(value).translate(_TOPIC_UNSAFE)
    return template.format(**values)


@NOTIFIER_KINDS.register(MqttNotifierConfig)
class MqttNotifier:
    def __init__(self, config: MqttNotifierConfig) -> None:
        self.id = config.id
        self.min_severity = config.min_severity
        self.config = config
        self._tls: ssl.SSLContext | None = None
        self._tls_error: str | None = None
        if config.tls:
            try:
                self._tls = tls_context(config)
            except (OSError, ssl.SSLError) as exc:  # a missing or bad file: every send fails, nothing crashes
                self._tls_error = f"mqtt {self.id}: cannot load TLS files ({type(exc).__name__})"
                log.error("%s", self._tls_error)

    def message(self, payload: dict[str, Any], idempotency_key: str) -> tuple[str, bytes]:
        body = dict(payload, idempotency_key=idempotency_key)
        return topic_for(self.config.topic, payload), json.dumps(body, ensure_ascii=False, sort_keys=True).encode()

    def send(self, payload: dict[str, Any], idempotency_key: str) -> None:
        topic, body = self.message(payload, idempotency_key)
        try:
            self._publish(topic, body)
        except DeliveryError:
            raise
        except Exception as exc:  # paho or the socket layer: report the kind, never host details or credentials
            raise DeliveryError(f"mqtt {self.id}: {type(exc).__name__}") from None

    def _publish(self, topic: str, body: bytes) -> None:
        cfg = self.config
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{cfg.client_id_prefix}{uuid.uuid4().hex[:12]}",
                             protocol=mqtt.MQTTv311, clean_session=True)
        client.connect_timeout = cfg.timeout_s
        if cfg.tls:
            if self._tls is None:
                raise DeliveryError(self._tls_error or f"mqtt {self.id}: no TLS context")
            client.tls_set_context(self._tls)
        if cfg.username is not None:
            client.username_pw_set(cfg.username, cfg.password.get_secret_value() if cfg.password else None)
        answered = threading.Event()
        outcome: dict[str, Any] = {}

        def on_connect(_client, _userdata, _flags, reason_code, _properties) -> None:
            outcome["connack"] = reason_code
            answered.set()

        def on_disconnect(_client, _userdata, _flags, reason_code, _properties) -> None:
            outcome.setdefault("connack", reason_code)
            answered.set()

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        try:
            client.connect(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
        except ssl.SSLCertVerificationError as exc:
            reason = _VERIFY_REASONS.get(exc.verify_code, f"verify error {exc.verify_code}")
            raise DeliveryError(f"mqtt {self.id}: TLS: broker certificate rejected: {reason}") from None
        except ssl.SSLError as exc:  # handshake refused: e.g. the broker wants a client certificate
            raise DeliveryError(f"mqtt {self.id}: TLS handshake failed ({exc.reason or type(exc).__name__})") from None
        except OSError as exc:
            raise DeliveryError(f"mqtt {self.id}: cannot connect ({type(exc).__name__})") from None
        client.loop_start()
        try:
            if not answered.wait(cfg.timeout_s):
                raise DeliveryError(f"mqtt {self.id}: no CONNACK within {cfg.timeout_s:g} s")
            connack = outcome["connack"]
            if getattr(connack, "is_failure", True):
                raise DeliveryError(f"mqtt {self.id}: connection refused ({connack})")
            info = client.publish(topic, body, qos=1)
            try:
                info.wait_for_publish(cfg.timeout_s)
            except (ValueError, RuntimeError) as exc:
                raise DeliveryError(f"mqtt {self.id}: publish failed ({type(exc).__name__})") from None
            if not info.is_published():
                raise DeliveryError(f"mqtt {self.id}: no PUBACK within {cfg.timeout_s:g} s")
        finally:
            client.disconnect()
            client.loop_stop()


def tls_context(config: MqttNotifierConfig) -> ssl.SSLContext:
    """A client context that verifies the broker (CA and host name), with the client certificate if given."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=config.ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if config.cert_file:
        context.load_cert_chain(config.cert_file, config.key_file)
    return context
