# FastAPI reads the annotations at run time, closures included: no `from __future__ import annotations`.
"""The auditor's review desk: login, alert list, alert page with clip and snapshot, verdicts, audit trail.

Server-rendered (FastAPI + Jinja2). Every page needs a session; every state change needs the session's
CSRF token; every alert is checked against the user's sites (an alert of another site is "not found",
so its existence does not leak); every view and verdict lands in `audit_log`.
"""


import secrets
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi import Path as FastAPIPath
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware

from alerts.business import RectificationError, rectification_step
from alerts.links import LinkSigner
from alerts.review.auth import (
    CAN_ACKNOWLEDGE,
    CAN_CLOSE,
    CAN_GIVE_VERDICT,
    LoginLimiter,
    User,
    authenticate,
    load_user,
)
from alerts.review.live import LiveHub

VERDICTS = {"confirmed": "Violation confirmed", "false_alarm": "False alarm", "needs_follow_up": "Needs follow-up"}
STATUSES = ("open", "acknowledged", "reviewed", "closed")
_ID = r"^[A-Za-z0-9_.:-]{1,64}$"

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


class _LoginRequired(Exception):
    pass


def create_app(dsn: str, session_secret: str, evidence_root: Path, *, https_only: bool = False,
               limiter: LoginLimiter | None = None, pool: ConnectionPool | None = None,
               links: LinkSigner | None = None, live_sources: dict[str, str] | None = None,
               reports_root: Path | None = None) -> FastAPI:
    """The review app. `evidence_root` (and `reports_root`, the report archive): only files below them are
    ever served."""
    if len(session_secret) < 32:
        raise ValueError("the session secret needs at least 32 characters")
    pool = pool or ConnectionPool(dsn, min_size=1, max_size=4, kwargs={"application_name": "jianguan-review"},
                                  open=True)
    limiter = limiter or LoginLimiter()
    evidence_root = evidence_root.resolve()
    app = FastAPI(title="jianguan review", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    hub = LiveHub(live_sources or {})
    app.router.add_event_handler("shutdown", hub.close)
    app.add_middleware(SessionMiddleware, secret_key=session_secret, session_cookie="jianguan_session",
                       max_age=8 * 3600, same_site="strict", https_only=https_only)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self'; media-src 'self'; style-src 'self' 'unsafe-inline';"
            " frame-ancestors 'none'; form-action 'self'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(_LoginRequired)
    async def to_login(request: Request, exc: _LoginRequired):
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    def audit(actor: str, action: str, obj: str, detail: dict[str, Any]) -> None:
        with pool.connection() as conn:
            conn.execute("INSERT INTO audit_log (actor, action, object, detail) VALUES (%s, %s, %s, %s)",
                         (actor, action, obj, Jsonb(detail)))

    def current_user(request: Request) -> User:
        uid = request.session.get("uid")
        if not isinstance(uid, int):
            raise _LoginRequired()
        with pool.connection() as conn:
            user = load_user(conn, uid)
        if user is None:
            request.session.clear()
            raise _LoginRequired()
        return user

    def check_csrf(request: Request, token: str) -> None:
        expected = request.session.get("csrf")
        if not expected or not secrets.compare_digest(str(expected), token):
            raise HTTPException(403, "invalid or missing CSRF token; reload the page")

    def alert_for(user: User, alert_id: int) -> dict[str, Any]:
        with pool.connection() as conn:
            cur = conn.execute(
                "SELECT a.*, COALESCE(c.name, a.source_id) AS camera_name, s.name AS site_name, i.confidence,"
                " i.evidence, i.track_ids, k.path AS clip_path, k.sha256 AS clip_sha256,"
                " k.started_at AS clip_started_at, k.ended_at AS clip_ended_at,"
                " u.name AS unit_name, r.status AS rect_status, r.note AS rect_note"
                # business alerts (migration 0007) have no camera: a LEFT JOIN, named by their source
                " FROM alerts a LEFT JOIN cameras c ON c.id = a.camera_id JOIN sites s ON s.id = a.site_id"
                " LEFT JOIN incidents i ON i.id = a.incident_id LEFT JOIN clips k ON k.id = a.clip_id"
                " LEFT JOIN units u ON u.id = a.unit_id LEFT JOIN rectifications r ON r.alert_id = a.id"
                " WHERE a.id = %s", (alert_id,))
            row = cur.fetchone()
            names = [d.name for d in cur.description]
        if row is None:
            raise HTTPException(404, "alert not found")
        alert = dict(zip(names, row, strict=True))
        if not user.may_see(alert["site_id"]):
            audit(user.username, "denied", f"alert:{alert_id}", {"site_id": alert["site_id"]})
            raise HTTPException(404, "alert not found")
        return alert

    def evidence_file(path: str | None, media_type: str) -> FileResponse:
        if not path:
            raise HTTPException(404, "no such evidence")
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(evidence_root) or not resolved.is_file():
            raise HTTPException(404, "no such evidence")
        return FileResponse(resolved, media_type=media_type)

    # -- login -------------------------------------------------------------------------------------
    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/alerts"):
        request.session.setdefault("csrf", secrets.token_urlsafe(32))
        return TEMPLATES.TemplateResponse(request, "login.html", {"next": _safe_next(next), "error": None,
                                                                  "csrf": request.session["csrf"]})

    @app.post("/login")
    def login(request: Request, username: Annotated[str, Form(max_length=64)],
              password: Annotated[str, Form(max_length=256)], csrf: Annotated[str, Form(max_length=128)],
              next: Annotated[str, Form(max_length=256)] = "/alerts"):
        check_csrf(request, csrf)
        client = request.client.host if request.client else "?"
        keys = (f"user:{username}", f"ip:{client}")
        error = None
        if limiter.blocked(*keys):
            error = "Too many failed attempts; wait a few minutes."
        else:
            with pool.connection() as conn:
                user = authenticate(conn, username, password)
            if user is None:
                limiter.failed(*keys)
                audit(username, "login_failed", "session", {"client": client})
                error = "Wrong user name or password."
        if error:
            return TEMPLATES.TemplateResponse(request, "login.html", {"next": _safe_next(next), "error": error,
                                                                      "csrf": request.session["csrf"]},
                                              status_code=429 if "Too many" in error else 401)
        limiter.succeeded(keys[0])
        request.session.clear()  # a fresh session on login: no fixation
        request.session.update({"uid": user.id, "csrf": secrets.token_urlsafe(32)})
        audit(user.username, "login", "session", {"client": client})
        return RedirectResponse(_safe_next(next), status_code=303)

    @app.post("/logout")
    def logout(request: Request, csrf: Annotated[str, Form(max_length=128)]):
        check_csrf(request, csrf)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    # -- alerts ------------------------------------------------------------------------------------
    @app.get("/")
    def root():
        return RedirectResponse("/alerts", status_code=303)

    @app.get("/alerts", response_class=HTMLResponse)
    def alert_list(request: Request, user: Annotated[User, Depends(current_user)],
                   site: Annotated[str | None, Query(pattern=_ID)] = None,
                   camera: Annotated[str | None, Query(pattern=_ID)] = None,
                   rule: Annotated[str | None, Query(pattern=_ID)] = None,
                   status: Annotated[str | None, Query(pattern="^(open|acknowledged|reviewed|closed)$")] = None,
                   since: date | None = None, until: date | None = None,
                   limit: Annotated[int, Query(ge=1, le=500)] = 100):
        where, args = [], []
        if not user.all_sites:
            where.append("a.site_id = ANY(%s)")
            args.append(list(user.sites))
        for column, value in (("a.site_id", site), ("a.camera_id", camera), ("a.rule", rule),
                              ("a.status", status)):
            if value:
                where.append(f"{column} = %s")
                args.append(value)
        if since:
            where.append("a.started_at >= %s")
            args.append(datetime.combine(since, time.min).astimezone())
        if until:
            where.append("a.started_at < %s")
            args.append(datetime.combine(until + timedelta(days=1), time.min).astimezone())
        sql = ("SELECT a.id, a.started_at, a.ended_at, a.site_id, COALESCE(c.name, a.source_id), a.camera_id,"
               " a.rule, a.zone_id, a.severity, a.status, a.verdict, a.title"
               " FROM alerts a LEFT JOIN cameras c ON c.id = a.camera_id"
               + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY a.started_at DESC LIMIT %s")
        with pool.connection() as conn:
            rows = conn.execute(sql, (*args, limit)).fetchall()
        keys = ("id", "started_at", "ended_at", "site_id", "camera_name", "camera_id", "rule", "zone_id",
                "severity", "status", "verdict", "title")
        alerts = [dict(zip(keys, r, strict=True)) for r in rows]
        filters = {"site": site or "", "camera": camera or "", "rule": rule or "", "status": status or "",
                   "since": since.isoformat() if since else "", "until": until.isoformat() if until else ""}
        return TEMPLATES.TemplateResponse(request, "list.html", {
            "user": user, "alerts": alerts, "filters": filters, "statuses": STATUSES,
            "csrf": request.session.get("csrf"), "verdicts": VERDICTS})

    @app.get("/alerts/{alert_id}", response_class=HTMLResponse)
    def alert_page(request: Request, alert_id: int, user: Annotated[User, Depends(current_user)]):
        alert = alert_for(user, alert_id)
        with pool.connection() as conn:
            events = conn.execute("SELECT at, actor, action, detail FROM alert_events WHERE alert_id = %s"
                                  " ORDER BY at, id", (alert_id,)).fetchall()
        audit(user.username, "view", f"alert:{alert_id}", {})
        return TEMPLATES.TemplateResponse(request, "alert.html", {
            "user": user, "alert": alert, "events": events, "verdicts": VERDICTS,
            "csrf": request.session.get("csrf"),
            "can_verdict": user.role in CAN_GIVE_VERDICT, "can_ack": user.role in CAN_ACKNOWLEDGE,
            "can_close": user.role in CAN_CLOSE, "has_live": hub.has(alert["camera_id"])})

    @app.get("/alerts/{alert_id}/clip.mp4")
    def clip(alert_id: int, user: Annotated[User, Depends(current_user)]):
        return evidence_file(alert_for(user, alert_id)["clip_path"], "video/mp4")

    @app.get("/alerts/{alert_id}/snapshot.jpg")
    def snapshot(alert_id: int, user: Annotated[User, Depends(current_user)]):
        return evidence_file(alert_for(user, alert_id)["snapshot_path"], "image/jpeg")

    @app.post("/alerts/{alert_id}/verdict")
    def verdict(request: Request, alert_id: int, user: Annotated[User, Depends(current_user)],
                verdict: Annotated[str, Form(pattern="^(confirmed|false_alarm|needs_follow_up)$")],
                csrf: Annotated[str, Form(max_length=128)],
                note: Annotated[str, Form(max_length=2000)] = ""):
        check_csrf(request, csrf)
        if user.role not in CAN_GIVE_VERDICT:
            raise HTTPException(403, f"a {user.role} cannot give verdicts")
        alert = alert_for(user, alert_id)
        detail = {"verdict": verdict, "note": note, "previous": alert["verdict"]}
        with pool.connection() as conn, conn.transaction():
            conn.execute("UPDATE alerts SET verdict = %s, status = 'reviewed', updated_at = now() WHERE id = %s",
                         (verdict, alert_id))
            _trail(conn, alert_id, user.username, "verdict", "verdict", detail)
        return RedirectResponse(f"/alerts/{alert_id}", status_code=303)

    @app.post("/alerts/{alert_id}/acknowledge")
    def acknowledge(request: Request, alert_id: int, user: Annotated[User, Depends(current_user)],
                    csrf: Annotated[str, Form(max_length=128)]):
        check_csrf(request, csrf)
        if user.role not in CAN_ACKNOWLEDGE:
            raise HTTPException(403, f"a {user.role} cannot acknowledge alerts")
        alert_for(user, alert_id)
        _acknowledge(alert_id, user.username, "review desk")
        return RedirectResponse(f"/alerts/{alert_id}", status_code=303)

    def _acknowledge(alert_id: int, actor: str, via: str) -> bool:
        with pool.connection() as conn, conn.transaction():
            updated = conn.execute("UPDATE alerts SET status = 'acknowledged', updated_at = now()"
                                   " WHERE id = %s AND status = 'open' RETURNING id", (alert_id,)).fetchone()
            if updated:
                _trail(conn, alert_id, actor, "acknowledged", "acknowledge", {"via": via})
        return bool(updated)

    @app.post("/alerts/{alert_id}/close")
    def close(request: Request, alert_id: int, user: Annotated[User, Depends(current_user)],
              csrf: Annotated[str, Form(max_length=128)]):
        check_csrf(request, csrf)
        if user.role not in CAN_CLOSE:
            raise HTTPException(403, f"a {user.role} cannot close alerts")
        alert = alert_for(user, alert_id)
        if alert["status"] != "reviewed":
            raise HTTPException(409, "only a reviewed alert can be closed")
        with pool.connection() as conn, conn.transaction():
            conn.execute("UPDATE alerts SET status = 'closed', updated_at = now() WHERE id = %s", (alert_id,))
            # Evidence stays locked unless the verdict says there was nothing to keep it for.
            if alert["verdict"] == "false_alarm" and alert["clip_id"]:
                conn.execute("UPDATE clips SET locked = false WHERE id = %s", (alert["clip_id"],))
            _trail(conn, alert_id, user.username, "closed", "close", {})
        return RedirectResponse(f"/alerts/{alert_id}", status_code=303)

    @app.post("/alerts/{alert_id}/rectification")
    def rectification(request: Request, alert_id: int, user: Annotated[User, Depends(current_user)],
                      step: Annotated[str, Form(pattern="^(rectified|verified|rejected)$")],
                      csrf: Annotated[str, Form(max_length=128)],
                      note: Annotated[str, Form(max_length=2000)] = ""):
        """A business alert's rectification: the unit's side (commander) marks it rectified, the supervision
        centre (supervisor, admin) verifies or rejects it."""
        check_csrf(request, csrf)
        allowed = CAN_ACKNOWLEDGE if step == "rectified" else CAN_CLOSE
        if user.role not in allowed:
            raise HTTPException(403, f"a {user.role} cannot mark a rectification {step}")
        alert_for(user, alert_id)
        try:
            with pool.connection() as conn, conn.transaction():
                rectification_step(conn, alert_id, step, user.username, note)
        except RectificationError as exc:
            raise HTTPException(409, str(exc)) from None
        return RedirectResponse(f"/alerts/{alert_id}", status_code=303)

    # -- signed links from pushes: GET shows, only POST acts (link previewers must not acknowledge) ---
    def _claim(token: str):
        claim = links.verify(token) if links is not None and len(token) < 512 else None
        if claim is None or claim.action != "acknowledge":
            raise HTTPException(403, "this link is invalid or has expired")
        return claim

    @app.get("/ack/{token}", response_class=HTMLResponse)
    def ack_page(request: Request, token: str):
        claim = _claim(token)
        return TEMPLATES.TemplateResponse(request, "ack.html", {"user": None, "alert_id": claim.alert_id,
                                                                "token": token, "done": None})

    @app.post("/ack/{token}", response_class=HTMLResponse)
    def ack_by_link(request: Request, token: str):
        claim = _claim(token)
        done = _acknowledge(claim.alert_id, f"link:{claim.channel}", "signed link")
        return TEMPLATES.TemplateResponse(request, "ack.html", {"user": None, "alert_id": claim.alert_id,
                                                                "token": token, "done": done})

    # -- live view ---------------------------------------------------------------------------------
    def camera_for(user: User, camera_id: str) -> tuple[str, str]:
        with pool.connection() as conn:
            row = conn.execute("SELECT site_id, name FROM cameras WHERE id = %s", (camera_id,)).fetchone()
        if row is None or not user.may_see(row[0]) or not hub.has(camera_id):
            raise HTTPException(404, "camera not found")
        return row[0], row[1]

    @app.get("/cameras/{camera_id}/live", response_class=HTMLResponse)
    def live_page(request: Request, camera_id: Annotated[str, FastAPIPath(pattern=_ID)],
                  user: Annotated[User, Depends(current_user)]):
        _, name = camera_for(user, camera_id)
        audit(user.username, "live_view", f"camera:{camera_id}", {})
        return TEMPLATES.TemplateResponse(request, "live.html", {"user": user, "camera_id": camera_id,
                                                                 "camera_name": name,
                                                                 "csrf": request.session.get("csrf")})

    @app.post("/cameras/{camera_id}/live/offer")
    async def live_offer(request: Request, camera_id: Annotated[str, FastAPIPath(pattern=_ID)],
                         user: Annotated[User, Depends(current_user)]):
        check_csrf(request, request.headers.get("x-csrf-token", ""))
        await run_in_threadpool(camera_for, user, camera_id)
        body = await request.json()
        if not isinstance(body, dict) or body.get("type") != "offer" or not isinstance(body.get("sdp"), str) \
                or len(body["sdp"]) > 20_000:
            raise HTTPException(422, "expected a JSON WebRTC offer {sdp, type: 'offer'}")
        answer = await hub.answer(camera_id, body["sdp"], "offer")
        return {"sdp": answer.sdp, "type": answer.type}

    @app.get("/reports/{report_id}", response_class=HTMLResponse)
    def report_page(report_id: int, user: Annotated[User, Depends(current_user)],
                    format: Annotated[str, Query(pattern="^(html|pdf)$")] = "html"):  # noqa: A002
        """An archived supervision report (the link pushed to commanders), for users of its site."""
        with pool.connection() as conn:
            row = conn.execute("SELECT site_id, html_path, pdf_path FROM reports WHERE id = %s",
                               (report_id,)).fetchone()
        if row is None or not user.may_see(row[0]):
            if row is not None:
                audit(user.username, "denied", f"report:{report_id}", {"site_id": row[0]})
            raise HTTPException(404, "report not found")
        path = row[1] if format == "html" else row[2]
        if not path or reports_root is None:
            raise HTTPException(404, "report file not archived here")
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(reports_root.resolve()) or not resolved.is_file():
            raise HTTPException(404, "report file not archived here")
        audit(user.username, "view", f"report:{report_id}", {"format": format})
        return FileResponse(resolved, media_type="text/html" if format == "html" else "application/pdf")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok", media_type="text/plain")

    app.state.pool = pool
    return app


def _trail(conn, alert_id: int, actor: str, event: str, audit_action: str, detail: dict[str, Any]) -> None:
    """One lifecycle step, in the caller's transaction: on the alert's timeline and in the audit log."""
    conn.execute("INSERT INTO alert_events (alert_id, actor, action, detail) VALUES (%s, %s, %s, %s)",
                 (alert_id, actor, event, Jsonb(detail)))
    conn.execute("INSERT INTO audit_log (actor, action, object, detail) VALUES (%s, %s, %s, %s)",
                 (actor, audit_action, f"alert:{alert_id}", Jsonb(detail)))


def _safe_next(target: str) -> str:
    """Only local paths: an open redirect after login would hand phishers a trusted link."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/alerts"
