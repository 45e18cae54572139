"""Exam-room rules over per-seat zones: a phone at a seat, a crowded seat, an absent candidate, a head turned
toward an occupied neighbouring seat, and no examiner in the room.

A person is placed at the seat holding the largest share of their box (at least the camera's
`seating.min_overlap`) or under their feet (see `assign_people`); the best placed person is the seat's
candidate, others are visitors. People whose feet stand in a walkway (zones of kind 'patrol' unless the
camera's `seating.walkways` says otherwise) are passing by and are never placed at a seat: an examiner walking
the aisle overlaps the seats beside it with the upper body. The camera's scene (analytics/scene.py) holds the
seating; the rules share each frame's placement through the observation's memo.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from analytics.geometry import box_intersection_share, head_yaw
from analytics.rule_config import (
    ExamCandidateAbsentConfig,
    ExamHeadTurnedConfig,
    ExamNoExaminerConfig,
    ExamPhoneConfig,
    ExamRuleBase,
    ExamSeatCrowdedConfig,
    register_rule,
)
from analytics.rules.base import ExternalEvent, IncidentEvent, Observation
from analytics.rules.common import (
    PERSON,
    EpisodeRule,
    assign_people,
    confidences,
    evidence,
    keypoints,
    of_class,
    phones_in,
    zones_of_kind,
)
from analytics.rules.timing import Held
from analytics.zones import Zone

if TYPE_CHECKING:
    from analytics.scene import Scene


class _SeatRule(EpisodeRule):
    config: ExamRuleBase

    def __init__(self, config: ExamRuleBase, fps: float, zones: Mapping[str, Zone] | None = None,
                 scene: Scene | None = None) -> None:
        super().__init__(config, fps, zones, scene)
        self.seats = zones_of_kind(self.zones, config.seats, ["seat"], self.name)
        self.walkways = self.scene.walkways  # the camera's seating: shared by all its exam rules

    def walkway_people(self, obs: Observation, inside: bool = True) -> np.ndarray:
        """People standing in a walkway (examiners on patrol, anyone passing), or with `inside=False` the
        others."""
        people = of_class(obs.detections, [PERSON])
        return np.array([p for p in people if any(obs.in_zone[w][p] for w in self.walkways) == inside], dtype=int)

    def place(self, obs: Observation) -> tuple[dict[str, np.ndarray], dict[str, list[int]]]:
        # The exam rules of one camera place the same people at the same seats: once per frame, kept in the
        # observation's memo by the settings that decide it.
        key = ("seats", tuple(self.seats), tuple(id(self.zones[s]) for s in self.seats))
        placed = obs.memo.get(key)
        if placed is None:
            polygons = self.polygons(self.seats, obs.frame_wh)
            # Someone standing in the aisle is walking past (an examiner on patrol), not sitting at the seat.
            people = self.walkway_people(obs, inside=False)
            placed = obs.memo[key] = polygons, assign_people(obs.detections, people, polygons,
                                                             self.scene.seating.min_overlap)
        return placed


@register_rule(ExamPhoneConfig)
class ExamPhoneRule(_SeatRule):
    """A phone at a seat (centre inside the seat or lying on its candidate) for `seconds` and `min_frames`."""

    config: ExamPhoneConfig

    def step(self, obs: Observation) -> list[IncidentEvent]:
        cfg = self.config
        det = obs.detections
        polygons, placed = self.place(obs)
        phones = phones_in(det, polygons, placed, cfg.phone_overlap)
        events = []
        for seat in self.seats:
            ph = phones[seat]
            conf = float(confidences(det)[ph].max()) if ph else 1.0
            ep = self.episode(seat, cfg.seconds, min_frames=cfg.min_frames, duration_key="phone_s")
            events += ep.update(obs.ts, bool(ph), evidence(det, ph + placed[seat]), {"phones": float(len(ph))},
                                confidence=conf)
        return events


@register_rule(ExamSeatCrowdedConfig)
class ExamSeatCrowdedRule(_SeatRule):
    """`min_people` or more people placed at one seat for `seconds` (help, or an impersonator)."""

    config: ExamSeatCrowdedConfig

    def step(self, obs: Observation) -> list[IncidentEvent]:
        cfg = self.config
        _, placed = self.place(obs)
        events = []
        for seat in self.seats:
            n = len(placed[seat])
            ep = self.episode(seat, cfg.seconds, duration_key="crowded_s")
            events += ep.update(obs.ts, n >= cfg.min_people, evidence(obs.detections, placed[seat]),
                                {"people": float(n)})
        return events


@register_rule(ExamCandidateAbsentConfig)
class ExamCandidateAbsentRule(_SeatRule):
    """A seat that someone occupied (for `occupied_s`) is empty for `seconds`. The seat stays occupied until an
    external event of a `release_kinds` kind names it (or '*'), e.g. the candidate finished the exam."""


    def __init__(self, config: ExamCandidateAbsentConfig, fps: float, zones: Mapping[str, Zone] | None = None,
                 scene: Scene | None = None) -> None:
        super().__init__(config, fps, zones, scene)
        self.config: ExamCandidateAbsentConfig = config
        self._sitting = {s: Held(config.occupied_s, config.inertia) for s in self.seats}
        self._occupied = dict.fromkeys(self.seats, False)

    def step(self, obs: Observation) -> list[IncidentEvent]:
        _, placed = self.place(obs)
        events = []
        for seat in self.seats:
            present = bool(placed[seat])
            if self._sitting[seat].update(obs.ts, present) == "opened":
                self._occupied[seat] = True
            ep = self.episode(seat, self.config.seconds, duration_key="absent_s")
            events += ep.update(obs.ts, self._occupied[seat] and not present,
                                evidence(obs.detections, placed[seat][:1]))
        return events

    def on_event(self, event: ExternalEvent) -> list[IncidentEvent]:
        if event.kind not in self.config.release_kinds:
            return []
        events = []
        for seat in self.seats:
            if event.target in (seat, "*"):
                self._occupied[seat] = False
                self._sitting[seat].stop(event.ts)
                events += self.episode(seat, self.config.seconds, duration_key="absent_s").stop(event.ts,
                                                                                               released=1.0)
        return events


@register_rule(ExamHeadTurnedConfig)
class ExamHeadTurnedRule(_SeatRule):
    """The seat's candidate keeps the head turned (|yaw| >= `min_yaw_deg`, from pose keypoints) toward the
    nearest seat on that side, which is occupied, for `seconds`. Neighbours are the nearest seats to the left
    and right (image x) whose centre lies more sideways than up or down (|dx| >= |dy|).

    A frame without a reading (no candidate placed, no face keypoints, or the candidate's box covered by
    someone in a walkway: an examiner passing in front, whose face the pose model would mix in) says nothing
    either way: for up to `unknown_hold_s` it neither continues nor breaks the run, so a patrol passing
    between camera and candidate does not reset a turn already under way. Longer gaps count as not turned.
    A turn under way holds down to `min_yaw_deg - yaw_hysteresis_deg`."""


    def __init__(self, config: ExamHeadTurnedConfig, fps: float, zones: Mapping[str, Zone] | None = None,
                 scene: Scene | None = None) -> None:
        super().__init__(config, fps, zones, scene)
        self.config: ExamHeadTurnedConfig = config
        self._neighbours: dict[str, dict[int, str | None]] = {}
        self._wh: tuple[int, int] | None = None
        self._unknown_since: dict[str, float] = {}
        self._turning: dict[str, int] = {}  # per seat: the direction of the turn under way, 0 for none

    def neighbours(self, polygons: dict[str, np.ndarray],
                   frame_wh: tuple[int, int]) -> dict[str, dict[int, str | None]]:
        if self._wh != frame_wh:
            centres = {s: p.mean(axis=0) for s, p in polygons.items()}
            self._neighbours, self._wh = {}, frame_wh
            for s, c in centres.items():
                side: dict[int, str | None] = {1: None, -1: None}
                for direction in (1, -1):
                    lateral = [(abs(o[0] - c[0]), t) for t, o in centres.items()
                               if t != s and (o[0] - c[0]) * direction > 0 and abs(o[0] - c[0]) >= abs(o[1] - c[1])]
                    side[direction] = min(lateral)[1] if lateral else None
                self._neighbours[s] = side
        return self._neighbours

    def step(self, obs: Observation) -> list[IncidentEvent]:
        det = obs.detections
        polygons, placed = self.place(obs)
        nbrs = self.neighbours(polygons, obs.frame_wh)
        kps = keypoints(det)
        events = []
        passing = self.walkway_people(obs)
        for seat in self.seats:
            yaw = None
            if placed[seat] and kps is not None:
                cand = placed[seat][0]
                share = box_intersection_share(det.xyxy[cand], det.xyxy[passing]) if len(passing) else np.zeros(1)
                covered = float(share.max()) >= self.config.occlusion_share
                yaw = None if covered else head_yaw(kps[cand], self.config.keypoint_conf)
            if yaw is None:
                since = self._unknown_since.setdefault(seat, obs.ts)
                if obs.ts - since < self.config.unknown_hold_s:
                    continue  # no reading: the run neither grows nor breaks
            else:
                self._unknown_since.pop(seat, None)
            # Hysteresis: a turn starts at min_yaw_deg and holds down to min_yaw_deg - yaw_hysteresis_deg, so
            # a reading that dips a few degrees under the threshold does not break a turn under way.
            turning = self._turning.get(seat, 0)
            limit = self.config.min_yaw_deg - (self.config.yaw_hysteresis_deg
                                               if yaw is not None and turning == np.sign(yaw) else 0.0)
            direction = 0 if yaw is None or abs(yaw) < limit else int(np.sign(yaw))
            self._turning[seat] = direction
            target = nbrs[seat].get(direction) if direction else None
            on = target is not None and bool(placed[target])
            ep = self.episode(seat, self.config.seconds, duration_key="turned_s")
            values = {"yaw_deg": round(abs(yaw), 1)} if on and yaw is not None else {}
            new = ep.update(obs.ts, on, evidence(det, placed[seat][:1]), values)
            for e in new:
                if e.kind == "opened":
                    e.incident.measures["direction"] = float(direction)  # +1: toward image right
            events += new
        return events


@register_rule(ExamNoExaminerConfig)
class ExamNoExaminerRule(_SeatRule):
    """Nobody in the room/patrol zones who is not a seat's candidate, for `seconds`. A visitor at a seat
    (second best placed) counts as an examiner, so an examiner bending over a candidate's desk still counts."""


    def __init__(self, config: ExamNoExaminerConfig, fps: float, zones: Mapping[str, Zone] | None = None,
                 scene: Scene | None = None) -> None:
        super().__init__(config, fps, zones, scene)
        self.config: ExamNoExaminerConfig = config
        self.rooms = zones_of_kind(self.zones, config.zones, ["room", "patrol"], self.name)
        self._ep = self.episode(self.rooms[0], config.seconds, duration_key="absent_s")

    def step(self, obs: Observation) -> list[IncidentEvent]:
        _, placed = self.place(obs)
        candidates = {people[0] for people in placed.values() if people}
        in_room = np.zeros(len(obs.detections), dtype=bool)
        for z in self.rooms:
            in_room |= obs.in_zone[z]
        examiners = [i for i in of_class(obs.detections, [PERSON]) if in_room[i] and int(i) not in candidates]
        return self._ep.update(obs.ts, not examiners, evidence(obs.detections, examiners))
