"""Evidence snapshot: the frame with the zone and the boxes drawn, saved as JPEG with its sha256."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np
import supervision as sv


def draw_evidence(
    image: np.ndarray,
    detections: sv.Detections,
    zone_polygon: np.ndarray | None = None,
    caption: str = "",
) -> np.ndarray:
    """A copy of `image` with the zone outlined and every detection boxed and labelled."""
    canvas = image.copy()
    if zone_polygon is not None and len(zone_polygon):
        pts = zone_polygon.astype(np.int32).reshape(-1, 1, 2)
        overlay = canvas.copy()
        cv2.fillPoly(overlay, [pts], (0, 0, 255))
        canvas = cv2.addWeighted(overlay, 0.2, canvas, 0.8, 0)
        cv2.polylines(canvas, [pts], True, (0, 0, 255), 2)
    ids = detections.tracker_id
    conf = detections.confidence
    for i, (x0, y0, x1, y1) in enumerate(detections.xyxy.astype(int)):
        cv2.rectangle(canvas, (x0, y0), (x1, y1), (0, 255, 0), 2)
        label = []
        if ids is not None and int(ids[i]) >= 0:  # -1: seen, but not (yet) a confirmed track
            label.append(f"#{int(ids[i])}")
        if conf is not None:
            label.append(f"{float(conf[i]):.2f}")
        if label:
            cv2.putText(canvas, " ".join(label), (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        (0, 255, 0), 1, cv2.LINE_AA)
    if caption:
        cv2.rectangle(canvas, (0, 0), (canvas.shape[1], 24), (0, 0, 0), -1)
        cv2.putText(canvas, caption, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas


def write_jpeg(image: np.ndarray, path: Path, quality: int = 88) -> str:
    """Write atomically and return the sha256 of the bytes written."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError(f"JPEG encoding failed for {path.name}")
    data = buf.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()
