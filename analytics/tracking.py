"""Per-camera multi-object tracking (ByteTrack from Roboflow supervision)."""

from __future__ import annotations

import supervision as sv


class CameraTracker:
    """Gives each detection a stable `tracker_id` across frames of one camera.

    One tracker per camera: tracks never jump between cameras, and each camera's frame rate sets
    how long a lost track is kept.
    """

    def __init__(self, fps: float, lost_track_seconds: float = 2.0) -> None:
        rate = max(1, round(fps))
        self._tracker = sv.ByteTrack(
            frame_rate=rate,
            lost_track_buffer=max(1, round(lost_track_seconds * rate)),
            minimum_consecutive_frames=1,
        )

    def update(self, detections: sv.Detections) -> sv.Detections:
        keypoints = detections.data.get("keypoints")
        tracked = self._tracker.update_with_detections(detections)
        # ByteTrack keeps `data` arrays aligned when it drops unmatched boxes, keypoints included.
        if keypoints is not None and "keypoints" not in tracked.data and len(tracked) == len(detections):
            tracked.data["keypoints"] = keypoints
        return tracked
