"""The real-footage set: labels read by eye, and truth derived from them by a script."""

import numpy as np
import pytest
import yaml

from devkit.scenarios.media import media_path
from devkit.scenarios.real import HERE, Clip, ClipSpec, ZoneSpec, clip_ids, load_clip


def test_every_clip_has_labels_at_every_step_inside_the_frame():
    assert clip_ids() == ["vtest"]
    for clip_id in clip_ids():
        clip = load_clip(clip_id)
        w, h = clip.frame_wh
        expected = np.arange(len(clip.times)) * clip.step_s
        assert np.allclose(clip.times, expected), "a labelled time is missing"
        for pts in clip.points.values():
            assert all(0 <= x <= w and 0 <= y <= h for x, y, _amb in pts)
        zones = {z.id for z in clip.spec.zones}
        assert {r["zone"] for r in clip.spec.rules} <= zones
        assert clip.zones()  # valid relative ZoneConfigs


def test_the_footage_is_the_labelled_one():
    import hashlib

    clip = load_clip("vtest")
    assert hashlib.sha256(media_path(clip.video).read_bytes()).hexdigest() == clip.spec.sha256


def toy(points: dict[float, list], rules: list[dict]) -> Clip:
    spec = ClipSpec(id="toy", title="toy", video="opencv:vtest.avi", sha256="0",
                    zones=[ZoneSpec(id="z", polygon=[(100, 100), (200, 100), (200, 200), (100, 200)])], rules=rules)
    return Clip(spec, (768, 576), 0.5, {t: [(x, y, len(p) > 2) for p in pts for x, y in [p[:2]]]
                                        for t, pts in points.items()})


def test_counts_are_a_range_where_points_are_ambiguous_or_on_the_edge():
    clip = toy({0.0: [[150, 150], [150, 150, "?"], [203, 150], [300, 300]]}, [])
    low, high = clip.counts("z")
    assert (low.tolist(), high.tolist()) == ([1], [3])  # sure inside; "?" and 3 px outside the edge may be in


def test_truth_certain_and_optional_incidents():
    inside, edge = [150, 150], [150, 150, "?"]
    # empty 0-6 s (certain for a 4 s rule), someone 6.5-7 s, empty 7.5-10 with an ambiguous point at 9 s
    points = {t / 2: ([inside] if 13 <= t <= 14 else [edge] if t == 18 else []) for t in range(21)}
    clip = toy(points, [{"type": "zone_unattended", "zone": "z", "seconds": 4}])
    truth = [(t.start, t.end, t.certain) for t in clip.truth()]
    # 7.5-10.5 is 3 s: too short for certain; the "?" at 9 s may even end it: optional (>= seconds - 1)
    assert truth == [(0.0, 6.5, True), (7.5, 10.5, False)]


def test_labels_file_is_plain_yaml_with_its_provenance():
    text = (HERE / "vtest.labels.yaml").read_text()
    assert "read by eye" in text and "No detector" in text
    assert len(yaml.safe_load(text)["points"]) == 159


@pytest.mark.parametrize("clip_id", ["vtest"])
def test_truth_has_incidents_of_both_rules(clip_id):
    truth = load_clip(clip_id).truth()
    rules = {t.rule for t in truth if t.certain}
    assert rules == {"zone_unattended", "waiting_over_limit"}
