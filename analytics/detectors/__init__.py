"""Detectors, one plugin per `kind` (like Frigate's detector plugins): each detector class registers itself
with its config class (`DETECTOR_KINDS.register` in yolo.py, nanodet.py); importing this package registers
them, and a detector config is validated and built through that registry.

Every detector follows the convention of `analytics.detectors.base`: one `sv.Detections` per input image,
full-frame pixels, COCO `class_id`, `data["class_name"]`, pose models add `data["keypoints"]`.

>>> from analytics.config import YoloConfig
>>> sorted(DETECTOR_KINDS.entries())
['nanodet', 'yolo']
>>> RegionPlanner(YoloConfig(crops="full"), zones=[]).plan((768, 576))
[(None, None)]
"""

from __future__ import annotations

from collections.abc import Sequence

from analytics.config import DETECTOR_KINDS, DetectorBase
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


def build_detector(config: DetectorBase) -> Detector:
    """The detector for one config; a missing or broken model raises `ModelError` with a one-line message."""
    detector: Detector = DETECTOR_KINDS.build(config)
    return detector


def build_detectors(configs: Sequence[DetectorBase]) -> list[Detector]:
    return [build_detector(c) for c in configs]


__all__ = [
    "COCO_CLASSES",
    "DETECTOR_KINDS",
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
