"""kill -9 of the process that raises and pushes alerts, at 20 random moments (between handing an incident
over, spooling it, committing incident + alert + outbox rows, sending the push and marking it delivered):
every alert in the database is pushed, on its channel, under one idempotency key, and never lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import psycopg

from jianguan.demo import WebhookReceiver

CHILD = r"""
import sys, time, itertools
from pathlib import Path
from psycopg_pool import ConnectionPool
from alerts import AlertManager, AlertsConfig, AlertStore, OutboxWorker, build_notifier
from analytics import Incident, IncidentEvent

dsn, work, hook, first, drain = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1"
config = AlertsConfig(notifiers=[{"type": "webhook", "id": "hook", "url": hook, "timeout_s": 5}],
                      retry={"initial_s": 0.2, "max_s": 1})
notifiers = {n.id: build_notifier(n) for n in config.notifiers}
with ConnectionPool(dsn, min_size=1, max_size=4, open=True) as pool:
    outbox = OutboxWorker(pool, notifiers, config.retry)
    outbox.start()
    manager = AlertManager(AlertStore(pool), config, notifiers, work / "evidence", site_of=lambda _c: "s1",
                           spool_dir=work / "spool")
    print("ready", flush=True)
    if drain:
        while manager.writer.pending() or outbox.pending_due():
            time.sleep(0.1)
        manager.close()
        outbox.stop()
        print("drained", flush=True)
        sys.exit(0)
    for i in itertools.count(first):
        inc = Incident(camera_id="w1", rule="zone_unattended", zone_id=f"z{i}", severity="major",
                       started_at=1_700_000_000.0 + i, raised_at=1_700_000_020.0 + i, measures={"threshold_s": 20.0})
        manager.handle(IncidentEvent("opened", inc), None, None, None)
        print(i, flush=True)
        time.sleep(0.03)
"""


def test_kill_9_at_random_moments_loses_no_alert_and_pushes_each_under_one_key(db_dsn, tmp_path):
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO sites (id, name) VALUES ('s1', 'Site 1')")
        conn.execute("INSERT INTO cameras (id, site_id, name, area, detect_fps) VALUES ('w1', 's1', 'W1', 'window', 5)")
    receiver = WebhookReceiver()
    rng = random.Random(13)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def child(first: int, drain: bool) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", CHILD, db_dsn, str(tmp_path), receiver.url, str(first),
                                 "1" if drain else "0"], env=env, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return proc

    try:
        next_incident = 0
        for _ in range(20):
            proc = child(next_incident, drain=False)
            time.sleep(rng.uniform(0.05, 0.6))
            os.kill(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate(timeout=30)
            handed = [int(line) for line in out.split() if line.isdigit()]
            next_incident = (handed[-1] + 1) if handed else next_incident
        proc = child(next_incident, drain=True)  # the next start replays the spool and delivers what is due
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0 and "drained" in out
        time.sleep(1)
    finally:
        receiver.close()
    with psycopg.connect(db_dsn) as conn:
        alerts = {r[0] for r in conn.execute("SELECT id FROM alerts")}
        outbox = conn.execute("SELECT alert_id, idempotency_key, status FROM outbox").fetchall()
        incidents = conn.execute("SELECT count(*), count(DISTINCT uid) FROM incidents").fetchone()
    assert len(alerts) >= 20, "too few alerts raised to mean anything"
    assert incidents[0] == incidents[1] == len(alerts)  # no incident twice, whatever the kill interrupted
    assert sorted(a for a, _k, _s in outbox) == sorted(alerts)  # each alert: exactly one push queued
    assert {s for _a, _k, s in outbox} == {"delivered"}
    keys = Counter(d.headers.get("Idempotency-Key") for d in receiver.deliveries)
    assert set(keys) == {k for _a, k, _s in outbox}  # every alert's push arrived...
    # ...once, or again under the same key when a kill fell between the receiver's answer and the commit
    assert sum(keys.values()) - len(keys) <= 20
