# FastAPI reads the annotations at run time: no `from __future__ import annotations`.
"""Logging in and out, and the reader's language. The forms here carry the CSRF token of the session the login
page started; a login starts a new session (no fixation), a logout ends every session of its user."""

import math
import secrets
from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from alerts.review.auth import User, authenticate, client_address, end_sessions, start_session
from alerts.review.deps import Desk, DeskState, audit, csrf_checked, desk_router, render, signed_in
from i18n import N_, normalise

router = desk_router()
Next = Annotated[str, Form(max_length=256)]


def safe_next(target: str) -> str:
    """Only local paths: an open redirect after login would hand phishers a trusted link."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/alerts"


def client_of(request: Request, desk: DeskState) -> str:
    peer = request.client.host if request.client else "?"
    return client_address(peer, request.headers.get("x-forwarded-for"), desk.proxies)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/alerts"):
    request.session.setdefault("csrf", secrets.token_urlsafe(32))
    return render(request, "login.html", {"next": safe_next(next), "error": None})


@router.post("/login", dependencies=[Depends(csrf_checked)])
def login(request: Request, desk: Desk, username: Annotated[str, Form(max_length=64)],
          password: Annotated[str, Form(max_length=256)], next: Next = "/alerts"):
    client = client_of(request, desk)
    wait = desk.limiter.attempt(username, client)  # per (user, address): nobody else's failures hold this one up
    if wait > 0:
        return _throttled(request, desk, username, client, math.ceil(wait), next)
    with desk.pool.connection() as conn:
        user = authenticate(conn, username, password)
    if user is None:
        audit(desk, username, "login_failed", "session", {"client": client})
        return render(request, "login.html", {
            "next": safe_next(next), "error": N_("Wrong user name or password.")}, status_code=401)
    desk.limiter.succeeded(username, client)
    _start_session(request, desk, user, client)
    return RedirectResponse(safe_next(next), status_code=303)


def _throttled(request: Request, desk: DeskState, username: str, client: str, seconds: int, next: str) -> Response:
    """The login page again, saying how long to wait, without a password check (that is the throttle's point)."""
    audit(desk, username, "login_blocked", "session", {"client": client, "wait_s": seconds})
    response = render(request, "login.html", {
        "next": safe_next(next), "error": N_("Too many failed attempts; try again in {seconds} s."),
        "error_values": {"seconds": seconds}}, status_code=429)
    response.headers["Retry-After"] = str(seconds)
    return response


def _start_session(request: Request, desk: DeskState, user: User, client: str) -> None:
    with desk.pool.connection() as conn:
        token = start_session(conn, user.id, client, desk.session_lifetime_s, desk.session_idle_s)
    locale = request.session.get("locale")  # a language picked on the login page carries over
    request.session.clear()  # a fresh session on login: no fixation
    request.session.update({"sid": token, "csrf": secrets.token_urlsafe(32)})
    if locale:
        request.session["locale"] = locale
    audit(desk, user.username, "login", "session", {"client": client})


@router.post("/locale", dependencies=[Depends(csrf_checked)])
def set_locale(request: Request, desk: Desk, locale: Annotated[str, Form(pattern="^(zh_CN|en)$")],
               next: Next = "/alerts"):
    """The reader's language: for this session, and kept on their account when logged in."""
    user = signed_in(request, desk)  # only a live session may change an account (not a cookie kept after logout)
    request.session["locale"] = normalise(locale)
    if user is not None:
        with desk.pool.connection() as conn:
            conn.execute("UPDATE users SET locale = %s WHERE id = %s", (normalise(locale), user.id))
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout", dependencies=[Depends(csrf_checked)])
def logout(request: Request, desk: Desk):
    """Ends every session of the user, not only this browser's (issue 18): a desk left logged in elsewhere, or a
    copied cookie, is worth nothing once its owner logs out anywhere."""
    user = signed_in(request, desk)
    if user is not None:
        with desk.pool.connection() as conn:
            ended = end_sessions(conn, user.id)
        audit(desk, user.username, "logout", "session", {"client": client_of(request, desk), "sessions_ended": ended})
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
