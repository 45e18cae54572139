"""The rule configs inside the site config: every rule type parses, zones are checked for multi-zone rules,
opening hours take the site's time zone, and errors name the field."""

import pytest

from analytics import CameraAnalytics
from jianguan.config import ConfigError, parse_config

ZONES = [{"id": "lane", "kind": "lane", "polygon": [[0.2, 0.2], [0.8, 0.2], [0.8, 0.9]],
          "lane": {"external_id": "lane-1", "vehicle_gap_s": 4}},
         {"id": "s1", "kind": "seat", "polygon": [[0, 0], [0.1, 0], [0.1, 0.1]]},
         {"id": "s2", "kind": "seat", "polygon": [[0.2, 0], [0.3, 0], [0.3, 0.1]]},
         {"id": "room", "kind": "room", "polygon": [[0, 0], [1, 0], [1, 1]]},
         {"id": "desk", "kind": "staff", "polygon": [[0, 0], [1, 0], [1, 0.4]]},
         {"id": "wait", "kind": "waiting", "polygon": [[0, 0.5], [1, 0.5], [1, 1]]}]

RULES = [
    {"type": "zone_unattended", "zone": "desk", "seconds": 60, "active_hours": ["08:30-12:00", "13:30-17:30"]},
    {"type": "inspector_absent", "zone": "lane", "seconds": 60},
    {"type": "inspection_too_short", "zone": "lane", "min_seconds": 300},
    {"type": "walkaround_incomplete", "zone": "lane", "min_sides": 3},
    {"type": "inspection_without_vehicle", "zone": "lane"},
    {"type": "vehicle_left_uninspected", "zone": "lane", "require_record": True},
    {"type": "exam_phone"}, {"type": "exam_seat_crowded", "seats": ["s1"]}, {"type": "exam_candidate_absent"},
    {"type": "exam_head_turned", "min_yaw_deg": 40}, {"type": "exam_no_examiner", "zones": ["room"]},
    {"type": "staff_phone", "zone": "desk"}, {"type": "waiting_over_limit", "zone": "wait", "limit": 12},
]


def site(rules, tz=None):
    info = {"id": "s1", "name": "Site", **({"timezone": tz} if tz else {})}
    cam = {"id": "c1", "name": "Cam", "area": "hall", "streams": {"detect": "/tmp/x.mp4"}, "zones": ZONES,
           "rules": rules}
    return {"site": info, "cameras": [cam]}


def test_every_rule_type_parses_and_builds():
    cfg = parse_config(site(RULES), env={})
    cam = cfg.cameras[0]
    analytics = CameraAnalytics(cam.id, 5, cam.zones, cam.rules)
    assert sorted(r.name for r in analytics.rules) == sorted(r["type"] for r in RULES)


def test_opening_hours_take_the_site_time_zone():
    cfg = parse_config(site(RULES[:1], tz="Asia/Urumqi"), env={})
    assert cfg.cameras[0].rules[0].timezone == "Asia/Urumqi"
    own = dict(RULES[0], timezone="UTC")
    assert parse_config(site([own], tz="Asia/Urumqi"), env={}).cameras[0].rules[0].timezone == "UTC"


@pytest.mark.parametrize(("rule", "needle"), [
    ({"type": "exam_phone", "seats": ["s1", "s7"]}, "引用的区域 's7' 在本摄像机中不存在"),
    ({"type": "inspector_absent", "zone": "lane", "vehicle_gap_s": 3}, "vehicle_gap_s 现属于查验道区域"),
    ({"type": "staff_phone", "zone": "desk", "active_hours": ["8:30-12"]}, "'8:30-12' 不是 HH:MM-HH:MM 格式"),
    ({"type": "staff_phone", "zone": "desk", "timezone": "Mars/Base"}, "未知时区 'Mars/Base'"),
    ({"type": "waiting_over_limit", "zone": "wait"}, "limit：缺少必填项"),
])
def test_errors_name_the_field(rule, needle):
    with pytest.raises(ConfigError) as info:
        parse_config(site([rule]), env={})
    (problem,) = info.value.problems
    assert needle in problem and "rules[0]" in problem


def test_lane_settings_live_on_the_zone_and_its_zones_are_checked():
    cfg = parse_config(site(RULES), env={})
    lane = cfg.cameras[0].zones[0].lane
    assert lane.external_id == "lane-1" and lane.vehicle_gap_s == 4 and lane.vehicle_lost_s == 20
    analytics = CameraAnalytics("c1", 5, cfg.cameras[0].zones, cfg.cameras[0].rules)
    assert list(analytics.scene.lanes) == ["lane"]  # one tracker for the lane's five rules
    assert {r.lane for r in analytics.rules if hasattr(r, "lane")} == {analytics.scene.lanes["lane"]}
    bad = site(RULES[1:2])
    bad["cameras"][0]["zones"] = [dict(ZONES[0], lane={"inspector_zones": ["walk"]}), *ZONES[1:]]
    with pytest.raises(ConfigError) as info:
        parse_config(bad, env={})
    assert info.value.problems == ["config：cameras[0]：区域 'lane'：lane.inspector_zones 引用的区域 'walk' "
                                   "在本摄像机中不存在"]
    bad["cameras"][0]["zones"] = [*ZONES[1:], dict(ZONES[4], lane={"vehicle_gap_s": 3})]
    with pytest.raises(ConfigError) as info:
        parse_config(bad, env={})
    assert any("cameras[0].zones[5]：" in p for p in info.value.problems)  # a desk zone with lane settings


def test_seating_lives_on_the_camera_and_is_shared_by_its_exam_rules():
    raw = site(RULES[6:11])
    raw["cameras"][0]["seating"] = {"min_overlap": 0.4, "walkways": ["room"]}
    cam = parse_config(raw, env={}).cameras[0]
    analytics = CameraAnalytics("c1", 5, cam.zones, cam.rules, seating=cam.seating)
    assert analytics.scene.seating.min_overlap == 0.4
    assert {tuple(r.walkways) for r in analytics.rules} == {("room",)}  # every exam rule, one setting
    moved = site([{"type": "exam_phone", "min_overlap": 0.5}])
    with pytest.raises(ConfigError) as info:
        parse_config(moved, env={})
    assert info.value.problems == ["config：cameras[0].rules[0]：min_overlap 现属于摄像机：请写在其 `seating:` 下"
                                   "（cameras[].seating.min_overlap）"]
    raw["cameras"][0]["seating"] = {"walkways": ["aisle"]}
    with pytest.raises(ConfigError) as info:
        parse_config(raw, env={})
    assert info.value.problems == ["config：cameras[0]：seating.walkways 引用的区域 'aisle' 在本摄像机中不存在"]
