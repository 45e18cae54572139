"""Latency from incident to delivered push: AlertManager.handle(opened) -> the alert writer (snapshot, spool,
alert and outbox rows in one transaction) -> OutboxWorker -> signed JSON webhook on 127.0.0.1, for one alert
on each of 112 cameras.

Run: .venv/bin/python bench/bench_alert_push.py [--cameras 112] [--poll-s 0.5] [--gap-s 0.1]

Worker modes: `listen` (the default: woken by LISTEN/NOTIFY on insert, 5 s poll as a fallback) and, for
comparison, a plain poll (LISTEN off) at each --poll-s. Two arrival patterns per mode:
  paced: one incident every --gap-s (a normal day: pushes do not queue behind each other);
  burst: all cameras' incidents handed over back to back (a site-wide event: the worst queue).
Latency = receiver's arrival time - the moment `handle` was called (one process, one perf_counter clock);
"handle" = the time the analysis thread spends in it (it hands the incident to the writer and returns).
The database is a throwaway embedded PostgreSQL (or a new database on $JIANGUAN_DSN's server, dropped
afterwards), default settings, fsync on. Asserts nothing; note the machine beside any figure you quote.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import psycopg
import supervision as sv
from psycopg.conninfo import make_conninfo
from psycopg_pool import ConnectionPool

from alerts import AlertManager, AlertsConfig, AlertStore, OutboxWorker, build_notifier
from analytics import Incident, IncidentEvent
from storage import EmbeddedPostgres, migrate


class TimedReceiver:
    """Records when each alert's push arrived (perf_counter), answers 200."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}  # camera id -> arrival of its alert's first push
        self.done = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                now = time.perf_counter()
                with receiver.done:
                    receiver.arrived.setdefault(str(body["camera_id"]), now)
                    receiver.done.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, n: int, timeout: float) -> None:
        with self.done:
            self.done.wait_for(lambda: len(self.arrived) >= n, timeout)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(dsn: str, cameras: int, poll_s: float | None, gap_s: float, burst: bool, work: Path,
        tag: str) -> tuple[list[float], list[float]]:
    """Per alert: (incident -> push arrived, time inside `handle`)."""
    receiver = TimedReceiver()
    config = AlertsConfig(notifiers=[{"type": "webhook", "id": "hook", "url": receiver.url,
                                      "hmac_secret": "bench-secret", "timeout_s": 5}])
    notifiers = {n.id: build_notifier(n) for n in config.notifiers}
    image = np.zeros((576, 768, 3), np.uint8)
    zone = np.array([[100, 100], [300, 100], [300, 300], [100, 300]], np.int32)
    with ConnectionPool(dsn, min_size=2, max_size=4, open=True) as pool:
        with pool.connection() as conn:
            conn.execute("INSERT INTO sites (id, name) VALUES ('office', 'bench office') ON CONFLICT DO NOTHING")
            for i in range(cameras):
                conn.execute("INSERT INTO cameras (id, site_id, name, area, detect_fps)"
                             " VALUES (%s, 'office', %s, 'window', 5)", (f"{tag}-cam-{i:03d}", f"window {i}"))
        # poll_s None: the node's default worker (LISTEN/NOTIFY); a number: a plain poll at that interval.
        worker = OutboxWorker(pool, notifiers, config.retry) if poll_s is None else \
            OutboxWorker(pool, notifiers, config.retry, poll_s=poll_s, listen=False)
        worker.start()
        manager = AlertManager(AlertStore(pool), config, notifiers, work / "evidence", site_of=lambda _c: "office")
        started: dict[str, float] = {}
        handled: list[float] = []
        base = time.time()
        for i in range(cameras):
            inc = Incident(camera_id=f"{tag}-cam-{i:03d}", rule="zone_unattended", zone_id="staff", severity="major",
                           started_at=base - 8, raised_at=base, measures={"threshold_s": 8.0})
            t = time.perf_counter()
            manager.handle(IncidentEvent("opened", inc), image, sv.Detections.empty(), zone)
            started[inc.camera_id] = t
            handled.append(time.perf_counter() - t)
            if not burst:
                time.sleep(gap_s)
        receiver.wait_for(cameras, timeout=120)
        worker.stop()
        manager.close()
        receiver.server.shutdown()
    missing = set(started) - set(receiver.arrived)
    if missing:
        raise SystemExit(f"{len(missing)} pushes never arrived")
    return [receiver.arrived[a] - started[a] for a in started], handled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=112)
    parser.add_argument("--poll-s", type=float, nargs="*", default=[0.5],
                        help="plain-poll intervals to compare with LISTEN/NOTIFY (0.5 was the old default)")
    parser.add_argument("--gap-s", type=float, default=0.1, help="time between incidents in the paced pattern")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
          f"{args.cameras} cameras, one alert each, webhook on 127.0.0.1")
    work = Path(tempfile.mkdtemp(prefix="jianguan-bench-push-"))
    work.chmod(0o755)
    external = os.environ.get("JIANGUAN_DSN", "").strip()
    server = None if external else EmbeddedPostgres(work / "pg")
    admin = external or server.start()
    name = f"jianguan_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        dsn = make_conninfo(admin, dbname=name)
        migrate(dsn)
        for n, poll_s in enumerate([None, *args.poll_s]):
            for burst in (False, True):
                # Camera ids differ per run (alert history is append-only): no run's alert dedups into another's.
                tag = f"r{n}{'b' if burst else 'p'}"
                latencies, handled = run(dsn, args.cameras, poll_s, args.gap_s, burst, work, tag)
                lat = [x * 1000 for x in latencies]
                label = "burst" if burst else f"paced {args.gap_s:g} s"
                mode = "LISTEN/NOTIFY" if poll_s is None else f"poll {poll_s:g} s"
                print(f"  {mode:13s}, {label:11s}: median {statistics.median(lat):7.1f} ms"
                      f"   p95 {pct(lat, 0.95):7.1f} ms   max {max(lat):7.1f} ms   (n={len(lat)});"
                      f" inside handle: median {statistics.median(handled) * 1000:5.1f} ms")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if server:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
