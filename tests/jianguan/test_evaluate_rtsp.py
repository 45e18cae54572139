"""`jianguan evaluate --via-rtsp`: two scenarios served live by the RTSP simulator (with credentials) and
analysed by the real node in real time, against the real PostgreSQL. About a minute of wall clock."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from devkit.scenarios.library import build_library
from devkit.simulator import missing_reason
from jianguan.evaluate import Evaluation, _needs_objects, analysis_rate, evaluate, format_table, threshold_of
from jianguan.evaluate_rtsp import LEAD_IN_S, USER
from tests.testkit.pg import clone_template

_missing = missing_reason()
pytestmark = [pytest.mark.skipif(_missing is not None, reason=f"RTSP simulator unavailable: {_missing}"),
              pytest.mark.timeout(600)]

VIOLATION = "window-clerk-away-long-other"  # 48 s: the clerk is away from 6.8 s to 36.7 s (limit 20 s)
NORMAL = "window-clerk-handover"  # 45 s: one clerk hands over to another, the window is never unattended
PASSWORD = "Pw-" + uuid.uuid4().hex  # what the run's random password is made to be, to look for it


@pytest.fixture(scope="module")
def live_run(pg_admin_dsn: str, _migrated_template: str, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[Evaluation, str]]:
    name = f"jianguan_eval_rtsp_{uuid.uuid4().hex[:10]}"
    clone_template(pg_admin_dsn, _migrated_template, name)
    work = Path(tmp_path_factory.mktemp("evaluation-rtsp"))
    chosen = [s for s in build_library() if s.id in (VIOLATION, NORMAL)]
    said: list[str] = []
    handler, root = _Capture(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("jianguan.evaluate_rtsp.secrets.token_urlsafe", lambda _n: PASSWORD)
            result = evaluate(chosen, work, make_conninfo(pg_admin_dsn, dbname=name), via_rtsp=True,
                              rtsp_batch=2, say=said.append)
        print("\n" + "\n".join(said) + "\n" + format_table(result))
        yield result, "\n".join([*said, *handler.lines, format_table(result)])
    finally:
        root.setLevel(level)
        root.removeHandler(handler)
        with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_the_violation_is_found_on_time_and_the_look_alike_stays_clean(live_run) -> None:
    result, _ = live_run
    table = format_table(result)
    assert result.mode == "rtsp"
    by_id = {o.scenario.id: o for o in result.outcomes}
    violation, normal = by_id[VIOLATION], by_id[NORMAL]
    assert normal.correct and not normal.found, table
    assert violation.correct and len(violation.matched) == 1, table
    truth, found = violation.matched[0]
    threshold = threshold_of(violation.scenario, truth.rule)
    # The floor: the alert no more than 3 s after the rule's own threshold has run out...
    assert found.raised - truth.start <= threshold + 3.0, table
    # ...and the clocks line up: the rule's clock starts when the clerk's box leaves the staff area, about
    # the scripted moment (file mode: within a second, plus one frame interval of the rate the camera is
    # analysed at: 0.5 s at the dwell rules' 2 frames/s). A time zero taken from the PLAY instead of the end
    # of the lead-in, or frames stamped by the probe's burst, would shift it by more than that.
    # The raise comes on the first analysed frame once the threshold has run from that start: one more frame.
    step = 1.0 / analysis_rate(violation.scenario)
    assert abs(found.start - truth.start) <= 1.0 + step, table
    assert abs(found.raised - truth.start - threshold) <= 1.0 + 2 * step, table


def test_every_frame_arrived_live(live_run) -> None:
    result, _ = live_run
    table = format_table(result)
    # Transport loses nothing: no reconnect, no stream cut short.
    assert not [w for w in result.warnings if "arrived" in w or "never started" in w], table
    for sc in (o.scenario for o in result.outcomes):
        c = result.node.cameras[sc.id]
        # Each scenario frame once, after the lead-in's stills of the first picture (of which the node's
        # queue may drop a few: they arrive in one burst).
        assert abs(c.frames_analysed + c.dropped - (sc.duration_s + LEAD_IN_S) * analysis_rate(sc)) <= 1, (sc.id, c)
        # Analysis keeps up with two live cameras on 2 cores: the queue's 1.5 s absorb a stall, so at most a
        # frame in a hundred is dropped for falling behind (a CI machine under load dropped 1-2 of 240 with a
        # 0.8 s queue); a detector that could not keep up would drop a share of every second instead.
        assert c.frames_analysed >= sc.duration_s * analysis_rate(sc) * 0.99 - 1, (sc.id, c, table)


def test_the_password_is_never_said(live_run) -> None:
    # The cameras asked for it (the simulator serves them with basic auth, user `evaluation`), yet neither
    # the progress lines, nor any log record of the run, nor the table show it.
    _, said = live_run
    assert PASSWORD not in said
    assert "rtsp://" not in said.replace(f"rtsp://{USER}:***@", "")


def test_the_object_detector_is_derived_from_the_rule_configs() -> None:
    # The COCO detector (vehicles, phones) runs where a lane rule or a phone rule needs it, and nowhere else.
    for s in build_library():
        assert _needs_objects(s) == (s.scene == "lane" or bool(s.rule_names & {"staff_phone", "exam_phone"})), s.id
