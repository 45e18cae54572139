"""Service-window rules (phone in the staff zone, waiting zone over a limit) and the rules inside
CameraAnalytics (real ByteTrack, zone validation, external events)."""

import numpy as np
import pytest
import supervision as sv
from pydantic import TypeAdapter

from analytics import CameraAnalytics, ExternalEvent, RuleConfig, ZoneConfig
from analytics.rule_config import StaffPhoneConfig, WaitingOverLimitConfig
from analytics.rules.window import StaffPhoneRule, WaitingOverLimitRule


@pytest.fixture
def window(kit):
    # the clerk's side of the counter (top) and the waiting area (bottom)
    return kit.Scene().zone("desk", "staff", 0.0, 0.0, 1.0, 0.4).zone("wait", "waiting", 0.0, 0.5, 1.0, 1.0)


def frames(seconds, objs_at):
    return [(round(i / 5, 6), objs_at(round(i / 5, 6))) for i in range(int(round(seconds * 5)))]


def test_staff_phone(kit, window):
    cfg = StaffPhoneConfig(type="staff_phone", zone="desk", seconds=3)
    clerk = kit.person([450, 150, 550, 350], 4)

    def objs(t):  # phone held 2..8 s, jittering by a pixel or two, missed every fifth frame
        i = round(t * 5)
        jitter = (i % 3) - 1
        ph = [kit.phone([490 + jitter, 200, 510 + jitter, 230], conf=0.5)] if 2 <= t < 8 and i % 5 else []
        return [clerk] + ph
    events = window.run(StaffPhoneRule(cfg, 5, window.zones), frames(10, objs))
    # frame 10 (2.0 s) is a miss: first seen at 2.2, raised at 5.2, last seen 7.8 -> ends at 8.0
    assert kit.summary(events) == [("opened", "staff_phone", "desk", 2.2, 5.2, None),
                                   ("closed", "staff_phone", "desk", 2.2, 5.2, 8.0)]
    assert events[1].incident.measures["phone_s"] == 5.8 and events[1].incident.track_ids == [4]
    # A customer's phone in the waiting area is not the clerk's.
    customer = lambda t: [kit.person([450, 600, 550, 800], 5), kit.phone([490, 650, 510, 680])]  # noqa: E731
    assert window.run(StaffPhoneRule(cfg, 5, window.zones), frames(10, customer)) == []


def test_waiting_over_limit_with_count_measure(kit, window):
    cfg = WaitingOverLimitConfig(type="waiting_over_limit", zone="wait", limit=3, seconds=10)

    def crowd(t):  # 3 people, 5 from 4 s to 30 s with one of them hidden every fourth frame
        n = 5 if 4 <= t < 30 else 3
        if n == 5 and round(t * 5) % 4 == 0:
            n = 4
        return [kit.standing_at(100 + 150 * k, 900, 10 + k) for k in range(n)] + [kit.standing_at(500, 300, 1)]
    events = window.run(WaitingOverLimitRule(cfg, 5, window.zones), frames(40, crowd))
    assert kit.summary(events) == [("opened", "waiting_over_limit", "wait", 4.0, 14.0, None),
                                   ("closed", "waiting_over_limit", "wait", 4.0, 14.0, 30.0)]
    m = events[1].incident.measures
    assert m["count"] == 5.0 and m["limit"] == 3.0 and m["over_s"] == 26.0
    assert 1 not in events[1].incident.track_ids  # the clerk is not waiting
    # Exactly at the limit is not over it.
    at_limit = lambda t: [kit.standing_at(100 + 150 * k, 900, k) for k in range(3)]  # noqa: E731
    assert window.run(WaitingOverLimitRule(cfg, 5, window.zones), frames(40, at_limit)) == []


ZONES = [ZoneConfig(id="lane", kind="lane", polygon=[(0.2, 0.2), (0.8, 0.2), (0.8, 0.9), (0.2, 0.9)],
                    lane={"external_id": "L1", "record_tolerance_s": 2}),
         ZoneConfig(id="s1", kind="seat", polygon=[(0.0, 0.0), (0.1, 0.0), (0.1, 0.1)])]


def test_camera_analytics_validates_zones_of_every_rule():
    rule = TypeAdapter(RuleConfig).validate_python
    walk = ZONES[0].model_copy(update={"lane": ZONES[0].lane.model_copy(update={"inspector_zones": ["walk"]})})
    with pytest.raises(ValueError, match="unknown zone.*'walk'"):
        CameraAnalytics("c", 5, [walk, *ZONES[1:]], [rule({"type": "inspector_absent", "zone": "lane"})])
    with pytest.raises(ValueError, match="unknown zone.*'s9'"):
        CameraAnalytics("c", 5, ZONES, [rule({"type": "exam_phone", "seats": ["s1", "s9"]})])
    with pytest.raises(ValueError, match="room/patrol"):  # no room zone on this camera
        CameraAnalytics("c", 5, ZONES, [rule({"type": "exam_no_examiner"})])
    assert len(CameraAnalytics("c", 5, ZONES, [rule({"type": "exam_phone"})]).rules) == 1  # seats by kind


def test_camera_analytics_passes_external_events_with_real_tracking():
    cfg = TypeAdapter(RuleConfig).validate_python({"type": "inspection_without_vehicle", "zone": "lane"})
    cam = CameraAnalytics("cam-7", 5, ZONES, [cfg])
    assert cam.feed_event(ExternalEvent(1.0, "inspection", "L1")) == []
    events = []
    for i in range(25):  # an empty lane for 5 s: a person walks by, no vehicle
        det = sv.Detections(xyxy=np.array([[100.0 + 10 * i, 300, 140 + 10 * i, 400]]), class_id=np.array([0]),
                            confidence=np.array([0.9]))
        events += cam.process(i / 5, (1000, 1000), det).events
    assert [(e.kind, e.incident.camera_id, e.incident.started_at, e.incident.raised_at) for e in events] == [
        ("opened", "cam-7", 1.0, 3.0), ("closed", "cam-7", 1.0, 3.0)]
    assert cam.incidents_opened == 1
