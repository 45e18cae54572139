"""The scenario library: violations of every rule and the look-alike normal behaviour that must not alert.

Scenes share one real background (the empty campus of Debian's vtest.avi) and a few real people cut out of
real photos (`devkit.scenarios.sprites.CATALOGUE`). Positions are where feet stand, relative to the 768x576 frame.
Ground truth is the author's reading of the script: "the clerk walks out at 10 s and is back at 52 s".
"""

from __future__ import annotations

from devkit.scenarios.spec import Actor, ExternalEventSpec, Prop, Scenario, Segment, Truth

# -- small script helpers ---------------------------------------------------------------------------------


def stand(sprite: str, t0: float, t1: float, at: tuple[float, float], height: float, flip: bool = False) -> Segment:
    return Segment(t0=t0, t1=t1, sprite=sprite, start=at, height=height, flip=flip)


def walk(sprite: str, t0: float, t1: float, a: tuple[float, float], b: tuple[float, float], height: float,
         flip: bool = False) -> Segment:
    return Segment(t0=t0, t1=t1, sprite=sprite, start=a, end=b, height=height, flip=flip)


def rect(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


# -- service windows ---------------------------------------------------------------------------------------
# The clerk stands in the staff area (left); customers queue in the waiting area (right).

WINDOW_ZONES = [
    {"id": "staff", "kind": "staff", "polygon": rect(0.05, 0.55, 0.40, 0.82)},
    {"id": "waiting", "kind": "waiting", "polygon": rect(0.50, 0.55, 0.98, 0.98)},
]
CLERK_AT = (0.22, 0.72)
OUT_LEFT = (-0.20, 0.72)
PERSON_H = 0.36
UNATTENDED_S = 20.0


def _unattended_rule() -> dict:
    return {"type": "zone_unattended", "zone": "staff", "seconds": UNATTENDED_S, "inertia": 3}


def _clerk(sprite: str, away: list[tuple[float, float]], duration: float, flip: bool = False) -> Actor:
    """A clerk who walks out (1.5 s) at each `away` start and walks back (1.5 s) at its end."""
    segs: list[Segment] = []
    t = 0.0
    for leave, back in away:
        segs.append(stand(sprite, t, leave, CLERK_AT, PERSON_H, flip))
        segs.append(walk(sprite, leave, leave + 1.5, CLERK_AT, OUT_LEFT, PERSON_H, flip))
        if back >= duration:
            return Actor(id="clerk", role="staff", segments=segs)
        segs.append(walk(sprite, back, back + 1.5, OUT_LEFT, CLERK_AT, PERSON_H, flip))
        t = back + 1.5
    segs.append(stand(sprite, t, duration, CLERK_AT, PERSON_H, flip))
    return Actor(id="clerk", role="staff", segments=segs)


def _window(id_: str, title: str, actors: list[Actor], duration: float, truth: list[Truth],
            rules: list[dict] | None = None) -> Scenario:
    return Scenario(id=id_, title=title, scene="window", kind="violation" if truth else "normal",
                    duration_s=duration, actors=actors, zones=WINDOW_ZONES, rules=rules or [_unattended_rule()],
                    truth=truth)


def window_scenarios() -> list[Scenario]:
    # The clerk's feet leave the staff area about 0.8 s into the walk out and are back 0.7 s into the walk in.
    out = [
        _window("window-clerk-away-35s", "Clerk leaves the window for 35 s", [_clerk("coat", [(8, 43)], 55)], 55,
                [Truth(rule="zone_unattended", zone="staff", start=8.8, end=43.7)]),
        _window("window-clerk-away-long-other", "Another clerk leaves for 30 s",
                [_clerk("black", [(6, 36)], 48, flip=True)], 48,
                [Truth(rule="zone_unattended", zone="staff", start=6.8, end=36.7)]),
        _window("window-clerk-leaves-for-good", "Clerk leaves and does not come back",
                [_clerk("player", [(10, 99)], 45)], 45,
                [Truth(rule="zone_unattended", zone="staff", start=10.8, end=45)]),
        _window("window-clerk-away-twice", "Clerk is away twice, 25 s each",
                [_clerk("coat", [(5, 30), (40, 65)], 75, flip=True)], 75,
                [Truth(rule="zone_unattended", zone="staff", start=5.8, end=30.7),
                 Truth(rule="zone_unattended", zone="staff", start=40.8, end=65.7)]),
        _window("window-clerk-steps-away-12s", "Clerk steps away for 12 s (below the 20 s limit)",
                [_clerk("coat", [(10, 22)], 40)], 40, []),
        _window("window-clerk-steps-away-16s", "Clerk steps away for 16 s (below the 20 s limit)",
                [_clerk("black", [(8, 24)], 40)], 40, []),
        _window("window-clerk-stays", "Clerk stays; customers come and go in the waiting area",
                [_clerk("player", [], 40),
                 Actor(id="c1", role="customer", segments=[walk("coat", 2, 12, (1.1, 0.9), (0.7, 0.85), PERSON_H),
                                                           stand("coat", 12, 30, (0.7, 0.85), PERSON_H),
                                                           walk("coat", 30, 38, (0.7, 0.85), (1.1, 0.9), PERSON_H)])],
                40, []),
        _window("window-clerk-handover", "One clerk hands over to another without leaving the window empty",
                [Actor(id="a", role="staff", segments=[stand("coat", 0, 15, CLERK_AT, PERSON_H),
                                                        walk("coat", 15, 17, CLERK_AT, OUT_LEFT, PERSON_H)]),
                 Actor(id="b", role="staff", segments=[walk("black", 12, 14, OUT_LEFT, (0.3, 0.75), PERSON_H),
                                                        stand("black", 14, 45, (0.3, 0.75), PERSON_H)])],
                45, []),
    ]
    return out


# -- waiting area over its limit ---------------------------------------------------------------------------

WAIT_LIMIT = 3
WAIT_SECONDS = 10.0
QUEUE_SPOTS = [(0.58, 0.70), (0.72, 0.66), (0.86, 0.70), (0.64, 0.90), (0.80, 0.92), (0.93, 0.88)]
SPRITES = ["coat", "black", "player", "coat", "black", "player"]


def _customers(arrive_leave: list[tuple[float, float]]) -> list[Actor]:
    actors = []
    for i, (arrive, leave) in enumerate(arrive_leave):
        spot = QUEUE_SPOTS[i]
        enter = (1.15, spot[1])
        flip = bool(i % 2)
        actors.append(Actor(id=f"customer{i}", role="customer", segments=[
            walk(SPRITES[i], arrive, arrive + 2, enter, spot, PERSON_H, flip),
            stand(SPRITES[i], arrive + 2, leave, spot, PERSON_H, flip),
            walk(SPRITES[i], leave, leave + 2, spot, enter, PERSON_H, flip)]))
    return actors


def waiting_scenarios() -> list[Scenario]:
    rules = [{"type": "waiting_over_limit", "zone": "waiting", "limit": WAIT_LIMIT, "seconds": WAIT_SECONDS,
              "inertia": 3}]
    clerk = _clerk("player", [], 1)  # replaced per scenario below
    del clerk

    def scenario(id_: str, title: str, times: list[tuple[float, float]], duration: float,
                 truth: list[Truth]) -> Scenario:
        actors = [Actor(id="clerk", role="staff", segments=[stand("suit", 0, duration, CLERK_AT, 0.22)]),
                  *_customers(times)]
        return _window(id_, title, actors, duration, truth, rules)

    # The count goes above the limit when the 4th person's feet enter the waiting area (~1 s into the walk).
    return [
        scenario("waiting-crowd-of-five", "Five people wait together for 25 s",
                 [(2, 40), (3, 40), (4, 40), (6, 38), (8, 36)], 45,
                 [Truth(rule="waiting_over_limit", zone="waiting", start=7.5, end=37.5)]),
        scenario("waiting-four-for-long", "Four people wait for 30 s",
                 [(1, 42), (2, 42), (3, 42), (5, 37)], 45,
                 [Truth(rule="waiting_over_limit", zone="waiting", start=6.5, end=38.5)]),
        scenario("waiting-at-the-limit", "Three people wait for 35 s: at the limit, not above it",
                 [(2, 40), (3, 40), (4, 40)], 45, []),
        scenario("waiting-brief-crowd", "A fourth and fifth person pass for 6 s",
                 [(2, 40), (3, 40), (4, 40), (15, 21), (16, 22)], 45, []),
    ]


# -- exam room ---------------------------------------------------------------------------------------------
# Six seats in two rows behind desks; the examiner patrols the aisle between the rows.

SEAT_H = 0.22
SEATS = {f"seat{r}{c}": (x, y) for r, y in ((1, 0.50), (2, 0.90)) for c, x in ((1, 0.18), (2, 0.50), (3, 0.82))}
AISLE = rect(0.0, 0.55, 1.0, 0.74)
EXAMINER_H = 0.30


def _seat_zone(seat: str) -> dict:
    x, y = SEATS[seat]
    return {"id": seat, "kind": "seat", "polygon": rect(x - 0.12, y - 0.26, x + 0.12, y + 0.03)}


EXAM_ZONES = [_seat_zone(s) for s in SEATS] + [{"id": "aisle", "kind": "patrol", "polygon": AISLE}]
CANDIDATE_SPRITES = {"seat11": "suit", "seat12": "coat:upper", "seat13": "black:upper", "seat21": "player:upper",
                     "seat22": "suit", "seat23": "coat:upper"}


def _desks() -> list[Prop]:
    props = []
    for x, y in SEATS.values():
        top = y - SEAT_H * 0.30
        props.append(Prop(box=(x - 0.10, top, x + 0.10, y + 0.02), color=(70, 100, 140)))
    return props


def _candidates(overrides: dict[str, list[Segment]] | None = None, empty: tuple[str, ...] = ()) -> list[Actor]:
    actors = []
    for seat, (x, y) in SEATS.items():
        if seat in empty:
            continue
        segs = (overrides or {}).get(seat) or [stand(CANDIDATE_SPRITES[seat], 0, 600, (x, y), SEAT_H,
                                                     flip=seat.endswith("2"))]
        actors.append(Actor(id=f"candidate-{seat}", role="candidate", segments=segs))
    return actors


def _examiner(segs: list[Segment]) -> Actor:
    return Actor(id="examiner", role="examiner", segments=segs)


def _patrol(t0: float, t1: float, sprite: str = "black", y: float = 0.68) -> list[Segment]:
    """Walks the aisle left to right and back, 10 s each way."""
    segs, t, left = [], t0, True
    while t < t1:
        a, b = ((0.05, y), (0.95, y)) if left else ((0.95, y), (0.05, y))
        segs.append(walk(sprite, t, min(t + 10, t1), a, b, EXAMINER_H, flip=not left))
        t += 10
        left = not left
    return segs


def _exam(id_: str, title: str, rules: list[dict], actors: list[Actor], duration: float, truth: list[Truth],
          events: list[ExternalEventSpec] | None = None) -> Scenario:
    return Scenario(id=id_, title=title, scene="exam", kind="violation" if truth else "normal",
                    duration_s=duration, actors=actors, props=_desks(), zones=EXAM_ZONES, rules=rules,
                    events=events or [], truth=truth)


def _leave_seat(seat: str, leave: float, back: float | None, duration: float, walker: str = "coat") -> list[Segment]:
    """A candidate who stands up at `leave`, walks out along the aisle, and (if `back`) returns and sits."""
    x, y = SEATS[seat]
    sitting = CANDIDATE_SPRITES[seat]
    aisle = (x, 0.70)
    segs = [stand(sitting, 0, leave, (x, y), SEAT_H), walk(walker, leave, leave + 2.5, aisle, (1.15, 0.70), EXAMINER_H)]
    if back is not None and back < duration:
        segs += [walk(walker, back, back + 2.5, (1.15, 0.70), aisle, EXAMINER_H, flip=True),
                 stand(sitting, back + 2.5, duration, (x, y), SEAT_H)]
    return segs


def exam_scenarios() -> list[Scenario]:
    no_examiner = [{"type": "exam_no_examiner", "zones": ["aisle"], "seconds": 20.0, "inertia": 3}]
    absent = [{"type": "exam_candidate_absent", "seconds": 15.0, "occupied_s": 5.0, "inertia": 3}]
    crowded = [{"type": "exam_seat_crowded", "seconds": 8.0, "inertia": 3}]
    turned = [{"type": "exam_head_turned", "seconds": 6.0, "inertia": 3}]
    all_seated = _candidates()
    t = Truth
    out = [
        # -- no examiner in the room (20 s)
        _exam("exam-examiner-leaves-30s", "Examiner leaves the room for 30 s", no_examiner,
              [*all_seated, _examiner([*_patrol(0, 12), walk("black", 12, 14, (0.75, 0.68), (1.2, 0.68), EXAMINER_H),
                                       walk("black", 44, 46, (1.2, 0.68), (0.7, 0.68), EXAMINER_H, flip=True),
                                       *_patrol(46, 55)])], 55,
              [t(rule="exam_no_examiner", zone="aisle", start=13.2, end=44.8)]),
        _exam("exam-examiner-gone", "Examiner leaves at 8 s and never returns", no_examiner,
              [*all_seated, _examiner([stand("player", 0, 8, (0.5, 0.66), EXAMINER_H),
                                       walk("player", 8, 10, (0.5, 0.66), (-0.2, 0.66), EXAMINER_H)])], 45,
              [t(rule="exam_no_examiner", zone="aisle", start=9.3, end=45)]),
        _exam("exam-examiner-patrols", "Examiner patrols the aisle the whole time", no_examiner,
              [*all_seated, _examiner(_patrol(0, 50))], 50, []),
        _exam("exam-examiner-brief-exit", "Examiner steps out for 12 s", no_examiner,
              [*all_seated, _examiner([stand("black", 0, 10, (0.3, 0.67), EXAMINER_H),
                                       walk("black", 10, 11.5, (0.3, 0.67), (-0.2, 0.67), EXAMINER_H, flip=True),
                                       walk("black", 22, 23.5, (-0.2, 0.67), (0.3, 0.67), EXAMINER_H),
                                       stand("black", 23.5, 45, (0.3, 0.67), EXAMINER_H)])], 45, []),
        _exam("exam-examiner-stands-still", "Examiner stands still at the front for 45 s", no_examiner,
              [*all_seated, _examiner([stand("coat", 0, 45, (0.62, 0.70), EXAMINER_H)])], 45, []),
        # -- candidate absent from an occupied seat (15 s)
        _exam("exam-candidate-leaves-seat12", "Candidate at seat 12 is away for 28 s", absent,
              [*_candidates({"seat12": _leave_seat("seat12", 10, 38, 50)}), _examiner(_patrol(0, 50))], 50,
              [t(rule="exam_candidate_absent", zone="seat12", start=10, end=40.5)]),
        _exam("exam-candidate-leaves-seat21", "Candidate at seat 21 leaves and does not return", absent,
              [*_candidates({"seat21": _leave_seat("seat21", 8, None, 40)}), _examiner(_patrol(0, 40))], 40,
              [t(rule="exam_candidate_absent", zone="seat21", start=8, end=40)]),
        _exam("exam-candidate-brief-absence", "Candidate at seat 13 is away for 8 s", absent,
              [*_candidates({"seat13": _leave_seat("seat13", 10, 18, 40)}), _examiner(_patrol(0, 40))], 40, []),
        _exam("exam-seat-never-taken", "Seat 13 stays empty the whole exam (no candidate assigned)", absent,
              [*_candidates(empty=("seat13",)), _examiner(_patrol(0, 40))], 40, []),
        # -- two or more people at one seat (8 s)
        _exam("exam-helper-at-seat11", "A second person stands at seat 11 for 20 s", crowded,
              [*all_seated, Actor(id="helper", role="intruder", segments=[
                  walk("player", 8, 10, (-0.15, 0.52), (0.27, 0.52), EXAMINER_H),
                  stand("player", 10, 30, (0.27, 0.52), EXAMINER_H),
                  walk("player", 30, 32, (0.27, 0.52), (-0.15, 0.52), EXAMINER_H, flip=True)])], 40,
              [t(rule="exam_seat_crowded", zone="seat11", start=9.5, end=30.5)]),
        _exam("exam-helper-at-seat22", "A second person stands at seat 22 for 18 s", crowded,
              [*all_seated, Actor(id="helper", role="intruder", segments=[
                  walk("coat", 12, 14, (0.35, 1.15), (0.40, 0.92), EXAMINER_H),
                  stand("coat", 14, 32, (0.40, 0.92), EXAMINER_H),
                  walk("coat", 32, 34, (0.40, 0.92), (0.35, 1.15), EXAMINER_H)])], 40,
              [t(rule="exam_seat_crowded", zone="seat22", start=13.5, end=32.5)]),
        _exam("exam-examiner-walks-past", "Examiner walks past every seat", crowded,
              [*all_seated, _examiner(_patrol(0, 40))], 40, []),
        _exam("exam-examiner-answers-question", "Examiner stops 5 s beside seat 11, then walks on", crowded,
              [*all_seated, _examiner([walk("black", 0, 4, (0.9, 0.56), (0.27, 0.53), EXAMINER_H, flip=True),
                                       stand("black", 4, 9, (0.27, 0.53), EXAMINER_H),
                                       walk("black", 9, 14, (0.27, 0.53), (0.9, 0.60), EXAMINER_H),
                                       *_patrol(14, 40)])], 40, []),
        # -- head turned toward a neighbour (6 s)
        _exam("exam-head-turned-right", "Candidate at seat 12 looks toward seat 13 for 15 s", turned,
              [*_candidates({"seat12": [stand("coat:upper", 0, 10, SEATS["seat12"], SEAT_H),
                                        stand("turned", 10, 25, SEATS["seat12"], SEAT_H),
                                        stand("coat:upper", 25, 40, SEATS["seat12"], SEAT_H)]}),
               _examiner(_patrol(0, 40))], 40,
              [t(rule="exam_head_turned", zone="seat12", start=10, end=25)]),
        _exam("exam-head-turned-left", "Candidate at seat 22 looks toward seat 21 for 12 s", turned,
              [*_candidates({"seat22": [stand("suit", 0, 12, SEATS["seat22"], SEAT_H, flip=True),
                                        stand("turned", 12, 24, SEATS["seat22"], SEAT_H, flip=True),
                                        stand("suit", 24, 40, SEATS["seat22"], SEAT_H, flip=True)]}),
               _examiner(_patrol(0, 40))], 40,
              [t(rule="exam_head_turned", zone="seat22", start=12, end=24)]),
        _exam("exam-head-brief-turn", "Candidate at seat 12 glances aside for 3 s", turned,
              [*_candidates({"seat12": [stand("coat:upper", 0, 15, SEATS["seat12"], SEAT_H),
                                        stand("turned", 15, 18, SEATS["seat12"], SEAT_H),
                                        stand("coat:upper", 18, 40, SEATS["seat12"], SEAT_H)]}),
               _examiner(_patrol(0, 40))], 40, []),
        _exam("exam-head-turned-to-wall", "Candidate at seat 13 looks at the wall (no neighbour there) for 15 s",
              turned,
              [*_candidates({"seat13": [stand("black:upper", 0, 10, SEATS["seat13"], SEAT_H),
                                        stand("turned", 10, 25, SEATS["seat13"], SEAT_H),
                                        stand("black:upper", 25, 40, SEATS["seat13"], SEAT_H)]}),
               _examiner(_patrol(0, 40))], 40, []),
    ]
    return out


# -- inspection lane ---------------------------------------------------------------------------------------
# A car drives into the lane from the right, stands, and leaves to the left; the inspector waits at the
# side (outside the area near the car) and walks round the car during the inspection.

LANE_ZONES = [{"id": "lane1", "kind": "lane", "polygon": rect(0.25, 0.55, 0.75, 0.95)}]
CAR_AT, CAR_IN, CAR_OUT, CAR_H = (0.50, 0.76), (1.35, 0.76), (-0.35, 0.76), 0.25
IDLE = (0.93, 0.95)
REAR, REAR_R, FRONT_R, FRONT, FRONT_L, REAR_L = (0.50, 0.90), (0.74, 0.86), (0.74, 0.52), (0.50, 0.47), \
    (0.26, 0.52), (0.26, 0.86)
LOOP = [REAR, REAR_R, FRONT_R, FRONT, FRONT_L, REAR_L, REAR]
INSPECTOR_H = 0.30


def _car(arrive: float, leave: float, duration: float) -> Actor:
    segs = [walk("car", arrive, arrive + 4, CAR_IN, CAR_AT, CAR_H), stand("car", arrive + 4, leave, CAR_AT, CAR_H)]
    if leave < duration:
        segs.append(walk("car", leave, leave + 4, CAR_AT, CAR_OUT, CAR_H))
    return Actor(id="car", role="vehicle", segments=segs)


def _route(sprite: str, t0: float, points: list[tuple[float, float]], leg_s: float) -> list[Segment]:
    return [walk(sprite, t0 + i * leg_s, t0 + (i + 1) * leg_s, a, b, INSPECTOR_H, flip=b[0] < a[0])
            for i, (a, b) in enumerate(zip(points, points[1:], strict=False))]


def _inspector(plan: list[Segment], duration: float, sprite: str = "black") -> Actor:
    """Stands idle at the side whenever `plan` leaves a gap."""
    segs, t = [], 0.0
    for seg in sorted(plan, key=lambda s: s.t0):
        if seg.t0 > t:
            segs.append(stand(sprite, t, seg.t0, IDLE, INSPECTOR_H))
        segs.append(seg)
        t = seg.t1
    if t < duration:
        segs.append(stand(sprite, t, duration, IDLE, INSPECTOR_H))
    return Actor(id="inspector", role="inspector", segments=segs)


def _lane(id_: str, title: str, rule: dict, actors: list[Actor], duration: float, truth: list[Truth],
          events: list[ExternalEventSpec] | None = None) -> Scenario:
    return Scenario(id=id_, title=title, scene="lane", kind="violation" if truth else "normal", duration_s=duration,
                    actors=actors, zones=LANE_ZONES, rules=[{"zone": "lane1", "inertia": 3, **rule}],
                    events=events or [], truth=truth)


def _inspection(t0: float, leg_s: float, sprite: str = "black", loop: list | None = None) -> list[Segment]:
    """Walk from the side to the rear of the car, go round it (`loop`), walk back to the side."""
    pts = loop or LOOP
    walk_in = walk(sprite, t0, t0 + 3, IDLE, pts[0], INSPECTOR_H, flip=True)
    legs = _route(sprite, t0 + 3, pts, leg_s)
    end = legs[-1].t1 if legs else t0 + 3
    return [walk_in, *legs, walk(sprite, end, end + 3, pts[-1], IDLE, INSPECTOR_H)]


def lane_scenarios() -> list[Scenario]:
    absent = {"type": "inspector_absent", "seconds": 15.0}
    short = {"type": "inspection_too_short", "min_seconds": 25.0}
    walkaround = {"type": "walkaround_incomplete", "min_degrees": 270.0}
    no_vehicle = {"type": "inspection_without_vehicle"}
    uninspected = {"type": "vehicle_left_uninspected", "min_vehicle_s": 10.0, "min_near_s": 5.0}
    t = Truth
    # The car's feet cross into the lane about 2.5 s after it appears and leave it about 1 s into its exit.
    return [
        _lane("lane-inspector-late", "Nobody comes to the car for 25 s", absent,
              [_car(2, 50, 55), _inspector(_inspection(29, 3), 55)], 55,
              [t(rule="inspector_absent", zone="lane1", start=5, end=30)]),
        _lane("lane-inspector-leaves-midway", "Inspector leaves the car standing for 25 s", absent,
              [_car(2, 52, 56), _inspector([*_inspection(6, 2, loop=[REAR, REAR_R, REAR]),
                                            *_inspection(38, 2, loop=[REAR, REAR_L, REAR])], 56)], 56,
              [t(rule="inspector_absent", zone="lane1", start=16, end=40)]),
        _lane("lane-inspector-prompt", "Inspector is at the car within 3 s and stays", absent,
              [_car(2, 50, 55), _inspector(_inspection(5, 6), 55)], 55, []),
        _lane("lane-inspection-10s", "Inspection of about 10 s before the car leaves", short,
              [_car(2, 24, 30), _inspector(_inspection(7, 2.5, loop=[REAR, REAR_R, FRONT_R, REAR_R, REAR]), 30)],
              30, [t(rule="inspection_too_short", zone="lane1", start=24, end=28)]),
        _lane("lane-inspection-15s", "Another inspector checks for about 15 s and waves the car on", short,
              [_car(3, 29, 35), _inspector(_inspection(8, 3, sprite="coat", loop=[REAR, REAR_L, FRONT_L, REAR_L, REAR]),
                                           35, sprite="coat")],
              35, [t(rule="inspection_too_short", zone="lane1", start=29, end=33)]),
        _lane("lane-inspection-35s", "Inspection of about 35 s", short,
              [_car(2, 48, 53), _inspector(_inspection(6, 6), 53)], 53, []),
        _lane("lane-walkaround-two-sides", "Inspector looks at the rear and the right side only", walkaround,
              [_car(2, 46, 51), _inspector(_inspection(6, 7, loop=[REAR, REAR_R, FRONT_R, REAR_R, REAR]), 51)],
              51, [t(rule="walkaround_incomplete", zone="lane1", start=46, end=50)]),
        _lane("lane-walkaround-left-only", "Inspector checks the left side only", walkaround,
              [_car(2, 44, 49), _inspector(_inspection(6, 7, loop=[REAR, REAR_L, FRONT_L, REAR_L, REAR]), 49)],
              49, [t(rule="walkaround_incomplete", zone="lane1", start=44, end=48)]),
        _lane("lane-walkaround-quick-complete", "Inspector goes round the car quickly but completely", walkaround,
              [_car(2, 36, 41), _inspector(_inspection(6, 2), 41)], 41, []),
        _lane("lane-walkaround-slow-complete", "Inspector goes round the car slowly", walkaround,
              [_car(2, 50, 55), _inspector(_inspection(6, 6, sprite="coat"), 55, sprite="coat")], 55, []),
        _lane("lane-record-no-vehicle", "An inspection is recorded while the lane is empty", no_vehicle,
              [_inspector([], 30)], 30, [t(rule="inspection_without_vehicle", zone="lane1", start=12, end=14)],
              events=[ExternalEventSpec(t=12, kind="inspection", zone="lane1", payload={"plate": "A12345"})]),
        _lane("lane-record-before-the-car", "An inspection is recorded 15 s before any car arrives", no_vehicle,
              [_car(20, 45, 50), _inspector(_inspection(26, 3), 50)], 50,
              [t(rule="inspection_without_vehicle", zone="lane1", start=6, end=8)],
              events=[ExternalEventSpec(t=6, kind="inspection", zone="lane1", payload={"plate": "B67890"})]),
        _lane("lane-record-with-vehicle", "An inspection is recorded while the car stands in the lane", no_vehicle,
              [_car(2, 40, 45), _inspector(_inspection(6, 4), 45)], 45, [],
              events=[ExternalEventSpec(t=20, kind="inspection", zone="lane1", payload={"plate": "A12345"})]),
        _lane("lane-car-leaves-uninspected", "The car stands 25 s and leaves; nobody went near it", uninspected,
              [_car(2, 30, 38), _inspector([], 38)], 38,
              [t(rule="vehicle_left_uninspected", zone="lane1", start=30, end=34)]),
        _lane("lane-car-leaves-unnoticed", "The car stands 22 s while the inspector paces at the side, away from it",
              uninspected,
              [_car(4, 26, 34), _inspector([walk("coat", 6, 12, IDLE, (0.95, 0.62), INSPECTOR_H),
                                            walk("coat", 12, 18, (0.95, 0.62), IDLE, INSPECTOR_H)], 34, sprite="coat")],
              34, [t(rule="vehicle_left_uninspected", zone="lane1", start=26, end=30)]),
        _lane("lane-car-leaves-inspected", "The car is inspected and leaves", uninspected,
              [_car(2, 40, 46), _inspector(_inspection(6, 4), 46)], 46, []),
        _lane("lane-drive-through", "A car drives straight through the lane", uninspected,
              [Actor(id="car", role="vehicle", segments=[walk("car", 3, 11, CAR_IN, CAR_OUT, CAR_H)]),
               _inspector([], 25)], 25, []),
    ]


# -- phones (close cameras) ----------------------------------------------------------------------------------
# NanoDet (416 px input over the whole 768x576 frame) finds a phone only when it is about 55-70 px wide in the
# frame and held out in a hand against the background (see docs/evaluation.md): a camera close to the window or
# to a pair of exam seats, where a seated person's upper body fills about 0.8 of the frame's height. The people
# are the "suit" cut-out; with a phone they are `suit-phone` (phone held out at the fingertips). Their feet are
# at the frame's bottom edge (the desk hides the rest). A paper held out is a plain white card (a prop).

CLOSE_H = 0.80
PHONE_S = 3.0
WINDOW_CLOSE_ZONES = [
    {"id": "staff", "kind": "staff", "polygon": rect(0.0, 0.10, 0.52, 1.0)},
    {"id": "counter", "kind": "waiting", "polygon": rect(0.56, 0.10, 1.0, 1.0)},
]
CLERK_CLOSE = (0.30, 1.0)  # flipped: the clerk holds things out to the left, inside the staff area
CUSTOMER_CLOSE = (0.74, 1.0)


def _paper(x: float, y: float) -> Prop:
    """A white sheet held out at about (x, y): phone-sized and phone-bright, but no phone."""
    return Prop(box=(x - 0.035, y - 0.05, x + 0.035, y + 0.05), color=(235, 238, 240))


def _phone_window(id_: str, title: str, actors: list[Actor], duration: float, truth: list[Truth],
                  props: list[Prop] | None = None) -> Scenario:
    return Scenario(id=id_, title=title, scene="window", kind="violation" if truth else "normal",
                    duration_s=duration, actors=actors, props=props or [], zones=WINDOW_CLOSE_ZONES,
                    rules=[{"type": "staff_phone", "zone": "staff", "seconds": PHONE_S, "inertia": 3}], truth=truth)


def _phases(actor_id: str, role: str, at: tuple[float, float], plan: list[tuple[float, float, str]],
            flip: bool) -> Actor:
    return Actor(id=actor_id, role=role, segments=[stand(sprite, t0, t1, at, CLOSE_H, flip) for t0, t1, sprite in plan])


def window_phone_scenarios() -> list[Scenario]:
    t = Truth
    return [
        _phone_window("window-phone-clerk-10s", "Clerk uses a phone at the window for 10 s",
                      [_phases("clerk", "staff", CLERK_CLOSE, [(0, 10, "suit"), (10, 20, "suit-phone"),
                                                               (20, 30, "suit")], flip=True)], 30,
                      [t(rule="staff_phone", zone="staff", start=10, end=20)]),
        _phone_window("window-phone-clerk-twice", "Clerk takes the phone out twice, 8 s and 6 s",
                      [_phases("clerk", "staff", (0.28, 1.0), [(0, 5, "suit"), (5, 13, "suit-phone-tilted"),
                                                               (13, 22, "suit"), (22, 28, "suit-phone"),
                                                               (28, 35, "suit")], flip=True)], 35,
                      [t(rule="staff_phone", zone="staff", start=5, end=13),
                       t(rule="staff_phone", zone="staff", start=22, end=28)]),
        _phone_window("window-phone-customer-shows-phone", "A customer holds out a phone (an e-ID) at the counter",
                      [_phases("clerk", "staff", CLERK_CLOSE, [(0, 30, "coat:upper")], flip=True),
                       _phases("customer", "customer", CUSTOMER_CLOSE, [(0, 6, "suit"), (6, 26, "suit-phone"),
                                                                        (26, 30, "suit")], flip=False)], 30, []),
        _phone_window("window-phone-clerk-holds-paper", "Clerk holds a form out for 25 s (no phone)",
                      [_phases("clerk", "staff", CLERK_CLOSE, [(0, 30, "suit")], flip=True)], 30, [],
                      props=[_paper(0.13, 0.60)]),
    ]


EXAM_CLOSE_ZONES = [
    {"id": "seat-a", "kind": "seat", "polygon": rect(0.0, 0.10, 0.47, 1.0)},
    {"id": "seat-b", "kind": "seat", "polygon": rect(0.53, 0.10, 1.0, 1.0)},
    {"id": "aisle", "kind": "patrol", "polygon": rect(0.47, 0.10, 0.53, 1.0)},
]
SEAT_A, SEAT_B = (0.30, 1.0), (0.72, 1.0)  # A flipped (holds things out to the left), B not (to the right)


def _phone_exam(id_: str, title: str, actors: list[Actor], duration: float, truth: list[Truth],
                props: list[Prop] | None = None) -> Scenario:
    return Scenario(id=id_, title=title, scene="exam", kind="violation" if truth else "normal",
                    duration_s=duration, actors=actors, props=props or [], zones=EXAM_CLOSE_ZONES,
                    rules=[{"type": "exam_phone", "seconds": 1.0, "inertia": 3}], truth=truth)


def exam_phone_scenarios() -> list[Scenario]:
    t = Truth
    still_b = _phases("candidate-b", "candidate", SEAT_B, [(0, 40, "coat:upper")], flip=False)
    still_a = _phases("candidate-a", "candidate", SEAT_A, [(0, 40, "coat:upper")], flip=True)
    return [
        _phone_exam("exam-phone-seat-a-10s", "Candidate at seat A looks at a phone for 10 s",
                    [_phases("candidate-a", "candidate", SEAT_A, [(0, 12, "suit"), (12, 22, "suit-phone"),
                                                                  (22, 30, "suit")], flip=True), still_b], 30,
                    [t(rule="exam_phone", zone="seat-a", start=12, end=22)]),
        _phone_exam("exam-phone-seat-b-5s", "Candidate at seat B takes a phone out for 5 s",
                    [still_a, _phases("candidate-b", "candidate", SEAT_B, [(0, 15, "suit"),
                                                                           (15, 20, "suit-phone-tilted"),
                                                                           (20, 30, "suit")], flip=False)], 30,
                    [t(rule="exam_phone", zone="seat-b", start=15, end=20)]),
        _phone_exam("exam-phone-flash", "A phone is seen for 0.4 s (two frames) at seat A, then put away",
                    [_phases("candidate-a", "candidate", SEAT_A, [(0, 14, "suit"), (14, 14.4, "suit-phone"),
                                                                  (14.4, 30, "suit")], flip=True), still_b], 30, []),
        _phone_exam("exam-phone-candidate-holds-paper", "Candidate at seat B holds a sheet out for 30 s (no phone)",
                    [still_a, _phases("candidate-b", "candidate", SEAT_B, [(0, 30, "suit")], flip=False)], 30, [],
                    props=[_paper(0.89, 0.60)]),
    ]


# -- a high ceiling camera: small people, a counter hiding legs, a tight group ---------------------------
# The same rules on the far side of the picture, where a high camera shows people 60-85 px tall (0.11-0.15 of
# the frame), as real office cameras do (the outside check: 35-110 px); the library's other people are 127-207.
# The clerk's counter hides them from the knees down, so their box ends above the floor of the staff area:
# only their pose (hips over shoulders, docs/rules.md "Where a person stands") places them in it.

FAR_H = 0.11
FAR_CLERK = (0.41, 0.47)
FAR_OUT = (0.08, 0.47)
FAR_COUNTER = (0.27, 0.437, 0.55, 0.50)  # its top at the clerk's knees
FAR_ZONES = [
    {"id": "staff", "kind": "staff", "polygon": rect(0.30, 0.445, 0.52, 0.53)},
    {"id": "waiting", "kind": "waiting", "polygon": rect(0.58, 0.42, 0.98, 0.62)},
]
# 19 px apart in two rows: their boxes overlap, as in a real queue
FAR_GROUP = [(0.70, 0.515), (0.725, 0.54), (0.75, 0.51), (0.775, 0.535), (0.80, 0.515)]


def _far_clerk(away: list[tuple[float, float]], duration: float) -> Actor:
    """The clerk walks out (3 s) at each `away` start and back (3 s) at its end; feet leave the staff area
    about 1.1 s into the walk out and are back 1.9 s into the walk in."""
    segs: list[Segment] = []
    t = 0.0
    for leave, back in away:
        segs += [stand("coat", t, leave, FAR_CLERK, FAR_H), walk("coat", leave, leave + 3, FAR_CLERK, FAR_OUT, FAR_H),
                 walk("coat", back, back + 3, FAR_OUT, FAR_CLERK, FAR_H)]
        t = back + 3
    segs.append(stand("coat", t, duration, FAR_CLERK, FAR_H))
    return Actor(id="clerk", role="staff", segments=segs)


def _far_group(t0: float, t1: float, passing: bool = False) -> list[Actor]:
    """Five people standing shoulder to shoulder (or, `passing`, walking through together)."""
    out = []
    for i, (x, y) in enumerate(FAR_GROUP):
        h = 0.13 + 0.005 * (i % 3)
        sprite = SPRITES[i]
        if passing:
            segs = [walk(sprite, t0, t1, (x - 0.55, y), (x + 0.45, y), h)]
        else:
            segs = [walk(sprite, t0 - 2, t0, (x + 0.35, y), (x, y), h), stand(sprite, t0, t1, (x, y), h, bool(i % 2)),
                    walk(sprite, t1, t1 + 2, (x, y), (x + 0.35, y), h)]
        out.append(Actor(id=f"waiting{i}", role="customer", segments=segs))
    return out


def _far(id_: str, title: str, actors: list[Actor], duration: float, truth: list[Truth], rules: list[dict],
         counter: bool = False) -> Scenario:
    props = [Prop(box=FAR_COUNTER, color=(70, 100, 140))] if counter else []
    return Scenario(id=id_, title=title, scene="window", kind="violation" if truth else "normal",
                    duration_s=duration, actors=actors, zones=FAR_ZONES, rules=rules, truth=truth, props=props)


def high_angle_scenarios() -> list[Scenario]:
    unattended = [_unattended_rule()]
    waiting = [{"type": "waiting_over_limit", "zone": "waiting", "limit": WAIT_LIMIT, "seconds": WAIT_SECONDS,
                "inertia": 3}]
    # The 4th person's feet enter the waiting area (x 0.98) about 0.3 s before they stop: from the right.
    return [
        _far("far-clerk-away-30s", "High camera: a small clerk leaves for 30 s", [_far_clerk([(8, 38)], 50)], 50,
             [Truth(rule="zone_unattended", zone="staff", start=9.1, end=39.9)], unattended),
        _far("far-clerk-steps-away-12s", "High camera: a small clerk steps away for 12 s",
             [_far_clerk([(8, 20)], 40)], 40, [], unattended),
        _far("far-counter-clerk-stays", "High camera: a clerk behind a counter that hides their legs stays",
             [_far_clerk([], 40)], 40, [], unattended, counter=True),
        _far("far-counter-clerk-away-30s", "High camera: a clerk behind a counter leaves for 30 s",
             [_far_clerk([(10, 40)], 52)], 52, [Truth(rule="zone_unattended", zone="staff", start=11.1, end=41.9)],
             unattended, counter=True),
        _far("far-group-of-five", "High camera: five people wait shoulder to shoulder for 25 s",
             [_far_clerk([], 40), *_far_group(8, 33)], 40,
             [Truth(rule="waiting_over_limit", zone="waiting", start=6.8, end=34.2)], waiting),
        _far("far-group-passes", "High camera: a group of five walks through the waiting area",
             [_far_clerk([], 35), *_far_group(10, 18, passing=True)], 35, [], waiting),
    ]


def build_library() -> list[Scenario]:
    """Every scenario, in a stable order."""
    return [*window_scenarios(), *waiting_scenarios(), *exam_scenarios(), *lane_scenarios(),
            *window_phone_scenarios(), *exam_phone_scenarios(), *high_angle_scenarios()]
