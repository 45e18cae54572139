"""The checks every route of the review desk starts with (alerts/review/deps.py), tried on every route read from
`app.routes`, so a route added later is covered without touching this file: an anonymous request goes to the
login page (but for the few public routes named here), every POST refuses a forged or missing CSRF token and
changes nothing, and every route refuses a NUL character before anything else."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi.routing import APIRoute

from tests.testkit.desk_client import PASSWORD, Desk, TestClient, desk, logged_in, status_of

# Routes anyone may use: logging in, the language, logging out (of no session), the redirect to the list, the
# health check, and a push's signed link (the signed token is its credential).
PUBLIC = {("GET", "/login"), ("POST", "/login"), ("POST", "/locale"), ("POST", "/logout"), ("GET", "/"),
          ("GET", "/healthz"), ("GET", "/ack/{token}"), ("GET", "/ack/{token}/snapshot.jpg"),
          ("POST", "/ack/{token}")}
# POSTs that carry no CSRF token: the signed link acts for whoever holds it, with no session to ride on.
NO_CSRF = {("POST", "/ack/{token}")}
# Form fields a route may have, each with a value it accepts: with every field right, a refusal is the check's.
FIELDS = {"verdict": "confirmed", "note": "", "reason": "checked again", "step": "verified", "locale": "en",
          "next": "/alerts", "username": "admin", "password": PASSWORD}


@pytest.fixture
def seeded(db_dsn, tmp_path) -> Iterator[Desk]:
    with desk(db_dsn, tmp_path) as d:
        yield d


def _routes(d: Desk) -> list[tuple[str, APIRoute]]:
    routes = [(method, r) for r in d.app.routes if isinstance(r, APIRoute) for method in sorted(r.methods - {"HEAD"})]
    assert len(routes) >= 20 and {r.path for _, r in routes} >= {"/alerts", "/alerts/{alert_id}/verdict"}
    return routes


def _url(route: APIRoute, d: Desk) -> str:
    """The route's path with values it finds (an open alert of the users' site, its camera, a signed link)."""
    values = {"alert_id": str(d.alerts["open"]), "camera_id": "w1", "report_id": "1",
              "token": d.links.sign(d.alerts["open"], "acknowledge", "wecom")}
    url = route.path_format
    for name in route.param_convertors:
        assert name in values, f"give tests/alerts/test_desk_routes.py a value for {{{name}}} ({route.path})"
        url = url.replace("{" + name + "}", values[name])
    return url


def _form(route: APIRoute) -> dict[str, str]:
    names = {f.alias for f in _body_fields(route.dependant)}
    return {name: FIELDS.get(name, "x") for name in names if name != "csrf"}


def _body_fields(dependant) -> list:  # a route's form fields, its dependencies' included
    return [*dependant.body_params, *(f for sub in dependant.dependencies for f in _body_fields(sub))]


def test_every_route_but_the_public_ones_sends_an_anonymous_request_to_log_in(seeded):
    anonymous = TestClient(seeded.app, follow_redirects=False)
    for method, route in _routes(seeded):
        if (method, route.path) in PUBLIC:
            continue
        url = _url(route, seeded)
        r = anonymous.request(method, url, data={**_form(route), "csrf": "x"} if method == "POST" else None,
                              headers={"x-csrf-token": "x"})
        assert r.status_code == 303 and r.headers["location"] == f"/login?next={url}", (method, url, r.status_code)


def test_every_post_refuses_a_forged_or_missing_csrf_token(seeded):
    client, _ = logged_in(seeded.app, "admin")  # the admin may take every step on every site's alerts
    before = {alert: status_of(seeded.dsn, alert) for alert in seeded.alerts.values()}
    posts = [route for method, route in _routes(seeded) if method == "POST" and ("POST", route.path) not in NO_CSRF]
    assert len(posts) >= 9
    for route in posts:
        url = _url(route, seeded)
        forged = client.post(url, data={**_form(route), "csrf": "forged"}, headers={"x-csrf-token": "forged"})
        assert forged.status_code == 403, (url, forged.status_code, forged.text[:300])
        missing = client.post(url, data=_form(route) or None)
        assert missing.status_code in (403, 422), (url, missing.status_code, missing.text[:300])
    assert {alert: status_of(seeded.dsn, alert) for alert in seeded.alerts.values()} == before
    assert client.get("/alerts").status_code == 200  # the logout was refused too: the session is still live
    with psycopg.connect(seeded.dsn) as conn:  # and so was the change of language
        assert conn.execute("SELECT locale FROM users WHERE username = 'admin'").fetchone()[0] is None


def test_every_route_refuses_a_nul_character_first(seeded):
    client, csrf = logged_in(seeded.app, "admin")
    anonymous = TestClient(seeded.app, follow_redirects=False)
    for method, route in _routes(seeded):
        for who in (client, anonymous):  # before the login check too: no handler or dependency sees one
            r = who.request(method, _url(route, seeded), params={"q": "a\x00b"},
                            data={**_form(route), "csrf": csrf} if method == "POST" else None)
            assert r.status_code == 400, (method, route.path, r.status_code)
