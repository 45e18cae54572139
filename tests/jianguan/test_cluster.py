"""`jianguan cluster`: a site's cameras in camera groups on a three-machine Ray cluster started on this machine
(ray.cluster_utils.Cluster: a head and two worker raylets), one machine killed while every camera has an open
alert. Its cameras are analysed again elsewhere, no alert is opened or pushed twice, and no camera is analysed
by two groups at once. Then shared detection: the groups' YOLO served by a detection server on the machine
that stands for the GPU machine, on real frames, watched through the driver's metrics and the Cluster
dashboard."""

from __future__ import annotations

import re
import threading
import time
from contextlib import ExitStack

import cv2
import numpy as np
import psycopg
import pytest
from click.testing import CliRunner

from analytics.detectors import YoloDetector
from dashboards import cluster_model
from devkit.simulator import DEFAULT_SOURCE, missing_reason, start_simulator
from jianguan.cli import cli
from jianguan.cluster import NAMESPACE, group_statuses, plan_groups, run_cluster
from jianguan.config import parse_config
from jianguan.metrics import cluster_scrape_config
from jianguan.shared_detection import SharedModel, server_names, server_statuses
from tests.testkit.net import free_port_run, wait_until
from tests.testkit.node import HOOK, camera
from tests.testkit.prom import NEEDS_PROMETHEUS, panels_off_site, prom_query, start_prometheus

ray = pytest.importorskip("ray", reason="the cluster extra is not installed (pip install -e '.[cluster]')")
cluster_utils = pytest.importorskip("ray.cluster_utils")

pytestmark = pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))

CAMERAS = [f"cam-{i}" for i in range(6)]
RECOVERY_S = 30  # issue 16: a dead machine's cameras analysed again within 30 s


def _latest_stats(dsn: str) -> dict[str, float]:
    with psycopg.connect(dsn) as conn:
        return {cam: ts.timestamp() for cam, ts in conn.execute(
            "SELECT camera_id, max(ts) FROM camera_stats GROUP BY 1")}


def test_a_dead_machine_s_cameras_are_analysed_again_and_nothing_is_doubled(db_dsn, tmp_path, receiver):
    with start_simulator(CAMERAS) as sim:
        raw = {"site": {"id": "s1", "name": "S"}, "paths": {"data_dir": str(tmp_path)}, "detector": {"imgsz": 320},
               "cluster": {"cameras_per_core": 2, "cores_per_group": 1}, "alerts": HOOK,
               "cameras": [camera(sim.url(c, "sub", credentials=False), unattended_s=3, id=c, name=c)
                           for c in CAMERAS]}
        config = parse_config(raw, env={"HOOK_URL": receiver.url})
        assert len(plan_groups(config)) == 3
        # Ray's defaults declare a machine dead after ~15 s without health checks (5 x 3 s); a supervision
        # system wants it sooner (docs/scale.md gives the `ray start --system-config` for a real cluster).
        cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={
            "num_cpus": 2, "_system_config": {"health_check_period_ms": 1000, "health_check_failure_threshold": 3,
                                              "health_check_initial_delay_ms": 1000}})
        workers = [cluster.add_node(num_cpus=2) for _ in range(2)]
        stop = threading.Event()
        driver = threading.Thread(target=run_cluster, args=([config], db_dsn, cluster.address, stop),
                                  kwargs={"every_s": 1.0}, daemon=True)
        driver.start()
        try:
            wait_until(lambda: ray.is_initialized() and len(group_statuses()) == 3, 120, "three groups")
            # Every camera alerted once (its sky zone is unattended) and pushed once.
            wait_until(lambda: len({d.body.get("camera_id") for d in receiver.deliveries}) == len(CAMERAS), 180,
                       "a push per camera", every=0.5)
            placed = {s["node_id"]: s for s in group_statuses()}
            victim = next(w for w in workers if w.node_id in placed)
            moved = set(placed[victim.node_id]["cameras"])
            killed_at = time.time()
            cluster.remove_node(victim, allow_graceful=False)

            def analysed_again() -> float | None:
                """When the moved cameras are analysed by a group running on another machine: that time."""
                running = [g for g in group_statuses(timeout_s=2) if g["running"] and g["node_id"] != victim.node_id]
                frames = {cam: c["frames"] for g in running for cam, c in g["cameras"].items()}
                return time.time() if all(frames.get(cam, 0) > 0 for cam in moved) else None

            back = wait_until(analysed_again, RECOVERY_S + 60, "the dead machine's cameras analysed again", every=0.5)
            recovered_s = back - killed_at
            time.sleep(8)  # the restarted groups run on: their incidents must merge into the open alerts
            running = [s for s in group_statuses() if s["running"]]
            restarted_at = max(g["started_at"] for g in running if set(g["cameras"]) & moved)
            owners = [cam for s in running for cam in s["cameras"]]
            assert sorted(owners) == sorted(CAMERAS)  # every camera in exactly one running group
            assert victim.node_id not in {s["node_id"] for s in running}
            latest = _latest_stats(db_dsn)
            assert all(latest[cam] > killed_at for cam in moved)  # and their stats written again
            shown = CliRunner().invoke(cli, ["cluster", "status", "--address", cluster.address])
            assert shown.exit_code == 0, shown.output
            assert shown.output.count("  运行中  ") == 3 and all(f"  {cam}：" in shown.output for cam in CAMERAS)
        finally:
            stopping_at = time.time()
            stop.set()
            driver.join(120)
            ray.shutdown()
            cluster.shutdown()
    print(f"\nrecovered in {recovered_s:.1f} s: the group restarted {restarted_at - killed_at:.1f} s after the kill, "
          f"analysed its cameras {back - restarted_at:.1f} s later")
    assert recovered_s <= RECOVERY_S
    with psycopg.connect(db_dsn) as conn:
        alerts = dict(conn.execute("SELECT camera_id, count(*) FROM alerts WHERE rule = 'zone_unattended' GROUP BY 1"))
        restarts = dict(conn.execute("SELECT camera_id, title FROM alerts WHERE rule = 'camera_group_restarted'"))
        # One group per camera writes a stats row every 5 s; two groups on one camera would interleave theirs
        # (the last rows written at the orderly stop aside).
        doubled = conn.execute(
            "SELECT count(*) FROM (SELECT ts, ts - lag(ts) OVER (PARTITION BY camera_id ORDER BY ts) AS gap"
            " FROM camera_stats) g WHERE gap < INTERVAL '2 seconds' AND ts < to_timestamp(%s)",
            (stopping_at,)).fetchone()[0]
    assert alerts == dict.fromkeys(CAMERAS, 1)
    pushed = [d.body.get("camera_id") for d in receiver.deliveries
              if d.body.get("event") == "alert.opened" and d.body.get("rule") == "zone_unattended"]
    assert sorted(pushed) == sorted(CAMERAS)
    # The moved cameras each have an alert saying so, with how long they went unanalysed.
    assert set(restarts) == moved
    assert all(re.fullmatch(r"摄像头在 \d+ 秒未分析后由其他机器恢复分析", t)
               for t in restarts.values())
    assert doubled == 0


def _frames(n: int) -> list[np.ndarray]:
    """`n` pictures of vtest.avi's campus (people walking), five seconds apart."""
    video, out = cv2.VideoCapture(str(DEFAULT_SOURCE)), []
    while len(out) < n:
        ok, frame = video.read()
        assert ok
        if int(video.get(cv2.CAP_PROP_POS_FRAMES)) % 50 == 0:
            out.append(frame)
    return out


@NEEDS_PROMETHEUS
def test_shared_detection_serves_every_group_with_the_local_results(db_dsn, tmp_path):
    cams = [f"sh-{i}" for i in range(4)]
    with ExitStack() as stack:
        sim = stack.enter_context(start_simulator(cams))
        raw = {"site": {"id": "s1", "name": "S"}, "paths": {"data_dir": str(tmp_path)}, "detector": {"imgsz": 320},
               "metrics": {"port": free_port_run(5)},
               # The head stands for the GPU machine: the server asks for its "detector" resource (gpus: 0, a
               # CPU server, as this machine has no GPU).
               "cluster": {"cameras_per_core": 2, "cores_per_group": 1, "shared_detection": {
                   "enabled": "on", "gpus": 0, "cpus": 0, "resources": {"detector": 1}, "max_wait_ms": 50}},
               "cameras": [camera(sim.url(c, "sub", credentials=False), unattended_s=3, id=c, name=c) for c in cams]}
        config = parse_config(raw, env={})
        cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 2,
                                                                              "resources": {"detector": 1}})
        stack.callback(cluster.shutdown)
        cluster.add_node(num_cpus=2)
        stop = threading.Event()
        driver = threading.Thread(target=run_cluster, args=([config], db_dsn, cluster.address, stop),
                                  kwargs={"every_s": 1.0}, daemon=True)
        driver.start()
        stack.callback(ray.shutdown)
        stack.callback(lambda: (stop.set(), driver.join(120)))

        def groups_detecting_remotely() -> bool:
            groups = group_statuses(timeout_s=2)
            return len(groups) == 2 and all(
                g["running"] and g["shared"].get("yolo", {}).get("remote_calls", 0) >= 5 for g in groups)

        wait_until(lambda: ray.is_initialized() and groups_detecting_remotely(), 180, "both groups on the server",
                   every=0.5)
        (name,) = server_names(config.detector, 1)
        head = cluster.head_node.node_id
        (server,) = server_statuses()
        assert server["server"] == name and server["node_id"] == head and server["model"] == "yolo11n-pose.pt"

        # Real frames through the server give what the same detector finds in this process.
        frames = _frames(6)
        full = config.detector.model_copy(update={"imgsz": 960})  # whole frames: people ~60 px tall at 960
        local = YoloDetector(full).detect(frames)
        shared = [YoloDetector(full, model=SharedModel(name, full, caller=f"test-{i}")) for i in range(3)]
        results: dict[int, list] = {}
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, shared[i].detect(frames)))
                   for i in range(3)]  # three callers at once: batched together within max_wait_ms
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sum(len(d) for d in local) >= 12  # people on the campus
        for found in results.values():
            assert [len(d) for d in found] == [len(d) for d in local]
            for a, b in zip(found, local, strict=True):
                assert np.allclose(a.xyxy, b.xyxy, atol=1.0)
                assert np.allclose(a.data["keypoints"], b.data["keypoints"], atol=1.0)
        assert all(d.model.local_calls == 0 and d.model.remote_calls == 1 for d in shared)
        # JPEG on the way (encoding: jpeg, for slow links): a tenth of the bytes, about the same people.
        jpeg = YoloDetector(full, model=SharedModel(name, full, caller="test-jpeg", jpeg_quality=90))
        by_jpeg = jpeg.detect(frames)
        assert jpeg.model.bytes_sent < shared[0].model.bytes_sent / 5
        assert all(abs(len(a) - len(b)) <= 1 for a, b in zip(by_jpeg, local, strict=True))
        (server,) = server_statuses()
        assert server["requests"] > server["batches"] and server["callers"] >= 6  # 2 groups + 4 test callers

        # The driver's metrics, through Prometheus, fill every panel of the Cluster dashboard.
        url = start_prometheus(stack, tmp_path, cluster_scrape_config(config, "127.0.0.1"))
        wait_until(lambda: prom_query(url, "count_over_time(jianguan_detection_server_batches_total[10s]) >= 5"),
                   60, "five scrapes of the driver", every=0.5)
        wrong = panels_off_site(url, cluster_model(), "s1", may_be_empty=frozenset({"Cameras offline"}))
        assert not wrong, wrong

        # The server gone (its machine died and nowhere else has the resource): the groups detect locally.
        ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
        wait_until(lambda: all(g["shared"]["yolo"]["local_calls"] >= 3 for g in group_statuses(timeout_s=2)), 120,
                   "both groups detecting on their own machines", every=0.5)
        assert all(g["running"] for g in group_statuses())
