"""Ingest: camera readers (PyAV), rolling recordings and clip cutting (ffmpeg), source URLs."""

from .clips import ClipError, ClipFile, cut_clip
from .reader import CameraReader, CameraStats, Frame
from .recorder import Recorder, Segment
from .retention import RecordingConfig, RetentionSweeper, SweepReport
from .source import SourceError, SourceInfo, probe
from .urls import redact_url

__all__ = [
    "CameraReader",
    "CameraStats",
    "ClipError",
    "ClipFile",
    "Frame",
    "Recorder",
    "RecordingConfig",
    "RetentionSweeper",
    "Segment",
    "SourceError",
    "SourceInfo",
    "SweepReport",
    "cut_clip",
    "probe",
    "redact_url",
]
