# FastAPI reads the annotations at run time: no `from __future__ import annotations`.
"""What the desk's routes (alerts/review/routes/) share: the app's state, its pages, and the checks every route
starts with, as FastAPI dependencies. A route names what it needs in its signature (`user: CurrentUser`,
`alert: VisibleAlert`, `acting: Annotated[Acting, Depends(may_take("close"))]`) and its body does its own work only.

The checks run in one order, kept by the dependencies' own chain (each check depends on the one before it, so a
check never runs for a request that an earlier one refused): the session first (an anonymous request goes to the
login page, whatever else it holds), then a state change's CSRF token, then the role, then the site of the alert
or camera (one of another site answers 404 and is audited, so its existence does not leak). Field validation
(422) comes after these checks.
"""

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi import Path as FastAPIPath
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from alerts.links import LinkSigner
from alerts.review.auth import LoginLimiter, User, session_user
from alerts.review.live import LiveHub
from alerts.review.texts import page_context
from alerts.workflow import TransitionRefused, check_role
from i18n import LOCALES, N_, gettext

# Site, camera, rule and area ids in paths and filters.
ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
# Ids are PostgreSQL bigints: a larger number in a path is refused (422) before it reaches any SQL.
DbId = Annotated[int, FastAPIPath(ge=1, le=2**63 - 1)]
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
NUL_REFUSED = N_("The request contains a NUL character, which no field may hold.")
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass(frozen=True)
class DeskState:
    """One desk app's resources and settings (what `create_app` was given), kept on `app.state.desk`: routes
    read it through the `Desk` dependency, so two apps in one process (tests) never share any of it."""

    pool: ConnectionPool
    evidence_root: Path  # resolved: only files below it are ever served
    reports_root: Path | None  # the report archive, likewise
    hub: LiveHub
    limiter: LoginLimiter
    proxies: tuple[IPv4Network | IPv6Network, ...]  # whose X-Forwarded-For is believed
    links: LinkSigner | None  # checks the signed acknowledge links of pushes; None: no link is valid
    session_lifetime_s: float
    session_idle_s: float
    templates: Jinja2Templates = TEMPLATES


def state_of(request: Request) -> DeskState:
    return request.app.state.desk


async def _desk(request: Request) -> DeskState:  # async: no thread for reading an attribute
    return state_of(request)


Desk = Annotated[DeskState, Depends(_desk)]


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


def desk_router() -> APIRouter:
    """A router for a part of the desk (alerts/review/routes/): every router of the desk is made here, so every
    route gets `refuse_nul` first. (Not as the app's dependency: create_app hands the app these routes
    themselves, and an app's dependencies go only to routes declared on it or on routers it includes.)"""
    return APIRouter(dependencies=[Depends(refuse_nul)])


# -- pages ----------------------------------------------------------------------------------------------------

def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" not in accept and "application/json" in accept


def render(request: Request, template: str, context: dict[str, Any], user: User | None = None,
           timezone: str | None = None, status_code: int = 200) -> HTMLResponse:
    """A desk page in the reader's language (their choice this session, else their account's, else zh_CN) with
    times at `timezone` (the site's)."""
    locale = request.session.get("locale") or (user.locale if user else None)
    return state_of(request).templates.TemplateResponse(request, template, {
        "user": user, "csrf": request.session.get("csrf"), "locales": LOCALES, **context,
        **page_context(locale, timezone)}, status_code=status_code)


def error_response(request: Request, status_code: int, msgid: str, **values: object) -> HTMLResponse:
    """The error page in the reader's language (their choice this session), `values` in its placeholders."""
    locale = request.session.get("locale") if "session" in request.scope else None
    text = gettext(msgid, locale)
    return state_of(request).templates.TemplateResponse(request, "error.html", {
        "user": None, "status": status_code, "detail": text.format(**values) if values else text,
        **page_context(locale, None)}, status_code=status_code)


def audit(desk: DeskState, actor: str, action: str, obj: str, detail: dict[str, Any]) -> None:
    with desk.pool.connection() as conn:
        conn.execute("INSERT INTO audit_log (actor, action, object, detail) VALUES (%s, %s, %s, %s)",
                     (actor, action, obj, Jsonb(detail)))


def served_file(path: str | None, root: Path | None, media_type: str, missing: str) -> FileResponse:
    """The file at `path` if it lies below `root` (resolved: no way out through `..` or a link), else 404
    `missing`: only files the desk archived are ever served, whatever a row says."""
    if not path or root is None:
        raise HTTPException(404, missing)
    resolved = Path(path).resolve()
    if not resolved.is_relative_to(root.resolve()) or not resolved.is_file():
        raise HTTPException(404, missing)
    return FileResponse(resolved, media_type=media_type)


def evidence_file(desk: DeskState, path: str | None, media_type: str) -> FileResponse:
    return served_file(path, desk.evidence_root, media_type, N_("no such evidence"))


# -- the session ----------------------------------------------------------------------------------------------

class LoginRequired(Exception):
    """No live session: create_app's handler answers with the login page's address."""


def signed_in(request: Request, desk: DeskState) -> User | None:
    """The user of the request's session if it is still live server-side: a copied cookie is worth nothing once
    its session has ended (logout, account change, lifetime, idle)."""
    token = request.session.get("sid")
    if not isinstance(token, str):
        return None
    with desk.pool.connection() as conn:
        user = session_user(conn, token, desk.session_idle_s)
    if user is None:
        request.session.clear()
    return user


def current_user(request: Request, desk: Desk) -> User:
    user = signed_in(request, desk)
    if user is None:
        raise LoginRequired()
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def check_csrf(request: Request, token: str) -> None:
    expected = request.session.get("csrf")
    # As bytes: compare_digest refuses non-ASCII str (a TypeError, a 500, for a token like "é").
    if not expected or not secrets.compare_digest(str(expected).encode(), token.encode()):
        raise HTTPException(403, N_("invalid or missing CSRF token; reload the page"))


async def csrf_checked(request: Request, csrf: Annotated[str, Form(max_length=128)]) -> None:
    """A form's CSRF token: every POST of a form depends on this (those with no session through
    `dependencies=`, the others through `PostingUser`)."""
    check_csrf(request, csrf)


async def posting_user(user: CurrentUser, _csrf: Annotated[None, Depends(csrf_checked)]) -> User:
    """The signed-in user of a form's POST, its CSRF token checked (after the session: an anonymous POST is sent
    to log in, not told its token is wrong)."""
    return user


async def script_user(request: Request, user: CurrentUser) -> User:
    """The signed-in user of a script's POST (the live view's offer), its CSRF token in `X-CSRF-Token`."""
    check_csrf(request, request.headers.get("x-csrf-token", ""))
    return user


PostingUser = Annotated[User, Depends(posting_user)]
ScriptUser = Annotated[User, Depends(script_user)]


# -- alerts ---------------------------------------------------------------------------------------------------

def alert_row(desk: DeskState, alert_id: int) -> dict[str, Any]:
    """Everything the desk shows of one alert, for no one in particular (`alert_in_scope` checks the user's
    sites; the acknowledge page's signed link is its own check); 404 if there is none."""
    with desk.pool.connection() as conn:
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


def alert_in_scope(desk: DeskState, user: User, alert_id: int) -> dict[str, Any]:
    """The alert if it is of one of the user's sites; else 404 as if there were none, and a line in the audit."""
    alert = alert_row(desk, alert_id)
    if not user.may_see(alert["site_id"]):
        audit(desk, user.username, "denied", f"alert:{alert_id}", {"site_id": alert["site_id"]})
        raise HTTPException(404, N_("alert not found"))
    return alert


def visible_alert(desk: Desk, user: CurrentUser, alert_id: DbId) -> dict[str, Any]:
    return alert_in_scope(desk, user, alert_id)


VisibleAlert = Annotated[dict[str, Any], Depends(visible_alert)]


@dataclass(frozen=True)
class Acting:
    """A step a user may take on an alert: session, CSRF token, role and the alert's site all checked."""

    user: User
    alert: dict[str, Any]
    step: str


def refusal(desk: DeskState, user: User, alert_id: int, action: str, exc: TransitionRefused) -> HTTPException:
    """A step alerts/workflow.py refused: a line in the audit log, and the 4xx its reader reads."""
    audit(desk, user.username, "refused", f"alert:{alert_id}", {"action": action, "status": exc.status})
    return HTTPException(exc.status_code, exc.msgid)


def may_take(action: str) -> Callable[..., Acting]:
    """The dependency of a POST that takes the workflow step `action` on the alert of its path."""

    def dependency(desk: Desk, user: PostingUser, alert_id: DbId) -> Acting:
        try:
            check_role(action, user.role)  # before the site check: a role that never may gets 403, not 404
        except TransitionRefused as exc:
            raise refusal(desk, user, alert_id, action, exc) from None
        return Acting(user, alert_in_scope(desk, user, alert_id), action)

    dependency.__name__ = dependency.__qualname__ = f"may_take_{action}"  # as tracebacks and route listings say
    return dependency
