"""Frames per second of the analytics path (detector + tracker + zones + rule) on real footage.

Run: .venv/bin/python bench/bench_analytics.py [--frames 120] [--imgsz 320 640]
Prints figures and ratios; asserts nothing. Note the machine (cores, GPU) beside any figure you quote.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import av
import cv2

from analytics import CameraAnalytics, RegionOfInterest, YoloConfig, YoloDetector, ZoneConfig, ZoneUnattendedConfig

VIDEO = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"


def frames(n: int) -> list:
    out = []
    with av.open(VIDEO) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % 2 == 0:  # 5 fps from the 10 fps source, as the demo samples it
                yuv = frame.to_ndarray(format="yuv420p")
                out.append(cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420))
            if len(out) >= n:
                break
    return out


def bench(images: list, imgsz: int, roi: RegionOfInterest | None, batch: int) -> tuple[float, float]:
    detector = YoloDetector(YoloConfig(imgsz=imgsz))
    zone = ZoneConfig(id="z", kind="staff", polygon=[(0.4, 0.3), (0.6, 0.3), (0.6, 0.5), (0.4, 0.5)])
    cam = CameraAnalytics("bench", 5.0, [zone], [ZoneUnattendedConfig(type="zone_unattended", zone="z", seconds=8)])
    detector.detect(images[:batch], [roi] * len(images[:batch]))  # warm-up
    h, w = images[0].shape[:2]
    det_s = 0.0
    start = time.perf_counter()
    for i in range(0, len(images), batch):
        chunk = images[i:i + batch]
        t = time.perf_counter()
        results = detector.detect(chunk, [roi] * len(chunk))
        det_s += time.perf_counter() - t
        for j, det in enumerate(results):
            cam.process((i + j) * 0.2, (w, h), det)
    total = time.perf_counter() - start
    return len(images) / total, det_s / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--imgsz", type=int, nargs="+", default=[320, 640])
    args = parser.parse_args()
    import torch

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, cuda {torch.cuda.is_available()}")
    images = frames(args.frames)
    print(f"footage: vtest.avi 768x576, {len(images)} frames sampled at 5 fps")
    roi = RegionOfInterest(x0=0.3, y0=0.15, x1=0.7, y1=0.6)  # the demo camera's crop
    base = None
    for imgsz in args.imgsz:
        for label, r in (("full frame", None), ("ROI crop", roi)):
            for batch in (1, 4):
                fps, det_share = bench(images, imgsz, r, batch)
                base = base or fps
                print(f"imgsz {imgsz:4d}  {label:10s}  batch {batch}: {fps:6.1f} frames/s "
                      f"({fps / 5:5.1f} cameras at 5 fps; detector {det_share:4.0%} of time; x{fps / base:.2f})")


if __name__ == "__main__":
    main()
