"""Planning crops around zones at the scale people need, and merging tiles back."""

import numpy as np
import pytest
import supervision as sv

from analytics import YoloConfig, ZoneConfig
from analytics.detectors.regions import Box, RegionPlanner, merge_tiles, tile_starts

FRAME = (768, 576)


def zone(zid: str, x0: float, y0: float, x1: float, y1: float, **kw) -> ZoneConfig:
    return ZoneConfig(id=zid, polygon=[(x0, y0), (x1, y0), (x1, y1), (x0, y1)], **kw)


def boxes(planner: RegionPlanner) -> list[tuple[float, ...]]:
    return [(r.x0 * FRAME[0], r.y0 * FRAME[1], r.x1 * FRAME[0], r.y1 * FRAME[1]) for r, _size in planner.plan(FRAME)]


def test_a_small_zone_is_one_crop_that_holds_the_heads_of_people_standing_in_it():
    z = zone("desk", 0.4, 0.5, 0.5, 0.6, person_height=0.1)  # people 57.6 px tall
    [(x0, y0, x1, y1)] = boxes(RegionPlanner(YoloConfig(imgsz=320), [z]))
    assert y0 == pytest.approx(0.5 * 576 - 1.1 * 57.6)  # a head above the zone's far edge
    assert x0 == pytest.approx(0.4 * 768 - 0.5 * 57.6) and y1 == pytest.approx(0.6 * 576 + 0.15 * 57.6)


def test_a_large_zone_is_tiled_at_the_scale_its_people_need_with_overlap_of_a_person():
    z = zone("hall", 0.0, 0.3, 1.0, 1.0, person_height=0.1)
    planner = RegionPlanner(YoloConfig(imgsz=320, person_px=112), [z])
    tiles = boxes(planner)
    size = 320 / (112 / 57.6)  # source pixels per tile
    assert len(tiles) > 4
    for x0, y0, x1, y1 in tiles:
        assert x1 - x0 <= size + 1e-6 and y1 - y0 <= size + 1e-6
    # neighbours overlap by at least a person's height, so everyone is whole in one tile
    xs = sorted({round(t[0], 3) for t in tiles})
    assert xs[1] < xs[0] + size - 1.2 * 57.6 + 1e-6
    # people twice as tall: fewer, larger tiles
    assert len(boxes(RegionPlanner(YoloConfig(imgsz=320, person_px=112),
                                   [zone("hall", 0.0, 0.3, 1.0, 1.0, person_height=0.2)]))) < len(tiles)


def test_overlapping_zones_share_one_crop_and_far_apart_zones_do_not():
    cfg = YoloConfig(imgsz=640)
    near = [zone("a", 0.40, 0.5, 0.45, 0.6, person_height=0.1), zone("b", 0.44, 0.5, 0.5, 0.6, person_height=0.1)]
    assert len(boxes(RegionPlanner(cfg, near))) == 1
    far = [zone("a", 0.0, 0.5, 0.05, 0.6, person_height=0.1), zone("b", 0.9, 0.5, 0.95, 0.6, person_height=0.1)]
    assert len(boxes(RegionPlanner(cfg, far))) == 2


def test_the_scale_is_learnt_from_whole_people_seen_in_the_zone():
    z = zone("hall", 0.0, 0.3, 1.0, 1.0)
    planner = RegionPlanner(YoloConfig(imgsz=320, person_height=0.1), [z])
    before = len(planner.plan(FRAME))
    people = sv.Detections(xyxy=np.array([[10.0, 200.0, 60.0, 350.0]] * 10), confidence=np.full(10, 0.8),
                           class_id=np.zeros(10, int))
    kp = np.zeros((10, 17, 3))
    kp[:, 15:17] = (35, 345, 0.9)
    people.data["keypoints"] = kp
    planner.observe(people, FRAME, {"hall": np.ones(10, bool)})
    assert planner.person_height(z, 576) == pytest.approx(150)
    assert len(planner.plan(FRAME)) < before
    # people cut by a desk (no ankle seen) teach nothing
    cut = RegionPlanner(YoloConfig(imgsz=320), [z])
    people.data["keypoints"] = np.zeros((10, 17, 3))
    cut.observe(people, FRAME, {"hall": np.ones(10, bool)})
    assert cut.person_height(z, 576) == pytest.approx(0.14 * 576)  # still the prior


def test_a_model_of_any_input_size_runs_a_region_whole_at_its_scale():
    z = zone("hall", 0.0, 0.3, 1.0, 1.0, person_height=0.1)
    cfg = YoloConfig(imgsz=320, person_px=80)  # scale 80 / 57.6: the 768-px-wide region needs 1067 px
    [(roi, size)] = RegionPlanner(cfg, [z], flexible=True).plan(FRAME)
    assert size == 1088 and (roi.x0, roi.x1) == (0.0, 1.0)
    huge = RegionPlanner(YoloConfig(imgsz=320, person_px=112, max_input=640), [z], flexible=True).plan(FRAME)
    assert len(huge) > 1 and {s for _r, s in huge} == {640}


def test_tile_starts_cover_the_span():
    starts = tile_starts(0, 1000, 300, 60)
    assert starts[0] == 0 and starts[-1] + 300 == pytest.approx(1000)
    assert all(b - a <= 240 + 1e-9 for a, b in zip(starts, starts[1:], strict=False))


def test_merge_keeps_group_members_of_one_tile_and_drops_a_cut_duplicate_of_another():
    group = sv.Detections(xyxy=np.array([[100.0, 100.0, 130.0, 180.0], [110.0, 100.0, 140.0, 180.0]]),
                          confidence=np.array([0.8, 0.7]), class_id=np.array([0, 0]))
    cut = sv.Detections(xyxy=np.array([[100.0, 100.0, 120.0, 180.0]]), confidence=np.array([0.9]),
                        class_id=np.array([0]))
    merged = merge_tiles([group, cut], [Box(0, 0, 300, 300), Box(0, 0, 120, 300)], (300, 300))
    assert len(merged) == 2  # both members of the group; the box cut at x=120 is the same person again


def test_in_seat_zones_the_scale_is_learnt_from_seated_people_whose_ankles_are_hidden():
    seat = zone("seat1", 0.2, 0.5, 0.3, 0.6, kind="seat")
    planner = RegionPlanner(YoloConfig(imgsz=640), [seat])
    seated = sv.Detections(xyxy=np.array([[160.0, 200.0, 220.0, 330.0]] * 10), confidence=np.full(10, 0.8),
                           class_id=np.zeros(10, int))
    seated.data["keypoints"] = np.zeros((10, 17, 3))
    planner.observe(seated, FRAME, {"seat1": np.ones(10, bool)})
    assert planner.person_height(seat, 576) == pytest.approx(130)
