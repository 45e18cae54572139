"""Zones: polygons in relative coordinates; membership by where a person stands (`data["anchor"]` when the
analytics placed them by their pose, else the bottom-centre of the box)."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import supervision as sv

from analytics.config import LaneConfig, ZoneConfig


@dataclass(frozen=True)
class Zone:
    """A named polygon with points relative to the frame.

    >>> z = Zone("desk", "staff", ((0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.0, 0.5)))
    >>> d = sv.Detections(xyxy=np.array([[10., 10., 30., 40.], [300., 10., 320., 40.]]))
    >>> z.contains(d, (100, 100)).tolist()   # frame is 100x100: only the first box stands inside
    [True, False]
    """

    id: str
    kind: str
    polygon: tuple[tuple[float, float], ...]
    anchor: str = "pose"  # or "box": the bottom-centre even where a pose anchor exists (seats: people sit)
    # Kind lane: how its vehicle and inspector are followed (defaults if None); not part of the zone's identity.
    lane: LaneConfig | None = field(default=None, compare=False)

    @classmethod
    def from_config(cls, cfg: ZoneConfig) -> Zone:
        return cls(cfg.id, cfg.kind, tuple((float(x), float(y)) for x, y in cfg.polygon), cfg.anchor or "pose",
                   cfg.lane)

    def pixels(self, frame_wh: tuple[int, int]) -> np.ndarray:
        w, h = frame_wh
        return np.array([(x * w, y * h) for x, y in self.polygon], dtype=np.float32)

    def contains(self, detections: sv.Detections, frame_wh: tuple[int, int]) -> np.ndarray:
        """Boolean mask: which detections stand inside (or on the edge of) the zone."""
        if len(detections) == 0:
            return np.zeros(0, dtype=bool)
        anchors = detections.data.get("anchor") if detections.data and self.anchor == "pose" else None
        if anchors is None or len(anchors) != len(detections):
            anchors = detections.get_anchors_coordinates(sv.Position.BOTTOM_CENTER)
        poly = self.pixels(frame_wh)
        return np.array(
            [cv2.pointPolygonTest(poly, (float(x), float(y)), False) >= 0 for x, y in anchors], dtype=bool
        )
