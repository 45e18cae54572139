"""PostgreSQL stopped for 60 s under a live node while a zone goes unattended (a real server process, a real
RTSP camera, a real webhook receiver): the analysis never stops, no false video loss is raised, and once the
database is back the alert is written and pushed exactly once, and every spool is drained."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import pytest

from devkit.simulator import missing_reason, start_simulator
from jianguan.config import parse_config
from jianguan.demo import WebhookReceiver
from jianguan.node import Node
from storage import migrate
from storage.embedded import EmbeddedPostgres
from tests.testkit.net import wait_until
from tests.testkit.node import camera, site

pytestmark = pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))

OUTAGE_S = 60


def test_a_database_outage_neither_stops_the_analysis_nor_loses_or_doubles_the_alert(tmp_path):
    pg_dir = Path(tempfile.mkdtemp(prefix="jianguan-outage-pg-"))  # reachable by the server's account
    server = EmbeddedPostgres(pg_dir)
    receiver = WebhookReceiver()
    try:
        dsn = server.start()
        server.port = server.running_port()  # restart on the same port: the node's DSN stays valid
        migrate(dsn)
        with start_simulator(["cam-1"]) as sim:
            # the sky zone is unattended from the start: the alert is raised 20 s in, in the middle of the outage
            cfg = parse_config(site(tmp_path, camera(sim.url("cam-1", "sub", credentials=False), unattended_s=20,
                                                     camera_health={"video_loss": {"seconds": 5}}), hook=True),
                               env={"HOOK_URL": receiver.url})
            node = Node(cfg, dsn, drain_s=5)
            runner = threading.Thread(target=node.run, name="node", daemon=True)
            runner.start()
            counters = node.report.cameras["cam-1"]
            wait_until(lambda: counters.frames_analysed >= 4, 90, "the node never analysed a frame")
            server.stop()
            down_at = time.monotonic()
            analysed = [counters.frames_analysed]
            while time.monotonic() - down_at < OUTAGE_S:
                time.sleep(5)
                analysed.append(counters.frames_analysed)
            server.start()
            steps = [b - a for a, b in zip(analysed, analysed[1:], strict=False)]
            assert min(steps) >= 5, f"the analysis stalled while the database was away: {steps}"
            wait_until(lambda: len(receiver.deliveries) >= 1, 90, "the push once the database was back")
            time.sleep(3)  # a second push, if there were one, would come now
            node.stop_event.set()
            runner.join(60)
            assert not runner.is_alive()
        with psycopg.connect(dsn) as conn:
            alerts = conn.execute("SELECT rule FROM alerts").fetchall()
            incidents = conn.execute("SELECT rule, ended_at IS NOT NULL FROM incidents").fetchall()
            outbox = conn.execute("SELECT channel, status FROM outbox").fetchall()
            stats = conn.execute("SELECT count(*) FROM camera_stats").fetchone()[0]
        assert alerts == [("zone_unattended",)], alerts  # and no video_loss: frames kept coming
        assert incidents == [("zone_unattended", True)]
        assert outbox == [("hook", "delivered")] and len(receiver.deliveries) == 1
        assert receiver.deliveries[0].body["rule"] == "zone_unattended"
        assert stats >= 2  # the stats written during the outage were spooled and replayed
        assert not [p.name for p in (tmp_path / "spool").iterdir()], "a spool was left behind"
    finally:
        receiver.close()
        server.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)
