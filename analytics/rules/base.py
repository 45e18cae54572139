"""What every rule shares: the observation it reads and the incident it emits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import supervision as sv


@dataclass(frozen=True)
class Observation:
    """One analysed frame of one camera: tracked detections and which of them stand in which zone."""

    camera_id: str
    ts: float
    frame_wh: tuple[int, int]
    detections: sv.Detections
    in_zone: dict[str, np.ndarray]  # zone id -> boolean mask over detections
    # What the camera's Scene (analytics/scene.py) worked out once for every rule: each lane zone's frame
    # (a LaneFrame), the scene itself, and a memo of per-frame work several rules share (seat placement).
    lanes: dict[str, Any] = field(default_factory=dict)
    scene: Any = None
    memo: dict[Any, Any] = field(default_factory=dict)


@dataclass
class Incident:
    """A finding with a start and (once over) an end, and the evidence a reviewer needs."""

    camera_id: str
    rule: str
    zone_id: str | None
    severity: str
    started_at: float
    raised_at: float
    ended_at: float | None = None
    confidence: float = 1.0
    track_ids: list[int] = field(default_factory=list)
    boxes: list[dict[str, Any]] = field(default_factory=list)  # {"ts", "track_id", "xyxy"}
    measures: dict[str, float] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Deduplication key: one live alert per camera, rule and zone."""
        return f"{self.camera_id}:{self.rule}:{self.zone_id or '-'}"


@dataclass(frozen=True)
class ExternalEvent:
    """Something a rule learns from outside the video: a lane sensor, an inspection record, an exam's end.

    `target` names what the event is about: a lane, window or seat id as the business system spells it; a
    rule matches it against its zone id or its configured `external_id` ("*" means every target).
    `ts` is epoch seconds on the same clock as the frames.

    >>> ExternalEvent(1700000000.0, "inspection_start", "lane-1", {"plate": "京A12345"}).kind
    'inspection_start'
    """

    ts: float
    kind: str
    target: str
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IncidentEvent:
    kind: Literal["opened", "closed"]
    incident: Incident


class Rule(Protocol):
    name: str

    def update(self, obs: Observation) -> list[IncidentEvent]: ...

    def flush(self, ts: float) -> list[IncidentEvent]:
        """Close what is open because observation stopped (end of a file, shutdown)."""
        ...


class EventRule(Rule, Protocol):
    """A rule that also reads external events (optional: `CameraAnalytics` feeds only rules that have it)."""

    def on_event(self, event: ExternalEvent) -> list[IncidentEvent]: ...
