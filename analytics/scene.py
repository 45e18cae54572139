"""What the rules of one camera share, computed once per frame (`CameraAnalytics` owns one `Scene`): one
`LaneTracker` per lane zone, following its vehicle and inspectors by the zone's `lane` settings; the camera's
`seating` (how people are placed at exam seats); and a memo on the observation for work several rules repeat
(the exam rules' seat placement, by the seats each judges). Rules read it through the
observation (`obs.lanes`, `obs.memo`) and never update it: one vehicle is one visit, judged by every lane rule
on its zone with the same facts.

>>> from analytics.zones import Zone
>>> scene = Scene({"L1": Zone("L1", "lane", ((0, 0), (1, 0), (1, 1)))}, fps=5.0)
>>> sorted(scene.lanes), scene.lanes["L1"].key
(['L1'], 'L1')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from analytics.config import LaneConfig, SeatingConfig
from analytics.rules.base import ExternalEvent, Observation
from analytics.rules.lane_session import LaneSession, LaneTracker
from analytics.zones import Zone


@dataclass(frozen=True)
class LaneFrame:
    """One lane zone in one frame: the people near its vehicle and the visit that just ended (if any)."""

    near: list[int]
    finished: LaneSession | None


class Scene:
    def __init__(self, zones: Mapping[str, Zone], fps: float, seating: SeatingConfig | None = None) -> None:
        self.lanes = {z.id: LaneTracker(z.lane or LaneConfig(), z.id, fps, zones)
                      for z in zones.values() if z.kind == "lane"}
        self.seating = seating or SeatingConfig()
        walkways = self.seating.walkways
        unknown = [w for w in walkways or () if w not in zones]
        if unknown:
            raise ValueError(f"seating.walkways refers to unknown zone(s) {', '.join(map(repr, unknown))}")
        # Where people pass by, never at a seat: the configured zones, else every zone of kind patrol.
        self.walkways = walkways if walkways is not None else [z.id for z in zones.values() if z.kind == "patrol"]
        self.flushed: dict[str, LaneSession | None] = {}

    def update(self, obs: Observation) -> None:
        """Follow every lane through this frame (through closed hours too: a visit spans them)."""
        for zone_id, tracker in self.lanes.items():
            near, finished = tracker.update(obs)
            obs.lanes[zone_id] = LaneFrame(near, finished)

    def record(self, event: ExternalEvent) -> None:
        """An event from outside the video: each lane keeps the inspection records that name it."""
        for tracker in self.lanes.values():
            tracker.record(event)

    def flush(self, ts: float) -> None:
        """End of observation: each lane's unseen vehicle has left; rules read `flushed` in their flush."""
        self.flushed = {zone_id: tracker.flush(ts) for zone_id, tracker in self.lanes.items()}

    def lane(self, zone_id: str) -> LaneTracker:
        tracker = self.lanes.get(zone_id)
        if tracker is None:
            raise ValueError(f"zone {zone_id!r} is not a lane zone (kind lane)")
        return tracker
