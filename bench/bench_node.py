"""Cameras per node: N simulated RTSP cameras, a real node, per-camera rates, drops, latency and CPU.

For each N the RTSP simulator (a separate process) serves N cameras of real footage (vtest.avi, looped, and
the scenario library's rendered scenes where they are cached), and a real `Node` (readers, detector, tracking,
zones, rules, alerts, PostgreSQL, camera_stats) analyses them in this process for `--seconds` after a warm-up.
The cameras carry the real-footage set's zones and rules (devkit/scenarios/real/vtest.clip.yaml), so zone crops and
alerts run as they would in an office. Printed per N:

- analysed frames/s per camera (min / mean), the mean rate the cameras' rules need, the worst camera's
  analysed rate as a share of its own need, and the spread of those shares (worst against mean: fairness);
- frames dropped because analysis fell behind, as a share of the frames the readers produced;
- alert latency p95: wall clock when the alert was written minus the time of the frame that raised it;
- CPU of the node (this process) and of the simulator, in cores; the node's RSS;
- total analysed frames/s, and its ratio to the best N so far (past capacity it must stay near 1).

Then the largest N with every camera at its needed rate and < 1 % drops. With `--peer`, the same cameras run
through a peer pipeline written as Ultralytics' and supervision's tutorials do (`YOLO.track` with ByteTrack,
`sv.PolygonZone`, one model per camera, frames read with OpenCV), same weights and input size, and the ratio of
cameras held (this project over the peer) is printed per second and per CPU-second.

Run: .venv/bin/python bench/bench_node.py [--cameras 8 16 24 32 40] [--seconds 60] [--peer]
Prints figures; asserts nothing. Quote the machine and its load beside any figure.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import resource
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from devkit.scenarios.real import load_clip
from devkit.simulator import DEFAULT_SOURCE, start_simulator
from jianguan.config import SiteConfig
from jianguan.node import Node, preflight


def cpu_self() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# A window camera watches a few zones, not the whole picture: three of the real clip's (bench/bench_real.py's
# office case: a near path, one behind the lamp post, the far road).
OFFICE_ZONES = ("left_path", "sign", "far_road")


# --mix office: cameras cycle through a window, an exam room and an inspection lane of the scenario library
# (their own zones and rules; rendered by `jianguan evaluate` into var/evaluation/videos) and vtest.avi.
OFFICE_SCENES = ("window-clerk-away-35s", "exam-head-turned-right", "lane-walkaround-two-sides", None)


def library_videos(work: Path = Path("var/evaluation/videos")) -> dict[str, Path]:
    """The rendered library videos of OFFICE_SCENES (the newest render of each)."""
    found = {}
    for scene in filter(None, OFFICE_SCENES):
        renders = sorted(work.glob(f"{scene}-*.mp4"), key=lambda p: p.stat().st_mtime)
        if not renders:
            raise SystemExit(f"no render of {scene} under {work}: run `jianguan evaluate --only {scene}` first")
        found[scene] = renders[-1]
    return found


def office_config(urls: dict[str, str], scenes: dict[str, str | None], data_dir: Path, detector: dict, fps: float,
                  record: bool) -> SiteConfig:
    """Cameras showing library scenes carry their scenario's zones and rules (as `jianguan evaluate` runs
    them); the vtest cameras the real clip's office zones."""
    from devkit.scenarios.library import build_library
    from jianguan.evaluate import site_config as library_site

    lib = {sc.id: sc for sc in build_library()}
    vtest = site_config({c: u for c, u in urls.items() if scenes[c] is None}, data_dir, detector, fps, record)
    raw = library_site([lib[s] for s in sorted({s for s in scenes.values() if s})],
                       {s: "placeholder" for s in scenes.values() if s}, data_dir, model=detector.get(
                           "model", "yolo11n-pose.pt"), imgsz=detector.get("imgsz", 640)).model_dump(mode="json")
    by_scene = {c["id"]: c for c in raw["cameras"]}
    cameras = []
    for cam, url in urls.items():
        if scenes[cam] is None:
            c = next(v for v in vtest.model_dump(mode="json")["cameras"] if v["id"] == cam)
            c["detect"]["detectors"] = ["pose"]
        else:
            c = {**by_scene[scenes[cam]], "id": cam, "name": cam, "streams": {"detect": url}}
            c["detect"] = {**c["detect"], "fps": fps}
        c["record"] = {"enabled": record}
        cameras.append(c)
    raw["detectors"][0].update(detector)
    raw["cameras"] = cameras
    raw["site"] = {"id": "bench-node", "name": "bench"}
    raw.pop("detector", None)
    return SiteConfig.model_validate(raw)


def site_config(urls: dict[str, str], data_dir: Path, detector: dict, fps: float, record: bool,
                only: tuple[str, ...] | None = OFFICE_ZONES) -> SiteConfig:
    """N office cameras, each with the real clip's zones and their rules (relative coordinates)."""
    clip = load_clip("vtest")
    w, h = clip.frame_wh
    zones = []
    for z in clip.spec.zones:
        if only and z.id not in only:
            continue
        zone = {"id": z.id, "kind": z.kind, "polygon": [[x / w, y / h] for x, y in z.polygon]}
        if z.occluders:
            zone["occluders"] = [[[x / w, y / h] for x, y in o] for o in z.occluders]
        zones.append(zone)
    cameras = [{"id": cam, "name": cam, "area": "window", "streams": {"detect": url},
                "detect": {"fps": fps}, "record": {"enabled": record}, "zones": zones,
                "rules": [dict(r) for r in clip.spec.rules if not only or r["zone"] in only]}
               for cam, url in urls.items()]
    return SiteConfig.model_validate({
        "site": {"id": "bench-node", "name": "bench"}, "paths": {"data_dir": str(data_dir)},
        "detector": detector, "cameras": cameras})


@dataclass
class Row:
    cameras: int
    fps_min: float
    fps_mean: float
    need: float  # mean over cameras of the rate their rules need
    share_min: float  # the worst camera's analysed rate as a share of its need
    share_mean: float
    drop_pct: float
    latency_p95: float | None
    node_cores: float
    sim_cores: float
    rss: float
    total_fps: float


def run_node(dsn: str, n: int, args: argparse.Namespace, work: Path) -> Row:
    cams = [f"cam-{i:03d}" for i in range(n)]
    scenes = {c: OFFICE_SCENES[i % len(OFFICE_SCENES)] if args.mix == "office" else None for i, c in enumerate(cams)}
    videos = library_videos() if args.mix == "office" else {}
    sources = {c: videos[s] for c, s in scenes.items() if s}
    with start_simulator(cams, fps=args.source_fps, source=args.source, sources=sources) as sim:
        urls = {c: sim.url(c, args.stream) for c in cams}
        if args.mix == "office":
            cfg = office_config(urls, scenes, work / f"n{n}", args.detector, args.fps, args.record)
        else:
            cfg = site_config(urls, work / f"n{n}", args.detector, args.fps, args.record,
                              None if args.all_zones else OFFICE_ZONES)
        node = Node(cfg, dsn, checked=preflight(cfg), stats_every_s=5.0)
        thread = threading.Thread(target=node.run, name="node", daemon=True)
        thread.start()
        time.sleep(args.warmup)
        counters = node.report.cameras
        f0 = {c: counters[c].frames_analysed for c in cams}
        d0 = {c: counters[c].dropped for c in cams}
        c0, s0, t0 = cpu_self(), cpu_of(sim.pid), time.monotonic()
        time.sleep(args.seconds)
        f1 = {c: counters[c].frames_analysed for c in cams}
        d1 = {c: counters[c].dropped for c in cams}
        c1, s1, t1 = cpu_self(), cpu_of(sim.pid), time.monotonic()
        rss = rss_mb()
        node.stop_event.set()
        thread.join(60)
    wall = t1 - t0
    rates = np.array([(f1[c] - f0[c]) / wall for c in cams])
    shares = rates / np.array([node._needed_fps[c] for c in cams])  # each camera against the rate it needs
    dropped = sum(d1[c] - d0[c] for c in cams)
    analysed = sum(f1[c] - f0[c] for c in cams)
    lat = node.report.alert_latency_s
    return Row(n, float(rates.min()), float(rates.mean()), node.report.needed_fps, float(shares.min()),
               float(shares.mean()), 100 * dropped / max(1, dropped + analysed),
               float(np.percentile(lat, 95)) if lat else None, (c1 - c0) / wall, (s1 - s0) / wall, rss,
               analysed / wall)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, nargs="+", default=[8, 16, 24, 32, 40])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--warmup", type=float, default=15.0, help="seconds before measuring (opens, model warm-up)")
    ap.add_argument("--fps", type=float, default=5.0, help="cameras' detect.fps")
    ap.add_argument("--source-fps", type=float, default=10.0, help="frame rate the simulator serves")
    ap.add_argument("--stream", choices=["sub", "main"], default="sub")
    ap.add_argument("--model", default=None, help="weights (default: the detector's default)")
    ap.add_argument("--imgsz", type=int, default=None)
    ap.add_argument("--crops", choices=["roi", "zones", "full"], default=None)
    ap.add_argument("--threads", type=int, default=None, help="detector threads (torch)")
    ap.add_argument("--mix", choices=["vtest", "office"], default="vtest", help="vtest: every camera vtest.avi "
                    "with three zones; office: window, exam and lane scenes of the library and vtest, in turn")
    ap.add_argument("--all-zones", action="store_true", help="all 8 zones of the real clip (most of the frame)")
    ap.add_argument("--record", action="store_true", help="record every camera too (one ffmpeg each)")
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    ap.add_argument("--peer", action="store_true", help="also run the tutorial pipeline on the same cameras")
    args = ap.parse_args()
    args.detector = {k: v for k, v in (("model", args.model), ("imgsz", args.imgsz), ("crops", args.crops),
                                       ("threads", args.threads)) if v is not None}
    logging.basicConfig(level=logging.WARNING)
    from _scratch import scratch_database

    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
          f"detector {args.detector or 'defaults'}; {args.stream} stream at {args.source_fps:g} fps, "
          f"{args.seconds:g} s per N after {args.warmup:g} s")
    print(f"{'N':>3} {'fps min':>7} {'mean':>5} {'need':>4} {'got/need min':>12} {'spread':>6} {'drop %':>6} "
          f"{'lat p95':>7} {'node cores':>10} {'sim':>5} {'RSS MB':>6} {'total fps':>9} {'x best':>6}")
    rows: list[Row] = []
    with scratch_database() as dsn, tempfile.TemporaryDirectory(prefix="jianguan-bench-node-") as tmp:
        for n in args.cameras:
            row = run_node(dsn, n, args, Path(tmp))
            rows.append(row)
            best = max(r.total_fps for r in rows)
            lat = f"{row.latency_p95:7.2f}" if row.latency_p95 is not None else f"{'-':>7}"
            print(f"{n:3d} {row.fps_min:7.2f} {row.fps_mean:5.2f} {row.need:4.1f} {row.share_min:12.2f} "
                  f"{row.share_min / max(row.share_mean, 1e-9):6.2f} {row.drop_pct:6.1f} {lat} {row.node_cores:10.2f} "
                  f"{row.sim_cores:5.2f} {row.rss:6.0f} {row.total_fps:9.1f} {row.total_fps / best:6.2f}", flush=True)
    held = [r.cameras for r in rows if r.share_min >= 0.97 and r.drop_pct < 1.0]
    print(f"\nlargest N at the needed rate with < 1 % drops: {max(held) if held else 'none'}")
    if args.peer:
        compare_with_peer(rows[-1], args)


def compare_with_peer(ours: Row, args: argparse.Namespace) -> None:
    """The tutorial pipeline on the same N cameras (the last, busiest N): cameras each holds at its rate."""
    from peer_pipeline import run_peer

    from analytics.detectors import resolve_model

    n = ours.cameras
    cams = [f"cam-{i:03d}" for i in range(n)]
    clip = load_clip("vtest")
    w, h = clip.frame_wh
    zones = [np.array(z.polygon, dtype=float) / (w, h) for z in clip.spec.zones
             if args.all_zones or z.id in OFFICE_ZONES]
    model = str(resolve_model(args.model or "yolo11n-pose.pt"))
    with start_simulator(cams, fps=args.source_fps, source=args.source) as sim:
        total, cores, per_cam = run_peer({c: sim.url(c, args.stream) for c in cams}, zones, model,
                                         args.imgsz or 640, args.fps, args.seconds, args.warmup, cpu_self)
    ours_held, peer_held = ours.total_fps / ours.need, total / args.fps
    print(f"\npeer (YOLO.track + ByteTrack + PolygonZone, thread per camera) on {n} cameras: {total:.1f} frames/s "
          f"(min {min(per_cam):.2f} per camera), {cores:.2f} cores")
    print(f"cameras held: this project {ours_held:.1f} at {ours.need:g} frames/s, peer {peer_held:.1f} at "
          f"{args.fps:g}: x{ours_held / max(peer_held, 1e-9):.2f} per second, "
          f"x{(ours_held / ours.node_cores) / max(peer_held / cores, 1e-9):.2f} per CPU-second")


if __name__ == "__main__":
    main()
