"""Who is still there when the detector does not say so: people lost for a moment, or behind an occluder.

On real high-angle footage the detector loses people all the time: a small person scores under the threshold
for a frame or two, two people in a tight group merge into one box, someone steps behind a pole or a sign.
Each of these dropped a zone's count (the outside check: the stored count was right in 19 % of the seconds
someone was in a zone) and, in an absence rule, started the empty timer. ByteTrack keeps a lost track's id
for `lost_track_s`, but does not report it, so the memory lives here:

- a person lost by the detector still counts, at the box and anchor where they were last seen, for
  `memory_s` (tracked or not: ByteTrack confirms a track only when it is seen in two frames running, so a
  small person found in one frame of three never gets an id);
- one last seen touching an occluder of any zone (`occluders:` in the zone config, e.g. the lamp post and its
  sign) counts for `occluded_hold_s`: nobody can see whether they are still there, so their absence is not
  an alarm until they have been gone that long;
- a remembered person is forgotten as soon as the detector sees someone at the same place (IoU >= 0.45,
  an id switch), or, for one who had no track id, anyone within a box width (the same person walking on),
  so nobody is counted twice.

Remembered rows are added to the frame's detections with `data["remembered"] = True`, their keypoints zeroed
(no head-yaw reading from a stale pose) and their last confidence halved; rules count them like anyone else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import supervision as sv

from analytics.config import TrackingConfig
from analytics.geometry import centre
from analytics.rules.common import PERSON, class_ids, track_ids


@dataclass
class _Seen:
    ts: float
    row: sv.Detections  # the last detection of this track (one row)
    occluded: bool  # last seen touching an occluder


class PresenceMemory:
    """Keeps lost people counted for a while (see the module's docstring). One per camera."""

    def __init__(self, config: TrackingConfig, occluders: Sequence[np.ndarray] = ()) -> None:
        self.config = config
        self.occluders = [np.asarray(o, dtype=float) for o in occluders]  # pixel polygons
        self._seen: dict[int, _Seen] = {}  # by track id; untracked people by a negative key of their own
        self._untracked = 0
        self._newest_id = -1  # ByteTrack numbers tracks in order: a higher id is a newcomer

    def update(self, ts: float, tracked: sv.Detections) -> sv.Detections:
        """`tracked` with the remembered people appended (and `data["remembered"]` on every row)."""
        n = len(tracked)
        tids = track_ids(tracked)
        people = np.flatnonzero(class_ids(tracked) == PERSON)
        boxes = tracked.xyxy[people]
        current = set(tids[people].tolist()) - {-1}
        # Newcomers: untracked people and tracks born this frame. At low rates (2 frames/s) ByteTrack often
        # loses a walker between frames and starts a new id a step further on; the old id must not be
        # remembered beside the new one (the 2 frames/s copy of the real set counted double without this).
        newcomers = boxes[[t < 0 or t > self._newest_id for t in tids[people].tolist()]]
        self._newest_id = max(current, default=self._newest_id)
        keep: list[sv.Detections] = []
        for key in list(self._seen):
            seen = self._seen[key]
            hold = self.config.occluded_hold_s if seen.occluded else self.config.memory_s
            age = ts - seen.ts
            same_place = bool(len(boxes)) and (sv.box_iou_batch(seen.row.xyxy, boxes).max() >= 0.45
                                               or (key < 0 and _near(seen.row.xyxy[0], boxes, age))
                                               or _near(seen.row.xyxy[0], newcomers, age))
            if key in current or age > hold or age < 0 or same_place:
                del self._seen[key]
            else:
                keep.append(seen.row)
        # Untracked people (ByteTrack confirms a new track only when it is seen in two frames running, so a
        # small person found in one frame of three never gets an id) are remembered by place.
        for i in people:
            key = int(tids[i]) if tids[i] >= 0 else -1 - self._untracked
            if tids[i] < 0:
                self._untracked += 1
            self._seen[key] = _Seen(ts, tracked[int(i):int(i) + 1], self._touches_occluder(tracked.xyxy[i]))
        tracked.data["remembered"] = np.zeros(n, dtype=bool)
        if not keep:
            return tracked
        return _append(tracked, keep)

    def _touches_occluder(self, box: np.ndarray) -> bool:
        if not self.occluders:
            return False
        x0, y0, x1, y1 = (float(v) for v in box)
        for poly in self.occluders:
            (px0, py0), (px1, py1) = poly.min(axis=0), poly.max(axis=0)
            margin = 0.25 * (x1 - x0)  # a box beside a pole, about to step behind it
            if x1 + margin >= px0 and x0 - margin <= px1 and y1 >= py0 and y0 <= py1:
                return True
        return False


WALK_WIDTHS_PER_S = 2.5  # a walker covers about 2.5 of their box widths a second (1.3 m/s, 0.5 m wide)


def _near(box: np.ndarray, boxes: np.ndarray, age_s: float = 0.0) -> bool:
    """Someone is within reach of where a person was `age_s` ago: at least a box width, more the longer ago
    (a walker moves ~0.5 of their width a frame at 5 frames/s, ~1.2 at 2): most likely the same person."""
    if not len(boxes):
        return False
    distance = np.linalg.norm(centre(boxes) - centre(box), axis=1)
    return bool((distance < (box[2] - box[0]) * max(1.0, WALK_WIDTHS_PER_S * age_s)).any())


def _append(tracked: sv.Detections, rows: list[sv.Detections]) -> sv.Detections:
    """The tracked detections followed by remembered rows, with the data keys of `tracked`."""
    ghosts = []
    for row in rows:
        ghost = sv.Detections(xyxy=row.xyxy.copy(),
                              confidence=None if row.confidence is None else row.confidence * 0.5,
                              class_id=row.class_id, tracker_id=row.tracker_id)
        for key, value in tracked.data.items():
            old = row.data.get(key) if row.data else None
            if key == "remembered":
                ghost.data[key] = np.ones(1, dtype=bool)
            elif key == "keypoints" or old is None:
                ghost.data[key] = np.zeros((1, *np.asarray(value).shape[1:]), dtype=np.asarray(value).dtype)
            else:
                ghost.data[key] = np.asarray(old)
        ghosts.append(ghost)
    for attr in ("confidence", "class_id", "tracker_id"):  # merge needs the same fields on every part
        if getattr(tracked, attr) is None:
            for g in ghosts:
                setattr(g, attr, None)
    if len(tracked) == 0:
        return sv.Detections.merge(ghosts)
    return sv.Detections.merge([tracked, *ghosts])
