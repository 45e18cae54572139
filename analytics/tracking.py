"""Per-camera multi-object tracking: ByteTrack from Roboflow's `trackers` (the maintained successor of
`supervision.ByteTrack`, which supervision 0.27+ no longer ships)."""

from __future__ import annotations

import supervision as sv
from trackers import ByteTrackTracker


class CameraTracker:
    """Gives each detection a stable `tracker_id` across frames of one camera.

    One tracker per camera: tracks never jump between cameras. Frame timestamps drive the motion
    model, so frames dropped under load do not confuse it. Detections not (yet) matched to a track
    stay in the output with `tracker_id == -1`: zones still count them.
    """

    def __init__(self, fps: float, lost_track_seconds: float = 2.0, activation_confidence: float = 0.35) -> None:
        self._tracker = ByteTrackTracker(
            frame_rate=fps,
            # the library counts the buffer in 30 fps frames whatever the camera's rate
            lost_track_buffer=max(1, round(lost_track_seconds * 30)),
            track_activation_threshold=activation_confidence,
            # small, distant people score 0.3-0.6: treat them as first-stage matches, not leftovers
            high_conf_det_threshold=activation_confidence,
            minimum_consecutive_frames=1,
        )

    def update(self, detections: sv.Detections, ts: float | None = None) -> sv.Detections:
        return self._tracker.update(detections, timestamp=ts)
