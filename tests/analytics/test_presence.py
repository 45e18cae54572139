"""Presence memory: people lost by the detector for a moment, or behind an occluder, stay counted."""

import numpy as np
import supervision as sv

from analytics import CameraAnalytics, ZoneConfig, ZoneUnattendedConfig
from analytics.config import TrackingConfig
from analytics.presence import PresenceMemory

FRAME = (768, 576)


def person(box, tid: int, conf: float = 0.8) -> sv.Detections:
    det = sv.Detections(xyxy=np.array([box], dtype=float), confidence=np.array([conf]), class_id=np.array([0]),
                        tracker_id=np.array([tid]))
    det.data["keypoints"] = np.full((1, 17, 3), 0.2, dtype=np.float32)  # a pose too faint to place them by
    return det


def none() -> sv.Detections:
    det = sv.Detections(xyxy=np.zeros((0, 4)), confidence=np.zeros(0), class_id=np.zeros(0, int),
                        tracker_id=np.zeros(0, int))
    det.data["keypoints"] = np.zeros((0, 17, 3), dtype=np.float32)
    return det


def test_a_lost_person_counts_for_memory_s_then_not():
    mem = PresenceMemory(TrackingConfig(memory_s=1.0))
    assert len(mem.update(0.0, person([100, 100, 130, 180], 7))) == 1
    held = mem.update(0.6, none())
    assert len(held) == 1 and held.data["remembered"].tolist() == [True]
    assert held.tracker_id.tolist() == [7] and held.data["keypoints"].sum() == 0  # no stale pose
    assert len(mem.update(1.2, none())) == 0


def test_behind_an_occluder_a_person_counts_for_occluded_hold_s():
    pole = np.array([[135, 0], [145, 0], [145, 400], [135, 400]], dtype=float)
    mem = PresenceMemory(TrackingConfig(memory_s=1.0, occluded_hold_s=20.0), [pole])
    mem.update(0.0, person([100, 100, 130, 180], 7))  # beside the pole, about to step behind it
    assert len(mem.update(15.0, none())) == 1
    assert len(mem.update(21.0, none())) == 0


def test_someone_found_again_at_the_same_place_under_a_new_id_is_not_counted_twice():
    mem = PresenceMemory(TrackingConfig(memory_s=2.0))
    mem.update(0.0, person([100, 100, 130, 180], 7))
    out = mem.update(0.4, person([101, 100, 131, 181], 9))  # an id switch
    assert len(out) == 1 and out.tracker_id.tolist() == [9]
    # but a neighbour in a tight group does not make a lost member disappear
    mem = PresenceMemory(TrackingConfig(memory_s=2.0))
    mem.update(0.0, sv.Detections.merge([person([100, 100, 130, 180], 1), person([118, 100, 148, 180], 2)]))
    assert len(mem.update(0.4, person([118, 100, 148, 180], 2))) == 2


def test_an_absence_rule_does_not_start_while_a_flickering_person_is_remembered():
    zone = ZoneConfig(id="desk", polygon=[(0.1, 0.1), (0.3, 0.1), (0.3, 0.4), (0.1, 0.4)])
    rule = ZoneUnattendedConfig(type="zone_unattended", zone="desk", seconds=2, inertia=1)
    cam = CameraAnalytics("c", 5, [zone], [rule], TrackingConfig(memory_s=1.0))
    box = [120.0, 100.0, 150.0, 200.0]
    events = []
    for i in range(60):  # seen in one frame of three (a small person at the detector's threshold)
        det = person(box, 1) if i % 3 == 0 else none()
        det.tracker_id = None
        res = cam.process(i / 5, FRAME, det)
        events += res.events
    assert events == []


def test_an_untracked_walker_found_again_a_step_further_is_not_counted_twice():
    mem = PresenceMemory(TrackingConfig(memory_s=1.0))
    walker = person([100, 100, 125, 170], -1)
    mem.update(0.0, walker)
    out = mem.update(0.2, person([111, 100, 136, 170], -1))  # 11 px on, IoU 0.4
    assert len(out) == 1
