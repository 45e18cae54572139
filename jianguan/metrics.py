"""Prometheus metrics of every long-running role (prometheus-client), so an operator sees from outside whether
each camera is read and analysed, whether the node keeps up, whether alerts and pushes get through, and whether
the supervisor had to restart a role.

Pull model: collectors read each role's own counters when Prometheus scrapes (every 15 s, typically), so the
frame path does no extra work and nothing is counted twice. Served by prometheus-client's own HTTP server on
`metrics.bind`, one port per role: `metrics.port` plus the role's offset in ROLE_PORT_OFFSET (off unless a
port is configured; bind 127.0.0.1 by default: the figures name cameras, so exposing them is a choice). Each
role has its own registry: several nodes in one process (tests, benches) never share series.

Names (all prefixed `jianguan_`), by role:
  node: per camera (label `camera`) camera_online, camera_decoded_fps, camera_process_fps, camera_lag_seconds,
    camera_reconnects_total, camera_frames_analysed_total, camera_frames_dropped_total, camera_queue_frames,
    camera_needed_fps; detector_frame_seconds (recent detection cost per frame); incidents_total,
    alerts_opened_total, alert_spool_events (incident events not yet in the database); metric_spool_rows (per
    table, rows not yet in the database); and the outbox's.
  node and business (outbox delivery): pushes_delivered_total, push_failures_total, pushes_dead_total,
    pushes_pending (read from the database, left out while it is away).
  events (the intake): intake_messages_total (label `status`), intake_spool_batches,
    intake_batches_set_aside_total.
  serve (the supervisor): role_up, role_restarts_total (label `role`).
  cluster (`cluster run`'s driver, series labelled `site` themselves: one driver runs many sites):
    per group (labels `site`, `group`, `host`): cluster_group_up, cluster_group_restarts_total,
    cluster_group_cameras, cluster_group_cpu_seconds_total, cluster_group_memory_bytes,
    cluster_detect_calls_total (labels `server`, and `where`: server or local),
    cluster_detect_round_trip_seconds, cluster_detect_sent_bytes_total;
    per camera (plus `camera`): cluster_camera_online, cluster_camera_fps, cluster_camera_lag_seconds,
    cluster_camera_frames_analysed_total;
    per detection server (label `server`): detection_server_up, detection_server_batches_total,
    detection_server_inputs_total, detection_server_requests_total, detection_server_wait_seconds_total,
    detection_server_run_seconds_total, detection_server_failed_batches_total, detection_server_callers,
    detection_server_cpu_seconds_total, detection_server_memory_bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from i18n import N_, TranslatableError
from jianguan.config import ROLE_PORT_OFFSET, MetricsConfig, SiteConfig

if TYPE_CHECKING:
    from alerts import OutboxWorker
    from ingest.events.intake import Intake
    from jianguan.cluster import ClusterMonitor
    from jianguan.node import Node
    from jianguan.supervisor import Supervisor


def role_port(cfg: MetricsConfig, role: str) -> int | None:
    """The port `role` serves /metrics on, or None when metrics are off."""
    return None if cfg.port is None else cfg.port + ROLE_PORT_OFFSET[role]


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
            yield from outbox_families(outbox)
        spool = GaugeMetricFamily("jianguan_metric_spool_rows", "Metric rows not yet in the database",
                                  labels=["table"])
        for writer in node._writers:
            spool.add_metric([writer.table], writer.pending())
        yield spool


def outbox_families(outbox: OutboxWorker) -> Iterator[Any]:
    yield CounterMetricFamily("jianguan_pushes_delivered", "Pushes delivered", value=outbox.stats.delivered)
    yield CounterMetricFamily("jianguan_push_failures", "Failed push attempts", value=outbox.stats.failed_attempts)
    yield CounterMetricFamily("jianguan_pushes_dead", "Pushes given up", value=outbox.stats.dead)
    try:  # the one figure read from the database: left out of a scrape while it is away, never blocking it
        pending = outbox.pending_due(timeout_s=1.0)
    except Exception:  # noqa: BLE001 - pool timeout or any database error
        return
    yield GaugeMetricFamily("jianguan_pushes_pending", "Pushes waiting in the outbox (all outbox workers)",
                            value=pending)


def intake_families(intake: Intake) -> Iterator[Any]:
    messages = CounterMetricFamily("jianguan_intake_messages", "Messages answered, by outcome", labels=["status"])
    for status, n in sorted((intake.counts + intake.replayed).items()):
        messages.add_metric([status], n)
    yield messages
    yield GaugeMetricFamily("jianguan_intake_spool_batches", "Batches waiting in the spool for the database",
                            value=intake.pending())
    yield CounterMetricFamily("jianguan_intake_batches_set_aside", "Spooled batches the database refused outright "
                              "(kept as .failed files for a person)", value=intake.set_aside)


def supervisor_families(supervisor: Supervisor) -> Iterator[Any]:
    up = GaugeMetricFamily("jianguan_role_up", "1 while the role's process runs", labels=["role"])
    restarts = CounterMetricFamily("jianguan_role_restarts", "Restarts of the role by the supervisor",
                                   labels=["role"])
    for name, role in supervisor.roles.items():
        up.add_metric([name], 1.0 if role.state == "running" else 0.0)
        restarts.add_metric([name], role.restarts)
    yield from (up, restarts)


def cluster_families(monitor: ClusterMonitor) -> Iterator[Any]:
    """The cluster as the driver last saw it (jianguan/cluster.py `ClusterMonitor`)."""
    group_labels, cam_labels = ["site", "group", "host"], ["site", "group", "host", "camera"]
    up = GaugeMetricFamily("jianguan_cluster_group_up", "1 while the camera group analyses", labels=group_labels)
    restarts = CounterMetricFamily("jianguan_cluster_group_restarts", "Restarts of the group on another machine "
                                   "(its machine died) seen by the driver", labels=["site", "group"])
    cameras = GaugeMetricFamily("jianguan_cluster_group_cameras", "Cameras of the group", labels=group_labels)
    calls = CounterMetricFamily("jianguan_cluster_detect_calls", "Detection calls of the group, by where they "
                                "ran (server: a shared detection server; local: the group's own model)",
                                labels=[*group_labels, "server", "where"])
    trip = GaugeMetricFamily("jianguan_cluster_detect_round_trip_seconds", "Mean round trip of the group's "
                             "calls to its detection server (transfer, batching wait, model)", labels=group_labels)
    sent = CounterMetricFamily("jianguan_cluster_detect_sent_bytes", "Model input bytes the group sent to its "
                               "detection server", labels=group_labels)
    cpu = CounterMetricFamily("jianguan_cluster_group_cpu_seconds", "CPU time of the group's process",
                              labels=group_labels)
    memory = GaugeMetricFamily("jianguan_cluster_group_memory_bytes", "Resident memory of the group's process",
                               labels=group_labels)
    per_camera = {key: cls(f"jianguan_cluster_camera_{name}", text, labels=cam_labels) for key, name, cls, text in (
        ("online", "online", GaugeMetricFamily, "1 while the camera's stream is read"),
        ("fps", "fps", GaugeMetricFamily, "Frames/s handed to analysis"),
        ("lag_s", "lag_seconds", GaugeMetricFamily, "Age of the newest frame read"),
        ("frames", "frames_analysed", CounterMetricFamily, "Frames through detection and rules (from 0 again "
         "after a restart)"))}
    for g in monitor.groups:
        labels = [g["site"], g["group"], g.get("host") or ""]
        up.add_metric(labels, 1.0 if g["running"] else 0.0)
        restarts.add_metric(labels[:2], monitor.restarts.get(g["group"], 0))
        cameras.add_metric(labels, len(g["cameras"]))
        if "cpu_s" in g:
            cpu.add_metric(labels, g["cpu_s"])
            memory.add_metric(labels, g["rss_mb"] * 2**20)
        for cam, c in g["cameras"].items():
            for key, family in per_camera.items():
                value = c.get(key)
                if value is not None:
                    family.add_metric([*labels, cam], float(value))
        for usage in g.get("shared", {}).values():
            calls.add_metric([*labels, usage["server"], "server"], usage["remote_calls"])
            calls.add_metric([*labels, usage["server"], "local"], usage["local_calls"])
            trip.add_metric(labels, usage["round_trip_ms"] / 1000)
            sent.add_metric(labels, usage["bytes_sent"])
    yield from (up, restarts, cameras, calls, trip, sent, cpu, memory, *per_camera.values())
    yield from _server_families(monitor.servers)


def _server_families(servers: list[dict[str, Any]]) -> Iterator[Any]:
    up = GaugeMetricFamily("jianguan_detection_server_up", "1 while the detection server answers", labels=["server"])
    callers = GaugeMetricFamily("jianguan_detection_server_callers", "Camera groups that called the server",
                                labels=["server"])
    counters = {key: CounterMetricFamily(f"jianguan_detection_server_{name}", text, labels=["server"])
                for key, name, text in (
                    ("batches", "batches", "Model runs"), ("inputs", "inputs", "Model inputs run"),
                    ("requests", "requests", "Calls answered (one per group detection step)"),
                    ("wait_ms", "wait_seconds", "Summed time calls waited for their batch to start"),
                    ("run_ms", "run_seconds", "Summed time of the model runs"),
                    ("failed", "failed_batches", "Batches whose model run failed"),
                    ("cpu_s", "cpu_seconds", "CPU time of the server's process"))}
    memory = GaugeMetricFamily("jianguan_detection_server_memory_bytes", "Resident memory of the server's process",
                               labels=["server"])
    for server in servers:
        up.add_metric([server["server"]], 1.0 if server["running"] else 0.0)
        if not server["running"]:
            continue
        callers.add_metric([server["server"]], server["callers"])
        for key, family in counters.items():
            value = server[key] / 1000 if key.endswith("_ms") else server[key]
            family.add_metric([server["server"]], value)
        memory.add_metric([server["server"]], server["rss_mb"] * 2**20)
    yield from (up, callers, memory, *counters.values())


class FamiliesCollector(Collector):
    """Any role's families, from a function called at each scrape."""

    def __init__(self, families: Callable[[], Iterable[Any]]) -> None:
        self.families = families

    def collect(self) -> Iterator[Any]:
        yield from self.families()


def serve_collector(collector: Collector, port: int, bind: str) -> Any:
    """Start a scrape endpoint for one role; returns the HTTP server (call `.shutdown()` to stop it)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    server, _thread = start_http_server(port, addr=bind, registry=registry)
    return server


def serve_metrics(node: Node, port: int, bind: str) -> Any:
    """Start the node's scrape endpoint."""
    return serve_collector(NodeCollector(node), port, bind)


def serve_role_metrics(cfg: MetricsConfig, role: str, families: Callable[[], Iterable[Any]]) -> Any | None:
    """Start `role`'s endpoint when metrics are on (None when off)."""
    port = role_port(cfg, role)
    return None if port is None else serve_collector(FamiliesCollector(families), port, cfg.bind)



def scrape_config(cfg: SiteConfig, host: str | None = None, interval_s: int = 15) -> dict[str, Any]:
    """A Prometheus `scrape_configs` entry for every role of the site that serves /metrics, each target
    labelled with the site (the System dashboard filters on it) and the role as `service` (`role` is the
    supervisor's own label for the roles it keeps). `host`: where Prometheus reaches the roles
    (default: metrics.bind, or 127.0.0.1 when that is 0.0.0.0)."""
    if cfg.metrics.port is None:
        raise TranslatableError(N_("metrics are off: set metrics.port in the site config first"))
    roles = ["node", "serve", *[r for r in cfg.serve.roles if r in ROLE_PORT_OFFSET and r != "node"]]
    where = host or (cfg.metrics.bind if cfg.metrics.bind not in ("0.0.0.0", "::") else "127.0.0.1")
    targets = [{"targets": [f"{where}:{role_port(cfg.metrics, role)}"],
                "labels": {"site": cfg.site.id, "service": role}} for role in roles]
    return {"job_name": f"jianguan-{cfg.site.id}", "scrape_interval": f"{interval_s}s", "static_configs": targets}


def cluster_scrape_config(cfg: SiteConfig, host: str, interval_s: int = 15) -> dict[str, Any]:
    """The Prometheus job for `jianguan cluster run`'s driver on `host`, with the first site config's metrics
    port: its series name their own site (one driver runs many), so the target adds only `service`."""
    if cfg.metrics.port is None:
        raise TranslatableError(N_("metrics are off: set metrics.port in the site config first"))
    return {"job_name": "jianguan-cluster", "scrape_interval": f"{interval_s}s", "static_configs": [
        {"targets": [f"{host}:{role_port(cfg.metrics, 'cluster')}"], "labels": {"service": "cluster"}}]}
