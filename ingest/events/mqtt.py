"""MQTT intake for lane sensors: QoS 1, a persistent session, acknowledgement only once a message is safe.

paho-mqtt runs with `manual_ack=True`: a message is acknowledged (PUBACK) only after its batch was stored
or written to the spool. A crash before that leaves it unacknowledged; the broker keeps it in the session
(fixed client id, `clean_session=False`) and delivers it again on reconnect, where `intake_seen` turns the
repeat into a `duplicate`. Without a spool, a database outage blocks acknowledgement (the broker's
in-flight window then stops delivery: back-pressure, not loss). paho reconnects by itself, forever, with
a backoff between 1 and 30 s.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ingest.events.config import MqttIntakeConfig
from ingest.events.intake import Intake, StoreUnavailable
from ingest.events.validate import Accepted, DeadLetter, parse_batch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Received:
    mid: int
    qos: int
    topic: str
    payload: bytes
    session: int  # which connection delivered it: an ack is only valid on that one


class LaneSensorSubscriber:
    def __init__(self, intake: Intake, cfg: MqttIntakeConfig, *, max_message_bytes: int = 16 * 1024,
                 max_future_s: float = 300.0) -> None:
        self.intake = intake
        self.cfg = cfg
        self.max_message_bytes = max_message_bytes
        self.max_future_s = max_future_s
        self.received = 0
        self.acked = 0
        self.redelivered = 0  # messages the broker marked DUP: sent before, not acknowledged then
        self.connected = threading.Event()
        self.subscribed = threading.Event()  # set on SUBACK: from then on, nothing published is missed
        self._session = 0
        self._queue: queue.Queue[_Received] = queue.Queue()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._wildcards = [i for i, level in enumerate(cfg.topic.split("/")) if level == "+"]
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cfg.client_id, clean_session=False,
                             protocol=mqtt.MQTTv311, manual_ack=True)
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.password.get_secret_value() if cfg.password else None)
        if cfg.tls:
            client.tls_set(ca_certs=str(cfg.ca_file) if cfg.ca_file else None)
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = lambda *_: self.subscribed.set()
        self.client = client

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._worker = threading.Thread(target=self._work, name="mqtt-intake", daemon=True)
        self._worker.start()
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        self.client.loop_start()  # paho's thread retries the first connection too, forever

    def stop(self) -> None:
        """Stop taking messages; those received and not yet stored stay unacknowledged (the broker keeps
        them for the next start)."""
        self._stop.set()
        if self._worker is not None:
            self._worker.join(30)
        self.client.disconnect()
        self.client.loop_stop()

    # -- paho callbacks (network thread) --------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _userdata, _flags, reason_code, _props=None) -> None:
        if reason_code.is_failure:
            log.warning("MQTT %s:%d refused the connection: %s", self.cfg.host, self.cfg.port, reason_code)
            return
        self._session += 1
        client.subscribe(self.cfg.topic, qos=1)
        self.connected.set()
        log.info("MQTT intake connected to %s:%d, subscribed to %s", self.cfg.host, self.cfg.port, self.cfg.topic)

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _props=None) -> None:
        self.connected.clear()
        self.subscribed.clear()
        if not self._stop.is_set():
            log.warning("MQTT intake disconnected (%s); reconnecting", reason_code)

    def _on_message(self, _client, _userdata, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:  # paho decodes lazily; a broker should never pass this on
            topic = repr(msg._topic)  # noqa: SLF001
        self.received += 1
        if msg.dup:
            self.redelivered += 1
        self._queue.put(_Received(msg.mid, msg.qos, topic, bytes(msg.payload), self._session))

    # -- worker: batch, store, acknowledge ------------------------------------------------------------
    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < self.cfg.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            results = [r for m in batch for r in self._parse(m)]
            if not self._submit(results):
                return  # stopping: the batch stays unacknowledged and comes back next session
            for m in batch:
                if m.qos > 0 and m.session == self._session:
                    self.client.ack(m.mid, m.qos)
                    self.acked += 1

    def _parse(self, m: _Received) -> list[Accepted | DeadLetter]:
        source = f"mqtt:{m.topic[:200]}"
        if len(m.payload) > self.max_message_bytes * 64:  # an array of messages is allowed; not without bound
            return [DeadLetter.of(source, f"payload of {len(m.payload)} bytes is too large", m.payload)]
        levels = m.topic.split("/")
        captured = [levels[i] for i in self._wildcards if i < len(levels)]
        defaults = dict(zip(("site_id", "lane_id"), captured, strict=False))
        return parse_batch(m.payload, "lane_events", source=source, defaults=defaults,
                           max_future_s=self.max_future_s, max_message_bytes=self.max_message_bytes)

    def _submit(self, results: list[Accepted | DeadLetter]) -> bool:
        """Store (or spool) the batch; while that is impossible, retry with backoff. False when stopping."""
        delay = 0.5
        while True:
            try:
                self.intake.submit(results)
                return True
            except StoreUnavailable as exc:
                log.warning("MQTT intake: %s; holding %d messages unacknowledged", exc, len(results))
            except Exception:  # noqa: BLE001 - a bug must not kill the worker: hold the batch, log, retry
                log.exception("MQTT intake: storing a batch failed; holding %d messages unacknowledged",
                              len(results))
            if self._stop.wait(delay):
                return False
            delay = min(delay * 2, 30.0)
