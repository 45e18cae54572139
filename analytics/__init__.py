"""Analytics: detector (Ultralytics YOLO), tracker, zones and rules. Frames in, incidents and metrics out."""

from analytics.camera import AnalysisResult, CameraAnalytics, OccupancySample
from analytics.config import DetectorBase, DetectorConfig, NanoDetConfig, RegionOfInterest, YoloConfig, ZoneConfig
from analytics.detectors import (
    ModelError,
    NanoDetDetector,
    YoloDetector,
    build_detector,
    build_detectors,
    detect_tiles,
    merge_detections,
    resolve_model,
)
from analytics.health import CameraHealth, CameraHealthConfig
from analytics.motion import MotionConfig, MotionGate, MotionResult
from analytics.rule_config import RuleConfig, ZoneUnattendedConfig
from analytics.rules import ExternalEvent, Incident, IncidentEvent, Observation
from analytics.zones import Zone

__all__ = [
    "MotionResult",
    "MotionGate",
    "MotionConfig",
    "merge_detections",
    "detect_tiles",
    "build_detectors",
    "build_detector",
    "NanoDetDetector",
    "AnalysisResult",
    "CameraAnalytics",
    "CameraHealth",
    "CameraHealthConfig",
    "DetectorBase",
    "DetectorConfig",
    "NanoDetConfig",
    "YoloConfig",
    "ExternalEvent",
    "Incident",
    "IncidentEvent",
    "ModelError",
    "Observation",
    "OccupancySample",
    "RegionOfInterest",
    "RuleConfig",
    "YoloDetector",
    "Zone",
    "ZoneConfig",
    "ZoneUnattendedConfig",
    "resolve_model",
]
