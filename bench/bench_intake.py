"""Event intake throughput: messages per second over HTTP batches, MQTT (one event per message), CSV import.

Run: .venv/bin/python bench/bench_intake.py [--http 20000] [--batch 500] [--mqtt 5000] [--csv 20000]

Everything is real and local: a throwaway embedded PostgreSQL (or a new database on $JIANGUAN_DSN's server),
uvicorn on 127.0.0.1, a mosquitto broker on a free port (skipped when not installed). Each figure is
end to end: from the first send until every message is committed (validation, intake_seen, the row, and
for lane events the inspection pairing). The HTTP pass is repeated with the same messages (all duplicates:
a client retrying a whole day) and with transactions. Asserts nothing; note the machine beside any figure.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import psycopg
import uvicorn
from _scratch import scratch_database
from paho.mqtt.enums import CallbackAPIVersion
from psycopg_pool import ConnectionPool

from ingest.events import EventStore, Intake
from ingest.events.config import MqttIntakeConfig
from ingest.events.csvimport import import_csv
from ingest.events.http_api import create_app
from ingest.events.mqtt import LaneSensorSubscriber

TOKEN = "bench-token-0123456789abcdef"
T0 = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)
KINDS = ("vehicle_in", "inspection_start", "inspection_end", "vehicle_out")


def lane_events(n: int, prefix: str) -> list[dict]:
    """A day of lanes: each vehicle enters, is inspected (start/end) and leaves, 6 lanes round robin."""
    out = []
    for i in range(n):
        car, step = divmod(i, 4)
        out.append({"message_id": f"{prefix}-{i}", "site_id": "hq", "lane_id": f"lane-{car % 6}",
                    "kind": KINDS[step], "ts": (T0 + timedelta(seconds=car * 20 + step * 5)).isoformat(),
                    "plate": f"京A{car:05d}", "inspector_id": f"insp-{car % 12}"})
    return out


def transactions(n: int, prefix: str) -> list[dict]:
    return [{"message_id": f"{prefix}-{i}", "site_id": "hq", "window_id": f"W{i % 30:02d}",
             "business_type": "renewal", "ticket": f"A{i:05d}", "staff_id": f"s-{i % 30}",
             "queued_at": (T0 + timedelta(seconds=i)).isoformat(),
             "called_at": (T0 + timedelta(seconds=i + 60)).isoformat(),
             "finished_at": (T0 + timedelta(seconds=i + 400)).isoformat()} for i in range(n)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def count(dsn: str, sql: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchone()[0]


def bench_http(intake: Intake, n: int, batch: int) -> None:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(intake, TOKEN, max_batch=batch), host="127.0.0.1", port=port,
                                           log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                      headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        for label, path, messages in (("lane events, new", "lane-events", lane_events(n, "h")),
                                      ("lane events, all repeats", "lane-events", lane_events(n, "h")),
                                      ("transactions, new", "transactions", transactions(n, "t"))):
            start = time.perf_counter()
            statuses: dict[str, int] = {}
            for k in range(0, len(messages), batch):
                body = client.post(f"/api/v1/{path}", json=messages[k:k + batch]).json()
                for key in ("accepted", "duplicate", "rejected", "queued"):
                    statuses[key] = statuses.get(key, 0) + body[key]
            wall = time.perf_counter() - start
            print(f"HTTP  {label:26s} {n:7d} msgs in batches of {batch}: {n / wall:8.0f} msgs/s  {statuses}")
        start = time.perf_counter()
        m = min(n, 2000)
        for msg in lane_events(m, "single"):
            client.post("/api/v1/lane-events", json=msg)
        wall = time.perf_counter() - start
        print(f"HTTP  {'lane events, one per request':26s} {m:7d} msgs:                  {m / wall:8.0f} msgs/s")
    server.should_exit = True


def bench_mqtt(intake: Intake, dsn: str, n: int) -> None:
    binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None)
    if binary is None:
        print("MQTT  skipped: mosquitto is not installed")
        return
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="jianguan-bench-mqtt-"))
    tmp.chmod(0o755)
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 1000000\n")
    conf.chmod(0o644)
    broker = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        for inflight in (20,):  # mosquitto's default max_inflight_messages: the subscriber's window
            sub = LaneSensorSubscriber(intake, MqttIntakeConfig(port=port, client_id="bench-intake", max_batch=200))
            sub.start()
            sub.subscribed.wait(10)
            pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-pub")
            pub.max_inflight_messages_set(1000)
            pub.connect("127.0.0.1", port)
            pub.loop_start()
            before = count(dsn, "SELECT count(*) FROM lane_events")
            start = time.perf_counter()
            infos = [pub.publish(f"jianguan/hq/lane/{m['lane_id']}/events", json.dumps(m), qos=1)
                     for m in lane_events(n, "m")]
            for info in infos:
                info.wait_for_publish(60)
            while sub.acked < n:
                time.sleep(0.01)
            wall = time.perf_counter() - start
            stored = count(dsn, "SELECT count(*) FROM lane_events") - before
            print(f"MQTT  {'lane events, QoS 1':26s} {n:7d} msgs, one per message:   {n / wall:8.0f} msgs/s  "
                  f"(stored {stored}, broker in-flight window {inflight})")
            pub.loop_stop()
            pub.disconnect()
            sub.stop()
    finally:
        broker.terminate()
        broker.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)


def bench_csv(intake: Intake, n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="jianguan-bench-csv-"))
    path = tmp / "export.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["window", "business_type", "ticket", "staff", "queued_at", "called_at", "finished_at"])
        for i in range(n):
            q = datetime(2024, 5, 1, 8) + timedelta(seconds=i)
            called, finished = q + timedelta(minutes=1), q + timedelta(minutes=7)
            w.writerow([f"W{i % 30:02d}", "换证", f"A{i:05d}", f"s-{i % 30}", f"{q:%Y-%m-%d %H:%M:%S}",
                        f"{called:%Y-%m-%d %H:%M:%S}", f"{finished:%Y-%m-%d %H:%M:%S}"])
    for label in ("new rows", "same file again"):
        start = time.perf_counter()
        s = import_csv(path, intake, "hq", batch_size=500)
        wall = time.perf_counter() - start
        print(f"CSV   {label:26s} {n:7d} rows in batches of 500:    {n / wall:8.0f} rows/s  "
              f"(accepted {s.accepted}, duplicates {s.duplicate}, rejected {s.rejected})")
    shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--http", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--mqtt", type=int, default=5_000)
    ap.add_argument("--csv", type=int, default=20_000)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    with scratch_database("jianguan-bench-intake-") as dsn, ConnectionPool(dsn, min_size=1, max_size=4) as pool:
        intake = Intake(EventStore(pool))
        bench_http(intake, args.http, args.batch)
        bench_mqtt(intake, dsn, args.mqtt)
        bench_csv(intake, args.csv)
        print(f"rows: lane_events {count(dsn, 'SELECT count(*) FROM lane_events')}, "
              f"inspections {count(dsn, 'SELECT count(*) FROM inspections')}, "
              f"transactions {count(dsn, 'SELECT count(*) FROM transactions')}, "
              f"dead_letters {count(dsn, 'SELECT count(*) FROM dead_letters')}")


if __name__ == "__main__":
    main()
