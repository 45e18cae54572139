"""The peer of bench_node.py: N cameras through the pipeline Ultralytics' and supervision's tutorials show.

One thread per camera (Ultralytics' "thread-safe multi-stream inference" guide): OpenCV reads the RTSP stream,
every frame at the camera's rate goes through its own `YOLO(...).track(persist=True)` with ByteTrack, and
`sv.PolygonZone.trigger` counts the people in each zone. Same weights, input size, footage and zones as the
node. What it lacks by design is what the node adds: zone crops, rates by need, batching across cameras.
"""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import supervision as sv


def run_peer(urls: dict[str, str], zones: list[np.ndarray], model: str, imgsz: int, fps: float,
             seconds: float, warmup: float, cpu: object) -> tuple[float, float, list[float]]:
    """Total frames/s analysed, CPU cores used and per-camera frames/s over `seconds` after `warmup`."""
    from ultralytics import YOLO

    counts = dict.fromkeys(urls, 0)
    stop = threading.Event()

    def camera(cam: str, url: str) -> None:
        yolo = YOLO(model, task="pose")
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
        polygons: list[sv.PolygonZone] | None = None
        next_t = 0.0
        while not stop.is_set():
            ok, frame = cap.read()
            if not ok:
                time.sleep(0.05)
                continue
            now = time.monotonic()
            if now < next_t:  # the tutorial's rate limit: skip frames beyond the camera's fps
                continue
            next_t = max(next_t + 1.0 / fps, now - 1.0 / fps)
            result = yolo.track(frame, persist=True, imgsz=imgsz, classes=[0], tracker="bytetrack.yaml",
                                verbose=False)[0]
            det = sv.Detections.from_ultralytics(result)
            if polygons is None:
                h, w = frame.shape[:2]
                polygons = [sv.PolygonZone((z * (w, h)).astype(int)) for z in zones]
            for zone in polygons:
                zone.trigger(det)
            counts[cam] += 1
        cap.release()

    threads = [threading.Thread(target=camera, args=item, daemon=True) for item in urls.items()]
    for t in threads:
        t.start()
    time.sleep(warmup)
    f0, c0, t0 = dict(counts), cpu(), time.monotonic()  # type: ignore[operator]
    time.sleep(seconds)
    f1, c1, t1 = dict(counts), cpu(), time.monotonic()  # type: ignore[operator]
    stop.set()
    for t in threads:
        t.join(10)
    wall = t1 - t0
    per_cam = [(f1[c] - f0[c]) / wall for c in urls]
    return sum(per_cam), (c1 - c0) / wall, per_cam
