"""The scenario library itself: well-formed, covering every rule both ways, rendered from real pixels."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from analytics.config import YoloConfig
from devkit.scenarios import Scenario, SpriteBank
from devkit.scenarios.library import build_library
from devkit.scenarios.render import frames
from devkit.scenarios.sprites import CATALOGUE, cut_out

VISION_RULES = {"zone_unattended", "waiting_over_limit", "exam_no_examiner", "exam_candidate_absent",
                "exam_seat_crowded", "exam_head_turned", "inspector_absent", "inspection_too_short",
                "walkaround_incomplete", "inspection_without_vehicle", "vehicle_left_uninspected", "staff_phone",
                "exam_phone"}


@pytest.fixture(scope="module")
def library() -> list[Scenario]:
    return build_library()


def test_at_least_forty_scenarios_with_unique_ids(library: list[Scenario]) -> None:
    assert len(library) >= 40
    ids = [s.id for s in library]
    assert len(set(ids)) == len(ids)


def test_every_rule_has_violations_and_look_alikes(library: list[Scenario]) -> None:
    violations = Counter(t.rule for s in library for t in s.truth)
    normals = Counter(r for s in library if s.kind == "normal" for r in s.rule_names)
    for rule in VISION_RULES:
        assert violations[rule] >= 2, f"{rule}: fewer than two true incidents"
        assert normals[rule] >= 1, f"{rule}: no look-alike normal scenario"


def test_rule_configs_are_valid_for_the_pipeline(library: list[Scenario]) -> None:
    from jianguan.evaluate import site_config

    cfg = site_config(library, {s.id: Path(f"/nonexistent/{s.id}.mp4") for s in library}, Path("/tmp/x"),
                      model="yolo11n-pose.pt", imgsz=640)
    assert len(cfg.cameras) == len(library)
    lane = next(c for c in cfg.cameras if c.area == "inspection_lane")
    assert lane.detect.detectors == ["pose", "objects"]


def test_truth_lies_inside_the_scenario(library: list[Scenario]) -> None:
    for s in library:
        for t in s.truth:
            assert 0 <= t.start < t.end <= s.duration_s, s.id


def test_a_violation_scenario_needs_truth() -> None:
    base = build_library()[0].model_dump()
    base["truth"] = []
    with pytest.raises(ValueError, match="needs at least one ground-truth incident"):
        Scenario.model_validate(base)


def test_cut_out_keeps_the_subject_and_drops_the_background() -> None:
    # A bright disc on a dark, noisy background: the cut-out's alpha covers the disc, not the corners.
    rng = np.random.default_rng(1)
    image = rng.integers(0, 40, (200, 200, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:200, :200]
    disc = (yy - 100) ** 2 + (xx - 100) ** 2 < 50 ** 2
    image[disc] = (200, 180, 160)
    rgba = cut_out(image, (40, 40, 160, 160), None)
    assert rgba.shape[2] == 4
    assert 95 <= rgba.shape[0] <= 110 and 95 <= rgba.shape[1] <= 110  # tight around the disc
    assert rgba[rgba.shape[0] // 2, rgba.shape[1] // 2, 3] == 255
    assert rgba[0, 0, 3] < 128


def test_sprites_and_frames_are_real_and_deterministic(tmp_path: Path, library: list[Scenario]) -> None:
    bank = SpriteBank(tmp_path / "sprites")
    for source in CATALOGUE:
        sprite = bank.get(source.id)
        coverage = (sprite[..., 3] > 128).mean()
        assert 0.25 < coverage < 0.95, f"{source.id}: alpha covers {coverage:.0%} of the cut-out"
    scenario = next(s for s in library if s.id == "window-clerk-away-35s")
    short = scenario.model_copy(update={"duration_s": 2.0})
    a = list(frames(short, bank, tmp_path))
    b = list(frames(short, bank, tmp_path))
    assert len(a) == 10 and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], a[1])  # sensor noise: no two frames are bit-identical


def test_the_detector_sees_the_composited_people(tmp_path: Path, library: list[Scenario]) -> None:
    """The scenes are only a fair test if the real detector finds the actors the script places."""
    from analytics.detectors import build_detector

    bank = SpriteBank(tmp_path / "sprites")
    detector = build_detector(YoloConfig(imgsz=640))
    scenario = next(s for s in library if s.id == "exam-examiner-patrols")
    image = next(iter(frames(scenario.model_copy(update={"duration_s": 0.2}), bank, tmp_path)))
    found = detector.detect([image])[0]
    assert len(found) == 7  # six seated candidates and the examiner


def test_a_cut_out_is_the_same_whatever_was_cut_before_it() -> None:
    """GrabCut draws its colour models' k-means start from OpenCV's global RNG: before it was seeded, the car's
    mask changed with the number of earlier cut-outs, so CI (fresh sprites) and a developer (cached ones)
    evaluated different people and cars, and got different scores."""
    import hashlib

    import cv2

    from devkit.scenarios.media import media_path
    from devkit.scenarios.sprites import CATALOGUE, cut_out

    car = next(s for s in CATALOGUE if s.id == "car")
    image = cv2.imread(str(media_path(car.media)))
    first = cut_out(image, car.box, None, outline=car.outline)
    cv2.randu(np.empty((64, 64), np.uint8), 0, 255)  # someone else draws from the RNG in between
    again = cut_out(image, car.box, None, outline=car.outline)
    assert hashlib.sha256(first.tobytes()).digest() == hashlib.sha256(again.tobytes()).digest()
