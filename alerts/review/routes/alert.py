# FastAPI reads the annotations at run time: no `from __future__ import annotations`.
"""One alert: its page (timeline, clip, snapshot, the forms the user's role may use now) and the steps taken on
it. Every change of an alert's status is a step of alerts/workflow.py's table, taken through `take`; the checks
before it (session, CSRF token, role, site) are the `may_take` dependency's (alerts/review/deps.py)."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from alerts.business import RectificationError, rectification_step
from alerts.review.auth import CAN_ACKNOWLEDGE, CAN_CLOSE, CAN_GIVE_VERDICT
from alerts.review.deps import (
    Acting,
    CurrentUser,
    DbId,
    Desk,
    DeskState,
    PostingUser,
    VisibleAlert,
    alert_in_scope,
    audit,
    desk_router,
    evidence_file,
    may_take,
    refusal,
    render,
)
from alerts.review.routes.queue import neighbours, next_unreviewed
from alerts.review.texts import VERDICTS
from alerts.workflow import REASON_MAX, TransitionRefused, allowed_actions, transition
from i18n import N_

router = desk_router()
Note = Annotated[str, Form(max_length=2000)]


def clip_offset(alert: dict[str, Any]) -> float | None:
    """Where in the clip the alert was raised (seconds), for the mark under the player."""
    if alert["clip_started_at"] is None:
        return None
    raised = datetime.fromtimestamp((alert["evidence"] or {}).get("raised_at") or alert["started_at"].timestamp(),
                                    alert["started_at"].tzinfo)
    return max(0.0, (raised - alert["clip_started_at"]).total_seconds())


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, desk: Desk, user: CurrentUser, alert: VisibleAlert):
    with desk.pool.connection() as conn:
        events = conn.execute("SELECT at, actor, action, detail FROM alert_events WHERE alert_id = %s"
                              " ORDER BY at, id", (alert["id"],)).fetchall()
    audit(desk, user.username, "view", f"alert:{alert['id']}", {})
    previous, following = neighbours(request, desk, user, alert["id"])
    return render(request, "alert.html", {
        "alert": alert, "events": events, "verdicts": tuple(VERDICTS), "previous": previous,
        "next": following, "clip_offset": clip_offset(alert),
        "can_verdict": user.role in CAN_GIVE_VERDICT, "can_ack": user.role in CAN_ACKNOWLEDGE,
        "can_close": user.role in CAN_CLOSE, "has_live": desk.hub.has(alert["camera_id"]),
        "actions": allowed_actions(alert["status"], user.role)}, user, alert["site_timezone"])


@router.get("/alerts/{alert_id}/clip.mp4")
def clip(desk: Desk, alert: VisibleAlert):
    return evidence_file(desk, alert["clip_path"], "video/mp4")


@router.get("/alerts/{alert_id}/snapshot.jpg")
def snapshot(desk: Desk, alert: VisibleAlert):
    return evidence_file(desk, alert["snapshot_path"], "image/jpeg")


def take(desk: DeskState, acting: Acting, **step: Any) -> str:
    """Take the checked workflow step on its alert; return the new status. A step the alert's status does not
    allow now is a 4xx in the reader's language, and a line in the audit log."""
    alert_id, user = acting.alert["id"], acting.user
    try:
        with desk.pool.connection() as conn, conn.transaction():
            return transition(conn, alert_id, acting.step, user.username, user.role, **step)
    except TransitionRefused as exc:
        raise refusal(desk, user, alert_id, acting.step, exc) from None


def back_to(acting: Acting) -> RedirectResponse:
    return RedirectResponse(f"/alerts/{acting.alert['id']}", status_code=303)


@router.post("/alerts/{alert_id}/verdict")
def verdict(request: Request, desk: Desk, acting: Annotated[Acting, Depends(may_take("verdict"))],
            verdict: Annotated[str, Form(pattern="^(confirmed|false_alarm|needs_follow_up)$")], note: Note = ""):
    take(desk, acting, verdict=verdict, detail={"note": note})
    # On to the next alert that needs a verdict (the queue), or back to this one when none is left.
    following = next_unreviewed(request, desk, acting.user) or acting.alert["id"]
    return RedirectResponse(f"/alerts/{following}", status_code=303)


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge(desk: Desk, acting: Annotated[Acting, Depends(may_take("acknowledge"))]):
    take(desk, acting, detail={"via": "review desk"})
    return back_to(acting)


@router.post("/alerts/{alert_id}/close")
def close(desk: Desk, acting: Annotated[Acting, Depends(may_take("close"))]):
    take(desk, acting)  # a false alarm's clip is unlocked (alerts/workflow.py)
    return back_to(acting)


@router.post("/alerts/{alert_id}/reopen")
def reopen(desk: Desk, acting: Annotated[Acting, Depends(may_take("reopen"))],
           reason: Annotated[str, Form(max_length=REASON_MAX)] = ""):
    """Closed is final but for this: a supervisor (or admin) reopens a closed alert, saying why (a missing reason
    is the workflow's 422, worded for the reader, not a bare validation error)."""
    take(desk, acting, reason=reason)
    return back_to(acting)


def rectifying(desk: Desk, user: PostingUser, alert_id: DbId,
               step: Annotated[str, Form(pattern="^(rectified|verified|rejected)$")]) -> Acting:
    """A business alert's rectification step, if the user's role takes it: the unit's side (commander) marks it
    rectified, the supervision centre (supervisor, admin) verifies or rejects it."""
    if user.role not in (CAN_ACKNOWLEDGE if step == "rectified" else CAN_CLOSE):
        raise HTTPException(403, N_("Your role cannot take this rectification step."))
    return Acting(user, alert_in_scope(desk, user, alert_id), step)


@router.post("/alerts/{alert_id}/rectification")
def rectification(desk: Desk, acting: Annotated[Acting, Depends(rectifying)], note: Note = ""):
    try:
        with desk.pool.connection() as conn, conn.transaction():
            rectification_step(conn, acting.alert["id"], acting.step, acting.user.username, note)
    except RectificationError as exc:
        raise HTTPException(409, str(exc)) from None
    return back_to(acting)
