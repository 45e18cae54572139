"""The zone-unattended rule on hand-made presence sequences, where the right answer is known."""

import numpy as np
import supervision as sv

from analytics import Observation, ZoneUnattendedConfig
from analytics.rules.unattended import ZoneUnattendedRule

FPS = 5.0


def run(sequence, seconds=2.0, inertia=2):
    """sequence: people in the zone per frame at FPS. Returns (kind, started, ended, raised) tuples."""
    rule = ZoneUnattendedRule(ZoneUnattendedConfig(type="zone_unattended", zone="z", seconds=seconds,
                                                   inertia=inertia), fps=FPS)
    out = []
    t = 0.0
    for i, n in enumerate(sequence):
        t = i / FPS
        det = (sv.Detections(xyxy=np.tile([0.0, 0.0, 1.0, 1.0], (n, 1)), tracker_id=np.arange(n) + 7)
               if n else sv.Detections.empty())
        for e in rule.update(Observation("cam", t, (10, 10), det, {"z": np.ones(n, dtype=bool)})):
            out.append((e.kind, e.incident.started_at, e.incident.ended_at, e.incident.raised_at, e.incident))
    for e in rule.flush(t):
        out.append((e.kind, e.incident.started_at, e.incident.ended_at, e.incident.raised_at, e.incident))
    return out


def test_fires_after_threshold_and_ends_on_return():
    seq = [1] * 5 + [0] * 15 + [1] * 5  # present 1 s, empty 3 s (frames 5..19), back at frame 20
    events = run(seq)
    assert [e[0] for e in events] == ["opened", "closed"]
    opened, closed = events
    assert opened[1] == 1.0  # started when the zone was first seen empty
    assert opened[3] == 3.0  # raised exactly at start + 2 s
    assert closed[2] == 4.0  # ended at the first frame of the confirmed return
    inc = closed[4]
    assert inc.track_ids == [7]  # the person who left is the evidence
    assert inc.measures["empty_s"] == 3.0
    assert inc.confidence == 1.0


def test_short_absence_does_not_fire():
    events = run([1] * 5 + [0] * 9 + [1] * 5)  # 1.8 s empty < 2 s
    assert events == []


def test_single_spurious_box_does_not_reset_the_timer():
    # Empty for 3 s but a one-frame false positive at 1 s into it: inertia=2 ignores it.
    seq = [1] * 5 + [0] * 5 + [1] + [0] * 9 + [1] * 5
    events = run(seq)
    assert [e[0] for e in events] == ["opened", "closed"]
    assert events[0][1] == 1.0


def test_single_spurious_box_does_not_end_an_incident():
    seq = [1] * 5 + [0] * 15 + [1] + [0] * 5 + [1] * 3
    events = run(seq)
    assert [e[0] for e in events] == ["opened", "closed"]
    assert events[1][2] == 5.2  # not 4.0, where the lone box was


def test_missed_detection_during_presence_is_not_an_absence():
    seq = ([1] * 4 + [0]) * 10  # a miss every fifth frame (0.2 s), never 2 s
    assert run(seq) == []


def test_empty_from_the_start_fires_and_flush_closes():
    events = run([0] * 20)
    assert [e[0] for e in events] == ["opened", "closed"]
    assert events[0][1] == 0.0 and events[0][3] == 2.0
    assert events[1][4].measures["closed_by_end_of_observation"] == 1.0


def test_confidence_drops_when_frames_are_missing():
    rule = ZoneUnattendedRule(ZoneUnattendedConfig(type="zone_unattended", zone="z", seconds=2.0), fps=FPS)
    empty = sv.Detections.empty()
    events = []
    for t in (0.0, 1.0, 2.0):  # 3 frames analysed over 2 s where 10 were expected
        events += rule.update(Observation("cam", t, (10, 10), empty, {"z": np.zeros(0, dtype=bool)}))
    assert events[0].incident.confidence == 0.3
