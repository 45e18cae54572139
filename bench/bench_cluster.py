"""Cameras analysed on a Ray cluster (jianguan/cluster.py) against one `jianguan run` node on the same cameras.

N simulated RTSP cameras (vtest.avi with the real clip's office zones and rules, bench_node.py's site) are
analysed for `--seconds` after a warm-up, first by one in-process Node (what `jianguan run` does), then by
`run_cluster` on a local Ray cluster of 1, 2 and 3 machines (`ray.cluster_utils.Cluster`: raylets on this
machine, 2 logical CPUs each), the cameras split into one camera group per machine. Printed per run: total
analysed frames/s, the worst camera's analysed rate as a share of the rate its rules need, the machine's
busy cores (from /proc/stat), and the ratios against the single node.

All "machines" share this machine's cores, so more of them cannot add compute: the ratios measure what Ray
costs (actor processes, one model per group, the raylets and GCS), not scale-out. Scale-out needs real machines.

Run: .venv/bin/python bench/bench_cluster.py [--cameras 8] [--nodes 1 2 3] [--seconds 30]
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

from ingest.simulator import DEFAULT_SOURCE, start_simulator


def busy_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def run_on_cluster(dsn: str, n: int, machines: int, args: argparse.Namespace, work: Path) -> tuple[float, float, float]:
    """(total analysed fps, worst camera's share of its need, busy cores) for N cameras on `machines`."""
    import ray
    from ray.cluster_utils import Cluster

    from jianguan.cluster import group_statuses, run_cluster

    cams = [f"cam-{i:03d}" for i in range(n)]
    with start_simulator(cams, fps=args.source_fps, source=args.source) as sim:
        cfg = site_config({c: sim.url(c, "sub") for c in cams}, work / f"c{machines}", args.detector, args.fps,
                          False)
        per_group = math.ceil(n / machines)
        cfg = cfg.model_copy(update={"cluster": cfg.cluster.model_copy(
            update={"cameras_per_core": float(per_group), "cores_per_group": 1.0})})
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
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
            f0 = {cam: c["frames"] for g in group_statuses() for cam, c in g["cameras"].items()}
            b0, t0, w0 = *busy_jiffies(), time.monotonic()
            time.sleep(args.seconds)
            f1 = {cam: c["frames"] for g in group_statuses() for cam, c in g["cameras"].items()}
            b1, t1, w1 = *busy_jiffies(), time.monotonic()
        finally:
            stop.set()
            driver.join(120)
            ray.shutdown()
            cluster.shutdown()
    wall = w1 - w0
    rates = [(f1.get(c, 0) - f0.get(c, 0)) / wall for c in cams]
    need = cfg.cameras[0].analysis_fps
    cores = (b1 - b0) / (t1 - t0) * (os.cpu_count() or 1)
    return sum(rates), min(rates) / need, cores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=8)
    ap.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=20.0)
    ap.add_argument("--fps", type=float, default=5.0, help="cameras' detect.fps")
    ap.add_argument("--source-fps", type=float, default=10.0)
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
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
        for machines in args.nodes:
            fps, share, cores = run_on_cluster(dsn, args.cameras, machines, args, Path(tmp))
            print(f"{f'ray, {machines} machine(s)':>22} {fps:9.1f} {share:14.2f} {cores:10.2f} "
                  f"{fps / base_fps:10.2f} {(fps / cores) / (base_fps / base_cores):15.2f}", flush=True)


if __name__ == "__main__":
    main()
