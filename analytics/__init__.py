"""Analytics: detector (Ultralytics YOLO), tracker, zones and rules. Frames in, incidents and metrics out."""

from analytics.camera import AnalysisResult, CameraAnalytics, OccupancySample
from analytics.config import DetectorConfig, RegionOfInterest, RuleConfig, ZoneConfig, ZoneUnattendedConfig
from analytics.detector import ModelError, YoloDetector, resolve_model
from analytics.health import CameraHealth, CameraHealthConfig
from analytics.rules import Incident, IncidentEvent, Observation
from analytics.zones import Zone

__all__ = [
    "AnalysisResult",
    "CameraAnalytics",
    "CameraHealth",
    "CameraHealthConfig",
    "DetectorConfig",
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
