"""A live node's Prometheus endpoint, scraped over HTTP while it analyses a simulated camera."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devkit.simulator import missing_reason, start_simulator
from tests.testkit.net import free_port, wait_until
from tests.testkit.node import camera, running_node, site

pytestmark = pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_the_metrics_say_what_each_camera_and_the_alert_path_are_doing(db_dsn, tmp_path):
    port = free_port()
    with start_simulator(["cam-1"]) as sim:
        raw = site(tmp_path, camera(sim.url("cam-1", "sub", credentials=False), unattended_s=3),
                   metrics={"port": port})
        with running_node(raw, db_dsn, drain_s=1) as node:
            wait_until(lambda: node.report.cameras["cam-1"].frames_analysed >= 12 and node._manager is not None
                       and node._manager.stats.alerts_opened >= 1, 60, "frames and an alert", every=0.2)
            m = scrape(port)
    cam = (("camera", "cam-1"),)
    assert m[("jianguan_camera_online", cam)] == 1.0
    assert m[("jianguan_camera_frames_analysed_total", cam)] >= 12
    assert m[("jianguan_camera_frames_dropped_total", cam)] >= 0
    assert m[("jianguan_camera_needed_fps", cam)] == 2.0
    assert 0.0 < m[("jianguan_camera_process_fps", cam)] <= 5.0  # a rate over the last seconds: ~2, not exact
    assert m[("jianguan_detector_frame_seconds", ())] > 0
    assert m[("jianguan_incidents_total", ())] >= 1 and m[("jianguan_alerts_opened_total", ())] >= 1
    assert m[("jianguan_alert_spool_events", ())] == 0
    assert ("jianguan_metric_spool_rows", (("table", "camera_stats"),)) in m
    with pytest.raises(httpx.ConnectError):  # the endpoint goes with the node
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
