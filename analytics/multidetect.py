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

    def detect(self, cameras: Sequence[str], images: Sequence[np.ndarray]) -> list[sv.Detections]:
        """One merged result per image; `cameras[i]` names the camera of `images[i]`."""
        per_frame: list[list[sv.Detections]] = [[] for _ in images]
        for name, detector in self.detectors.items():
            idx = [i for i, cam in enumerate(cameras) if name in self.names[cam]]
            if not idx:
                continue
            plans = []
            for i in idx:
                h, w = images[i].shape[:2]
                plans.append(self.planners[(cameras[i], name)].plan((w, h)))
            self.crops_run += sum(len(p) for p in plans)
            for i, det in zip(idx, detect_tiles(detector, [images[i] for i in idx], plans), strict=True):
                per_frame[i].append(det)
        return [merge_detections(parts) for parts in per_frame]

    def observe(self, camera: str, detections: sv.Detections, frame_wh: tuple[int, int],
                in_zone: Mapping[str, np.ndarray]) -> None:
        """Let the camera's planners learn how tall people are in each zone from what the analytics placed."""
        for name in self.names[camera]:
            self.planners[(camera, name)].observe(detections, frame_wh, dict(in_zone))
