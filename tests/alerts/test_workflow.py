"""One state machine for an alert's status (issue 18, finding 5): the table itself, and the desk going through it.
Closed is final: an auditor's verdict no longer reopens a closed alert; only a supervisor's (or admin's) explicit
reopen does, with a reason, on the timeline and in the audit log."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest

from alerts.review.auth import CAN_ACKNOWLEDGE, CAN_CLOSE, CAN_GIVE_VERDICT, ROLES
from alerts.review.texts import EVENTS, STATUSES
from alerts.workflow import (
    ACKNOWLEDGERS,
    CLOSERS,
    LINK,
    REASON_NEEDED,
    REVIEWERS,
    STATUS_REFUSED,
    SYSTEM,
    TRANSITIONS,
    TransitionRefused,
    allowed_actions,
    next_status,
)
from i18n import gettext
from tests.testkit.desk_client import desk, logged_in, status_of

# -- the table ----------------------------------------------------------------------------------------------


def test_the_table_names_only_known_statuses_roles_and_events():
    for action, rule in TRANSITIONS.items():
        assert rule.sources <= set(STATUSES) and rule.target in STATUSES, action
        assert rule.roles <= {*ROLES, LINK, SYSTEM}, action
        assert rule.event in EVENTS, action
    # the same roles as auth's CAN_* sets, which the desk also uses for rectification steps
    assert (ACKNOWLEDGERS, REVIEWERS, CLOSERS) == (CAN_ACKNOWLEDGE, CAN_GIVE_VERDICT, CAN_CLOSE)


def test_nothing_else_updates_an_alerts_status():
    root = Path(__file__).resolve().parents[2]
    # within one SQL string, which may be split over adjacent literals ("UPDATE alerts SET a = 1," " status = ...")
    update = re.compile(r'UPDATE\s+alerts\s+SET(?:[^;"]|"\s*")*?\bstatus\s*=', re.IGNORECASE)
    writers = [p.relative_to(root).as_posix() for package in ("alerts", "analytics", "ingest", "jianguan",
                                                              "storage", "reports", "dashboards")
               for p in (root / package).rglob("*.py") if update.search(p.read_text(encoding="utf-8"))]
    assert writers == ["alerts/workflow.py"]


@pytest.mark.parametrize(("status", "action", "role", "target"), [
    ("open", "acknowledge", "commander", "acknowledged"),
    ("open", "acknowledge", LINK, "acknowledged"),
    ("open", "verdict", "auditor", "reviewed"),
    ("acknowledged", "verdict", "auditor", "reviewed"),
    ("reviewed", "verdict", "auditor", "reviewed"),  # a verdict may be changed until the alert is closed
    ("reviewed", "close", "supervisor", "closed"),
    ("closed", "reopen", "supervisor", "reviewed"),
    ("closed", "reopen", "admin", "reviewed"),
    ("acknowledged", "withdraw", SYSTEM, "closed"),
])
def test_allowed_steps(status, action, role, target):
    assert next_status(status, action, role, reason="checked the footage again") == target


@pytest.mark.parametrize(("status", "action", "role", "code"), [
    ("closed", "verdict", "auditor", 409),  # the finding: a verdict reopened a closed alert
    ("closed", "verdict", "supervisor", 409),  # even a supervisor reopens explicitly first
    ("closed", "reopen", "auditor", 403),
    ("closed", "reopen", "commander", 403),
    ("reviewed", "reopen", "supervisor", 409),
    ("closed", "acknowledge", "commander", 409),
    ("open", "close", "supervisor", 409),
    ("open", "verdict", "commander", 403),
    ("open", "verdict", LINK, 403),
    ("open", "withdraw", "admin", 403),
    ("open", "no_such_action", "admin", 403),
])
def test_refused_steps(status, action, role, code):
    with pytest.raises(TransitionRefused) as refused:
        next_status(status, action, role, reason="a reason")
    assert refused.value.status_code == code and refused.value.msgid


def test_reopen_needs_a_reason():
    for reason in ("", "   \n"):
        with pytest.raises(TransitionRefused) as refused:
            next_status("closed", "reopen", "supervisor", reason=reason)
        assert refused.value.status_code == 422


def test_closed_is_final_but_for_reopen():
    leaving = {(a, role) for a, rule in TRANSITIONS.items() if "closed" in rule.sources for role in rule.roles}
    assert leaving == {("reopen", "supervisor"), ("reopen", "admin")}
    assert allowed_actions("closed", "auditor") == set()
    assert allowed_actions("closed", "supervisor") == {"reopen"}


# -- through the desk ---------------------------------------------------------------------------------------


@pytest.fixture
def seeded(db_dsn, tmp_path):
    with desk(db_dsn, tmp_path) as d:
        yield d


def _trail(dsn: str, alert_id: int) -> tuple[list[tuple], list[tuple]]:
    with psycopg.connect(dsn) as conn:
        events = conn.execute("SELECT actor, action, detail FROM alert_events WHERE alert_id = %s ORDER BY id",
                              (alert_id,)).fetchall()
        audit = conn.execute("SELECT actor, action, detail FROM audit_log WHERE object = %s ORDER BY id",
                             (f"alert:{alert_id}",)).fetchall()
    return events, audit


def test_an_auditors_verdict_does_not_reopen_a_closed_alert(seeded):
    closed = seeded.alerts["closed"]
    auditor, csrf = logged_in(seeded.app, "auditor1")
    page = auditor.get(f"/alerts/{closed}").text
    assert 'id="verdict-form"' not in page  # nothing to post on a closed alert
    r = auditor.post(f"/alerts/{closed}/verdict", data={"verdict": "confirmed", "note": "x", "csrf": csrf})
    assert r.status_code == 409 and gettext(STATUS_REFUSED["verdict"], "zh_CN") in r.text  # the staff's language
    assert status_of(seeded.dsn, closed) == "closed"
    events, audit = _trail(seeded.dsn, closed)
    assert [e[1] for e in events] == ["opened"]
    assert ("auditor1", "refused", {"action": "verdict", "status": "closed"}) in audit


def test_a_supervisor_reopens_with_a_reason_on_the_record(seeded):
    closed = seeded.alerts["closed"]
    sup, csrf = logged_in(seeded.app, "super")
    page = sup.get(f"/alerts/{closed}").text
    assert 'id="reopen-form"' in page and 'name="reason"' in page
    r = sup.post(f"/alerts/{closed}/reopen", data={"reason": "plate misread, recheck", "csrf": csrf})
    assert r.status_code == 303
    assert status_of(seeded.dsn, closed) == "reviewed"
    events, audit = _trail(seeded.dsn, closed)
    assert events[-1] == ("super", "case_reopened", {"reason": "plate misread, recheck"})
    assert audit[-1] == ("super", "reopen", {"reason": "plate misread, recheck"})
    assert gettext(EVENTS["case_reopened"], "zh_CN") in sup.get(f"/alerts/{closed}").text  # named on the timeline
    auditor, csrf = logged_in(seeded.app, "auditor1")  # reviewable again, then closable again
    r = auditor.post(f"/alerts/{closed}/verdict", data={"verdict": "confirmed", "csrf": csrf})
    assert r.status_code == 303 and status_of(seeded.dsn, closed) == "reviewed"


def test_reopen_is_refused_without_a_reason_for_other_roles_and_when_not_closed(seeded):
    closed, reviewed = seeded.alerts["closed"], seeded.alerts["reviewed"]
    sup, csrf = logged_in(seeded.app, "super")
    for data in ({"csrf": csrf}, {"reason": "  ", "csrf": csrf}):
        r = sup.post(f"/alerts/{closed}/reopen", data=data)
        assert r.status_code == 422 and gettext(REASON_NEEDED, "zh_CN") in r.text
    assert sup.post(f"/alerts/{reviewed}/reopen", data={"reason": "why not", "csrf": csrf}).status_code == 409
    auditor, csrf = logged_in(seeded.app, "auditor1")
    assert 'id="reopen-form"' not in auditor.get(f"/alerts/{closed}").text
    r = auditor.post(f"/alerts/{closed}/reopen", data={"reason": "I disagree", "csrf": csrf})
    assert r.status_code == 403
    assert status_of(seeded.dsn, closed) == "closed" and status_of(seeded.dsn, reviewed) == "reviewed"
    events, _ = _trail(seeded.dsn, closed)
    assert [e[1] for e in events] == ["opened"]


def test_reopening_a_false_alarm_locks_its_clip_again(seeded):
    closed = seeded.alerts["closed"]
    with psycopg.connect(seeded.dsn) as conn:
        clip = conn.execute("INSERT INTO clips (camera_id, started_at, ended_at, path, sha256, bytes, locked)"
                            " VALUES ('w1', now(), now(), '/nowhere.mp4', 'ab', 1, false) RETURNING id").fetchone()[0]
        conn.execute("UPDATE alerts SET clip_id = %s WHERE id = %s", (clip, closed))
    sup, csrf = logged_in(seeded.app, "super")
    assert sup.post(f"/alerts/{closed}/reopen", data={"reason": "keep it", "csrf": csrf}).status_code == 303
    with psycopg.connect(seeded.dsn) as conn:
        assert conn.execute("SELECT locked FROM clips WHERE id = %s", (clip,)).fetchone()[0] is True


def test_acknowledge_and_close_go_through_the_table(seeded):
    cmdr, csrf = logged_in(seeded.app, "cmdr")
    assert cmdr.post(f"/alerts/{seeded.alerts['open']}/acknowledge", data={"csrf": csrf}).status_code == 303
    assert status_of(seeded.dsn, seeded.alerts["open"]) == "acknowledged"
    r = cmdr.post(f"/alerts/{seeded.alerts['closed']}/acknowledge", data={"csrf": csrf})
    assert r.status_code == 409 and status_of(seeded.dsn, seeded.alerts["closed"]) == "closed"
    sup, csrf = logged_in(seeded.app, "super")
    assert sup.post(f"/alerts/{seeded.alerts['acknowledged']}/close", data={"csrf": csrf}).status_code == 409
    assert sup.post(f"/alerts/{seeded.alerts['reviewed']}/close", data={"csrf": csrf}).status_code == 303
    assert status_of(seeded.dsn, seeded.alerts["reviewed"]) == "closed"


def test_a_signed_link_acknowledges_only_an_open_alert(seeded):
    for status, done in (("open", "已确认，谢谢。"), ("closed", "此告警已被确认或审核")):
        token = seeded.links.sign(seeded.alerts[status], "acknowledge", "wecom")
        r = logged_in(seeded.app, "cmdr")[0].post(f"/ack/{token}")
        assert r.status_code == 200 and done in r.text
    assert status_of(seeded.dsn, seeded.alerts["open"]) == "acknowledged"
    assert status_of(seeded.dsn, seeded.alerts["closed"]) == "closed"


def test_the_demo_withdraws_live_alerts_through_the_table(seeded):
    from jianguan.demo import close_stale_alerts

    config = SimpleNamespace(cameras=[SimpleNamespace(id="w1")])
    assert close_stale_alerts(seeded.dsn, config) == 2  # the open and the acknowledged one
    assert status_of(seeded.dsn, seeded.alerts["open"]) == "closed"
    events, audit = _trail(seeded.dsn, seeded.alerts["acknowledged"])
    assert events[-1] == ("demo", "closed", {"reason": "demo restarted"})
    assert audit[-1][:2] == ("demo", "withdraw")
