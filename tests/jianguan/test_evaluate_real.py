"""`jianguan evaluate --real`: the rules on real footage with the product's default detector, against people's
positions read by eye (devkit/scenarios/real). This is the real-footage gate: every rule at precision and recall of
at least 0.9 on the original and on each degraded copy taken together, and the zone counts right most of the
time. It runs the detector over five copies of vtest.avi (about 4 minutes on 2 cores)."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics import YoloConfig
from analytics.config import TrackingConfig
from devkit.scenarios.real import load_clip
from jianguan.evaluate_real import VARIANTS, evaluate_real, record, replay

pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    work = tmp_path_factory.mktemp("real")
    res = evaluate_real(work, [YoloConfig(name="pose")], say=print)
    print(res.table())
    return res, work


def test_every_rule_meets_the_floors_on_real_footage(result) -> None:
    res, _ = result
    assert {c.variant for c in res.copies} == set(VARIANTS)
    for rule, s in res.scores.items():
        assert s.precision >= 0.9 and s.recall >= 0.9, f"{rule}: P {s.precision:.2f} R {s.recall:.2f}"
    original = next(c for c in res.copies if c.variant == "original")
    assert original.count_exact >= 0.8  # full frame at 640 gets 0.13 here
    for copy in res.copies:
        assert copy.count_samples > 100


def test_replay_gives_the_same_outcome_without_the_detector(result) -> None:
    res, work = result
    clip = load_clip("vtest")
    original = next(c for c in res.copies if c.variant == "original")
    rec = record(clip, "original", [YoloConfig(name="pose")], TrackingConfig(), Path(work))  # cached
    again = replay(clip, "original", rec, TrackingConfig())
    assert again.found == original.found and again.count_exact == original.count_exact
