"""Detector speed: ms per frame and frames/s per core for each model and runtime, and the full analytics
path (detector + tracker + zone + rule) with and without the motion gate, on real footage.

Run: .venv/bin/python bench/bench_detectors.py [--frames 60] [--imgsz 320 640] [--skip-path]
Exports missing from the model cache are made first (`jianguan models export`, offline, ~10-40 s each).
"frames/s per core" = frames / CPU seconds of this process (all threads), so it does not depend on how
many cores the runtime grabbed. Prints figures; asserts nothing. Quote the machine beside any figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import time

from bench_analytics import frames  # same footage and 5 fps sampling as the analytics bench

from analytics import (
    CameraAnalytics,
    MotionGate,
    NanoDetConfig,
    YoloConfig,
    ZoneConfig,
    ZoneUnattendedConfig,
    build_detector,
)
from analytics.detectors import empty_detections, model_dir, resolve_model


def yolo_model(runtime: str, imgsz: int) -> str:
    """Path of yolo11n-pose for a runtime: the .pt itself, or its export at `imgsz` (made if missing)."""
    if runtime == "torch":
        return "yolo11n-pose.pt"
    root = model_dir()
    target = root / (f"yolo11n-pose-{imgsz}.onnx" if runtime == "onnx" else f"yolo11n-pose-{imgsz}_openvino_model")
    if not target.exists():
        from ultralytics import YOLO

        root.mkdir(parents=True, exist_ok=True)
        staged = root / f"yolo11n-pose-{imgsz}.pt"
        shutil.copy2(resolve_model("yolo11n-pose.pt"), staged)
        print(f"  (exporting {target.name} ...)", flush=True)
        extra = {"simplify": True} if runtime == "onnx" else {}
        YOLO(str(staged)).export(format=runtime, imgsz=imgsz, dynamic=True, verbose=False, **extra)
    return str(target)


def time_detector(detector, images: list, batch: int = 1) -> tuple[float, float]:
    """(ms per frame on the wall clock, frames per CPU second)."""
    detector.detect(images[:batch])  # warm-up: first calls allocate
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(images), batch):
        detector.detect(images[i:i + batch])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall / len(images) * 1000, len(images) / max(cpu, 1e-9)


def analytics_path(detector, images: list, gate: MotionGate | None) -> tuple[float, float, float]:
    """(frames/s, frames per CPU second, share of frames the detector ran on) for one camera at 5 fps."""
    zone = ZoneConfig(id="z", kind="staff", polygon=[(0.4, 0.3), (0.6, 0.3), (0.6, 0.5), (0.4, 0.5)])
    cam = CameraAnalytics("bench", 5.0, [zone], [ZoneUnattendedConfig(type="zone_unattended", zone="z", seconds=8)])
    detector.detect(images[:1])
    h, w = images[0].shape[:2]
    last = empty_detections(keypoints=True)
    ran = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for k, image in enumerate(images):
        ts = k * 0.2
        if gate is None or gate.update(image, ts).run:
            last = detector.detect([image])[0]
            ran += 1
        cam.process(ts, (w, h), last)  # a skipped frame keeps the last detections: nothing moved
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return len(images) / wall, len(images) / max(cpu, 1e-9), ran / len(images)


def with_pauses(images: list) -> list:
    """An office-like scene: 4 s of the real walking footage, then 12 s of the same picture standing still."""
    out, k = [], 0
    while len(out) < len(images):
        out += images[k:k + 20]
        out += [images[min(k + 19, len(images) - 1)]] * 60
        k += 20
    return out[: len(images)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--imgsz", type=int, nargs="+", default=[320, 640])
    parser.add_argument("--runtimes", nargs="+", default=["torch", "onnx", "openvino"])
    parser.add_argument("--skip-path", action="store_true", help="only the detectors, not the analytics path")
    args = parser.parse_args()
    import torch

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), load {os.getloadavg()[0]:.1f}")
    images = frames(args.frames)
    print(f"footage: vtest.avi 768x576, {len(images)} frames at 5 fps\n")

    print("detector alone, batch 1 (full frame)")
    detectors = {}
    for imgsz in args.imgsz:
        for runtime in args.runtimes:
            det = build_detector(YoloConfig(model=yolo_model(runtime, imgsz), imgsz=imgsz, confidence=0.3))
            detectors[(runtime, imgsz)] = det
            ms, per_core = time_detector(det, images)
            print(f"  yolo11n-pose {runtime:<8} {imgsz:4d}: {ms:6.1f} ms/frame  {per_core:5.1f} frames/s per core")
    for imgsz in (320, 416):
        det = build_detector(NanoDetConfig(imgsz=imgsz, classes=[0, 2, 3, 5, 7, 67]))
        for batch in (1, 4):
            ms, per_core = time_detector(det, images, batch)
            print(f"  nanodet-m    onnxrt   {imgsz:4d}: {ms:6.1f} ms/frame  {per_core:5.1f} frames/s per core"
                  f"  (batch {batch})")
    gate = MotionGate()
    t = time.perf_counter()
    for k, image in enumerate(images):
        gate.update(image, k * 0.2)
    print(f"  motion gate (160 px grey):  {(time.perf_counter() - t) / len(images) * 1000:5.2f} ms/frame")
    if args.skip_path:
        return

    print("\nfull analytics path, one camera at 5 fps (detector + ByteTrack + zone + rule)")
    scenes = (("vtest (people walk all the time)", images), ("vtest with 12 s still spells", with_pauses(images)))
    for scene, clip in scenes:
        print(f"  scene: {scene}")
        for (runtime, imgsz), det in detectors.items():
            for gated in (False, True):
                fps, per_core, share = analytics_path(det, clip, MotionGate() if gated else None)
                print(f"    {runtime:<8} {imgsz:4d} {'gate' if gated else 'no gate':<7}: {fps:6.1f} frames/s  "
                      f"{per_core:5.1f} frames/s per core  detector on {share:4.0%} of frames")


if __name__ == "__main__":
    main()
