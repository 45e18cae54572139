# FastAPI reads the annotations at run time: no `from __future__ import annotations`.
"""Signed links from pushes (a commander's phone, no login): GET shows the alert, only the POST from that page
acknowledges it, because chat apps fetch links to preview them. The signed token is the whole check: it names
one alert and one action and expires (alerts/links.py); no session, so no CSRF token either."""

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from alerts.links import LinkClaim
from alerts.review.deps import Desk, DeskState, alert_row, desk_router, evidence_file, render
from alerts.workflow import LINK, TransitionRefused, transition
from i18n import N_

router = desk_router()


async def link_claim(desk: Desk, token: str) -> LinkClaim:  # async: an HMAC, no I/O
    """What the path's signed link says, if it is valid and an acknowledge link; else 403."""
    claim = desk.links.verify(token) if desk.links is not None and len(token) < 512 else None
    if claim is None or claim.action != "acknowledge":
        raise HTTPException(403, N_("this link is invalid or has expired"))
    return claim


ValidLink = Annotated[LinkClaim, Depends(link_claim)]


def ack_page_for(request: Request, desk: DeskState, claim: LinkClaim, token: str, done: bool | None) -> HTMLResponse:
    alert = alert_row(desk, claim.alert_id)  # a vanished alert is alert_row's 404
    return render(request, "ack.html", {"alert": alert, "alert_id": claim.alert_id, "token": token, "done": done},
                  timezone=alert["site_timezone"])


@router.get("/ack/{token}", response_class=HTMLResponse)
def ack_page(request: Request, desk: Desk, token: str, claim: ValidLink):
    return ack_page_for(request, desk, claim, token, None)


@router.get("/ack/{token}/snapshot.jpg")
def ack_snapshot(desk: Desk, claim: ValidLink):
    """The alert's snapshot for the holder of its signed link."""
    return evidence_file(desk, alert_row(desk, claim.alert_id)["snapshot_path"], "image/jpeg")


@router.post("/ack/{token}", response_class=HTMLResponse)
def ack_by_link(request: Request, desk: Desk, token: str, claim: ValidLink):
    try:
        with desk.pool.connection() as conn, conn.transaction():
            transition(conn, claim.alert_id, "acknowledge", f"link:{claim.channel}", LINK,
                       detail={"via": "signed link"})
        done = True
    except TransitionRefused:  # no longer open: the page says so
        done = False
    return ack_page_for(request, desk, claim, token, done)
