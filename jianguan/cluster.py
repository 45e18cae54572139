"""Many nodes as one system, on Ray (issue 16): a site's cameras split into camera groups, each a Ray actor
that runs the ordinary node (jianguan/node.py) on its cameras, placed on the cluster's machines by Ray's
resources and restarted elsewhere by Ray when its machine dies; the site's once-per-site work (outbox,
escalation, rollups: jianguan/site_services.py) runs once, in its own actor.

Why Ray and not a home-made coordinator: stateful actors with restarts (`max_restarts`), placement by
resources, named actors that any process of the cluster can find (`jianguan cluster status`), and a local
multi-node cluster for tests (`ray.cluster_utils.Cluster`). Ray is an optional extra (`.[cluster]`): a single
machine (`jianguan run`/`serve`, the demo) never imports it.

Safety of a restart: a restarted group is a new node on the same cameras. Its incidents reach the same
open alerts (alerts are deduplicated by camera, rule and zone in the database), its metric rows are keyed
by (time, camera), and pushes go through the database's outbox, delivered once whoever queued them.

    >>> from jianguan.config import parse_config
    >>> raw = {"site": {"id": "s1", "name": "S"}, "cluster": {"cameras_per_core": 2},
    ...        "cameras": [{"id": f"c{i}", "name": f"C{i}", "area": "window",
    ...                     "streams": {"detect": "rtsp://127.0.0.1:9/x"}} for i in range(5)]}
    >>> [g.cameras for g in plan_groups(parse_config(raw, env={}))]
    [('c0', 'c1'), ('c2', 'c3'), ('c4',)]
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from analytics import DetectorConfig
from jianguan.config import MetricsConfig, PathsConfig, SiteConfig

log = logging.getLogger(__name__)

NAMESPACE = "jianguan"  # every actor of every site lives in it, named `group:<site>:<n>` / `services:<site>`


@dataclass(frozen=True)
class Group:
    site: str
    index: int
    cameras: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"group:{self.site}:{self.index}"


def plan_groups(config: SiteConfig) -> list[Group]:
    """The site's cameras in groups of `cluster.group_size` (in config order: neighbours stay together)."""
    size = config.cluster.group_size
    ids = [c.id for c in config.cameras]
    return [Group(config.site.id, n, tuple(ids[i:i + size])) for n, i in enumerate(range(0, len(ids), size))]


def group_config(config: SiteConfig, group: Group) -> SiteConfig:
    """The site config a group's node runs: its cameras only, its own data folder (spools, recordings and
    evidence of two groups on one machine never share a file), no metrics port of its own."""
    cameras = [c for c in config.cameras if c.id in group.cameras]
    paths = PathsConfig(data_dir=config.paths.data_dir / "groups" / str(group.index))
    # Inference threads: the CPUs Ray gives the group, unless configured. Left to every core the machine has,
    # two groups on one machine oversubscribe it (bench/bench_cluster.py).
    threads = max(1, round(config.cluster.cores_per_group))

    def bounded(d: DetectorConfig) -> DetectorConfig:
        return d if d.threads is not None else d.model_copy(update={"threads": threads})

    return config.model_copy(update={"cameras": cameras, "paths": paths, "metrics": MetricsConfig(),
                                     "detector": bounded(config.detector),
                                     "detectors": [bounded(d) for d in config.detectors]})


class CameraGroupRunner:
    """The body of a camera-group actor: the node on the group's cameras, on a thread of the actor."""

    def __init__(self, config: SiteConfig, dsn: str, group: Group, shared: bool = False) -> None:
        import ray

        from jianguan.node import Node  # in the actor's process

        self.group = group
        self.node_id = ray.get_runtime_context().get_node_id()  # the Ray machine it runs on
        self.started_at = time.time()
        self.shared: dict[str, Any] = {}  # detector name -> SharedModel, with `shared` detection
        self.node = Node(group_config(config, group), dsn, site_services=False,
                         build_detector=self._build_detector(config, shared))
        self.error: str | None = None
        if ray.get_runtime_context().was_current_actor_reconstructed:  # its machine died: say what it cost
            self.node.post_incidents(restart_incidents(dsn, group.cameras, self.started_at))
        self._thread = threading.Thread(target=self._run, name=group.name, daemon=True)
        self._thread.start()
        log.info("cluster: %s started on %s with %s", group.name, _host(), ", ".join(group.cameras))

    def _build_detector(self, config: SiteConfig, shared: bool) -> Callable[[DetectorConfig], Any]:
        """YOLO on the cluster's detection servers (`shared`), any other detector in this process."""
        from analytics.detectors import YoloDetector, build_detector
        from jianguan.shared_detection import SharedModel, server_names

        sd = config.cluster.shared_detection

        def build(d: DetectorConfig) -> Any:
            if not shared or d.kind != "yolo":
                return build_detector(d)
            names = server_names(d, sd.replicas)
            model = SharedModel(names[self.group.index % len(names)], d, caller=self.group.name,
                                timeout_s=sd.timeout_s, retry_s=sd.retry_s,
                                jpeg_quality=sd.jpeg_quality if sd.encoding == "jpeg" else None)
            self.shared[d.name] = model
            return YoloDetector(d, model=model)

        return build

    def _run(self) -> None:
        try:
            self.node.run()
        except Exception as exc:  # reported by status(); the driver logs it
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("cluster: %s stopped", self.group.name)

    def status(self) -> dict[str, Any]:
        from jianguan.shared_detection import process_usage

        cameras = {}
        for cam, counters in self.node.report.cameras.items():
            reader = self.node._readers.get(cam)
            s = reader.stats() if reader is not None else None
            cameras[cam] = {"frames": counters.frames_analysed, "online": bool(s and s.online),
                            "fps": round(s.process_fps, 2) if s else 0.0, "lag_s": round(s.lag_s, 2) if s else None}
        return {"group": self.group.name, "site": self.group.site, "host": _host(), "node_id": self.node_id,
                "started_at": self.started_at, "running": self._thread.is_alive(), "error": self.error,
                "cameras": cameras, "shared": {name: m.usage() for name, m in self.shared.items()},
                **process_usage()}

    def stop(self, timeout_s: float = 30.0) -> bool:
        self.node.stop_event.set()
        self._thread.join(timeout_s)
        return not self._thread.is_alive()


def restart_incidents(dsn: str, cameras: Sequence[str], now: float) -> list[Any]:
    """One health incident per camera of a restarted group: from the camera's last stats row (the last moment
    it was analysed) to now, opened and closed at once (an alert for the auditor, not an ongoing outage)."""
    import psycopg

    from analytics.rules import Incident, IncidentEvent

    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            last = {cam: ts.timestamp() for cam, ts in conn.execute(
                "SELECT camera_id, max(ts) FROM camera_stats WHERE camera_id = ANY(%s) GROUP BY 1", (list(cameras),))}
    except psycopg.Error as exc:  # the database away: analyse the cameras anyway, without this alert
        log.warning("cluster: cannot tell how long %s went unanalysed (%s)", ", ".join(cameras), type(exc).__name__)
        return []
    events = []
    for cam in cameras:
        since = last.get(cam, now)
        inc = Incident(cam, "camera_group_restarted", None, "major", started_at=since, raised_at=now, ended_at=now,
                       measures={"down_s": round(now - since, 1)})
        events += [IncidentEvent("opened", inc), IncidentEvent("closed", inc)]
    return events


class SiteServicesRunner:
    """The body of a site's services actor (jianguan/site_services.py), one per site in the cluster."""

    def __init__(self, config: SiteConfig, dsn: str) -> None:
        from psycopg_pool import ConnectionPool

        from jianguan.site_services import SiteServices

        self.pool = ConnectionPool(dsn, min_size=1, max_size=3, kwargs={"application_name": "jianguan-services"},
                                   open=True)
        self.services = SiteServices(self.pool, config, dsn, refresh_rollups=True)
        self.services.start()

    def delivered(self) -> int:
        return self.services.outbox.stats.delivered

    def stop(self, drain_s: float = 10.0) -> None:
        self.services.stop(drain_s=drain_s)
        self.pool.close()


def _host() -> str:
    import socket

    return socket.gethostname()


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RuntimeError("the cluster needs Ray: pip install -e '.[cluster]'") from None
    return ray


def shared_detection(config: SiteConfig) -> bool:
    """Whether the site's YOLO runs on detection servers: `on`, or `auto` on a cluster with a GPU."""
    mode = config.cluster.shared_detection.enabled
    return mode == "on" or (mode == "auto" and _ray().cluster_resources().get("GPU", 0) > 0)


def start_site(config: SiteConfig, dsn: str) -> tuple[Any, list[Any], list[Any]]:
    """Create the site's services actor, its detection servers (with shared detection) and its camera-group
    actors (Ray must be initialised); their handles. Groups ask for `cluster.cores_per_group` CPUs and are
    spread over the machines; Ray restarts an actor whose machine died on one that has the resources free
    (`max_restarts=-1`: always)."""
    from jianguan.shared_detection import start_servers

    ray = _ray()
    services = ray.remote(num_cpus=0, max_restarts=-1)(SiteServicesRunner).options(
        name=f"services:{config.site.id}", namespace=NAMESPACE).remote(config, dsn)
    shared = shared_detection(config)
    sd = config.cluster.shared_detection
    servers = [server for d in config.all_detectors if shared and d.kind == "yolo"
               for server in start_servers(d, sd.gpus, sd.cpus, sd.resources, sd.replicas, sd.max_batch,
                                           sd.max_wait_ms)]
    if shared:
        log.info("cluster: %s detects on %d shared detection server(s)", config.site.id, len(servers))
    groups = [ray.remote(num_cpus=config.cluster.cores_per_group, max_restarts=-1)(CameraGroupRunner).options(
        name=g.name, namespace=NAMESPACE, scheduling_strategy="SPREAD").remote(config, dsn, g, shared)
        for g in plan_groups(config)]
    return services, servers, groups


def ask_named(prefix: str, method: str, timeout_s: float) -> list[tuple[str, dict[str, Any] | Exception]]:
    """`method` asked of every named actor of the cluster whose name starts with `prefix` (groups, detection
    servers), by name: its answer, or the exception of one restarting or unreachable."""
    ray = _ray()
    out: list[tuple[str, dict[str, Any] | Exception]] = []
    for entry in sorted(ray.util.list_named_actors(all_namespaces=True), key=lambda e: e["name"]):
        if entry["namespace"] != NAMESPACE or not entry["name"].startswith(prefix):
            continue
        try:
            handle = ray.get_actor(entry["name"], namespace=NAMESPACE)
            out.append((entry["name"], ray.get(getattr(handle, method).remote(), timeout=timeout_s)))
        except Exception as exc:  # noqa: BLE001 - restarting, unreachable: said by the caller, the others go on
            out.append((entry["name"], exc))
    return out


def group_statuses(timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """Every camera group's status in the cluster this process is connected to; a group being restarted
    (its machine died) is listed with `running: False` and the reason."""
    return [answer if not isinstance(answer, Exception) else
            {"group": name, "site": name.split(":")[1], "running": False, "error": type(answer).__name__,
             "cameras": {}}
            for name, answer in ask_named("group:", "status", timeout_s)]


class ClusterMonitor:
    """What the driver saw at its last look at the cluster (camera groups, detection servers), and the group
    restarts it counted: a group whose `started_at` changed was restarted by Ray (its machine died). Read by
    `cluster run`'s status lines and its Prometheus endpoint (jianguan/metrics.py `cluster_families`)."""

    def __init__(self) -> None:
        self.groups: list[dict[str, Any]] = []
        self.servers: list[dict[str, Any]] = []
        self.restarts: dict[str, int] = {}
        self._started: dict[str, float] = {}

    def update(self, groups: list[dict[str, Any]], servers: list[dict[str, Any]]) -> None:
        for g in groups:
            name, started = g["group"], g.get("started_at")
            self.restarts.setdefault(name, 0)
            if started is None:  # down now: the restart shows when it answers again
                continue
            if self._started.get(name, started) != started:
                self.restarts[name] += 1
            self._started[name] = started
        self.groups, self.servers = groups, servers

    def poll(self) -> None:
        from jianguan.shared_detection import server_statuses

        self.update(group_statuses(), server_statuses())


def run_cluster(configs: Sequence[SiteConfig], dsn: str, address: str | None, stop: threading.Event,
                every_s: float = 10.0, on_status: Callable[[ClusterMonitor], None] | None = None) -> None:
    """Run every site of `configs` on the Ray cluster at `address` until `stop` is set, looking at the groups
    and servers every `every_s` (status lines, the `cluster` metrics endpoint of the first config's
    `metrics.port`); then stop the actors the orderly way (nodes close their incidents, write their last
    rows, the outbox drains)."""
    from jianguan.metrics import cluster_families, serve_role_metrics

    ray = _ray()
    ray.init(address=address, namespace=NAMESPACE, ignore_reinit_error=True, logging_level=logging.WARNING)
    monitor = ClusterMonitor()
    endpoint = serve_role_metrics(configs[0].metrics, "cluster", lambda: cluster_families(monitor))
    services: list[Any] = []
    servers: list[Any] = []
    groups: list[Any] = []
    try:
        for config in configs:
            site_services, site_servers, site_groups = start_site(config, dsn)
            services.append(site_services)
            servers += site_servers
            groups += site_groups
        while not stop.wait(every_s):
            monitor.poll()
            if on_status is not None:
                on_status(monitor)
    finally:
        if endpoint is not None:
            endpoint.shutdown()
        for batch in (groups, services):  # cameras first, so their last alerts are pushed by the services
            pending = [a.stop.remote() for a in batch]
            try:
                ray.get(pending, timeout=60)
            except Exception as exc:  # noqa: BLE001 - an actor that cannot stop is killed below
                log.warning("cluster: stopping actors: %s", exc)
        for actor in [*groups, *services, *servers]:
            ray.kill(actor, no_restart=True)
