"""An alert's status follows one state machine: every change of `alerts.status` is a step of TRANSITIONS, taken
by `transition`, which checks the step against the alert's current status (read under a row lock) and the
actor's role, then writes the status, the step's side effects, the timeline (`alert_events`) and the audit log
in the caller's transaction. Nothing else updates `alerts.status` (tests/alerts/test_workflow.py).

    status        action       roles                                  new status
    open          acknowledge  commander, supervisor, admin, link     acknowledged
    open,
    acknowledged,
    reviewed      verdict      auditor, supervisor, admin             reviewed
    reviewed      close        supervisor, admin                      closed
    closed        reopen       supervisor, admin (reason required)    reviewed
    open,
    acknowledged  withdraw     system (the demo's restart)            closed

Closed is final but for an explicit reopen with a reason: a verdict posted to a closed alert used to reopen
it silently. A reopened alert is `reviewed` (its verdict stands until an auditor changes it; then it can be
closed again), not `open`: an open alert holds its dedup key (alerts_one_live_per_key), which a newer live
alert of the same key may hold already.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from alerts.timeline import add_event
from i18n import N_, Translatable

LINK = "link"  # the holder of a signed acknowledge link (a commander's phone): no account, no role
SYSTEM = "system"  # the product itself, never a person
REASON_MAX = 2000  # characters of a reason, as of a verdict's note
# The roles of alerts/review/auth.py (ROLES), written out: the table reads on its own, and the desk's package
# imports this module (tests/alerts/test_workflow.py checks they agree with auth's CAN_* sets).
ACKNOWLEDGERS = frozenset({"commander", "supervisor", "admin"})
REVIEWERS = frozenset({"auditor", "supervisor", "admin"})
CLOSERS = frozenset({"supervisor", "admin"})


@dataclass(frozen=True)
class Step:
    """One kind of status change: from which statuses, by which roles, to which status, named how on the
    alert's timeline (alerts/review/texts.py EVENTS)."""

    sources: frozenset[str]
    roles: frozenset[str]
    target: str
    event: str
    needs_reason: bool = False


TRANSITIONS: dict[str, Step] = {
    "acknowledge": Step(frozenset({"open"}), ACKNOWLEDGERS | {LINK}, "acknowledged", "acknowledged"),
    "verdict": Step(frozenset({"open", "acknowledged", "reviewed"}), REVIEWERS, "reviewed", "verdict"),
    "close": Step(frozenset({"reviewed"}), CLOSERS, "closed", "closed"),
    "reopen": Step(frozenset({"closed"}), CLOSERS, "reviewed", "case_reopened", needs_reason=True),
    "withdraw": Step(frozenset({"open", "acknowledged"}), frozenset({SYSTEM}), "closed", "closed"),
}

# Why a step is refused, as the person who tried reads it: their role may not take it (403) ...
ROLE_REFUSED = {"acknowledge": N_("Your role cannot acknowledge alerts."),
                "verdict": N_("Your role cannot give verdicts."),
                "close": N_("Your role cannot close alerts."),
                "reopen": N_("Only a supervisor can reopen a closed alert.")}
ANY_ROLE_REFUSED = N_("Your role cannot take this step.")
# ... or the alert's status does not allow it (409).
STATUS_REFUSED = {"acknowledge": N_("Only an open alert can be acknowledged."),
                  "verdict": N_("This alert is closed. A supervisor has to reopen it, giving a reason, before it "
                                "can be reviewed again."),
                  "close": N_("only a reviewed alert can be closed"),
                  "reopen": N_("Only a closed alert can be reopened."),
                  "withdraw": N_("Only an open or acknowledged alert can be withdrawn.")}
REASON_NEEDED = N_("Give a reason for reopening the alert.")
NOT_FOUND = N_("alert not found")


class TransitionRefused(Translatable, Exception):
    """A step the table does not allow; `status_code` as the desk answers it, `status` the alert's (if known)."""

    def __init__(self, msgid: str, status_code: int, status: str | None = None) -> None:
        super().__init__(msgid)
        self.status_code, self.status = status_code, status


def check_role(action: str, role: str) -> Step:
    """The step `action`, if `role` may ever take it (whatever the alert's status)."""
    step = TRANSITIONS.get(action)
    if step is None or role not in step.roles:
        raise TransitionRefused(ROLE_REFUSED.get(action, ANY_ROLE_REFUSED), 403)
    return step


def next_status(status: str, action: str, role: str, reason: str = "") -> str:
    """The status after `role` takes `action` on an alert in `status`; TransitionRefused if the table says no."""
    step = check_role(action, role)
    if status not in step.sources:
        raise TransitionRefused(STATUS_REFUSED[action], 409, status)
    if step.needs_reason and not reason.strip():
        raise TransitionRefused(REASON_NEEDED, 422, status)
    return step.target


def allowed_actions(status: str, role: str) -> set[str]:
    """What `role` may do to an alert in `status` now (the alert page shows these forms and no others)."""
    return {a for a, step in TRANSITIONS.items() if status in step.sources and role in step.roles}


def transition(conn: Any, alert_id: int, action: str, actor: str, role: str, *, reason: str = "",
               verdict: str | None = None, detail: dict[str, Any] | None = None) -> str:
    """Take `action` on the alert in the caller's transaction; return its new status. `verdict`: the verdict
    a `verdict` step records; `reason`: why (required to reopen); `detail`: more for the timeline."""
    if (action == "verdict") != (verdict is not None):
        raise ValueError("a verdict step, and only a verdict step, records a verdict")
    check_role(action, role)  # before reading: a role that may never take the step learns nothing
    row = conn.execute("SELECT status, verdict, clip_id FROM alerts WHERE id = %s FOR UPDATE", (alert_id,)).fetchone()
    if row is None:
        raise TransitionRefused(NOT_FOUND, 404)
    status, previous_verdict, clip_id = row
    reason = reason.strip()
    target = next_status(status, action, role, reason)
    conn.execute("UPDATE alerts SET status = %s, updated_at = now() WHERE id = %s", (target, alert_id))
    detail = dict(detail or {})
    if action == "verdict":
        conn.execute("UPDATE alerts SET verdict = %s WHERE id = %s", (verdict, alert_id))
        detail = {"verdict": verdict, **detail, "previous": previous_verdict}
    _lock_evidence(conn, action, clip_id, previous_verdict)
    if reason:
        detail["reason"] = reason
    _trail(conn, alert_id, actor, TRANSITIONS[action].event, action, detail)
    return target


def withdraw_live(conn: Any, camera_ids: list[str], actor: str, reason: str) -> list[int]:
    """Withdraw every live (open or acknowledged) alert of these cameras, each by the `withdraw` step, in the
    caller's transaction: a restarted demo starts clean, or deduplication would fold its new incident into an
    alert of the previous run. The ids withdrawn."""
    ids = [int(r[0]) for r in conn.execute(
        "SELECT id FROM alerts WHERE camera_id = ANY(%s) AND status IN ('open', 'acknowledged') ORDER BY id",
        (camera_ids,)).fetchall()]
    for alert_id in ids:
        transition(conn, alert_id, "withdraw", actor, SYSTEM, reason=reason)
    return ids


def _lock_evidence(conn: Any, action: str, clip_id: int | None, verdict: str | None) -> None:
    """A clip stays locked unless its alert is closed as a false alarm: unlocked on that close, locked again
    when such an alert is reopened (alerts/evidence.py lets retention delete unlocked clips)."""
    if clip_id is None or verdict != "false_alarm" or action not in ("close", "reopen"):
        return
    conn.execute("UPDATE clips SET locked = %s WHERE id = %s", (action == "reopen", clip_id))


def _trail(conn: Any, alert_id: int, actor: str, event: str, audit_action: str, detail: dict[str, Any]) -> None:
    """One lifecycle step, in the caller's transaction: on the alert's timeline and in the audit log."""
    add_event(conn, alert_id, actor, event, detail)
    conn.execute("INSERT INTO audit_log (actor, action, object, detail) VALUES (%s, %s, %s, %s)",
                 (actor, audit_action, f"alert:{alert_id}", Jsonb(detail)))
