# FastAPI reads the annotations at run time, closures included: no `from __future__ import annotations`.
"""The auditor's review desk: login, alert list, alert page with clip and snapshot, verdicts, audit trail.

Server-rendered (FastAPI + Jinja2). Every page needs a session; every state change needs the session's
CSRF token; every alert is checked against the user's sites (an alert of another site is "not found",
so its existence does not leak); every view and verdict lands in `audit_log`.
"""


import json
import math
import secrets
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi import Path as FastAPIPath
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from alerts.business import RectificationError, rectification_step
from alerts.links import LinkSigner
from alerts.review.auth import (
    CAN_ACKNOWLEDGE,
    CAN_CLOSE,
    CAN_GIVE_VERDICT,
    SESSION_IDLE_S,
    SESSION_LIFETIME_S,
    AutoSecureCookie,
    LoginLimiter,
    User,
    authenticate,
    client_address,
    end_sessions,
    session_user,
    start_session,
    trusted_networks,
)
from alerts.review.live import PER_USER as LIVE_PER_USER
from alerts.review.live import TOTAL as LIVE_TOTAL
from alerts.review.live import LiveHub, LiveRefused
from alerts.review.texts import DEFAULT_TIMEZONE, STATUSES, VERDICTS, page_context
from alerts.workflow import LINK, REASON_MAX, TransitionRefused, allowed_actions, check_role, transition
from analytics.texts import AREAS
from i18n import LOCALES, N_, gettext, normalise

STATUS_ORDER = tuple(STATUSES)
_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
# Ids are PostgreSQL bigints: a larger number in a path is refused (422) before it reaches any SQL.
DbId = Annotated[int, FastAPIPath(ge=1, le=2**63 - 1)]
# The alert list's days: a wider range overflows datetime at the day's edges (a 500 before issue 18).
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)
NUL_REFUSED = N_("The request contains a NUL character, which no field may hold.")

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


class _LoginRequired(Exception):
    pass


_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


async def refuse_nul(request: Request) -> None:
    """Every route's first dependency: a NUL character in a path, query or form value is refused (400) before
    any handler sees it. No person types one, PostgreSQL text cannot hold one (the driver's error was a 500),
    and one check here covers every field of every route, the login form's too."""
    values = [*request.path_params.values(), *(x for kv in request.query_params.multi_items() for x in kv)]
    if request.headers.get("content-type", "").startswith(_FORMS):
        form = await request.form()  # parsed once: FastAPI has read it already for the handler's fields
        values += [x for kv in form.multi_items() for x in kv if isinstance(x, str)]
    if any("\x00" in str(v) for v in values):
        raise HTTPException(400, NUL_REFUSED)


def create_app(dsn: str, session_secret: str, evidence_root: Path, *, secure_cookies: bool | None = None,
               session_lifetime_s: float = SESSION_LIFETIME_S, session_idle_s: float = SESSION_IDLE_S,
               trusted_proxies: tuple[str, ...] = (),
               limiter: LoginLimiter | None = None, pool: ConnectionPool | None = None,
               links: LinkSigner | None = None, live_sources: dict[str, str] | None = None,
               live_per_user: int = LIVE_PER_USER, live_max: int = LIVE_TOTAL,
               reports_root: Path | None = None) -> FastAPI:
    """The review app. `evidence_root` (and `reports_root`, the report archive): only files below them are
    ever served.

    Sessions live in `desk_sessions` for `session_lifetime_s` at most, and end after `session_idle_s` unused.
    `secure_cookies`: True/False force the cookie's Secure flag; None decides per request (auth.
    wants_secure_cookie: on over TLS and off the loopback address, off for plain HTTP to 127.0.0.1).
    `trusted_proxies`: addresses or networks of reverse proxies whose X-Forwarded-For names the client
    (for login throttling and the audit); none by default, so the header is never believed unasked."""
    if len(session_secret) < 32:
        raise ValueError("the session secret needs at least 32 characters")
    pool = pool or ConnectionPool(dsn, min_size=1, max_size=4, kwargs={"application_name": "jianguan-review"},
                                  open=True)
    limiter = limiter or LoginLimiter()
    proxies = trusted_networks(trusted_proxies)
    evidence_root = evidence_root.resolve()
    app = FastAPI(title="jianguan review", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(refuse_nul)])
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    # Each live view costs a video encoder here: `live_per_user` views per user, `live_max` in all.
    hub = LiveHub(live_sources or {}, per_user=live_per_user, total=live_max)
    app.router.add_event_handler("shutdown", hub.close)
    # The signed cookie holds the session token (checked against desk_sessions), the CSRF token, the language
    # and the queue's filters; its own max_age only bounds how long the browser keeps it.
    app.add_middleware(SessionMiddleware, secret_key=session_secret, session_cookie="jianguan_session",
                       max_age=int(session_lifetime_s), same_site="strict", https_only=secure_cookies is True)
    if secure_cookies is None:  # added after, so it wraps SessionMiddleware and sees its Set-Cookie
        app.add_middleware(AutoSecureCookie, cookie="jianguan_session")

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        # An archived report carries its charts inline as data: images (one self-contained file, as pushed to
        # commanders): allowed for that route only.
        images = "'self' data:" if request.url.path.startswith("/reports/") else "'self'"
        response.headers["Content-Security-Policy"] = (
            f"default-src 'self'; img-src {images}; media-src 'self'; style-src 'self' 'unsafe-inline';"
            " frame-ancestors 'none'; form-action 'self'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(_LoginRequired)
    async def to_login(request: Request, exc: _LoginRequired):
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def error_page(request: Request, exc: StarletteHTTPException):
        """A page a person can read (in their language) instead of JSON; scripts asking for JSON get JSON."""
        if wants_json(request):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        return error_response(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid_input(request: Request, exc: RequestValidationError):
        """A value that does not fit its field (no such date, a number too large, text too long): 422 with a
        page naming the fields in the reader's language, not FastAPI's English JSON (scripts still get that)."""
        if wants_json(request):
            return await request_validation_exception_handler(request, exc)
        fields = ", ".join(sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")}))
        return error_response(request, 422, N_("These fields hold a value that cannot be used: {fields}."),
                              fields=fields)

    @app.exception_handler(json.JSONDecodeError)
    async def not_json(request: Request, exc: json.JSONDecodeError):
        """A body a handler reads as JSON (the live view's offer) that is none: the sender's fault, 400."""
        detail = N_("The request body is not valid JSON.")
        if wants_json(request):
            return JSONResponse({"detail": detail}, status_code=400)
        return error_response(request, 400, detail)

    def wants_json(request: Request) -> bool:
        accept = request.headers.get("accept", "")
        return "text/html" not in accept and "application/json" in accept

    def error_response(request: Request, status_code: int, msgid: str, **values: object) -> HTMLResponse:
        """The error page in the reader's language (their choice this session), `values` in its placeholders."""
        locale = request.session.get("locale") if "session" in request.scope else None
        text = gettext(msgid, locale)
        return TEMPLATES.TemplateResponse(request, "error.html", {
            "user": None, "status": status_code, "detail": text.format(**values) if values else text,
            **page_context(locale, None)}, status_code=status_code)

    def render(request: Request, template: str, context: dict[str, Any], user: User | None = None,
               timezone: str | None = None, status_code: int = 200) -> HTMLResponse:
        """A desk page in the reader's language (their choice this session, else their account's, else
        zh_CN) with times at `timezone` (the site's)."""
        locale = request.session.get("locale") or (user.locale if user else None)
        return TEMPLATES.TemplateResponse(request, template, {
            "user": user, "csrf": request.session.get("csrf"), "locales": LOCALES, **context,
            **page_context(locale, timezone)}, status_code=status_code)

    def desk_timezone(user: User) -> str:
        """The zone the alert list's days and times are in: the user's (first) site's."""
        with pool.connection() as conn:
            row = conn.execute("SELECT timezone FROM sites WHERE %s OR id = ANY(%s) ORDER BY id LIMIT 1",
                               (user.all_sites, list(user.sites))).fetchone()
        return row[0] if row else DEFAULT_TIMEZONE

    def audit(actor: str, action: str, obj: str, detail: dict[str, Any]) -> None:
        with pool.connection() as conn:
            conn.execute("INSERT INTO audit_log (actor, action, object, detail) VALUES (%s, %s, %s, %s)",
                         (actor, action, obj, Jsonb(detail)))

    def signed_in(request: Request) -> User | None:
        """The user of the request's session if it is still live server-side: a copied cookie is worth
        nothing once its session has ended (logout, account change, lifetime, idle)."""
        token = request.session.get("sid")
        if not isinstance(token, str):
            return None
        with pool.connection() as conn:
            user = session_user(conn, token, session_idle_s)
        if user is None:
            request.session.clear()
        return user

    def current_user(request: Request) -> User:
        user = signed_in(request)
        if user is None:
            raise _LoginRequired()
        return user

    def check_csrf(request: Request, token: str) -> None:
        expected = request.session.get("csrf")
        # As bytes: compare_digest refuses non-ASCII str (a TypeError, a 500, for a token like "é").
        if not expected or not secrets.compare_digest(str(expected).encode(), token.encode()):
            raise HTTPException(403, N_("invalid or missing CSRF token; reload the page"))

    def alert_row(alert_id: int) -> dict[str, Any]:
        """Everything the desk shows of one alert, for no one in particular (`alert_for` checks the user's
        sites; the acknowledge page's signed link is its own check)."""
        with pool.connection() as conn:
            cur = conn.execute(
                "SELECT a.*, COALESCE(c.name, a.source_id) AS camera_name, s.name AS site_name,"
                " s.timezone AS site_timezone, z.name AS zone_name, z.kind AS zone_kind, i.confidence,"
                " i.evidence, i.track_ids, k.path AS clip_path, k.sha256 AS clip_sha256,"
                " k.started_at AS clip_started_at, k.ended_at AS clip_ended_at,"
                " u.name AS unit_name, r.status AS rect_status, r.note AS rect_note"
                # business alerts (migration 0007) have no camera: a LEFT JOIN, named by their source
                " FROM alerts a LEFT JOIN cameras c ON c.id = a.camera_id JOIN sites s ON s.id = a.site_id"
                " LEFT JOIN incidents i ON i.id = a.incident_id LEFT JOIN clips k ON k.id = a.clip_id"
                " LEFT JOIN units u ON u.id = a.unit_id LEFT JOIN rectifications r ON r.alert_id = a.id"
                " LEFT JOIN zones z ON z.camera_id = a.camera_id AND z.id = a.zone_id"
                " WHERE a.id = %s", (alert_id,))
            row = cur.fetchone()
            names = [d.name for d in cur.description]
        if row is None:
            raise HTTPException(404, N_("alert not found"))
        return dict(zip(names, row, strict=True))

    def alert_for(user: User, alert_id: int) -> dict[str, Any]:
        alert = alert_row(alert_id)
        if not user.may_see(alert["site_id"]):
            audit(user.username, "denied", f"alert:{alert_id}", {"site_id": alert["site_id"]})
            raise HTTPException(404, N_("alert not found"))
        return alert

    def evidence_file(path: str | None, media_type: str) -> FileResponse:
        if not path:
            raise HTTPException(404, N_("no such evidence"))
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(evidence_root) or not resolved.is_file():
            raise HTTPException(404, N_("no such evidence"))
        return FileResponse(resolved, media_type=media_type)

    # -- login -------------------------------------------------------------------------------------
    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/alerts"):
        request.session.setdefault("csrf", secrets.token_urlsafe(32))
        return render(request, "login.html", {"next": _safe_next(next), "error": None})

    def client_of(request: Request) -> str:
        peer = request.client.host if request.client else "?"
        return client_address(peer, request.headers.get("x-forwarded-for"), proxies)

    @app.post("/login")
    def login(request: Request, username: Annotated[str, Form(max_length=64)],
              password: Annotated[str, Form(max_length=256)], csrf: Annotated[str, Form(max_length=128)],
              next: Annotated[str, Form(max_length=256)] = "/alerts"):
        check_csrf(request, csrf)
        client = client_of(request)
        wait = limiter.attempt(username, client)  # per (user, address): nobody else's failures hold this one up
        if wait > 0:
            seconds = math.ceil(wait)
            audit(username, "login_blocked", "session", {"client": client, "wait_s": seconds})
            response = render(request, "login.html", {
                "next": _safe_next(next), "error": N_("Too many failed attempts; try again in {seconds} s."),
                "error_values": {"seconds": seconds}}, status_code=429)
            response.headers["Retry-After"] = str(seconds)
            return response
        with pool.connection() as conn:
            user = authenticate(conn, username, password)
        if user is None:
            audit(username, "login_failed", "session", {"client": client})
            return render(request, "login.html", {
                "next": _safe_next(next), "error": N_("Wrong user name or password.")}, status_code=401)
        limiter.succeeded(username, client)
        with pool.connection() as conn:
            token = start_session(conn, user.id, client, session_lifetime_s, session_idle_s)
        locale = request.session.get("locale")  # a language picked on the login page carries over
        request.session.clear()  # a fresh session on login: no fixation
        request.session.update({"sid": token, "csrf": secrets.token_urlsafe(32)})
        if locale:
            request.session["locale"] = locale
        audit(user.username, "login", "session", {"client": client})
        return RedirectResponse(_safe_next(next), status_code=303)

    @app.post("/locale")
    def set_locale(request: Request, locale: Annotated[str, Form(pattern="^(zh_CN|en)$")],
                   csrf: Annotated[str, Form(max_length=128)], next: Annotated[str, Form(max_length=256)] = "/alerts"):
        """The reader's language: for this session, and kept on their account when logged in."""
        check_csrf(request, csrf)
        user = signed_in(request)  # only a live session may change an account (not a cookie kept after logout)
        request.session["locale"] = normalise(locale)
        if user is not None:
            with pool.connection() as conn:
                conn.execute("UPDATE users SET locale = %s WHERE id = %s", (normalise(locale), user.id))
        return RedirectResponse(_safe_next(next), status_code=303)

    @app.post("/logout")
    def logout(request: Request, csrf: Annotated[str, Form(max_length=128)]):
        """Ends every session of the user, not only this browser's (issue 18): a desk left logged in
        elsewhere, or a copied cookie, is worth nothing once its owner logs out anywhere."""
        check_csrf(request, csrf)
        user = signed_in(request)
        if user is not None:
            with pool.connection() as conn:
                ended = end_sessions(conn, user.id)
            audit(user.username, "logout", "session", {"client": client_of(request), "sessions_ended": ended})
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    # -- alerts ------------------------------------------------------------------------------------
    @app.get("/")
    def root():
        return RedirectResponse("/alerts", status_code=303)

    def queue_where(user: User, filters: dict[str, str], tz: ZoneInfo) -> tuple[str, list[Any]]:
        """The alert list's filters as SQL over `alerts a` joined to `cameras c` (the user's sites only)."""
        where, args = ["TRUE"], []
        if not user.all_sites:
            where.append("a.site_id = ANY(%s)")
            args.append(list(user.sites))
        for column, key in (("a.site_id", "site"), ("a.camera_id", "camera"), ("a.rule", "rule"),
                            ("a.status", "status"), ("c.area", "area")):
            if filters.get(key):
                where.append(f"{column} = %s")
                args.append(filters[key])
        if filters.get("since"):
            where.append("a.started_at >= %s")
            args.append(datetime.combine(date.fromisoformat(filters["since"]), time.min, tz))
        if filters.get("until"):
            where.append("a.started_at < %s")
            args.append(datetime.combine(date.fromisoformat(filters["until"]) + timedelta(days=1), time.min, tz))
        return " AND ".join(where), args

    # The queue's order: what still needs a verdict first (oldest first: it has waited longest), then the rest,
    # newest first. The list, the count and next/previous on an alert's page all use it.
    QUEUE_FROM = "FROM alerts a LEFT JOIN cameras c ON c.id = a.camera_id"
    QUEUE_ORDER = ("ORDER BY (a.status IN ('open', 'acknowledged')) DESC,"
                   " CASE WHEN a.status IN ('open', 'acknowledged') THEN a.started_at END ASC,"
                   " a.started_at DESC, a.id")

    @app.get("/alerts", response_class=HTMLResponse)
    def alert_list(request: Request, user: Annotated[User, Depends(current_user)],
                   site: Annotated[str | None, Query(pattern=_ID)] = None,
                   camera: Annotated[str | None, Query(pattern=_ID)] = None,
                   rule: Annotated[str | None, Query(pattern=_ID)] = None,
                   area: Annotated[str | None, Query(pattern=_ID)] = None,
                   status: Annotated[str | None, Query(pattern="^(open|acknowledged|reviewed|closed)$")] = None,
                   since: date | None = None, until: date | None = None,
                   limit: Annotated[int, Query(ge=1, le=500)] = 100):
        if any(day is not None and not FIRST_DAY <= day <= LAST_DAY for day in (since, until)):
            raise HTTPException(422, N_("Dates on the alert list must lie between 1970-01-01 and 2999-12-31."))
        filters = {"site": site or "", "camera": camera or "", "rule": rule or "", "area": area or "",
                   "status": status or "", "since": since.isoformat() if since else "",
                   "until": until.isoformat() if until else ""}
        request.session["queue"] = filters  # next/previous on an alert's page walk this list
        tz = ZoneInfo(desk_timezone(user))  # days start at the site's midnight, not the server's
        where, args = queue_where(user, filters, tz)
        sql = ("SELECT a.id, a.started_at, a.ended_at, a.site_id, COALESCE(c.name, a.source_id), a.camera_id,"
               " a.rule, a.zone_id, a.severity, a.status, a.verdict, a.title, z.name, i.evidence, s.name"
               " FROM alerts a LEFT JOIN cameras c ON c.id = a.camera_id JOIN sites s ON s.id = a.site_id"
               " LEFT JOIN zones z ON z.camera_id = a.camera_id AND z.id = a.zone_id"
               " LEFT JOIN incidents i ON i.id = a.incident_id"
               f" WHERE {where} {QUEUE_ORDER} LIMIT %s")
        with pool.connection() as conn:
            rows = conn.execute(sql, (*args, limit)).fetchall()
            (left,) = conn.execute(f"SELECT count(*) {QUEUE_FROM} WHERE {where}"
                                   " AND a.status IN ('open', 'acknowledged')", args).fetchone()
            mine, mine_args = queue_where(user, {}, tz)  # the rules of every alert the user may see
            rules = [r for (r,) in conn.execute(f"SELECT DISTINCT a.rule {QUEUE_FROM} WHERE {mine} ORDER BY 1",
                                                 mine_args)]
        keys = ("id", "started_at", "ended_at", "site_id", "camera_name", "camera_id", "rule", "zone_id",
                "severity", "status", "verdict", "title", "zone_name", "evidence", "site_name")
        alerts = [dict(zip(keys, r, strict=True)) for r in rows]
        return render(request, "list.html", {"alerts": alerts, "filters": filters, "statuses": STATUS_ORDER,
                                             "left": left, "rules": rules, "areas": tuple(AREAS)}, user, tz.key)

    def neighbours(request: Request, user: User, alert_id: int) -> tuple[int | None, int | None]:
        """The alerts before and after `alert_id` in the queue the user last listed (its filters)."""
        filters = request.session.get("queue") or {}
        where, args = queue_where(user, filters, ZoneInfo(desk_timezone(user)))
        with pool.connection() as conn:
            ids = [i for (i,) in conn.execute(f"SELECT a.id {QUEUE_FROM} WHERE {where} {QUEUE_ORDER} LIMIT 1000",
                                              args)]
        if alert_id not in ids:
            return None, (ids[0] if ids else None)
        at = ids.index(alert_id)
        return (ids[at - 1] if at > 0 else None), (ids[at + 1] if at + 1 < len(ids) else None)

    def next_unreviewed(request: Request, user: User) -> int | None:
        """The first alert of the user's queue that still needs a verdict."""
        filters = {**(request.session.get("queue") or {}), "status": ""}
        where, args = queue_where(user, filters, ZoneInfo(desk_timezone(user)))
        with pool.connection() as conn:
            row = conn.execute(f"SELECT a.id {QUEUE_FROM} WHERE {where} AND a.status IN ('open', 'acknowledged')"
                               f" {QUEUE_ORDER} LIMIT 1", args).fetchone()
        return row[0] if row else None

    @app.get("/alerts/{alert_id}", response_class=HTMLResponse)
    def alert_page(request: Request, alert_id: DbId, user: Annotated[User, Depends(current_user)]):
        alert = alert_for(user, alert_id)
        with pool.connection() as conn:
            events = conn.execute("SELECT at, actor, action, detail FROM alert_events WHERE alert_id = %s"
                                  " ORDER BY at, id", (alert_id,)).fetchall()
        audit(user.username, "view", f"alert:{alert_id}", {})
        previous, following = neighbours(request, user, alert_id)
        clip_offset = None
        if alert["clip_started_at"] is not None:  # where in the clip the alert was raised
            raised = datetime.fromtimestamp((alert["evidence"] or {}).get("raised_at") or
                                            alert["started_at"].timestamp(), alert["started_at"].tzinfo)
            clip_offset = max(0.0, (raised - alert["clip_started_at"]).total_seconds())
        return render(request, "alert.html", {
            "alert": alert, "events": events, "verdicts": tuple(VERDICTS), "previous": previous,
            "next": following, "clip_offset": clip_offset,
            "can_verdict": user.role in CAN_GIVE_VERDICT, "can_ack": user.role in CAN_ACKNOWLEDGE,
            "can_close": user.role in CAN_CLOSE, "has_live": hub.has(alert["camera_id"]),
            "actions": allowed_actions(alert["status"], user.role)}, user,
            alert["site_timezone"])

    @app.get("/alerts/{alert_id}/clip.mp4")
    def clip(alert_id: DbId, user: Annotated[User, Depends(current_user)]):
        return evidence_file(alert_for(user, alert_id)["clip_path"], "video/mp4")

    @app.get("/alerts/{alert_id}/snapshot.jpg")
    def snapshot(alert_id: DbId, user: Annotated[User, Depends(current_user)]):
        return evidence_file(alert_for(user, alert_id)["snapshot_path"], "image/jpeg")

    # Every change of an alert's status is a step of alerts/workflow.py's table, taken through `act`.
    def act(request: Request, user: User, alert_id: int, action: str, csrf: str, **step: Any) -> str:
        """Take the workflow step `action` on an alert of the user's sites; return its new status. A refused
        step is a 4xx in the reader's language, and a line in the audit log."""
        check_csrf(request, csrf)
        try:
            check_role(action, user.role)  # first, as before: a role that never may gets 403, not the site check
            alert_for(user, alert_id)
            with pool.connection() as conn, conn.transaction():
                return transition(conn, alert_id, action, user.username, user.role, **step)
        except TransitionRefused as exc:
            audit(user.username, "refused", f"alert:{alert_id}", {"action": action, "status": exc.status})
            raise HTTPException(exc.status_code, exc.msgid) from None

    @app.post("/alerts/{alert_id}/verdict")
    def verdict(request: Request, alert_id: DbId, user: Annotated[User, Depends(current_user)],
                verdict: Annotated[str, Form(pattern="^(confirmed|false_alarm|needs_follow_up)$")],
                csrf: Annotated[str, Form(max_length=128)],
                note: Annotated[str, Form(max_length=2000)] = ""):
        act(request, user, alert_id, "verdict", csrf, verdict=verdict, detail={"note": note})
        # On to the next alert that needs a verdict (the queue), or back to this one when none is left.
        return RedirectResponse(f"/alerts/{next_unreviewed(request, user) or alert_id}", status_code=303)

    @app.post("/alerts/{alert_id}/acknowledge")
    def acknowledge(request: Request, alert_id: DbId, user: Annotated[User, Depends(current_user)],
                    csrf: Annotated[str, Form(max_length=128)]):
        act(request, user, alert_id, "acknowledge", csrf, detail={"via": "review desk"})
        return RedirectResponse(f"/alerts/{alert_id}", status_code=303)

    @app.post("/alerts/{alert_id}/close")
    def close(request: Request, alert_id: DbId, user: Annotated[User, Depends(current_user)],
              csrf: Annotated[str, Form(max_length=128)]):
        act(request, user, alert_id, "close", csrf)  # a false alarm's clip is unlocked (alerts/workflow.py)
        return RedirectResponse(f"/alerts/{alert_id}", status_code=303)

    @app.post("/alerts/{alert_id}/reopen")
    def reopen(request: Request, alert_id: DbId, user: Annotated[User, Depends(current_user)],
               csrf: Annotated[str, Form(max_length=128)],
               reason: Annotated[str, Form(max_length=REASON_MAX)] = ""):
        """Closed is final but for this: a supervisor (or admin) reopens a closed alert, saying why (a missing
        reason is the workflow's 422, worded for the reader, not a bare validation error)."""
        act(request, user, alert_id, "reopen", csrf, reason=reason)
        return RedirectResponse(f"/alerts/{alert_id}", status_code=303)

    @app.post("/alerts/{alert_id}/rectification")
    def rectification(request: Request, alert_id: DbId, user: Annotated[User, Depends(current_user)],
                      step: Annotated[str, Form(pattern="^(rectified|verified|rejected)$")],
                      csrf: Annotated[str, Form(max_length=128)],
                      note: Annotated[str, Form(max_length=2000)] = ""):
        """A business alert's rectification: the unit's side (commander) marks it rectified, the supervision
        centre (supervisor, admin) verifies or rejects it."""
        check_csrf(request, csrf)
        allowed = CAN_ACKNOWLEDGE if step == "rectified" else CAN_CLOSE
        if user.role not in allowed:
            raise HTTPException(403, N_("Your role cannot take this rectification step."))
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
            raise HTTPException(403, N_("this link is invalid or has expired"))
        return claim

    @app.get("/ack/{token}", response_class=HTMLResponse)
    def ack_page(request: Request, token: str):
        claim = _claim(token)
        alert = alert_row(claim.alert_id)
        return render(request, "ack.html", {"alert": alert, "alert_id": claim.alert_id, "token": token,
                                            "done": None}, timezone=alert["site_timezone"])

    @app.get("/ack/{token}/snapshot.jpg")
    def ack_snapshot(token: str):
        """The alert's snapshot for the holder of its signed link (a commander's phone, no login)."""
        return evidence_file(alert_row(_claim(token).alert_id)["snapshot_path"], "image/jpeg")

    @app.post("/ack/{token}", response_class=HTMLResponse)
    def ack_by_link(request: Request, token: str):
        claim = _claim(token)
        try:
            with pool.connection() as conn, conn.transaction():
                transition(conn, claim.alert_id, "acknowledge", f"link:{claim.channel}", LINK,
                           detail={"via": "signed link"})
            done = True
        except TransitionRefused:  # no longer open: the page says so (a vanished alert is alert_row's 404)
            done = False
        alert = alert_row(claim.alert_id)
        return render(request, "ack.html", {"alert": alert, "alert_id": claim.alert_id, "token": token,
                                            "done": done}, timezone=alert["site_timezone"])

    # -- live view ---------------------------------------------------------------------------------
    def camera_for(user: User, camera_id: str) -> tuple[str, str]:
        with pool.connection() as conn:
            row = conn.execute("SELECT site_id, name FROM cameras WHERE id = %s", (camera_id,)).fetchone()
        if row is None or not user.may_see(row[0]) or not hub.has(camera_id):
            raise HTTPException(404, N_("camera not found"))
        return row[0], row[1]

    @app.get("/cameras/{camera_id}/live", response_class=HTMLResponse)
    def live_page(request: Request, camera_id: Annotated[str, FastAPIPath(pattern=_ID)],
                  user: Annotated[User, Depends(current_user)]):
        _, name = camera_for(user, camera_id)
        audit(user.username, "live_view", f"camera:{camera_id}", {})
        return render(request, "live.html", {"camera_id": camera_id, "camera_name": name}, user)

    @app.post("/cameras/{camera_id}/live/offer")
    async def live_offer(request: Request, camera_id: Annotated[str, FastAPIPath(pattern=_ID)],
                         user: Annotated[User, Depends(current_user)]):
        check_csrf(request, request.headers.get("x-csrf-token", ""))
        await run_in_threadpool(camera_for, user, camera_id)
        body = await request.json()
        if not isinstance(body, dict) or body.get("type") != "offer" or not isinstance(body.get("sdp"), str) \
                or len(body["sdp"]) > 20_000:
            raise HTTPException(422, "expected a JSON WebRTC offer {sdp, type: 'offer'}")
        try:
            answer = await hub.answer(camera_id, body["sdp"], "offer", user.username)
        except LiveRefused as refused:  # the page's script shows `detail` as it is: in the reader's language
            locale = request.session.get("locale") or user.locale
            return JSONResponse({"detail": refused.text(locale)}, status_code=refused.status,
                                headers={"Retry-After": "10"})
        return {"sdp": answer.sdp, "type": answer.type}

    @app.get("/reports/{report_id}", response_class=HTMLResponse)
    def report_page(report_id: DbId, user: Annotated[User, Depends(current_user)],
                    format: Annotated[str, Query(pattern="^(html|pdf)$")] = "html"):  # noqa: A002
        """An archived supervision report (the link pushed to commanders), for users of its site."""
        with pool.connection() as conn:
            row = conn.execute("SELECT site_id, html_path, pdf_path FROM reports WHERE id = %s",
                               (report_id,)).fetchone()
        if row is None or not user.may_see(row[0]):
            if row is not None:
                audit(user.username, "denied", f"report:{report_id}", {"site_id": row[0]})
            raise HTTPException(404, N_("report not found"))
        path = row[1] if format == "html" else row[2]
        if not path or reports_root is None:
            raise HTTPException(404, N_("report file not archived here"))
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(reports_root.resolve()) or not resolved.is_file():
            raise HTTPException(404, N_("report file not archived here"))
        audit(user.username, "view", f"report:{report_id}", {"format": format})
        return FileResponse(resolved, media_type="text/html" if format == "html" else "application/pdf")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok", media_type="text/plain")

    app.state.pool = pool
    return app


def _safe_next(target: str) -> str:
    """Only local paths: an open redirect after login would hand phishers a trusted link."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/alerts"
