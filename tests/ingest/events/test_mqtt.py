"""MQTT intake against a real mosquitto: topics, junk, repeats, a real QoS 1 redelivery, broker restart."""

from __future__ import annotations

import json
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.events import parse_batch
from ingest.events.config import MqttIntakeConfig
from ingest.events.mqtt import LaneSensorSubscriber

TOPIC = "jianguan/hq/lane/lane-1/events"


def publisher(port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{port}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def publish(client: mqtt.Client, topic: str, payload: bytes | str | dict | list) -> None:
    if isinstance(payload, dict | list):
        payload = json.dumps(payload, ensure_ascii=False)
    client.publish(topic, payload, qos=1).wait_for_publish(10)


@pytest.fixture
def subscriber(broker, intake, ev):
    sub = LaneSensorSubscriber(intake, MqttIntakeConfig(port=broker.port, client_id="intake-test"))
    sub.start()
    assert sub.subscribed.wait(10), "no SUBACK"
    yield sub
    sub.stop()


def count(ev, dsn, sql="SELECT count(*) FROM lane_events"):
    return ev.query(dsn, sql)[0][0]


def test_messages_are_stored_with_site_and_lane_from_the_topic(broker, subscriber, db_dsn, ev):
    pub = publisher(broker.port)
    try:
        msg = ev.lane("m1", "vehicle_in", 0)
        del msg["site_id"], msg["lane_id"]
        publish(pub, TOPIC, msg)
        publish(pub, "jianguan/hq/lane/lane-2/events", [ev.lane("m2", "inspection_start", 1, lane_id="lane-2"),
                                                         ev.lane("m3", "inspection_end", 9, lane_id="lane-2")])
        publish(pub, TOPIC, ev.lane("m4", "vehicle_in", 2, lane_id="lane-9"))   # contradicts the topic
        publish(pub, TOPIC, b"\x00\x01 binary junk")
        publish(pub, "jianguan/bad site/lane/x/events", ev.lane("m5", "vehicle_in", 3, site="bad site", lane_id="x"))
        ev.wait_until(lambda: subscriber.acked == 5, 20, "five acknowledgements")
    finally:
        pub.loop_stop()
        pub.disconnect()
    assert ev.query(db_dsn, "SELECT message_id, site_id, lane_id FROM lane_events ORDER BY 1") == [
        ("m1", "hq", "lane-1"), ("m2", "hq", "lane-2"), ("m3", "hq", "lane-2")]
    assert ev.query(db_dsn, "SELECT count(finished_at) FROM inspections") == [(1,)]
    dead = ev.query(db_dsn, "SELECT source, reason FROM dead_letters ORDER BY id")
    assert dead[0] == (f"mqtt:{TOPIC}", "lane_id 'lane-9' differs from the topic's 'lane-1'")
    assert dead[1][0] == f"mqtt:{TOPIC}" and dead[1][1].startswith("not valid JSON")
    assert dead[2][1].startswith("site_id: String should match pattern")


def test_same_id_published_twice_is_stored_once(broker, subscriber, db_dsn, ev):
    pub = publisher(broker.port)
    try:
        for _ in range(3):
            publish(pub, TOPIC, [ev.lane(f"r{i}", "vehicle_in", i) for i in range(10)])
        ev.wait_until(lambda: subscriber.acked == 3, 20, "three acknowledgements")
    finally:
        pub.loop_stop()
        pub.disconnect()
    assert count(ev, db_dsn) == 10 and count(ev, db_dsn, "SELECT count(*) FROM intake_seen") == 10
    assert subscriber.intake.counts["accepted"] == 10 and subscriber.intake.counts["duplicate"] == 20


def test_qos1_redelivery_after_a_crash_before_the_ack_is_counted_once(broker, intake, db_dsn, ev):
    """A first subscriber stores the messages but 'crashes' before acknowledging them; the broker then
    redelivers them (DUP) to the next session with the same client id, which must store nothing twice."""
    received: list[mqtt.MQTTMessage] = []
    got_all = threading.Event()
    crashed = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="intake-crash", clean_session=False,
                          protocol=mqtt.MQTTv311, manual_ack=True)
    subscribed = threading.Event()
    crashed.on_connect = lambda c, *_: c.subscribe("jianguan/+/lane/+/events", qos=1)
    crashed.on_subscribe = lambda *_: subscribed.set()

    def on_message(_c, _u, msg):
        received.append(msg)
        intake.submit(parse_batch(msg.payload, "lane_events", source="mqtt"))  # stored ...
        if len(received) == 8:
            got_all.set()                                                     # ... never acknowledged

    crashed.on_message = on_message
    crashed.connect("127.0.0.1", broker.port)
    crashed.loop_start()
    assert subscribed.wait(10)
    pub = publisher(broker.port)
    for i in range(8):
        publish(pub, TOPIC, ev.lane(f"q{i}", "vehicle_in", i))
    assert got_all.wait(20)
    crashed.loop_stop()
    crashed._sock_close()  # noqa: SLF001 - a crash: no DISCONNECT, no PUBACK
    assert count(ev, db_dsn) == 8

    sub = LaneSensorSubscriber(intake, MqttIntakeConfig(port=broker.port, client_id="intake-crash"))
    sub.start()
    try:
        ev.wait_until(lambda: sub.acked == 8, 30, "the redelivered messages to be acknowledged")
        assert sub.redelivered == 8  # the broker really sent them again, flagged DUP
        publish(pub, TOPIC, ev.lane("q8", "vehicle_in", 9))
        ev.wait_until(lambda: sub.acked == 9, 20, "a fresh message")
    finally:
        sub.stop()
        pub.loop_stop()
        pub.disconnect()
    assert count(ev, db_dsn) == 9
    assert intake.counts["accepted"] == 9 and intake.counts["duplicate"] == 8


def test_subscriber_reconnects_after_a_broker_restart(broker, subscriber, db_dsn, ev):
    pub = publisher(broker.port)
    publish(pub, TOPIC, ev.lane("b1", "vehicle_in", 0))
    ev.wait_until(lambda: subscriber.acked == 1, 20, "first message")
    pub.loop_stop()
    pub.disconnect()
    broker.stop()
    ev.wait_until(lambda: not subscriber.connected.is_set(), 10, "the subscriber to notice")
    broker.start()
    assert subscriber.subscribed.wait(40), "no resubscription after the broker came back"
    pub = publisher(broker.port)
    try:
        publish(pub, TOPIC, ev.lane("b2", "vehicle_in", 1))
        ev.wait_until(lambda: subscriber.acked == 2, 20, "message after the restart")
    finally:
        pub.loop_stop()
        pub.disconnect()
    assert count(ev, db_dsn) == 2
