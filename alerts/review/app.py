"""The auditor's review desk: login, alert list, alert page with clip and snapshot, verdicts, audit trail.

Server-rendered (FastAPI + Jinja2). Every page needs a session; every state change needs the session's
CSRF token; every alert is checked against the user's sites (an alert of another site is "not found",
so its existence does not leak); every view and verdict lands in `audit_log`.

This module builds the app: its state, middleware and error pages. The routes are in alerts/review/routes/, one
router per part of the desk; the checks they start with, as FastAPI dependencies, in alerts/review/deps.py.
"""

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from psycopg_pool import ConnectionPool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from alerts.links import LinkSigner
from alerts.review.auth import (
    SESSION_IDLE_S,
    SESSION_LIFETIME_S,
    AutoSecureCookie,
    LoginLimiter,
    trusted_networks,
)
from alerts.review.deps import NUL_REFUSED, DeskState, LoginRequired, error_response, wants_json
from alerts.review.live import PER_USER as LIVE_PER_USER
from alerts.review.live import TOTAL as LIVE_TOTAL
from alerts.review.live import LiveHub
from alerts.review.routes import ROUTES
from i18n import N_

__all__ = ["NUL_REFUSED", "create_app"]  # NUL_REFUSED: what tests read the 400 by


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
    proxies = trusted_networks(trusted_proxies)  # before the pool: a bad address opens no connection
    pool = pool or ConnectionPool(dsn, min_size=1, max_size=4, kwargs={"application_name": "jianguan-review"},
                                  open=True)
    desk = DeskState(
        pool=pool, evidence_root=evidence_root.resolve(), reports_root=reports_root,
        # Each live view costs a video encoder here: `live_per_user` views per user, `live_max` in all.
        hub=LiveHub(live_sources or {}, per_user=live_per_user, total=live_max),
        limiter=limiter or LoginLimiter(), proxies=proxies, links=links,
        session_lifetime_s=session_lifetime_s, session_idle_s=session_idle_s)
    # The routes themselves, not include_router: FastAPI (0.137 on) includes a router lazily, so `app.routes`
    # would list routers, and the tests that walk every route (test_desk_fuzz, test_desk_routes) would see none.
    app = FastAPI(title="jianguan review", docs_url=None, redoc_url=None, openapi_url=None, routes=list(ROUTES))
    app.state.desk = desk
    app.state.pool = pool  # the caller's handle for closing it
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    app.router.add_event_handler("shutdown", desk.hub.close)
    _add_middleware(app, session_secret, session_lifetime_s, secure_cookies)
    app.exception_handler(LoginRequired)(to_login)
    app.exception_handler(StarletteHTTPException)(error_page)
    app.exception_handler(RequestValidationError)(invalid_input)
    app.exception_handler(json.JSONDecodeError)(not_json)
    return app


def _add_middleware(app: FastAPI, session_secret: str, session_lifetime_s: float,
                    secure_cookies: bool | None) -> None:
    # The signed cookie holds the session token (checked against desk_sessions), the CSRF token, the language
    # and the queue's filters; its own max_age only bounds how long the browser keeps it.
    app.add_middleware(SessionMiddleware, secret_key=session_secret, session_cookie="jianguan_session",
                       max_age=int(session_lifetime_s), same_site="strict", https_only=secure_cookies is True)
    if secure_cookies is None:  # added after, so it wraps SessionMiddleware and sees its Set-Cookie
        app.add_middleware(AutoSecureCookie, cookie="jianguan_session")
    app.middleware("http")(security_headers)  # added last: outermost, so error pages get the headers too


async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
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


# -- error pages ----------------------------------------------------------------------------------------------

async def to_login(request: Request, exc: LoginRequired) -> Response:
    """No live session (deps.current_user): the login page, which comes back here after."""
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


async def error_page(request: Request, exc: StarletteHTTPException) -> Response:
    """A page a person can read (in their language) instead of JSON; scripts asking for JSON get JSON."""
    if wants_json(request):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
    return error_response(request, exc.status_code, str(exc.detail))


async def invalid_input(request: Request, exc: RequestValidationError) -> Response:
    """A value that does not fit its field (no such date, a number too large, text too long): 422 with a page
    naming the fields in the reader's language, not FastAPI's English JSON (scripts still get that)."""
    if wants_json(request):
        return await request_validation_exception_handler(request, exc)
    fields = ", ".join(sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")}))
    return error_response(request, 422, N_("These fields hold a value that cannot be used: {fields}."),
                          fields=fields)


async def not_json(request: Request, exc: json.JSONDecodeError) -> Response:
    """A body a handler reads as JSON (the live view's offer) that is none: the sender's fault, 400."""
    detail = N_("The request body is not valid JSON.")
    if wants_json(request):
        return JSONResponse({"detail": detail}, status_code=400)
    return error_response(request, 400, detail)

