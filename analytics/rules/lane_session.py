"""The inspection-lane session: a vehicle standing in the lane zone, the people near it, and how far round it
they walked. One `LaneTracker` per lane zone (analytics/scene.py), set by the zone's `lane` settings; every
lane rule on the zone reads its sessions.

- Vehicle: the largest box of `vehicle_classes` whose bottom-centre lies in the lane zone. Its run starts at
  the first frame it is seen; it counts (a *confirmed visit*) once held `vehicle_confirm_s`. It has left at
  its first unseen frame, decided: at once when it is seen driving out (its track outside the zone;
  untracked: a vehicle outside the zone still covering a fifth of its reference box); after `vehicle_gap_s`
  unseen when it was moving when last seen, or when another vehicle now stands in the lane; and otherwise
  (last seen standing at its place) only after `vehicle_lost_s` unseen. A car does not vanish from where it
  stands, it drives out: a parked car that disappears is hidden by an inspector or dropped by the detector
  (NanoDet loses a parked car at confidence ~0.3 for 5-10 s), and when it is seen again at its place the
  visit goes on. Judging waits for the decision; the departure time is the first unseen frame either way.
- Reference box: the per-coordinate median of the vehicle's last 25 boxes, so jitter and a half-hidden
  vehicle do not move it.
- Inspector: a person whose bottom-centre lies within the reference box grown by `near_margin` of its size
  on each side, and (if `inspector_zones` is set) inside one of those zones. A person whose whole box lies
  inside the vehicle box is an occupant (a driver behind the windscreen), not an inspector.
- Walk-around: each inspector position becomes an angle around the reference box (`angle_around_box`); the
  steps between consecutive positions of one track, when shorter than `max_step_deg`, are added to an
  `ArcCover`. Track-id switches and missed frames lose at most the one step across them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import supervision as sv

from analytics.config import LaneConfig
from analytics.geometry import ArcCover, angle_around_box, bottom_centre, box_intersection_share, points_in_polygon
from analytics.rules.base import ExternalEvent, Observation
from analytics.rules.common import PERSON, of_class, track_ids
from analytics.rules.timing import Held
from analytics.zones import Zone


@dataclass
class LaneSession:
    started_at: float
    confirmed: bool = False
    ended_at: float | None = None
    cover: ArcCover = field(default_factory=ArcCover)
    near_s: float = 0.0
    near_frames: int = 0
    first_near: float | None = None
    last_near: float | None = None
    vehicle_ids: list[int] = field(default_factory=list)
    inspector_ids: list[int] = field(default_factory=list)
    boxes: list[dict] = field(default_factory=list)  # evidence, one box per track per second
    _recent: deque = field(default_factory=lambda: deque(maxlen=25))
    _last_angle: dict[int, float] = field(default_factory=dict)
    _last_box_ts: dict[int, float] = field(default_factory=dict)
    last_seen: float | None = None  # the vehicle's last frame (its box there is the newest in _recent)

    def reference(self) -> np.ndarray | None:
        return np.median(np.array(self._recent), axis=0) if self._recent else None

    def standing(self) -> bool:
        """Was the vehicle at its place (its box matching the reference box) when last seen?"""
        ref = self.reference()
        return ref is not None and bool(_same_place(self._recent[-1][None, :], ref)[0])

    @property
    def inspection_span_s(self) -> float | None:
        """First to last moment an inspector was near the vehicle."""
        return None if self.first_near is None or self.last_near is None else self.last_near - self.first_near

    def remember(self, ts: float, tid: int, xyxy, limit: int = 200) -> None:
        if len(self.boxes) < limit and ts - self._last_box_ts.get(tid, -1e18) >= 1.0:
            self._last_box_ts[tid] = ts
            self.boxes.append({"ts": ts, "track_id": tid, "xyxy": [round(float(v), 1) for v in xyxy]})


class LaneTracker:
    def __init__(self, config: LaneConfig, zone: str, fps: float, zones: Mapping[str, Zone]) -> None:
        for z in [zone, *config.inspector_zones]:
            if z not in zones:
                raise ValueError(f"lane {zone!r} refers to unknown zone {z!r}")
        self.config, self.zone, self.fps, self.zones = config, zone, fps, zones
        # The longest wait is the inertia; the shorter decisions (gap, driving out) cut the run explicitly.
        longest = max(config.vehicle_gap_s, config.vehicle_lost_s)
        self.vehicle = Held(config.vehicle_confirm_s, inertia=max(1, round(longest * fps)))
        self.session: LaneSession | None = None
        self.visits: deque[list] = deque(maxlen=500)  # confirmed vehicle presence [start, end or None]
        self.records: deque[ExternalEvent] = deque(maxlen=500)
        self.records_seen = False  # any inspection record ever: then decisions wait for late records
        self.key = config.external_id or zone
        self._prev_ts: float | None = None

    def is_record(self, event: ExternalEvent) -> bool:
        """Whether an event is an inspection record of this lane."""
        return event.kind in self.config.record_kinds and event.target in (self.key, "*")

    def record(self, event: ExternalEvent) -> bool:
        """Keep an inspection record of this lane; True if it was one."""
        if self.is_record(event):
            self.records.append(event)
            self.records_seen = True
            return True
        return False

    def records_of(self, session: LaneSession) -> list[ExternalEvent]:
        """Records of a visit: from `record_lead_s` before the arrival to `record_tolerance_s` after departure."""
        end = session.ended_at if session.ended_at is not None else float("inf")
        return [r for r in self.records
                if session.started_at - self.config.record_lead_s <= r.ts <= end + self.config.record_tolerance_s]

    def vehicle_during(self, t0: float, t1: float) -> bool:
        return any(v0 <= t1 and (v1 is None or v1 >= t0) for v0, v1 in self.visits)

    def update(self, obs: Observation) -> tuple[list[int], LaneSession | None]:
        """One frame: the indices of the people near the vehicle, and the session that just ended (if any)."""
        det, ts = obs.detections, obs.ts
        dt = 0.0 if self._prev_ts is None else min(ts - self._prev_ts, 2.0 / self.fps)
        self._prev_ts = ts
        in_lane = obs.in_zone[self.zone]
        all_vehicles = of_class(det, self.config.vehicle_classes)
        vehicles = [i for i in all_vehicles if in_lane[i]]
        finished = None
        if self.session is not None and self._has_left(det, vehicles, all_vehicles, self.session, ts):
            self.vehicle.cut(ts)
            finished = self._end(self.session)
        transition = self.vehicle.update(ts, bool(vehicles))
        if self.session is None and self.vehicle.running:
            self.session = LaneSession(started_at=self.vehicle.started_at or ts)
        session = self.session
        if session is None:
            return [], finished
        if transition == "opened":
            session.confirmed = True
            self.visits.append([session.started_at, None])
        tids = track_ids(det)
        if vehicles:
            areas = [(det.xyxy[i, 2] - det.xyxy[i, 0]) * (det.xyxy[i, 3] - det.xyxy[i, 1]) for i in vehicles]
            v = vehicles[int(np.argmax(areas))]
            session._recent.append(det.xyxy[v].astype(float))
            session.last_seen = ts
            session.remember(ts, int(tids[v]), det.xyxy[v])
            if tids[v] >= 0 and int(tids[v]) not in session.vehicle_ids:
                session.vehicle_ids.append(int(tids[v]))
        near = self._near(obs, session)
        if near:
            session.near_s += dt
            session.near_frames += 1
            session.first_near = ts if session.first_near is None else session.first_near
            session.last_near = ts
        if not self.vehicle.running:  # the vehicle has left (or was a flicker)
            finished = self._end(session) or finished
        return near, finished

    def _end(self, session: LaneSession) -> LaneSession | None:
        """Close the session at the vehicle's departure; the session if it was a confirmed visit."""
        session.ended_at = self.vehicle.ended_at
        self.session = None
        if session.confirmed:
            self.visits[-1][1] = session.ended_at
            return session
        return None

    def flush(self, ts: float) -> LaneSession | None:
        """End of observation: a vehicle unseen now is taken to have left at its first unseen frame (a visible
        one is still there, and its visit is not judged)."""
        session = self.session
        if session is None or session.last_seen is None or session.last_seen >= self._prev_ts - 1e-9:
            return None
        self.vehicle.cut(ts)
        return self._end(session)

    def _has_left(self, det, vehicles: list[int], candidates: list[int], session: LaneSession, ts: float) -> bool:
        """Decide, before this frame is counted, whether the visit's vehicle has left (see the module doc)."""
        cfg = self.config
        if not vehicles:
            if self._driving_out(det, candidates, session):
                return True
            unseen = ts - session.last_seen if session.last_seen is not None else 0.0
            return unseen >= cfg.vehicle_gap_s - 1e-9 and not session.standing()
        if session.last_seen is None or ts - session.last_seen < cfg.vehicle_gap_s - 1e-9:
            return False
        # Seen again after the gap: ours (its track, or a box at its place), or another vehicle in its place.
        tids = track_ids(det)[vehicles]
        if any(t >= 0 and int(t) in session.vehicle_ids for t in tids):
            return False
        ref = session.reference()
        return ref is not None and not bool(_same_place(det.xyxy[vehicles], ref).any())

    @staticmethod
    def _driving_out(det, candidates, session: LaneSession) -> bool:
        """The visit's vehicle seen outside the lane zone (its track id, or, untracked, a box still covering
        >= 20 % of the reference box): it is leaving, so the departure needs no `vehicle_gap_s` wait. A car
        in the next lane has another track id and does not end this visit."""
        ref = session.reference()
        if ref is None or len(candidates) == 0:
            return False
        tids = track_ids(det)[candidates]
        if any(t >= 0 and int(t) in session.vehicle_ids for t in tids):
            return True
        untracked = candidates[tids < 0]
        return bool(len(untracked)) and bool((box_intersection_share(ref[None, :], det.xyxy[untracked]) >= 0.2).any())

    def _near(self, obs: Observation, session: LaneSession) -> list[int]:
        ref = session.reference()
        if ref is None:
            return []
        det, cfg = obs.detections, self.config
        people = of_class(det, [PERSON])
        if len(people) == 0:
            return []
        x0, y0, x1, y1 = ref
        mx, my = cfg.near_margin * (x1 - x0), cfg.near_margin * (y1 - y0)
        feet = bottom_centre(det.xyxy[people])
        ok = (feet[:, 0] >= x0 - mx) & (feet[:, 0] <= x1 + mx) & (feet[:, 1] >= y0 - my) & (feet[:, 1] <= y1 + my)
        tol_x, tol_y = 0.02 * (x1 - x0), 0.02 * (y1 - y0)
        b = det.xyxy[people]
        occupant = (b[:, 0] >= x0 - tol_x) & (b[:, 1] >= y0 - tol_y) & (b[:, 2] <= x1 + tol_x) & (b[:, 3] <= y1 + tol_y)
        ok &= ~occupant
        if cfg.inspector_zones:
            in_any = np.zeros(len(people), dtype=bool)
            for z in cfg.inspector_zones:
                in_any |= points_in_polygon(feet, self.zones[z].pixels(obs.frame_wh))
            ok &= in_any
        near = [int(p) for p, hit in zip(people, ok, strict=True) if hit]
        if near:
            tids = track_ids(det)
            angles = angle_around_box(bottom_centre(det.xyxy[near]), ref, cfg.anchor_y)
            for i, angle in zip(near, angles, strict=True):
                tid = int(tids[i])
                if tid >= 0:
                    if tid in session._last_angle:
                        session.cover.add_step(session._last_angle[tid], float(angle), self._max_step())
                    session._last_angle[tid] = float(angle)
                    if tid not in session.inspector_ids:
                        session.inspector_ids.append(tid)
                session.remember(obs.ts, tid, det.xyxy[i])
        return near

    def _max_step(self) -> float:
        return self.config.max_step_deg


def _same_place(boxes: np.ndarray, ref: np.ndarray, min_iou: float = 0.6) -> np.ndarray:
    """Boxes whose intersection over union with the reference box is at least `min_iou`."""
    return sv.box_iou_batch(boxes, ref[None, :])[:, 0] >= min_iou
