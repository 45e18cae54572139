"""What the rules read from detections (the COCO convention), placing people and phones in zones, and the base
class of rules made of `Episode`s.

Detections convention: `class_id` holds COCO ids (0 person, 2 car, 3 motorcycle, 5 bus, 7 truck, 67 cell
phone); a missing `class_id` means a person-only model, so every row is a person. `tracker_id` may be -1
(unmatched); pose keypoints, when present, are `data["keypoints"]` (n, 17, 3) in full-frame pixels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import supervision as sv

from analytics.geometry import bottom_centre, box_intersection_share, box_polygon_overlap, centre, points_in_polygon
from analytics.rule_config import RuleBase
from analytics.rules.base import IncidentEvent, Observation
from analytics.rules.timing import ActiveHours, Episode
from analytics.zones import Zone

if TYPE_CHECKING:
    from analytics.scene import Scene

PERSON, PHONE = 0, 67


def class_ids(det: sv.Detections) -> np.ndarray:
    return np.zeros(len(det), dtype=int) if det.class_id is None else np.asarray(det.class_id, dtype=int)


def of_class(det: sv.Detections, classes: Iterable[int]) -> np.ndarray:
    """Indices of detections whose class is one of `classes`."""
    return np.flatnonzero(np.isin(class_ids(det), list(classes)))


def track_ids(det: sv.Detections) -> np.ndarray:
    return np.full(len(det), -1, dtype=int) if det.tracker_id is None else np.asarray(det.tracker_id, dtype=int)


def confidences(det: sv.Detections) -> np.ndarray:
    return np.ones(len(det)) if det.confidence is None else np.asarray(det.confidence, dtype=float)


def keypoints(det: sv.Detections) -> np.ndarray | None:
    kp = det.data.get("keypoints") if det.data else None
    return None if kp is None or len(kp) != len(det) else np.asarray(kp, dtype=float)


def evidence(det: sv.Detections, idx: Iterable[int]) -> list[tuple[int, Sequence[float]]]:
    tids = track_ids(det)
    return [(int(tids[i]), det.xyxy[i]) for i in idx]


def assign_people(det: sv.Detections, people: np.ndarray, polygons: Mapping[str, np.ndarray],
                  min_overlap: float) -> dict[str, list[int]]:
    """Each person to at most one zone: the one holding the largest share of their box, where that share is at
    least `min_overlap` or their bottom-centre lies inside (seated people's feet are hidden under the desk, so
    feet alone would miss them; a standing person's box overlaps little but their feet say where they are).
    Returns zone id -> detection indices, best placed first (the seat's candidate; others are visitors).

    >>> d = sv.Detections(xyxy=np.array([[0., 0., 10., 10.], [8., 0., 18., 10.], [50., 50., 60., 60.]]))
    >>> seats = {"a": np.array([[0, 0], [10, 0], [10, 20], [0, 20]]),
    ...          "b": np.array([[10, 0], [20, 0], [20, 20], [10, 20]])}
    >>> assign_people(d, np.arange(3), seats, 0.3)   # the middle box is 80 % in b
    {'a': [0], 'b': [1]}
    """
    scored: dict[str, list[tuple[float, int]]] = {z: [] for z in polygons}
    if len(people) == 0:
        return {z: [] for z in polygons}
    boxes = det.xyxy[people]
    feet = bottom_centre(boxes)
    scores = np.zeros((len(people), len(polygons)))
    for j, poly in enumerate(polygons.values()):
        share = box_polygon_overlap(boxes, poly)
        inside = points_in_polygon(feet, poly)
        # feet inside add a small bonus: they break ties between neighbouring seats
        scores[:, j] = np.where((share >= min_overlap) | inside, share + 0.25 * inside, 0.0)
    names = list(polygons)
    for i, person in enumerate(people):
        j = int(np.argmax(scores[i]))
        if scores[i, j] > 0:
            scored[names[j]].append((float(scores[i, j]), int(person)))
    return {z: [p for _, p in sorted(v, key=lambda sp: -sp[0])] for z, v in scored.items()}


def phones_in(det: sv.Detections, polygons: Mapping[str, np.ndarray], placed: Mapping[str, list[int]],
              phone_overlap: float) -> dict[str, list[int]]:
    """Phone detections per zone: the phone's centre inside the zone, or the phone box lying (by
    `phone_overlap` of its area) on a person placed in that zone (a phone held up in front of a body)."""
    phones = of_class(det, [PHONE])
    out: dict[str, list[int]] = {z: [] for z in polygons}
    if len(phones) == 0:
        return out
    centres = centre(det.xyxy[phones])
    for z, poly in polygons.items():
        inside = points_in_polygon(centres, poly)
        people = placed.get(z, [])
        on_person = (box_intersection_share(det.xyxy[phones], det.xyxy[people]).max(axis=1) >= phone_overlap
                     if people else np.zeros(len(phones), dtype=bool))
        out[z] = [int(p) for p, hit in zip(phones, inside | on_person, strict=True) if hit]
    return out


def zones_of_kind(zones: Mapping[str, Zone], named: Sequence[str], kinds: Sequence[str], rule: str) -> list[str]:
    """The zones a rule works on: those it names, else every zone of the given kinds (at least one)."""
    ids = list(named) or [z.id for z in zones.values() if z.kind in kinds]
    missing = [z for z in ids if z not in zones]
    if missing:
        raise ValueError(f"rule {rule} refers to unknown zone(s) {', '.join(missing)}")
    if not ids:
        raise ValueError(f"rule {rule} needs zones of kind {'/'.join(kinds)} and the camera has none")
    return ids


class EpisodeRule:
    """Base of the rules made of per-zone `Episode`s: opening hours, flush, and zone geometry."""

    name = ""

    def __init__(self, config: RuleBase, fps: float, zones: Mapping[str, Zone] | None = None,
                 scene: Scene | None = None) -> None:
        self.config, self.fps, self.zones = config, fps, dict(zones or {})
        # The camera's shared scene (one lane tracker per lane zone); a rule built alone gets its own, which
        # whoever feeds it frames updates (CameraAnalytics does it once for all of a camera's rules).
        if scene is None:
            from analytics.scene import Scene  # the scene's lane tracker itself reads this module's helpers

            scene = Scene(self.zones, fps)
        self.scene = scene
        self.hours = ActiveHours(config.active_hours, config.timezone)
        self.episodes: dict[str, Episode] = {}

    def episode(self, key: str, seconds: float, **kw) -> Episode:
        if key not in self.episodes:
            self.episodes[key] = Episode(self.name, key, self.config.severity, seconds, self.config.inertia,
                                         self.fps, **kw)
        return self.episodes[key]

    def update(self, obs: Observation) -> list[IncidentEvent]:
        if not self.hours.contains(obs.ts):
            # Outside opening hours nothing counts: close at the first frame after hours, restart at opening.
            return [e for ep in self.episodes.values() for e in ep.stop(obs.ts, closed_by_hours=1.0)]
        return self.step(obs)

    def step(self, obs: Observation) -> list[IncidentEvent]:
        raise NotImplementedError

    def flush(self, ts: float) -> list[IncidentEvent]:
        return [e for ep in self.episodes.values() for e in ep.flush(ts)]

    def polygons(self, ids: Iterable[str], frame_wh: tuple[int, int]) -> dict[str, np.ndarray]:
        return {z: self.zones[z].pixels(frame_wh) for z in ids}
