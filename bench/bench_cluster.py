"""Cameras analysed on a Ray cluster (jianguan/cluster.py) against one `jianguan run` node on the same cameras.

N simulated RTSP cameras (vtest.avi with the real clip's office zones and rules, bench_node.py's site) are
analysed for `--seconds` after a warm-up, first by one in-process Node (what `jianguan run` does), then by
`run_cluster` on a local Ray cluster of 1, 2 and 3 machines (`ray.cluster_utils.Cluster`: raylets on this
machine, 2 logical CPUs each), the cameras split into one camera group per machine. Printed per run: total
analysed frames/s, the worst camera's analysed rate as a share of the rate its rules need, the machine's
busy cores (from /proc/stat), and the ratios against the single node.

All "machines" share this machine's cores, so more of them cannot add compute: the ratios measure what Ray
costs (actor processes, one model per group, the raylets and GCS), not scale-out. Scale-out needs real machines.

`--shared` runs each cluster again with shared detection (jianguan/shared_detection.py): one detection server
on the head (`--server-gpus`, default 0: on a CPU, as this machine has no GPU), the groups sending it their
model inputs. Printed besides: the server's inputs and calls a batch, a call's wait for its batch, the model
time a batch, the groups' round trip, and the transfer: what a call costs beyond the server's wait and model
time (serialisation, the object store, the raylets; with `--encoding jpeg` also the JPEG encoding and
decoding), the bytes a call and a camera send, and the cores and memory of the groups and the server.

Run: .venv/bin/python bench/bench_cluster.py [--cameras 8] [--nodes 1 2 3] [--seconds 30] [--shared]
Prints figures; asserts nothing. Quote the machine and its load beside any figure.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

from bench_node import run_node, site_config

from devkit.simulator import DEFAULT_SOURCE, start_simulator


def busy_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def run_on_cluster(dsn: str, n: int, machines: int, args: argparse.Namespace, work: Path,
                   shared: bool = False) -> tuple[float, float, float, dict]:
    """(total analysed fps, worst camera's share of its need, busy cores, shared detection figures) for N
    cameras on `machines`."""
    import ray
    from ray.cluster_utils import Cluster

    from jianguan.cluster import group_statuses, run_cluster
    from jianguan.config import SharedDetectionConfig
    from jianguan.shared_detection import server_statuses

    cams = [f"cam-{i:03d}" for i in range(n)]
    with start_simulator(cams, fps=args.source_fps, source=args.source) as sim:
        cfg = site_config({c: sim.url(c, "sub") for c in cams}, work / f"c{machines}{'s' * shared}", args.detector,
                          args.fps, False)
        per_group = math.ceil(n / machines)
        sd = SharedDetectionConfig(enabled="on" if shared else "off", gpus=args.server_gpus, cpus=1.0,
                                   resources={"detector": 1.0}, encoding=args.encoding)
        cfg = cfg.model_copy(update={"cluster": cfg.cluster.model_copy(
            update={"cameras_per_core": float(per_group), "cores_per_group": 1.0, "shared_detection": sd})})
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "num_gpus": args.server_gpus,
                                                                "resources": {"detector": 1.0}})
        for _ in range(machines - 1):
            cluster.add_node(num_cpus=2)
        stop = threading.Event()
        driver = threading.Thread(target=run_cluster, args=([cfg], dsn, cluster.address, stop),
                                  kwargs={"every_s": 3600.0}, daemon=True)
        driver.start()
        try:
            deadline = time.monotonic() + 180
            while not (ray.is_initialized() and len(group_statuses()) == machines):
                if time.monotonic() > deadline:
                    raise RuntimeError("the camera groups did not start")
                time.sleep(1)
            time.sleep(args.warmup)
            g0 = group_statuses()
            v0 = server_statuses()
            b0, t0, w0 = *busy_jiffies(), time.monotonic()
            time.sleep(args.seconds)
            g1 = group_statuses()
            v1 = server_statuses()
            b1, t1, w1 = *busy_jiffies(), time.monotonic()
        finally:
            stop.set()
            driver.join(120)
            ray.shutdown()
            cluster.shutdown()
    wall = w1 - w0
    f0, f1 = ({cam: c["frames"] for g in gs for cam, c in g["cameras"].items()} for gs in (g0, g1))
    rates = [(f1.get(c, 0) - f0.get(c, 0)) / wall for c in cams]
    need = cfg.cameras[0].analysis_fps
    cores = (b1 - b0) / (t1 - t0) * (os.cpu_count() or 1)
    return sum(rates), min(rates) / need, cores, shared_figures(g0, g1, v0, v1, wall, n)


def shared_figures(g0: list[dict], g1: list[dict], v0: list[dict], v1: list[dict], wall: float, cameras: int) -> dict:
    """The window's cores and memory of the groups and the server, and its shared detection per batch, call and
    camera (zeros without), from the counters at both ends."""
    def usage(groups: list[dict]) -> tuple[int, float, float]:
        calls = sum(u["remote_calls"] for g in groups for u in g["shared"].values())
        trip = sum(u["remote_calls"] * u["round_trip_ms"] for g in groups for u in g["shared"].values())
        return calls, trip, sum(u["bytes_sent"] for g in groups for u in g["shared"].values()) / 1e6

    def server(vs: list[dict]) -> dict:
        return {k: sum(v[k] for v in vs if v["running"]) for k in ("batches", "inputs", "requests", "wait_ms",
                                                                    "run_ms")}

    (c0, t0, m0), (c1, t1, m1) = usage(g0), usage(g1)
    s0, s1 = server(v0), server(v1)
    d = {k: s1[k] - s0[k] for k in s1}
    calls, batches = max(1, c1 - c0), max(1, d["batches"])
    trip_ms = (t1 - t0) / calls
    wait_ms, run_ms = d["wait_ms"] / max(1, d["requests"]), d["run_ms"] / batches
    cpu = {name: sum(x["cpu_s"] for x in after if x.get("running")) - sum(x["cpu_s"] for x in before
                                                                        if x.get("running"))
           for name, before, after in (("groups", g0, g1), ("server", v0, v1))}
    return {"group_cores": cpu["groups"] / wall, "server_cores": cpu["server"] / wall,
            "group_mb": max(g["rss_mb"] for g in g1 if g.get("running")),
            "server_mb": max((v["rss_mb"] for v in v1 if v["running"]), default=0.0),
            "inputs_per_batch": d["inputs"] / batches, "calls_per_batch": d["requests"] / batches,
            "wait_ms": wait_ms, "run_ms": run_ms, "trip_ms": trip_ms, "transfer_ms": trip_ms - wait_ms - run_ms,
            "kb_per_call": (m1 - m0) * 1e3 / calls, "mb_s_per_camera": (m1 - m0) / wall / cameras, "local_calls": sum(
                u["local_calls"] for g in g1 for u in g["shared"].values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=8)
    ap.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=20.0)
    ap.add_argument("--fps", type=float, default=5.0, help="cameras' detect.fps")
    ap.add_argument("--source-fps", type=float, default=10.0)
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    ap.add_argument("--shared", action="store_true", help="also run each cluster with shared detection")
    ap.add_argument("--server-gpus", type=float, default=0.0, help="GPUs of the detection server (0: CPU)")
    ap.add_argument("--encoding", choices=["raw", "jpeg"], default="raw", help="how model inputs travel")
    args = ap.parse_args()
    args.detector = {}
    logging.basicConfig(level=logging.WARNING)
    from _scratch import scratch_database

    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
          f"{args.cameras} cameras at {args.fps:g} fps, {args.seconds:g} s after {args.warmup:g} s")
    print(f"{'run':>22} {'total fps':>9} {'worst got/need':>14} {'busy cores':>10} {'x node fps':>10} "
          f"{'x node fps/core':>15}")
    with scratch_database() as dsn, tempfile.TemporaryDirectory(prefix="jianguan-bench-cluster-") as tmp:
        # The single node: bench_node's run with the same cameras and site.
        node_args = argparse.Namespace(mix="vtest", source_fps=args.source_fps, source=args.source, stream="sub",
                                       detector=args.detector, fps=args.fps, record=False, all_zones=False,
                                       warmup=args.warmup, seconds=args.seconds)
        row = run_node(dsn, args.cameras, node_args, Path(tmp))
        base_fps = row.total_fps
        base_cores = row.node_cores + row.sim_cores  # the node and the simulator, over the measured window
        print(f"{'jianguan run (1 node)':>22} {base_fps:9.1f} {row.share_min:14.2f} {base_cores:10.2f} {1:10.2f} "
              f"{1:15.2f}", flush=True)
        details = []
        for machines in args.nodes:
            for shared in (False, True) if args.shared else (False,):
                fps, share, cores, figures = run_on_cluster(dsn, args.cameras, machines, args, Path(tmp), shared)
                name = f"ray, {machines} machine(s){', shared' * shared}"
                print(f"{name:>22} {fps:9.1f} {share:14.2f} {cores:10.2f} "
                      f"{fps / base_fps:10.2f} {(fps / cores) / (base_fps / base_cores):15.2f}", flush=True)
                details.append((name, figures))
        if details:
            print(f"\n{'shared detection':>22} {'inputs/batch':>12} {'calls/batch':>11} {'wait ms':>7} "
                  f"{'model ms':>8} {'trip ms':>7} {'transfer ms':>11} {'KB/call':>7} {'MB/s/cam':>8} {'local':>5} "
                  f"{'group cores':>11} {'server cores':>12} {'group MB':>8} {'server MB':>9}")
            for name, f in details:
                if "shared" not in name:
                    print(f"{name:>22} {'-':>12} {'-':>11} {'-':>7} {'-':>8} {'-':>7} {'-':>11} {'-':>7} {'-':>8} "
                          f"{'-':>5} {f['group_cores']:11.2f} {'-':>12} {f['group_mb']:8.0f} {'-':>9}")
                    continue
                print(f"{name:>22} {f['inputs_per_batch']:12.1f} {f['calls_per_batch']:11.2f} {f['wait_ms']:7.1f} "
                      f"{f['run_ms']:8.1f} {f['trip_ms']:7.1f} {f['transfer_ms']:11.1f} {f['kb_per_call']:7.0f} "
                      f"{f['mb_s_per_camera']:8.2f} {f['local_calls']:5d} {f['group_cores']:11.2f} "
                      f"{f['server_cores']:12.2f} {f['group_mb']:8.0f} {f['server_mb']:9.0f}")


if __name__ == "__main__":
    main()
