"""Kept for imports written before the detector registry: the detectors live in `analytics.detectors`."""

from analytics.detectors.base import ModelError
from analytics.detectors.yolo import BUILTIN_MODELS, YoloDetector, resolve_model

__all__ = ["BUILTIN_MODELS", "ModelError", "YoloDetector", "resolve_model"]
