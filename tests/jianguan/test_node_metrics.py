"""A live node's Prometheus endpoint, scraped over HTTP while it analyses a simulated camera."""

from __future__ import annotations

import socket
import threading
import time
import uuid

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ingest.simulator import missing_reason, start_simulator
from jianguan.config import parse_config
from jianguan.node import Node
from storage import migrate

pytestmark = pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_the_metrics_say_what_each_camera_and_the_alert_path_are_doing(pg_admin_dsn, tmp_path):
    name = f"metrics_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    dsn = psycopg.conninfo.make_conninfo(pg_admin_dsn, dbname=name)
    migrate(dsn)
    port = _free_port()
    with start_simulator(["cam-1"]) as sim:
        cfg = parse_config({
            "site": {"id": "s1", "name": "S"},
            "paths": {"data_dir": str(tmp_path)},
            "detector": {"imgsz": 320},
            "metrics": {"port": port},
            "cameras": [{"id": "cam-1", "name": "Cam 1", "area": "window",
                         "streams": {"detect": sim.url("cam-1", "sub", credentials=False)},
                         "detect": {"fps": 2}, "record": {"enabled": False},
                         "zones": [{"id": "sky", "kind": "staff", "polygon": [[0.02, 0.02], [0.2, 0.02],
                                                                              [0.2, 0.1], [0.02, 0.1]]}],
                         "rules": [{"type": "zone_unattended", "zone": "sky", "seconds": 3}]}],
        }, env={})
        node = Node(cfg, dsn, drain_s=1)
        runner = threading.Thread(target=node.run, daemon=True)
        runner.start()
        try:
            deadline = time.monotonic() + 60
            while node.report.cameras["cam-1"].frames_analysed < 12 or node._manager is None \
                    or node._manager.stats.alerts_opened < 1:
                assert time.monotonic() < deadline, node.report
                time.sleep(0.2)
            m = scrape(port)
        finally:
            node.stop_event.set()
            runner.join(timeout=30)
    cam = (("camera", "cam-1"),)
    assert m[("jianguan_camera_online", cam)] == 1.0
    assert m[("jianguan_camera_frames_analysed_total", cam)] >= 12
    assert m[("jianguan_camera_frames_dropped_total", cam)] >= 0
    assert m[("jianguan_camera_needed_fps", cam)] == 2.0
    assert 1.0 <= m[("jianguan_camera_process_fps", cam)] <= 3.0
    assert m[("jianguan_detector_frame_seconds", ())] > 0
    assert m[("jianguan_incidents_total", ())] >= 1 and m[("jianguan_alerts_opened_total", ())] >= 1
    assert m[("jianguan_alert_spool_events", ())] == 0
    assert ("jianguan_metric_spool_rows", (("table", "camera_stats"),)) in m
    with pytest.raises(httpx.ConnectError):  # the endpoint goes with the node
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
