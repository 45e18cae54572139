"""One camera's analytics: track, place in zones, run the rules, sample occupancy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import supervision as sv

from analytics.config import SeatingConfig, TrackingConfig, ZoneConfig
from analytics.geometry import ground_points
from analytics.presence import PresenceMemory
from analytics.rule_config import RuleConfig
from analytics.rules import ExternalEvent, Incident, IncidentEvent, Observation, build_rule
from analytics.scene import Scene
from analytics.tracking import CameraTracker
from analytics.zones import Zone


@dataclass(frozen=True)
class OccupancySample:
    ts: float  # start of the second the sample summarises
    camera_id: str
    zone_id: str
    people: int  # the most people seen in the zone during that second


@dataclass
class AnalysisResult:
    observation: Observation
    events: list[IncidentEvent] = field(default_factory=list)
    occupancy: list[OccupancySample] = field(default_factory=list)


class CameraAnalytics:
    """Everything after the detector for one camera. Feed it frames in time order."""

    def __init__(
        self, camera_id: str, fps: float, zones: Sequence[ZoneConfig], rules: Sequence[RuleConfig],
        tracking: TrackingConfig | None = None, seating: SeatingConfig | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.zones = [Zone.from_config(z) for z in zones]
        by_id = {z.id: z for z in self.zones}
        for r in rules:
            unknown = [z for z in r.zone_ids() if z not in by_id]
            if unknown:
                raise ValueError(f"rule {r.type} refers to unknown zone(s) {', '.join(map(repr, unknown))}")
        # One tracker per lane zone, shared by the camera's rules (analytics/scene.py).
        self.scene = Scene(by_id, fps, seating)
        # Rules that default to zones of a kind (exam seats, rooms) raise ValueError here when there are none.
        self.rules = [build_rule(r, fps, by_id, self.scene) for r in rules]
        self.tracking = tracking or TrackingConfig()
        self.tracker = CameraTracker(fps, lost_track_seconds=self.tracking.lost_track_s)
        self._occluders = [np.asarray(o, dtype=float) for z in zones for o in z.occluders]
        self.memory: PresenceMemory | None = None  # built at the first frame: occluders are relative
        self._second: int | None = None
        self._peak: dict[str, int] = {}
        self.incidents_opened = 0

    def process(self, ts: float, frame_wh: tuple[int, int], detections: sv.Detections) -> AnalysisResult:
        tracked = self.tracker.update(detections, ts)
        kps = tracked.data.get("keypoints") if tracked.data else None
        tracked.data["anchor"], tracked.data["anchor_kind"] = ground_points(tracked.xyxy, kps)
        if self.memory is None:
            w, h = frame_wh
            self.memory = PresenceMemory(self.tracking, [o * (w, h) for o in self._occluders])
        tracked = self.memory.update(ts, tracked)
        in_zone = {z.id: z.contains(tracked, frame_wh) for z in self.zones}
        obs = Observation(self.camera_id, ts, frame_wh, tracked, in_zone, scene=self.scene)
        self.scene.update(obs)
        result = AnalysisResult(obs)
        for rule in self.rules:
            result.events.extend(self._stamp(rule.update(obs)))
        result.occupancy = self._sample(ts, in_zone)
        return result

    def feed_event(self, event: ExternalEvent) -> list[IncidentEvent]:
        """Pass an event from outside the video (lane sensor, inspection or exam record) to the rules that read
        them. Feed it in time order with the frames: a rule judges a record against the video around it."""
        events: list[IncidentEvent] = []
        self.scene.record(event)
        for rule in self.rules:
            on_event = getattr(rule, "on_event", None)
            if on_event is not None:
                events.extend(self._stamp(on_event(event)))
        return events

    def flush(self, ts: float) -> list[IncidentEvent]:
        events = []
        self.scene.flush(ts)
        for rule in self.rules:
            events.extend(self._stamp(rule.flush(ts)))
        return events

    def _stamp(self, events: list[IncidentEvent]) -> list[IncidentEvent]:
        for e in events:
            e.incident.camera_id = self.camera_id
            if e.kind == "opened":
                self.incidents_opened += 1
        return events

    def _sample(self, ts: float, in_zone: dict) -> list[OccupancySample]:
        second = int(ts)
        out: list[OccupancySample] = []
        if self._second is not None and second != self._second:
            out = [OccupancySample(float(self._second), self.camera_id, z, n) for z, n in self._peak.items()]
            self._peak = {}
        self._second = second
        for zone_id, mask in in_zone.items():
            self._peak[zone_id] = max(self._peak.get(zone_id, 0), int(mask.sum()))
        return out


__all__ = ["AnalysisResult", "CameraAnalytics", "Incident", "OccupancySample"]
