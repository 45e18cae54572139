"""The phone scenarios: the held-phone sprites are built from the real photo, and the evaluation's own objects
detector (NanoDet, as `jianguan evaluate` configures it) finds the phone on a rendered frame of each scenario,
and finds none where the script shows no phone."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from analytics.detectors import build_detector
from devkit.scenarios import Scenario, SpriteBank, media_path
from devkit.scenarios.library import exam_phone_scenarios, window_phone_scenarios
from devkit.scenarios.render import frames
from devkit.scenarios.sprites import CATALOGUE, HELD

PHONE = 67
# The outline in the catalogue is traced on this very file (Debian opencv-doc 4.6.0+dfsg-12).
YOLO_JPG_SHA256 = "4f155f2aa1336cefff395bd036e7bbe13a053312f36d31248a7608dae8a48571"

# One frame per scenario, at a time inside a phone phase (or, for the no-phone look-alikes, anywhere).
PROBES = {
    "window-phone-clerk-10s": (15.0, "staff"),
    "window-phone-clerk-twice": (25.0, "staff"),
    "window-phone-customer-shows-phone": (16.0, "counter"),
    "window-phone-clerk-holds-paper": (15.0, None),
    "exam-phone-seat-a-10s": (17.0, "seat-a"),
    "exam-phone-seat-b-5s": (17.0, "seat-b"),
    "exam-phone-flash": (14.2, "seat-a"),
    "exam-phone-candidate-holds-paper": (15.0, None),
}


@pytest.fixture(scope="module")
def phone_scenarios() -> list[Scenario]:
    return [*window_phone_scenarios(), *exam_phone_scenarios()]


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> SpriteBank:
    return SpriteBank(tmp_path_factory.mktemp("sprites"))


@pytest.fixture(scope="module")
def objects_detector(phone_scenarios: list[Scenario]):
    """The objects detector exactly as the evaluation configures it for these scenarios."""
    from jianguan.evaluate import site_config

    cfg = site_config(phone_scenarios, {s.id: Path(f"/nonexistent/{s.id}.mp4") for s in phone_scenarios},
                      Path("/tmp/x"), model="yolo11n-pose.pt", imgsz=640)
    (objects,) = [d for d in cfg.detectors if d.name == "objects"]
    assert PHONE in objects.classes
    assert all("objects" in c.detect.detectors for c in cfg.cameras)
    return build_detector(objects)


def _frame_at(scenario: Scenario, t: float, bank: SpriteBank, cache: Path) -> np.ndarray:
    wanted = int(round(t * scenario.fps))
    for i, image in enumerate(frames(scenario, bank, cache)):
        if i == wanted:
            return image
    raise AssertionError(f"{scenario.id} has no frame at {t} s")


def _inside(point: tuple[float, float], polygon: list[tuple[float, float]]) -> bool:
    xs, ys = zip(*polygon, strict=True)
    return min(xs) <= point[0] <= max(xs) and min(ys) <= point[1] <= max(ys)  # the zones here are rectangles


def test_the_phone_photo_is_the_one_the_outline_was_traced_on() -> None:
    source = next(s for s in CATALOGUE if s.id == "iphone")
    assert hashlib.sha256(media_path(source.media).read_bytes()).hexdigest() == YOLO_JPG_SHA256


def test_held_phone_sprites_are_person_and_phone_in_one_cut_out(bank: SpriteBank) -> None:
    phone = bank.get("iphone")
    assert 0.35 < (phone[..., 3] > 128).mean() < 0.7  # a tilted phone fills about half its box
    for held in HELD:
        person, sprite = bank.get(held.person), bank.get(held.id)
        assert sprite.shape[0] == person.shape[0]  # the same height: pasted at a height, the person keeps scale
        assert sprite.shape[1] >= person.shape[1]
        grow = (sprite.shape[1] - person.shape[1]) // 2
        changed = np.any(sprite[:, grow:grow + person.shape[1]] != person, axis=2)
        # the phone covers part of the person (the hand), nothing else is touched
        assert 0.005 < changed.mean() < 0.1, held.id


@pytest.mark.parametrize("scenario_id", sorted(PROBES))
def test_nanodet_finds_the_phone_where_the_script_puts_one(scenario_id: str, phone_scenarios: list[Scenario],
                                                           bank: SpriteBank, objects_detector,
                                                           tmp_path: Path) -> None:
    scenario = next(s for s in phone_scenarios if s.id == scenario_id)
    t, zone_id = PROBES[scenario_id]
    image = _frame_at(scenario, t, bank, tmp_path)
    found = objects_detector.detect([image])[0]
    phones = found.xyxy[found.class_id == PHONE]
    if zone_id is None:
        assert len(phones) == 0, f"{scenario_id}: a phone found where the script shows a paper sheet"
        return
    assert len(phones) >= 1, f"{scenario_id}: no phone found at {t} s"
    zone = next(z for z in scenario.zones if z.id == zone_id)
    h, w = image.shape[:2]
    centres = [((b[0] + b[2]) / 2 / w, (b[1] + b[3]) / 2 / h) for b in phones]
    assert any(_inside(c, zone.polygon) for c in centres), f"{scenario_id}: phone at {centres}, not in {zone_id}"
