"""Several detectors over frames of several cameras: one batch per detector, crops planned per camera.

The node and the real-footage evaluation both detect through `CameraDetection`, so what is measured is what
runs: each detector sees the frames of the cameras that use it in one batch (DeepStream's batching across
cameras), each camera's crops come from its own `RegionPlanner` (tiles around its zones at the scale its
people need), and the results merge per frame into one `sv.Detections` (people with keypoints, vehicles,
phones).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import supervision as sv

from analytics.config import RegionOfInterest, ZoneConfig
from analytics.detectors import Detector, RegionPlanner, detect_tiles, merge_detections
from analytics.detectors.regions import Crop
from analytics.geometry import centre


class CameraDetection:
    """`detectors` by name; `cameras` maps a camera id to (detector names, zones, roi)."""

    def __init__(self, detectors: Mapping[str, Detector],
                 cameras: Mapping[str, tuple[Sequence[str], Sequence[ZoneConfig], RegionOfInterest | None]]) -> None:
        self.detectors = dict(detectors)
        self.names = {cam: list(names) for cam, (names, _z, _r) in cameras.items()}
        self.planners = {(cam, name): RegionPlanner(self.detectors[name].config, zones, roi,
                                                    flexible=getattr(self.detectors[name], "flexible_input", False))
                         for cam, (names, zones, roi) in cameras.items() for name in names}
        self.crops_run = 0  # model inputs run so far (a tile is one)
        self.crops_skipped = 0  # crops left out because nothing moved there
        self._last: dict[tuple[str, str], sv.Detections] = {}  # (camera, detector) -> its last result

    def detect(self, cameras: Sequence[str], images: Sequence[np.ndarray],
               motion: Sequence[Sequence[RegionOfInterest] | None] | None = None) -> list[sv.Detections]:
        """One merged result per image; `cameras[i]` names the camera of `images[i]`.

        `motion[i]`: where image i changed (relative boxes, e.g. `MotionGate`'s), or None to look everywhere. A
        crop that no motion touches is not run (Frigate's motion regions): what the detector last found there
        carries over, so a person who stands still stays seen until the next full look (the gate's keep-alive
        passes None)."""
        per_frame: list[list[sv.Detections]] = [[] for _ in images]
        for name, detector in self.detectors.items():
            idx = [i for i, cam in enumerate(cameras) if name in self.names[cam]]
            if not idx:
                continue
            plans, skipped = {}, {}
            for i in idx:
                h, w = images[i].shape[:2]
                full = self.planners[(cameras[i], name)].plan((w, h))
                moved = None if motion is None else motion[i]
                plans[i] = full if moved is None else [c for c in full if _touches(c[0], moved)]
                skipped[i] = [c for c in full if c not in plans[i]]
            run = [i for i in idx if plans[i]]
            self.crops_run += sum(len(plans[i]) for i in run)
            self.crops_skipped += sum(len(skipped[i]) for i in idx)
            found = dict(zip(run, detect_tiles(detector, [images[i] for i in run], [plans[i] for i in run]),
                             strict=True))
            for i in idx:
                det = found.get(i)
                if skipped[i]:
                    h, w = images[i].shape[:2]
                    last = self._last.get((cameras[i], name))
                    kept = _carried(last, skipped[i], plans[i], (w, h)) if last is not None else None
                    det = merge_detections([d for d in (det, kept) if d is not None])
                elif det is None:
                    det = merge_detections([])
                self._last[(cameras[i], name)] = det
                per_frame[i].append(det)
        return [merge_detections(parts) for parts in per_frame]

    def observe(self, camera: str, detections: sv.Detections, frame_wh: tuple[int, int],
                in_zone: Mapping[str, np.ndarray]) -> None:
        """Let the camera's planners learn how tall people are in each zone from what the analytics placed."""
        for name in self.names[camera]:
            self.planners[(camera, name)].observe(detections, frame_wh, dict(in_zone))


def _within(points: np.ndarray, roi: RegionOfInterest | None, frame_wh: tuple[int, int]) -> np.ndarray:
    if roi is None:
        return np.ones(len(points), dtype=bool)
    w, h = frame_wh
    return ((points[:, 0] >= roi.x0 * w) & (points[:, 0] <= roi.x1 * w)
            & (points[:, 1] >= roi.y0 * h) & (points[:, 1] <= roi.y1 * h))


def _touches(roi: RegionOfInterest | None, boxes: Sequence[RegionOfInterest]) -> bool:
    """Whether any motion box overlaps the crop (None: the whole frame)."""
    if roi is None:
        return bool(boxes)
    return any(b.x0 < roi.x1 and roi.x0 < b.x1 and b.y0 < roi.y1 and roi.y0 < b.y1 for b in boxes)


def _carried(last: sv.Detections, skipped: Sequence[Crop], ran: Sequence[Crop],
             frame_wh: tuple[int, int]) -> sv.Detections | None:
    """The rows of the last result whose centre lies in a skipped crop and in no crop that ran this time (those
    were looked at again)."""
    if not len(last):
        return None
    centres = centre(last.xyxy)
    keep = np.zeros(len(last), dtype=bool)
    for roi, _size in skipped:
        keep |= _within(centres, roi, frame_wh)
    for roi, _size in ran:
        keep &= ~_within(centres, roi, frame_wh)
    return last[keep] if keep.any() else None
