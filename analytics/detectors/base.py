"""What every detector shares: the result convention, COCO names, crops and merging.

Convention: `detect(images, rois)` returns one `sv.Detections` per input image, in full-frame pixel
coordinates, `class_id` = COCO ids (0 person, 2 car, 3 motorcycle, 5 bus, 7 truck, 67 cell phone, ...)
and `data["class_name"]` (array of str); pose models add `data["keypoints"]` (n, 17, 3) as (x, y, conf).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import supervision as sv

from analytics.config import DetectorBase, RegionOfInterest
from i18n import Translatable

# The 80 COCO classes in the order YOLO and NanoDet number them (the ids of the config's `classes`).
COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip
KEYPOINTS = 17


class ModelError(Translatable, Exception):
    """Weights that cannot be found or loaded; the message is one line for the user, `text(locale)` in the
    reader's language."""


class Detector(Protocol):
    """`detect(images, rois)`; a detector whose model takes any input size (`flexible_input`, e.g. YOLO) also
    takes `sizes`, the model input per image."""

    config: DetectorBase

    def detect(
        self, images: Sequence[np.ndarray], rois: Sequence[RegionOfInterest | None] | None = None
    ) -> list[sv.Detections]: ...


def model_dir() -> Path:
    """Where built models live (outside git): `$JIANGUAN_MODEL_DIR`, else ~/.cache/jianguan/models."""
    return Path(os.environ.get("JIANGUAN_MODEL_DIR") or Path.home() / ".cache" / "jianguan" / "models")


def crop(image: np.ndarray, roi: RegionOfInterest | None) -> tuple[np.ndarray, tuple[int, int]]:
    """The part of `image` inside `roi` (relative) and the pixel offset of its top-left corner."""
    if roi is None:
        return image, (0, 0)
    h, w = image.shape[:2]
    x0, y0 = int(roi.x0 * w), int(roi.y0 * h)
    x1, y1 = max(x0 + 1, int(roi.x1 * w)), max(y0 + 1, int(roi.y1 * h))
    return image[y0:y1, x0:x1], (x0, y0)


def empty_detections(keypoints: bool = False) -> sv.Detections:
    det = sv.Detections.empty()
    det.data["class_name"] = np.array([], dtype=str)
    if keypoints:
        det.data["keypoints"] = np.zeros((0, KEYPOINTS, 3), dtype=np.float32)
    return det


def merge_detections(parts: Sequence[sv.Detections]) -> sv.Detections:
    """One `sv.Detections` from several detectors' results on the same frame.

    Data keys that only some parts carry are filled in the others, so `sv.Detections.merge` accepts them:
    `keypoints` with zeros (confidence 0: "no keypoint"), `class_name` from the COCO names.

    >>> import numpy as np, supervision as sv
    >>> a = sv.Detections(xyxy=np.array([[0, 0, 10, 20.]]), confidence=np.array([.9]), class_id=np.array([0]))
    >>> a.data["keypoints"] = np.ones((1, 17, 3), dtype=np.float32)
    >>> b = sv.Detections(xyxy=np.array([[5, 5, 9, 9.]]), confidence=np.array([.5]), class_id=np.array([67]))
    >>> m = merge_detections([a, b])
    >>> m.class_id.tolist(), m.data["class_name"].tolist(), float(m.data["keypoints"][1].sum())
    ([0, 67], ['person', 'cell phone'], 0.0)
    """
    parts = [p for p in parts if p is not None]
    if not parts:
        return empty_detections()
    keys = set().union(*(p.data.keys() for p in parts))
    filled = []
    for part in parts:
        part = _with_class_names(part)
        n = len(part)
        if "keypoints" in keys and "keypoints" not in part.data:
            part.data["keypoints"] = np.zeros((n, KEYPOINTS, 3), dtype=np.float32)
        missing = keys - set(part.data) - {"keypoints", "class_name"}
        if missing:
            raise ValueError(f"cannot merge detections: data keys {sorted(missing)} are missing in one part")
        filled.append(part)
    non_empty = [p for p in filled if len(p)] or filled[:1]
    return sv.Detections.merge(non_empty)


def _with_class_names(det: sv.Detections) -> sv.Detections:
    det = det[np.arange(len(det))] if len(det) else _empty_like(det)  # a copy: callers' objects stay as given
    if "class_name" not in det.data:
        ids = det.class_id if det.class_id is not None else np.zeros(len(det), dtype=int)
        det.data["class_name"] = np.array([coco_name(int(i)) for i in ids], dtype=str)
    return det


def _empty_like(det: sv.Detections) -> sv.Detections:
    out = empty_detections()
    for key, value in det.data.items():
        out.data[key] = np.asarray(value)[:0]
    return out


def coco_name(class_id: int) -> str:
    return COCO_CLASSES[class_id] if 0 <= class_id < len(COCO_CLASSES) else str(class_id)


def cpu_threads(configured: int | None) -> int:
    """Inference threads: the configured number, else every core this process may run on."""
    return configured or len(os.sched_getaffinity(0))
