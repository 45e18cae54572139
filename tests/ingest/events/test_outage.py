"""The database stops in the middle of traffic (pg_ctl stop -m fast) and comes back: nothing is lost, nothing
is stored twice. HTTP and MQTT run through the spool; an MQTT subscriber without a spool holds its
acknowledgements instead."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import psycopg
import pytest
import uvicorn
from paho.mqtt.enums import CallbackAPIVersion
from psycopg_pool import ConnectionPool

from ingest.events import EventStore, Intake, Spool
from ingest.events.config import MqttIntakeConfig
from ingest.events.http_api import create_app
from ingest.events.mqtt import LaneSensorSubscriber
from storage import EmbeddedPostgres, migrate

TOKEN = "outage-token-0123456789"
TABLES = "lane_events, inspections, transactions, intake_seen, dead_letters"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[EmbeddedPostgres, str]]:
    data_dir = Path(tempfile.mkdtemp(prefix="jianguan-intake-pg-"))  # reachable by the server's account
    pg = EmbeddedPostgres(data_dir)
    try:
        dsn = pg.start()
        pg.port = pg.running_port()  # restart on the same port: the pool's DSN stays valid
        migrate(dsn)
        yield pg, dsn
    finally:
        pg.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def pg(server):
    pg, dsn = server
    pg.start()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES}")
    return pg, dsn


def _pool(dsn: str) -> ConnectionPool:
    return ConnectionPool(dsn, min_size=1, max_size=4, open=True, reconnect_timeout=300)


def _publisher(port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"outage-pub-{port}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def test_http_and_mqtt_through_an_outage(pg, broker, ev, tmp_path):
    server, dsn = pg
    with _pool(dsn) as pool:
        intake = Intake(EventStore(pool, connect_timeout_s=0.5), Spool(tmp_path / "spool"), retry_s=0.1,
                        max_retry_s=0.5)
        intake.start()
        port = ev.free_port()
        http = uvicorn.Server(uvicorn.Config(create_app(intake, TOKEN), host="127.0.0.1", port=port,
                                             log_level="error"))
        threading.Thread(target=http.run, daemon=True).start()
        sub = LaneSensorSubscriber(intake, MqttIntakeConfig(port=broker.port, client_id="outage-sub", max_batch=20))
        sub.start()
        assert sub.subscribed.wait(10)
        ev.wait_until(lambda: http.started, 10, "uvicorn")
        pub = _publisher(broker.port)
        statuses: list[str] = []
        rounds = {"n": 0}
        stop = threading.Event()
        errors: list[BaseException] = []

        def http_traffic() -> None:
            """Each round: 10 lane events, 5 new tickets, an update of the previous round's tickets, and
            the previous round's lane events again (a client retrying after a timeout)."""
            try:
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                                  headers={"Authorization": f"Bearer {TOKEN}"}) as client:
                    k = 0
                    while not stop.is_set():
                        lanes = [ev.lane(f"h{k}-{i}", "vehicle_in", k + i / 10) for i in range(10)]
                        retry = [ev.lane(f"h{k - 1}-{i}", "vehicle_in", k - 1 + i / 10) for i in range(10)] if k else []
                        for body, path in ((lanes + retry, "lane-events"), (
                                [ev.tx(f"t{k}-{i:03d}", k) for i in range(5)]
                                + [ev.tx(f"t{k - 1}-{i:03d}", k - 1, k, k + 1) for i in range(5 if k else 0)],
                                "transactions")):
                            r = client.post(f"/api/v1/{path}", json=body)
                            assert r.status_code == 200, r.text
                            statuses.extend(x["status"] for x in r.json()["results"])
                        k += 1
                        rounds["n"] = k
                        time.sleep(0.02)
                    # the last round's tickets get their update too
                    r = client.post("/api/v1/transactions", json=[ev.tx(f"t{k - 1}-{i:03d}", k - 1, k, k + 1)
                                                                  for i in range(5)])
                    statuses.extend(x["status"] for x in r.json()["results"])
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)

        def mqtt_traffic() -> None:
            k = 0
            while not stop.is_set():
                # an inspection per vehicle, every event published twice (a sensor that repeats itself)
                for kind, minute in (("inspection_start", 0), ("inspection_end", 12)):
                    msg = ev.lane(f"m{k}-{kind}", kind, k + minute / 100, plate=f"P{k}", lane_id="lane-3")
                    for _ in range(2):
                        pub.publish("jianguan/hq/lane/lane-3/events", __import__("json").dumps(msg), qos=1)
                k += 1
                time.sleep(0.01)
            mqtt_sent["n"] = k

        mqtt_sent = {"n": 0}
        threads = [threading.Thread(target=http_traffic), threading.Thread(target=mqtt_traffic)]
        for t in threads:
            t.start()
        ev.wait_until(lambda: rounds["n"] >= 5, 60, "traffic before the outage")
        server.stop()
        outage_start = rounds["n"]
        ev.wait_until(lambda: rounds["n"] >= outage_start + 10, 60, "traffic during the outage")
        queued_during = statuses.count("queued")
        spooled_batches = intake.pending()
        server.start()
        ev.wait_until(lambda: rounds["n"] >= outage_start + 15, 60, "traffic after the outage")
        stop.set()
        for t in threads:
            t.join(60)
        assert not errors, errors
        ev.wait_until(lambda: intake.pending() == 0, 60, "the spool to drain")
        ev.wait_until(lambda: sub.acked == sub.received and sub._queue.empty(), 60, "MQTT to settle")  # noqa: SLF001
        ev.wait_until(lambda: intake.pending() == 0, 60, "the spool to drain (again)")
        sub.stop()
        intake.close()
        http.should_exit = True
        pub.loop_stop()
        pub.disconnect()

    assert queued_during > 0 and spooled_batches > 0, "the outage did not reach the intake"
    assert not (tmp_path / "spool").exists() or not list((tmp_path / "spool").glob("*.json"))
    k, m = rounds["n"], mqtt_sent["n"]
    q = ev.query
    assert q(dsn, "SELECT count(*), count(DISTINCT message_id) FROM lane_events WHERE message_id LIKE 'h%'")[0] == (
        10 * k, 10 * k)
    assert q(dsn, "SELECT count(*), count(finished_at), count(DISTINCT message_id) FROM transactions")[0] == (
        5 * k, 5 * k, 5 * k)
    assert q(dsn, "SELECT count(*) FROM transactions WHERE handle_s <> 60 OR wait_s <> 60")[0][0] == 0
    assert q(dsn, "SELECT count(*) FROM lane_events WHERE message_id LIKE 'm%'")[0][0] == 2 * m
    assert q(dsn, "SELECT count(*), count(finished_at), count(DISTINCT plate) FROM inspections")[0] == (m, m, m)
    assert q(dsn, "SELECT count(*) FROM dead_letters")[0][0] == 0
    # What the clients were told: every message exactly once new (accepted or queued) overall, and the
    # queued ones were later stored (or found to be repeats) by the replay.
    assert statuses.count("rejected") == 0
    assert intake.replayed["accepted"] + intake.replayed["updated"] > 0


def test_mqtt_without_a_spool_holds_acks_until_stored(pg, broker, ev):
    server, dsn = pg
    with _pool(dsn) as pool:
        intake = Intake(EventStore(pool, connect_timeout_s=0.5), retry_s=0.1, max_retry_s=0.5)
        sub = LaneSensorSubscriber(intake, MqttIntakeConfig(port=broker.port, client_id="no-spool", max_batch=5))
        sub.start()
        assert sub.subscribed.wait(10)
        server.stop()
        pub = _publisher(broker.port)
        try:
            for i in range(12):
                pub.publish("jianguan/hq/lane/lane-1/events",
                            __import__("json").dumps(ev.lane(f"n{i}", "vehicle_in", i)), qos=1).wait_for_publish(10)
            ev.wait_until(lambda: sub.received >= 5, 20, "messages to arrive")
            time.sleep(1.0)
            assert sub.acked == 0  # the database is down: nothing is acknowledged
            server.start()
            ev.wait_until(lambda: sub.acked == 12, 60, "all twelve stored and acknowledged")
        finally:
            sub.stop()
            pub.loop_stop()
            pub.disconnect()
    assert ev.query(dsn, "SELECT count(*), count(DISTINCT message_id) FROM lane_events")[0] == (12, 12)
