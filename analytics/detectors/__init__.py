"""Detector registry (like Frigate's detector plugins): `kind` in a `DetectorConfig` picks the class.

Every detector follows the convention of `analytics.detectors.base`: one `sv.Detections` per input image,
full-frame pixels, COCO `class_id`, `data["class_name"]`, pose models add `data["keypoints"]`.

>>> from analytics.config import DetectorConfig
>>> sorted(DETECTORS)
['nanodet', 'yolo']
>>> plan_crops(DetectorConfig(crops="full"), roi=None, zones=[])
[None]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import supervision as sv

from analytics.config import DetectorConfig, RegionOfInterest, ZoneConfig
from analytics.detectors.base import (
    COCO_CLASSES,
    Detector,
    ModelError,
    coco_name,
    empty_detections,
    merge_detections,
    model_dir,
)
from analytics.detectors.nanodet import NanoDetDetector
from analytics.detectors.yolo import YoloDetector, resolve_model

DETECTORS: dict[str, Callable[[DetectorConfig], Detector]] = {"yolo": YoloDetector, "nanodet": NanoDetDetector}


def build_detector(config: DetectorConfig) -> Detector:
    """The detector for one config; a missing or broken model raises `ModelError` with a one-line message."""
    return DETECTORS[config.kind](config)


def build_detectors(configs: Sequence[DetectorConfig]) -> list[Detector]:
    return [build_detector(c) for c in configs]


def zone_roi(zone: ZoneConfig, margin: float = 0.05) -> RegionOfInterest:
    """The bounding box of a zone's polygon plus `margin` (relative to the frame), clipped to the frame."""
    xs, ys = [p[0] for p in zone.polygon], [p[1] for p in zone.polygon]
    x0, y0 = max(0.0, min(xs) - margin), max(0.0, min(ys) - margin)
    x1, y1 = min(1.0, max(xs) + margin), min(1.0, max(ys) + margin)
    return RegionOfInterest(x0=x0, y0=y0, x1=max(x1, x0 + 1e-3), y1=max(y1, y0 + 1e-3))


def plan_crops(
    config: DetectorConfig, roi: RegionOfInterest | None, zones: Sequence[ZoneConfig]
) -> list[RegionOfInterest | None]:
    """What this detector looks at on one camera's frame: one or more regions (None = full frame)."""
    if config.crops == "zones" and zones:
        return [zone_roi(z, config.zone_margin) for z in zones]
    if config.crops == "full":
        return [None]
    return [roi]


def detect_crops(
    detector: Detector, images: Sequence[np.ndarray], crops: Sequence[Sequence[RegionOfInterest | None]]
) -> list[sv.Detections]:
    """Run `detector` once over every crop of every image (one batch) and give one result per image.

    Crops of one image may overlap (neighbouring zones), so an object seen in two crops is kept once
    (per-class NMS at the detector's IoU threshold over the merged boxes).
    """
    flat_images, flat_rois, owner = [], [], []
    for i, (image, rois) in enumerate(zip(images, crops, strict=True)):
        for roi in rois or [None]:
            flat_images.append(image)
            flat_rois.append(roi)
            owner.append(i)
    results = detector.detect(flat_images, flat_rois)
    out = []
    for i in range(len(images)):
        parts = [r for r, o in zip(results, owner, strict=True) if o == i]
        merged = merge_detections(parts)
        if len(parts) > 1 and len(merged):
            merged = merged.with_nms(threshold=detector.config.iou or 0.6, class_agnostic=False)
        out.append(merged)
    return out


__all__ = [
    "COCO_CLASSES",
    "DETECTORS",
    "Detector",
    "ModelError",
    "NanoDetDetector",
    "YoloDetector",
    "build_detector",
    "build_detectors",
    "coco_name",
    "detect_crops",
    "empty_detections",
    "merge_detections",
    "model_dir",
    "plan_crops",
    "resolve_model",
    "zone_roi",
]
