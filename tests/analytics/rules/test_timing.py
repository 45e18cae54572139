"""The shared timing machinery: Held, Episode, ActiveHours, and the doctests of the rule modules."""

import doctest
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import supervision as sv

import analytics.rules.base
import analytics.rules.common
import analytics.rules.timing
import analytics.rules.unattended
from analytics import Observation, ZoneUnattendedConfig
from analytics.rules.timing import ActiveHours, Episode, Held
from analytics.rules.unattended import ZoneUnattendedRule


@pytest.mark.parametrize("module", [analytics.rules.timing, analytics.rules.common, analytics.rules.unattended,
                                    analytics.rules.base])
def test_doctests(module):
    assert doctest.testmod(module).failed == 0


def run_held(h, seq, fps=5.0):
    return [(round(i / fps, 3), r) for i, on in enumerate(seq) if (r := h.update(i / fps, bool(on)))]


def test_held_raises_exactly_at_threshold_and_ends_at_first_false_frame():
    h = Held(seconds=1.0, inertia=3)
    got = run_held(h, [0, 0] + [1] * 10 + [0] * 3)
    assert got == [(1.4, "opened"), (2.8, "closed")]  # run 0.4..2.4 (last true), ends at 2.4; raised 0.4 + 1.0
    assert h.ended_at == 2.4


def test_held_bridges_short_gaps_but_not_long_ones():
    assert run_held(Held(1.0, inertia=3), [1, 1, 0, 0, 1, 1, 1]) == [(1.0, "opened")]  # 2-frame gap bridged
    # decided at the second false frame (0.6); the new run from 0.8 is only 0.6 s long at the end
    assert run_held(Held(1.0, inertia=2), [1, 1, 0, 0, 1, 1, 1, 1]) == [(0.6, "ended")]


def test_held_needs_min_frames():
    # Seen at 0.0 and 1.0 only (a stalled stream): 1 s passed but only 2 frames; min_frames=3 waits for a third.
    h = Held(1.0, inertia=10, min_frames=3)
    assert h.update(0.0, True) is None and h.update(1.0, True) is None
    assert h.update(1.2, True) == "opened"


def test_episode_evidence_measures_and_confidence():
    ep = Episode("r", "z", "major", seconds=1.0, inertia=2, fps=5.0, duration_key="x_s")
    box = [1, 2, 3, 4]
    events = []
    events += ep.update(0.0, False, [(9, box)])  # who was there just before: joins the run as evidence
    for i in range(1, 8):
        t = i / 5
        on = i != 3  # one missed frame inside the run
        events += ep.update(t, on, [(5, box)] if on else [], {"count": float(i)})
    assert [e.kind for e in events] == ["opened"]
    inc = events[0].incident
    assert (inc.started_at, inc.raised_at) == (0.2, 1.2)
    assert inc.track_ids == [9, 5]
    assert inc.measures["x_s"] == 1.0 and inc.measures["threshold_s"] == 1.0
    assert inc.measures["count"] == 7.0  # the live incident keeps its peak up to date (frame 7)
    # 5 true frames over 1.0 s where 5 were expected at 5 fps -> 1.0
    assert inc.confidence == 1.0
    closed = ep.update(1.6, False) + ep.update(1.8, False)
    assert closed[0].incident.ended_at == 1.6 and inc.measures["x_s"] == 1.4


def test_active_hours_local_time():
    tz = ZoneInfo("Asia/Shanghai")
    h = ActiveHours(["08:30-12:00", "13:30-17:30"], "Asia/Shanghai")
    at = lambda hh, mm: datetime(2024, 5, 6, hh, mm, tzinfo=tz).timestamp()  # noqa: E731
    assert [h.contains(at(*x)) for x in ((8, 29), (8, 30), (11, 59), (12, 0), (13, 30), (17, 30))] == [
        False, True, True, False, True, False]
    utc = ActiveHours(["08:30-12:00"], "UTC")
    assert not utc.contains(at(8, 30))  # 08:30 in Shanghai is 00:30 UTC


def test_zone_unattended_counts_only_inside_hours():
    tz = ZoneInfo("Asia/Shanghai")
    open_at = datetime(2024, 5, 6, 8, 30, tzinfo=tz).timestamp()
    cfg = ZoneUnattendedConfig(type="zone_unattended", zone="z", seconds=60, inertia=2,
                               active_hours=["08:30-12:00"], timezone="Asia/Shanghai")
    rule = ZoneUnattendedRule(cfg, fps=1)
    empty = sv.Detections.empty()
    events = []
    # The desk is empty from 08:00; the timer starts at opening (08:30) and the alert is raised at 08:31.
    for t in range(int(open_at) - 1800, int(open_at) + 120):
        events += rule.update(Observation("cam", float(t), (10, 10), empty, {"z": np.zeros(0, dtype=bool)}))
    assert [(e.kind, e.incident.started_at - open_at, e.incident.raised_at - open_at) for e in events] == [
        ("opened", 0.0, 60.0)]
    # Closing time ends the incident at the first frame after hours.
    close_at = open_at + 3.5 * 3600
    events = []
    for t in (close_at - 1, close_at, close_at + 1):
        events += rule.update(Observation("cam", t, (10, 10), empty, {"z": np.zeros(0, dtype=bool)}))
    assert [(e.kind, e.incident.ended_at - close_at) for e in events] == [("closed", 0.0)]
    assert events[0].incident.measures["closed_by_hours"] == 1.0
