"""`jianguan evaluate`: matching and scoring by hand, then the whole scenario library through the real node.

The library run is the vision rules' acceptance test (issue 4): every rule at precision and recall of at
least 0.9, and a median alert delay no more than 3 s beyond the rule's own threshold.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from devkit.scenarios import Truth
from devkit.scenarios.library import build_library
from jianguan.evaluate import Evaluation, Found, analysis_rate, evaluate, format_table, match, replay, score
from tests.testkit.pg import clone_template

# The library run analyses ~9,800 frames with two detectors on the CPU: about 15 minutes on 2 cores.
pytestmark = pytest.mark.timeout(3600)


def t(rule: str, start: float, end: float, zone: str = "z") -> Truth:
    return Truth(rule=rule, zone=zone, start=start, end=end)


def test_match_pairs_overlapping_incidents_of_the_same_rule_and_zone() -> None:
    truths = [t("a", 10, 40), t("a", 60, 80), t("b", 10, 20)]
    found = [
        Found("a", "z", 11, 31, 41),      # the first "a"
        Found("a", "other", 60, 70, 80),  # right time, wrong zone: a false alarm
        Found("b", "z", 30, 45, 50),      # "b" but 10 s after it ended (tolerance is 2 s): false alarm
        Found("a", "z", 78.5, 81, None),  # starts inside the second "a" and is still open
    ]
    pairs, missed, extra = match(truths, found)
    assert [(p[0].start, p[1].start) for p in pairs] == [(10, 11), (60, 78.5)]
    assert [m.rule for m in missed] == ["b"]
    assert sorted((f.rule, f.zone) for f in extra) == [("a", "other"), ("b", "z")]


def test_one_incident_cannot_count_for_two_truths() -> None:
    pairs, missed, extra = match([t("a", 10, 20), t("a", 21, 30)], [Found("a", "z", 10, 15, 30)])
    assert len(pairs) == 1 and len(missed) == 1 and not extra


def test_score_counts_per_rule_and_measures_delay_from_the_true_start() -> None:
    base = build_library()
    violation = next(s for s in base if s.id == "window-clerk-away-35s")
    normal = next(s for s in base if s.id == "window-clerk-steps-away-12s")
    found = {violation.id: [Found("zone_unattended", "staff", 8.8, 29.6, 43.9),
                            Found("camera_frozen", None, 1, 2, 3)],  # a rule the scenario does not judge
             normal.id: [Found("zone_unattended", "staff", 10.8, 31.0, 33.0)]}
    outcomes, scores = score([violation, normal], found)
    s = scores["zone_unattended"]
    assert (s.tp, s.fp, s.fn) == (1, 1, 0)
    assert s.precision == 0.5 and s.recall == 1.0
    assert s.delays == [pytest.approx(29.6 - 8.8)]
    assert s.delay_over_threshold_s == pytest.approx(29.6 - 8.8 - 20.0)
    assert [o.correct for o in outcomes] == [True, False]


@pytest.fixture(scope="module")
def _library_run(pg_admin_dsn: str, _migrated_template: str, tmp_path_factory: pytest.TempPathFactory):
    """The library through the real node, recorded for the replay test (recording costs next to nothing)."""
    import uuid

    import psycopg
    from psycopg.conninfo import make_conninfo

    name = f"jianguan_eval_{uuid.uuid4().hex[:10]}"
    clone_template(pg_admin_dsn, _migrated_template, name)
    work = Path(tmp_path_factory.mktemp("evaluation"))
    try:
        result = evaluate(build_library(), work, make_conninfo(pg_admin_dsn, dbname=name), record=work / "recording")
        # Kept beside the run's files for whoever wants the figures (pytest shows it only with -s).
        (work / "table.txt").write_text(format_table(result) + "\n")
        print("\n" + format_table(result))
        yield result, work / "recording"
    finally:
        with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def library_run(_library_run: tuple[Evaluation, Path]) -> Evaluation:
    return _library_run[0]


def test_every_rule_meets_the_floors_on_the_library(library_run) -> None:
    table = format_table(library_run)
    for rule, s in library_run.scores.items():
        assert s.tp + s.fn >= 2, f"{rule}: too few true incidents to judge\n{table}"
        assert s.precision >= 0.9, f"{rule}: precision {s.precision:.2f}\n{table}"
        assert s.recall >= 0.9, f"{rule}: recall {s.recall:.2f}\n{table}"
        over = s.delay_over_threshold_s
        assert over is not None and over <= 3.0, f"{rule}: median delay {over} s over its threshold\n{table}"


def test_every_frame_of_every_scenario_was_analysed(library_run) -> None:
    # at the rate each scenario's rules need (dwell rules: 2 frames/s of the scenario's 5)
    expected = {s.id: int(round(s.duration_s * analysis_rate(s))) for s in build_library()}
    for cam_id, counters in library_run.node.cameras.items():
        assert abs(counters.frames_analysed - expected[cam_id]) <= 1, cam_id


def judged(evaluation: Evaluation) -> tuple[list[str], dict, dict]:
    """The table but for its last line (times), every rule's figures, and what each scenario was found to have."""
    table = format_table(evaluation).splitlines()
    return (table[:-1], {r: (s.threshold_s, s.tp, s.fp, s.fn, s.delays) for r, s in evaluation.scores.items()},
            {o.scenario.id: (o.found, o.matched, o.missed, o.false_alarms) for o in evaluation.outcomes})


def test_a_replay_of_the_recorded_library_gives_the_full_runs_table_in_under_a_minute(
        _library_run: tuple[Evaluation, Path]) -> None:
    """`jianguan evaluate --replay`: tracking, zones, rules and alerts again on the recorded detections, with the
    node's own code, no detector and no database: every figure of the full run, in seconds instead of minutes."""
    full, recording = _library_run
    started = time.monotonic()
    again = replay(recording, build_library())
    spent = time.monotonic() - started
    assert judged(again) == judged(full)
    assert again.node.frames == full.node.frames
    assert spent < 60.0, f"replay took {spent:.1f} s"
