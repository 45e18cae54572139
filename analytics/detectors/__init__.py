"""Detector registry (like Frigate's detector plugins): `kind` in a `DetectorConfig` picks the class.

Every detector follows the convention of `analytics.detectors.base`: one `sv.Detections` per input image,
full-frame pixels, COCO `class_id`, `data["class_name"]`, pose models add `data["keypoints"]`.

>>> from analytics.config import DetectorConfig
>>> sorted(DETECTORS)
['nanodet', 'yolo']
>>> RegionPlanner(DetectorConfig(crops="full"), zones=[]).plan((768, 576))
[(None, None)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from analytics.config import DetectorConfig
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
from analytics.detectors.regions import RegionPlanner, detect_tiles
from analytics.detectors.yolo import YoloDetector, best_runtime, record_best, resolve_model

DETECTORS: dict[str, Callable[[DetectorConfig], Detector]] = {"yolo": YoloDetector, "nanodet": NanoDetDetector}


def build_detector(config: DetectorConfig) -> Detector:
    """The detector for one config; a missing or broken model raises `ModelError` with a one-line message."""
    return DETECTORS[config.kind](config)


def build_detectors(configs: Sequence[DetectorConfig]) -> list[Detector]:
    return [build_detector(c) for c in configs]


__all__ = [
    "COCO_CLASSES",
    "DETECTORS",
    "Detector",
    "ModelError",
    "NanoDetDetector",
    "RegionPlanner",
    "YoloDetector",
    "best_runtime",
    "record_best",
    "build_detector",
    "build_detectors",
    "coco_name",
    "detect_tiles",
    "empty_detections",
    "merge_detections",
    "model_dir",
    "resolve_model",
]
