"""Exam-room rules on a synthetic room: three seats in a row (s1 x 100..300, s2 350..550, s3 600..800, all
y 400..700), the whole frame a room zone, an aisle (patrol zone) at y 750..900, seated candidates with boxes
inside their seats, an examiner who walks the aisle (feet at y 780 or 850) or past the seats close to the desks
(feet at y 720, outside the aisle). Frames at 5 fps."""

import math

import numpy as np
import pytest

from analytics.config import SeatingConfig
from analytics.geometry import EAR_K
from analytics.rule_config import (
    ExamCandidateAbsentConfig,
    ExamHeadTurnedConfig,
    ExamNoExaminerConfig,
    ExamPhoneConfig,
    ExamSeatCrowdedConfig,
)
from analytics.rules.exam import (
    ExamCandidateAbsentRule,
    ExamHeadTurnedRule,
    ExamNoExaminerRule,
    ExamPhoneRule,
    ExamSeatCrowdedRule,
)
from analytics.scene import Scene

SEATED = {"s1": [150, 450, 250, 650], "s2": [400, 450, 500, 650], "s3": [650, 450, 750, 650]}
TID = {"s1": 1, "s2": 2, "s3": 3}


@pytest.fixture
def room(kit):
    s = kit.Scene().zone("room", "room", 0.0, 0.0, 1.0, 1.0).zone("aisle", "patrol", 0.0, 0.75, 1.0, 0.9)
    for name, x0 in (("s1", 0.1), ("s2", 0.35), ("s3", 0.6)):
        s.zone(name, "seat", x0, 0.4, x0 + 0.2, 0.7)
    return s


def seated(kit, *seats, kp=None):
    return [kit.person(SEATED[s], TID[s], kp if s == "s2" else None) for s in seats]


def frames(seconds, objs_at, start=0.0):
    return [(round(start + i / 5, 6), objs_at(round(start + i / 5, 6))) for i in range(int(round(seconds * 5)))]


def test_phone_at_seat_needs_frames_and_time(kit, room):
    cfg = ExamPhoneConfig(type="exam_phone", seconds=1.0, min_frames=3)
    # A phone (centre in s1) from 2.0 s to 4.0 s, seen in 2 of every 3 frames.
    def objs(t):
        i = round(t * 5)
        ph = [kit.phone([190, 500, 210, 530], conf=0.7)] if 2.0 <= t < 4.0 and i % 3 else []
        return seated(kit, "s1", "s2") + ph
    events = room.run(ExamPhoneRule(cfg, 5, room.zones), frames(8, objs))
    # first seen at 2.0; 3.0 (frame 15) is a miss, so raised at 3.2; last seen 3.8, so it ends at 4.0
    assert kit.summary(events) == [("opened", "exam_phone", "s1", 2.0, 3.2, None),
                                   ("closed", "exam_phone", "s1", 2.0, 3.2, 4.0)]
    inc = events[0].incident
    # 5 frames seen (10, 11, 13, 14, 16) of the 6 expected in 1.2 s, at detection confidence 0.7
    assert inc.track_ids == [1] and inc.confidence == round(0.7 * 5 / 6, 3)
    # One false phone box for a single frame is nothing.
    one = lambda t: seated(kit, "s1") + ([kit.phone([190, 500, 210, 530])] if t == 2.0 else [])  # noqa: E731
    assert room.run(ExamPhoneRule(cfg, 5, room.zones), frames(8, one)) == []


def test_phone_held_on_a_candidate_outside_the_seat_polygon(kit, room):
    leaning = kit.person([700, 450, 820, 650], 3)  # 100 of its 120 px width in s3
    ph = kit.phone([805, 500, 815, 520])  # centre x 810: outside s3 (..800), wholly on the candidate
    events = room.run(ExamPhoneRule(ExamPhoneConfig(type="exam_phone"), 5, room.zones),
                      frames(3, lambda t: [leaning, ph]))
    assert [(e.kind, e.incident.zone_id) for e in events] == [("opened", "s3"), ("closed", "s3")]
    assert events[1].incident.measures["closed_by_end_of_observation"] == 1.0


def test_crowded_seat_but_not_an_examiner_walking_past(kit, room):
    cfg = ExamSeatCrowdedConfig(type="exam_seat_crowded", seconds=10)

    def passing(t):  # the examiner walks along the front of the seats at 200 px/s, feet at y 720
        x = 50 + 200 * t
        return seated(kit, "s1", "s2", "s3") + [kit.standing_at(x, 720, 9, w=50, h=140)]
    assert room.run(ExamSeatCrowdedRule(cfg, 5, room.zones), frames(5, passing)) == []

    def helper(t):  # someone stands at s2 from 5 s to 17 s
        return seated(kit, "s2") + ([kit.standing_at(480, 720, 8, w=50, h=140)] if 5 <= t < 17 else [])
    events = room.run(ExamSeatCrowdedRule(cfg, 5, room.zones), frames(20, helper))
    assert kit.summary(events) == [("opened", "exam_seat_crowded", "s2", 5.0, 15.0, None),
                                   ("closed", "exam_seat_crowded", "s2", 5.0, 15.0, 17.0)]
    assert events[1].incident.measures["people"] == 2.0 and events[1].incident.track_ids == [2, 8]


def test_candidate_absent_exact_times_and_look_alikes(kit, room):
    cfg = ExamCandidateAbsentConfig(type="exam_candidate_absent", seconds=30, occupied_s=10)
    away = lambda t: seated(kit, "s2") + (seated(kit, "s1") if t < 20 or t >= 60 else [])  # noqa: E731
    events = room.run(ExamCandidateAbsentRule(cfg, 5, room.zones), frames(70, away))
    assert kit.summary(events) == [("opened", "exam_candidate_absent", "s1", 20.0, 50.0, None),
                                   ("closed", "exam_candidate_absent", "s1", 20.0, 50.0, 60.0)]
    assert events[1].incident.measures["absent_s"] == 40.0 and events[0].incident.track_ids == [1]
    # A 20 s absence, a seat never sat in (s3), and a candidate missed by the detector every third frame.
    short = lambda t: seated(kit, "s1") if t < 20 or t >= 40 else []  # noqa: E731
    assert room.run(ExamCandidateAbsentRule(cfg, 5, room.zones), frames(70, short)) == []
    flicker = lambda t: seated(kit, "s1") if round(t * 5) % 3 else []  # noqa: E731
    assert room.run(ExamCandidateAbsentRule(cfg, 5, room.zones), frames(120, flicker)) == []
    # The track id changing (re-identification after an occlusion) changes nothing: seats are counted.
    switch = lambda t: [kit.person(SEATED["s1"], 1 if t < 30 else 5)]  # noqa: E731
    assert room.run(ExamCandidateAbsentRule(cfg, 5, room.zones), frames(70, switch)) == []


def test_examiner_patrolling_the_aisle_does_not_fill_an_empty_seat(kit, room):
    """Measured on the rendered scenario exam-candidate-leaves-seat12: the patrolling examiner's upper body
    overlapped the empty seat for 2-3 s every 10 s and broke the absence. Feet in the aisle: passing by."""
    cfg = ExamCandidateAbsentConfig(type="exam_candidate_absent", seconds=15, occupied_s=5)

    def scene_at(t):
        objs = seated(kit, "s2") + (seated(kit, "s1") if t < 10 else [])
        if 4 <= t % 10 < 7:  # 3 s over s1 every 10 s: box 640..780 is 43 % inside the seat
            objs.append(kit.standing_at(200, 780, 9, w=50, h=140))
        return objs
    events = room.run(ExamCandidateAbsentRule(cfg, 5, room.zones), frames(40, scene_at))
    assert kit.summary(events)[0] == ("opened", "exam_candidate_absent", "s1", 10.0, 25.0, None)
    no_walkway = Scene(room.zones, 5, SeatingConfig(walkways=[]))  # the camera's seating, not the rule's
    assert room.run(ExamCandidateAbsentRule(cfg, 5, room.zones, no_walkway), frames(40, scene_at)) == []


def test_finished_candidate_released_by_an_event(kit, room):
    cfg = ExamCandidateAbsentConfig(type="exam_candidate_absent", seconds=30, occupied_s=10)
    done = lambda t: seated(kit, "s1") if t < 20 else []  # noqa: E731
    release = [kit.ExternalEvent(25.0, "exam_end", "*")]
    assert room.run(ExamCandidateAbsentRule(cfg, 5, room.zones), frames(90, done), release) == []
    # Released after the alert: the incident ends at the release.
    late = [kit.ExternalEvent(70.0, "seat_released", "s1")]
    events = room.run(ExamCandidateAbsentRule(cfg, 5, room.zones), frames(90, done), late)
    assert kit.summary(events)[-1] == ("closed", "exam_candidate_absent", "s1", 20.0, 50.0, 70.0)
    assert events[-1].incident.measures["released"] == 1.0


def face(yaw_deg):
    """Keypoints of the s2 candidate: ears 30 px apart around x 450, the nose turned by yaw_deg."""
    kp = np.zeros((17, 3))
    kp[[0, 3, 4], 2] = 0.9
    kp[3, :2], kp[4, :2] = (435, 470), (465, 470)
    kp[0, :2] = (450 + EAR_K * 30 * math.tan(math.radians(yaw_deg)), 480)
    return kp


def test_head_turned_toward_an_occupied_neighbour(kit, room):
    cfg = ExamHeadTurnedConfig(type="exam_head_turned", seconds=3, min_yaw_deg=35)
    # Facing front, then turned 50° toward image right (s3, occupied) from 2 s to 7 s.
    looks = lambda t: seated(kit, "s1", "s2", "s3", kp=face(50 if 2 <= t < 7 else 0))  # noqa: E731
    events = room.run(ExamHeadTurnedRule(cfg, 5, room.zones), frames(10, looks))
    assert kit.summary(events) == [("opened", "exam_head_turned", "s2", 2.0, 5.0, None),
                                   ("closed", "exam_head_turned", "s2", 2.0, 5.0, 7.0)]
    m = events[1].incident.measures
    assert m["yaw_deg"] == pytest.approx(50.0, abs=0.1) and m["direction"] == 1.0
    # Toward an empty seat, or turned less than the threshold (30°), or a 2 s glance: nothing.
    empty_right = lambda t: seated(kit, "s1", "s2", kp=face(50))  # noqa: E731
    slight = lambda t: seated(kit, "s1", "s2", "s3", kp=face(30))  # noqa: E731
    glance = lambda t: seated(kit, "s1", "s2", "s3", kp=face(-60 if 2 <= t < 4 else 0))  # noqa: E731
    for scene_at in (empty_right, slight, glance):
        assert room.run(ExamHeadTurnedRule(cfg, 5, room.zones), frames(10, scene_at)) == []
    # Toward image left (s1, occupied) counts the same way, with direction -1; no keypoints: no judgement.
    left = lambda t: seated(kit, "s1", "s2", kp=face(-50))  # noqa: E731
    events = room.run(ExamHeadTurnedRule(cfg, 5, room.zones), frames(5, left))
    assert events[0].incident.measures["direction"] == -1.0
    assert room.run(ExamHeadTurnedRule(cfg, 5, room.zones), frames(10, lambda t: seated(kit, "s1", "s2"))) == []


def test_head_turn_survives_an_examiner_passing_in_front(kit, room):
    """Measured on the rendered scenario exam-head-turned-right: the patrolling examiner passed between camera
    and the turned candidate for ~1.5 s, the pose model read the examiner's frontal face (yaw ~ -10°) and
    the turn restarted. A candidate covered by someone in the aisle gives no reading, for up to 2 s."""
    cfg = ExamHeadTurnedConfig(type="exam_head_turned", seconds=5, min_yaw_deg=35)

    def scene_at(t, hidden=(4.0, 5.4)):
        covered = hidden[0] <= t < hidden[1]
        objs = seated(kit, "s1", "s2", "s3", kp=face(0 if covered or not 2 <= t < 9 else 50))
        if covered:  # feet in the aisle, the upper body in front of s2's candidate (54 % of the box)
            objs.append(kit.standing_at(450, 800, 9, w=60, h=330))
        return objs
    events = room.run(ExamHeadTurnedRule(cfg, 5, room.zones), frames(12, scene_at))
    assert kit.summary(events) == [("opened", "exam_head_turned", "s2", 2.0, 7.0, None),
                                   ("closed", "exam_head_turned", "s2", 2.0, 7.0, 9.0)]
    # Without the hold the 1.4 s of frontal readings break the run, and 9 - 5.4 s is under the threshold.
    strict = cfg.model_copy(update={"unknown_hold_s": 0.0})
    assert room.run(ExamHeadTurnedRule(strict, 5, room.zones), frames(12, scene_at)) == []
    # Hidden for 4 s: after 2 s without a reading the run breaks, so no 5 s turn is seen.
    long_hide = lambda t: scene_at(t, hidden=(3.0, 7.0))  # noqa: E731
    assert room.run(ExamHeadTurnedRule(cfg, 5, room.zones), frames(12, long_hide)) == []


def test_a_turn_dipping_just_under_the_threshold_holds_by_hysteresis(kit, room):
    """Measured on a render of exam-head-turned-right: one turn read 39-48°, then 35-38° for a second while the
    examiner passed behind, some frames under 35°. The candidate's resting face reads 21-26°."""
    cfg = ExamHeadTurnedConfig(type="exam_head_turned", seconds=5, min_yaw_deg=35)
    yaws = {2: 45, 3: 45, 4: 32, 5: 33, 6: 44, 7: 44, 8: 0}  # second -> yaw from then on

    def scene_at(t):
        yaw = next(v for k, v in sorted(yaws.items(), reverse=True) if t >= k) if t >= 2 else 22
        return seated(kit, "s1", "s2", "s3", kp=face(yaw))
    events = room.run(ExamHeadTurnedRule(cfg, 5, room.zones), frames(10, scene_at))
    assert kit.summary(events) == [("opened", "exam_head_turned", "s2", 2.0, 7.0, None),
                                   ("closed", "exam_head_turned", "s2", 2.0, 7.0, 8.0)]
    strict = cfg.model_copy(update={"yaw_hysteresis_deg": 0.0})  # the dip breaks it: 2 s + 2 s, no 5 s turn
    assert room.run(ExamHeadTurnedRule(strict, 5, room.zones), frames(10, scene_at)) == []
    # A turn never reaching 35° does not start, however long it stays at 32°.
    low = lambda t: seated(kit, "s1", "s2", "s3", kp=face(32))  # noqa: E731
    assert room.run(ExamHeadTurnedRule(cfg, 5, room.zones), frames(10, low)) == []


def test_no_examiner(kit, room):
    cfg = ExamNoExaminerConfig(type="exam_no_examiner", seconds=120)

    def scene_at(t):
        objs = seated(kit, "s1", "s2", "s3")  # candidates never count as examiners
        if t < 30 or t >= 170:
            objs.append(kit.standing_at(100 + (t * 50) % 800, 850, 9))  # patrolling the aisle
        return objs
    events = room.run(ExamNoExaminerRule(cfg, 5, room.zones), frames(180, scene_at))
    assert kit.summary(events) == [("opened", "exam_no_examiner", "room", 30.0, 150.0, None),
                                   ("closed", "exam_no_examiner", "room", 30.0, 150.0, 170.0)]
    assert events[0].incident.track_ids == [9]  # the examiner last seen
    # An examiner bent over a candidate's desk is the seat's second person: still an examiner.
    helping = lambda t: seated(kit, "s2") + [kit.standing_at(480, 720, 8, w=50, h=140)]  # noqa: E731
    assert room.run(ExamNoExaminerRule(cfg, 5, room.zones), frames(150, helping)) == []


def test_exam_rules_need_seat_zones(kit):
    bare = kit.Scene().zone("room", "room", 0, 0, 1, 1)
    with pytest.raises(ValueError, match="needs zones of kind seat"):
        ExamPhoneRule(ExamPhoneConfig(type="exam_phone"), 5, bare.zones)
    with pytest.raises(ValueError, match="unknown zone"):
        ExamPhoneRule(ExamPhoneConfig(type="exam_phone", seats=["nope"]), 5, bare.zones)
