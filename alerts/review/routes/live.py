# FastAPI reads the annotations at run time: no `from __future__ import annotations`.
"""A camera's live view (alerts/review/live.py does the WebRTC): the page, and the offer its script posts with the
session's CSRF token in a header. Only cameras of the user's sites that have a live source exist here."""

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi import Path as FastAPIPath
from fastapi.responses import HTMLResponse, JSONResponse

from alerts.review.deps import ID_PATTERN, CurrentUser, Desk, ScriptUser, audit, desk_router, render
from alerts.review.live import LiveRefused
from i18n import N_

router = desk_router()
CameraId = Annotated[str, FastAPIPath(pattern=ID_PATTERN)]


def visible_camera(desk: Desk, user: CurrentUser, camera_id: CameraId) -> str:
    """The camera's name, if it is of one of the user's sites and has a live source; else 404."""
    with desk.pool.connection() as conn:
        row = conn.execute("SELECT site_id, name FROM cameras WHERE id = %s", (camera_id,)).fetchone()
    if row is None or not user.may_see(row[0]) or not desk.hub.has(camera_id):
        raise HTTPException(404, N_("camera not found"))
    return row[1]


CameraName = Annotated[str, Depends(visible_camera)]


@router.get("/cameras/{camera_id}/live", response_class=HTMLResponse)
def live_page(request: Request, desk: Desk, user: CurrentUser, camera_id: CameraId, name: CameraName):
    audit(desk, user.username, "live_view", f"camera:{camera_id}", {})
    return render(request, "live.html", {"camera_id": camera_id, "camera_name": name}, user)


@router.post("/cameras/{camera_id}/live/offer")
async def live_offer(request: Request, desk: Desk, user: ScriptUser, camera_id: CameraId, _camera: CameraName):
    """The browser's WebRTC offer; the answer, or 429 / 503 with the reason when the caps allow no more views."""
    body = await request.json()
    if not isinstance(body, dict) or body.get("type") != "offer" or not isinstance(body.get("sdp"), str) \
            or len(body["sdp"]) > 20_000:
        raise HTTPException(422, "expected a JSON WebRTC offer {sdp, type: 'offer'}")
    try:
        answer = await desk.hub.answer(camera_id, body["sdp"], "offer", user.username)
    except LiveRefused as refused:  # the page's script shows `detail` as it is: in the reader's language
        locale = request.session.get("locale") or user.locale
        return JSONResponse({"detail": refused.text(locale)}, status_code=refused.status,
                            headers={"Retry-After": "10"})
    return {"sdp": answer.sdp, "type": answer.type}
