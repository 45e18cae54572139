"""Packing detector inputs of several shapes into shared canvases, against one call per shape.

A node's batch holds the crops of every camera that has a frame ready; each camera's zones differ, so the
crops, brought to their own scale, have many shapes. This bench builds such a batch from the office mix's
scenes (bench_node.py's window, exam, lane and vtest cameras, each camera's crops grown by a seeded 0-15 % as
its zones would differ) and times, per runtime (torch .pt; the OpenVINO export when `jianguan models export`
has made one):

- "per shape": one batched call per distinct input shape (what runs with `pack: false`);
- "packed": the inputs on shared canvases (analytics/detectors/packing.py), whatever it costs;
- "auto": the default, the cheaper plan by model pixels counting each call's fixed cost.

It prints ms per batch, calls, model pixels, the ratio to "per shape", and how many people the packed plan
finds against "per shape" (same box within IoU 0.5), so a win is not bought with misses. It also times the
fixed cost of a call (4 calls at 320 against one batch of 4) that `YoloModel.call_overhead_px` encodes.

Run: .venv/bin/python bench/bench_packing.py [--cameras 16] [--repeat 5]
Prints figures; asserts nothing. Quote the machine beside any figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import supervision as sv

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_node import OFFICE_SCENES, library_videos, office_config, site_config  # noqa: E402

from analytics.config import RegionOfInterest, YoloConfig  # noqa: E402
from analytics.detectors import model_dir  # noqa: E402
from analytics.detectors.regions import RegionPlanner  # noqa: E402
from analytics.detectors.yolo import YoloDetector  # noqa: E402
from jianguan.config import SiteConfig  # noqa: E402

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
SUB_WH = (640, 360)  # the simulator's sub stream, what bench_node's cameras decode


def frame_of(video: Path, index: int = 60) -> np.ndarray:
    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, image = cap.read()
    cap.release()
    if not ok:
        raise SystemExit(f"cannot read {video}")
    return cv2.resize(image, SUB_WH)


def office_batch(n: int, seed: int = 7) -> tuple[list[np.ndarray], list[RegionOfInterest | None], list[int]]:
    """The pose detector's crops of n office cameras (scenes in turn), each camera's crops grown a little."""
    cams = [f"cam-{i:03d}" for i in range(n)]
    scenes = {c: OFFICE_SCENES[i % len(OFFICE_SCENES)] for i, c in enumerate(cams)}
    videos = library_videos()
    cfg: SiteConfig = office_config({c: "rtsp://bench/x" for c in cams}, scenes, Path("/tmp/bench-packing"), {},
                                    5.0, False)
    rng = random.Random(seed)
    images, rois, sizes = [], [], []
    for cam in cfg.cameras:
        image = frame_of(videos[scenes[cam.id]] if scenes[cam.id] else VTEST)
        pose = next(d for d in cfg.all_detectors if d.name == "pose")
        planner = RegionPlanner(pose, cam.zones, cam.detect.roi, flexible=True)
        grow = 1.0 + rng.uniform(0.0, 0.15)
        for roi, size in planner.plan(SUB_WH):
            images.append(image)
            rois.append(_grown(roi, grow))
            sizes.append(size or pose.imgsz)
    return images, rois, sizes


def vtest_batch() -> tuple[list[np.ndarray], list[RegionOfInterest | None], list[int]]:
    """One camera of the real clip with bench_node's three office zones: three crops of three shapes."""
    cfg = site_config({"cam": "rtsp://bench/x"}, Path("/tmp/bench-packing"), {}, 5.0, False)
    pose = cfg.all_detectors[0]
    plan = RegionPlanner(pose, cfg.cameras[0].zones, cfg.cameras[0].detect.roi, flexible=True).plan(SUB_WH)
    image = frame_of(VTEST)
    return [image] * len(plan), [r for r, _s in plan], [s or pose.imgsz for _r, s in plan]


def _grown(roi: RegionOfInterest | None, factor: float) -> RegionOfInterest | None:
    if roi is None:
        return None
    cx, cy, hw, hh = (roi.x0 + roi.x1) / 2, (roi.y0 + roi.y1) / 2, (roi.x1 - roi.x0) / 2, (roi.y1 - roi.y0) / 2
    return RegionOfInterest(x0=max(0.0, cx - hw * factor), y0=max(0.0, cy - hh * factor),
                            x1=min(1.0, cx + hw * factor), y1=min(1.0, cy + hh * factor))


def timed(detector: YoloDetector, images: list, rois: list, sizes: list, repeat: int) -> tuple[float, list]:
    detector.detect(images, rois, sizes)  # warm: shapes compiled, caches filled
    start = time.perf_counter()
    for _ in range(repeat):
        found = detector.detect(images, rois, sizes)
    return (time.perf_counter() - start) / repeat * 1000, found


def matched(a: list[sv.Detections], b: list[sv.Detections]) -> tuple[int, int]:
    """People of `b` with a box of `a` at IoU >= 0.5, and people in `b`."""
    hit = total = 0
    for da, db in zip(a, b, strict=True):
        total += len(db)
        if len(da) and len(db):
            hit += int((sv.box_iou_batch(db.xyxy, da.xyxy).max(axis=1) >= 0.5).sum())
    return hit, total


def call_overhead(model: str) -> tuple[float, float]:
    """ms of 4 calls of one 320x320 input and of one call of 4."""
    det = YoloDetector(YoloConfig(name="pose", model=model, imgsz=320))
    image = np.full((320, 320, 3), 114, np.uint8)
    for _ in range(2):
        det.detect([image] * 4)
    start = time.perf_counter()
    for _ in range(5):
        for _k in range(4):
            det.detect([image])
    apart = (time.perf_counter() - start) / 5 * 1000
    start = time.perf_counter()
    for _ in range(5):
        det.detect([image] * 4)
    return apart, (time.perf_counter() - start) / 5 * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    batches = {"1 camera": vtest_batch(), f"{args.cameras} cameras": office_batch(args.cameras)}
    runtimes = {"torch": "yolo11n-pose.pt"}
    exported = sorted(model_dir().glob("yolo11n-pose*_openvino_model"))
    if exported:
        runtimes["openvino"] = str(exported[-1])
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
          f"1 camera of the real clip ({len(batches['1 camera'][0])} crops); {args.cameras} office cameras "
          f"({len(batches[f'{args.cameras} cameras'][0])} crops) in one batch; {args.repeat} repeats")
    print(f"{'runtime':9} {'batch':11} {'plan':10} {'ms':>7} {'calls':>5} {'Mpx':>6} {'x per shape':>11} "
          f"{'people':>7}")
    for runtime, model in runtimes.items():
        plans = {"per shape": YoloConfig(name="pose", model=model, pack=False),
                 "packed": YoloConfig(name="pose", model=model),
                 "auto": YoloConfig(name="pose", model=model)}
        detectors = {plan: YoloDetector(config) for plan, config in plans.items()}
        # Any plan with fewer calls wins: packs whenever shapes differ.
        detectors["packed"].model.call_overhead_px = 10**9
        for batch, (images, rois, sizes) in batches.items():
            base_ms, base_found = None, None
            for plan, det in detectors.items():
                calls = det.calls(images, rois, sizes)
                ms, found = timed(det, images, rois, sizes, args.repeat)
                base_ms = base_ms or ms
                base_found = base_found or found
                hit, total = matched(found, base_found)
                print(f"{runtime:9} {batch:11} {plan:10} {ms:7.1f} {len(calls):5d} "
                      f"{sum(c.pixels for c in calls) / 1e6:6.2f} {base_ms / ms:11.2f} {hit:3d}/{total:<3d}",
                      flush=True)
        apart, together = call_overhead(model)
        print(f"{runtime:9} fixed cost of a call: 4 calls of 320x320 {apart:.1f} ms, one call of 4 {together:.1f} ms "
              f"-> {(apart - together) / 3:.1f} ms a call")


if __name__ == "__main__":
    main()
