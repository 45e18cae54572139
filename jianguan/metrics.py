"""Prometheus metrics of a running node (prometheus-client), so an operator sees from outside whether each
camera is read and analysed, whether the node keeps up, and whether alerts and pushes get through.

Pull model: `NodeCollector` reads the node's own counters when Prometheus scrapes (every 15 s, typically),
so the frame path does no extra work and nothing is counted twice. Served by prometheus-client's own HTTP
server on `metrics.bind:metrics.port` (off unless a port is configured; bind 127.0.0.1 by default: the
figures name cameras, so exposing them is a choice). Each node has its own registry: several nodes in one
process (tests, benches) never share series.

Names (all prefixed `jianguan_`; per camera with a `camera` label):
  camera_online, camera_decoded_fps, camera_process_fps, camera_lag_seconds, camera_reconnects_total,
  camera_frames_analysed_total, camera_frames_dropped_total, camera_queue_frames, camera_needed_fps;
  detector_frame_seconds (recent detection cost per frame); incidents_total, alerts_opened_total,
  alert_spool_events (incident events not yet in the database); pushes_delivered_total,
  push_failures_total, pushes_dead_total; metric_spool_rows (per table, rows not yet in the database).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from jianguan.node import Node


# Per-camera series: (name after jianguan_camera_, counter?, help). Counters get `_total` when exposed.
PER_CAMERA = (
    ("online", False, "1 while the camera's stream is read"),
    ("decoded_fps", False, "Frames/s decoded from the camera"),
    ("process_fps", False, "Frames/s handed to analysis after the rate decimation"),
    ("lag_seconds", False, "Age of the newest frame read"),
    ("reconnects", True, "Reconnections of the stream"),
    ("frames_analysed", True, "Frames through detection and rules"),
    ("frames_dropped", True, "Live frames dropped because the analysis was busy"),
    ("queue_frames", False, "Frames waiting for analysis"),
    ("needed_fps", False, "Frames/s the camera's rules need"),
)


def _camera_values(node: Node, cam: str) -> dict[str, float]:
    """The PER_CAMERA values the node has for `cam` now (a reader or queue not set up yet: left out)."""
    counters = node.report.cameras[cam]
    values = {"frames_analysed": counters.frames_analysed, "frames_dropped": counters.dropped,
              "needed_fps": node._needed_fps.get(cam, 0.0)}
    reader = node._readers.get(cam)
    if reader is not None:
        s = reader.stats()
        values |= {"online": 1.0 if s.online else 0.0, "decoded_fps": s.camera_fps, "process_fps": s.process_fps,
                   "lag_seconds": s.lag_s, "reconnects": s.reconnects}
    q = node._queues.get(cam)
    if q is not None:
        values["queue_frames"] = q.qsize()
    return values


class NodeCollector(Collector):
    def __init__(self, node: Node) -> None:
        self.node = node

    def collect(self) -> Iterator[Any]:
        node = self.node
        per_camera = {key: (CounterMetricFamily if counter else GaugeMetricFamily)(
            f"jianguan_camera_{key}", help_text, labels=["camera"]) for key, counter, help_text in PER_CAMERA}
        for cam in node.report.cameras:
            for key, value in _camera_values(node, cam).items():
                per_camera[key].add_metric([cam], value)
        yield from per_camera.values()
        yield GaugeMetricFamily("jianguan_detector_frame_seconds", "Recent detection cost per frame (EWMA)",
                                value=node.frame_cost_s)
        manager, outbox = node._manager, node._outbox
        if manager is not None:
            yield CounterMetricFamily("jianguan_incidents", "Incidents raised", value=manager.stats.incidents)
            yield CounterMetricFamily("jianguan_alerts_opened", "Alerts opened", value=manager.stats.alerts_opened)
            yield GaugeMetricFamily("jianguan_alert_spool_events", "Incident events not yet in the database",
                                    value=manager.writer.pending())
        if outbox is not None:
            yield CounterMetricFamily("jianguan_pushes_delivered", "Pushes delivered", value=outbox.stats.delivered)
            yield CounterMetricFamily("jianguan_push_failures", "Failed push attempts",
                                      value=outbox.stats.failed_attempts)
            yield CounterMetricFamily("jianguan_pushes_dead", "Pushes given up", value=outbox.stats.dead)
        spool = GaugeMetricFamily("jianguan_metric_spool_rows", "Metric rows not yet in the database",
                                  labels=["table"])
        for writer in node._writers:
            spool.add_metric([writer.table], writer.pending())
        yield spool


def serve_metrics(node: Node, port: int, bind: str) -> Any:
    """Start the scrape endpoint for `node`; returns the HTTP server (call `.shutdown()` to stop it)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(node))
    server, _thread = start_http_server(port, addr=bind, registry=registry)
    return server
