"""Bad input never makes the review desk answer 5xx (issue 18, finding 7): the reported 500s and those the fuzzer
found, then hypothesis sending odd values to the path, query and form parameters of every route the app has (read
from `app.routes`, so a new route is fuzzed without touching this file), as an auditor, an admin and nobody.

Each request is built to get past validation (values that fit each field's declared type and constraints, real
alert ids and signed links, the session's CSRF token) but for at most one junk or missing field: a 500 lives in a
handler's code, which only a request that passes validation reaches. NUL bytes, any date from 0001 to 9999 and
long text all fit a str or a date field."""

from __future__ import annotations

import os
import typing
from datetime import date
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.review.app import NUL_REFUSED
from i18n import gettext
from tests.testkit.desk_client import Desk, TestClient, desk, logged_in, status_of

# psycopg_pool's maintenance threads draw jitter from the global `random` while hypothesis generates data.
pytestmark = pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")

# Examples per route and method; a longer hunt: JIANGUAN_FUZZ_EXAMPLES=200 (the default keeps 2 cores under ~60 s).
EXAMPLES = int(os.environ.get("JIANGUAN_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,  # no .hypothesis dir in the shared tree
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# No surrogates: they cannot be encoded into a request at all, so no client can send them.
TEXT = st.characters(blacklist_categories=("Cs",))
_JUNK = (
    st.sampled_from(["", " ", "0", "-1", "1", "9" * 30, str(2**63), str(-(2**63) - 1), "1e308", "NaN", "inf",
                     "0001-01-01", "9999-12-31", "2024-02-30", "1970-01-01", "2024-01-01T00:00:00+08:00",
                     "\x00", "a\x00b", "../../etc/passwd", "<script>alert(1)</script>", "'; DROP TABLE alerts;--",
                     "%00", "s1", "s2", "w1", "open", "closed", "confirmed", "false_alarm", "rectified", "verified",
                     "zh_CN", "en", "/alerts", "//evil.example", "html", "pdf", "管理员", "🚨" * 20]),
    st.text(TEXT, max_size=40),
    st.builds(lambda a, b: f"{a}\x00{b}", st.text(TEXT, max_size=8), st.text(TEXT, max_size=8)),
    st.integers(-(2**80), 2**80).map(str),
    st.dates().map(date.isoformat),
)
# Very long values: a form field up to 100,000 characters; a URL stays under what clients send at all
# (httpx refuses a query over 64 KiB; a character like 长 is 9 bytes percent-encoded).
LONG = st.integers(3_000, 100_000).map(lambda n: "长" * n)
URL_LONG = st.integers(1_000, 6_000).map(lambda n: "x" * n) | st.integers(300, 600).map(lambda n: "长" * n)
NASTY = st.one_of(*_JUNK, LONG)
URL_NASTY = st.one_of(*_JUNK, URL_LONG)


@pytest.fixture
def seeded(db_dsn, tmp_path):
    with desk(db_dsn, tmp_path) as d:
        yield d


# -- the 500s of the issue ----------------------------------------------------------------------------------


def test_dates_out_of_range_on_the_alert_list_are_refused(seeded):
    client, _ = logged_in(seeded.app, "auditor1")
    for params in ({"since": "0001-01-01"}, {"until": "9999-12-31"}, {"since": "0001-01-01", "until": "9999-12-31"}):
        r = client.get("/alerts", params=params)
        assert r.status_code == 422 and 'id="error-detail"' in r.text, (params, r.status_code)
    assert client.get("/alerts", params={"since": "2024-01-01", "until": "2024-12-31"}).status_code == 200


def test_a_nul_byte_in_any_field_is_refused(seeded):
    client, csrf = logged_in(seeded.app, "auditor1")
    alert = seeded.alerts["open"]
    r = client.post(f"/alerts/{alert}/verdict", data={"verdict": "confirmed", "note": "a\x00b", "csrf": csrf})
    assert r.status_code == 400 and gettext(NUL_REFUSED, "zh_CN") in r.text
    assert status_of(seeded.dsn, alert) == "open"
    anon = TestClient(seeded.app, follow_redirects=False)
    csrf = anon.get("/login").text.split('name="csrf" value="')[1].split('"')[0]
    r = anon.post("/login", data={"username": "admin\x00", "password": "correct horse battery", "csrf": csrf})
    assert r.status_code == 400
    assert client.get("/alerts", params={"site": "s1\x00"}).status_code == 400
    r = client.get("/alerts", params={"site": "s1\x00"}, headers={"accept": "application/json"})
    assert r.status_code == 400 and r.json()["detail"] == NUL_REFUSED


def test_what_the_fuzzer_found_is_4xx(seeded):
    client, csrf = logged_in(seeded.app, "auditor1")
    alert = seeded.alerts["open"]
    # a non-ASCII CSRF token: secrets.compare_digest raised TypeError on str
    assert client.post(f"/alerts/{alert}/verdict", data={"verdict": "confirmed", "csrf": "é"}).status_code == 403
    # a live view offer that is not JSON (json.JSONDecodeError in the handler)
    r = client.post("/cameras/w1/live/offer", content=b"verdict=confirmed", headers={"x-csrf-token": csrf})
    assert r.status_code == 400
    # an id past PostgreSQL's bigint: refused by validation (it read as "not found" before; now said plainly)
    assert client.get(f"/alerts/{2**63}").status_code == 422
    assert client.post(f"/alerts/{2**63}/verdict", data={"verdict": "confirmed", "csrf": csrf}).status_code == 422


# -- every route --------------------------------------------------------------------------------------------


def _fields(dependant: Any, kind: str) -> dict[str, Any]:
    """A route's `kind` parameters ("path_params", "query_params", "body_params") by name, its dependencies'
    included."""
    fields = {f.alias: f for f in getattr(dependant, kind)}
    for sub in dependant.dependencies:
        fields.update(_fields(sub, kind))
    return fields


def _fitting(field: Any, long: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Values of the field's declared type and constraints: a handler's code runs only when every other field
    passes validation, so most values must pass it. A date of any year and text with any character (NUL
    included) still fit."""
    info = field.field_info
    rules = {k: getattr(m, k) for m in info.metadata for k in ("pattern", "max_length", "ge", "le")
             if getattr(m, k, None) is not None}
    kinds = {info.annotation, *typing.get_args(info.annotation)}
    if "pattern" in rules:  # without the anchors: hypothesis lets `$` match before a final newline, pydantic not
        return st.from_regex(rules["pattern"].removeprefix("^").removesuffix("$"), fullmatch=True)
    if date in kinds:  # the first and the last day there is, more often than chance would pick them
        return (st.dates() | st.sampled_from([date.min, date.max])).map(date.isoformat)
    if int in kinds:
        return st.integers(rules.get("ge", -(2**80)), rules.get("le", 2**80)).map(str)
    if "max_length" not in rules:
        return st.text(TEXT, max_size=200) | st.builds(lambda a, b: f"{a}\x00{b}", st.text(TEXT), st.text(TEXT)) | long
    half = st.text(TEXT, max_size=max(0, rules["max_length"] // 2 - 1))
    return st.text(TEXT, max_size=rules["max_length"]) | st.builds(lambda a, b: f"{a}\x00{b}", half, half)


def _strategy(name: str, field: Any, d: Desk, long: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Mostly something the route can find (an alert of each status, a signed link), else a value that fits."""
    real = {"alert_id": [str(i) for i in (*d.alerts.values(), d.other_site)],
            "token": [d.links.sign(i, "acknowledge", "wecom") for i in d.alerts.values()],
            "camera_id": ["w1", "x1"], "report_id": ["1"]}.get(name, [])
    fitting = _fitting(field, long)
    return st.sampled_from(real) | st.sampled_from(real) | fitting if real else fitting


class Sessions:
    """A signed-in session per user (and none for "nobody"), each example's own: the client keeps no cookies.
    Sessions are server-side, so a fuzzed logout ends one for real: the user then signs in again."""

    def __init__(self, app: Any, users: tuple[str, ...]) -> None:
        self.app, self.cookie, self.csrf = app, {"nobody": ""}, {"nobody": ""}
        self.roles = [*users, *users, "nobody"]  # signed in four times in five: most code needs a user
        for user in users:
            self.sign_in(user)

    def sign_in(self, user: str) -> None:
        client, self.csrf[user] = logged_in(self.app, user)
        self.cookie[user] = client.cookies["jianguan_session"]

    def headers(self, user: str) -> dict[str, str]:
        return {"cookie": f"jianguan_session={self.cookie[user]}"} if self.cookie[user] else {}

    def keep(self, client: TestClient, user: str) -> None:
        """After a request that may have ended `user`'s session: sign in again if it did."""
        if self.cookie[user] and client.get("/alerts", params={"limit": 1}, headers=self.headers(user)).is_redirect:
            self.sign_in(user)


def _fuzz_route(route: APIRoute, method: str, d: Desk, sessions: Sessions) -> None:
    strategies = {(kind, n): _strategy(n, f, d, LONG if kind == "body_params" else URL_LONG)
                  for kind in ("path_params", "query_params", "body_params")
                  for n, f in _fields(route.dependant, kind).items()}
    client = TestClient(d.app, follow_redirects=False)

    @FUZZ
    @given(st.data())
    def run(data: st.DataObject) -> None:
        role = data.draw(st.sampled_from(sessions.roles), label="as")
        # Every parameter gets a value that fits it (NUL bytes, odd dates and long text fit a str or a date),
        # the session's CSRF token, then at most one is junk or left out: a request whose other fields all
        # pass validation is one that reaches the handler's code.
        values: dict[tuple[str, str], str | None] = {key: data.draw(v, label=key[1]) for key, v in strategies.items()}
        if ("body_params", "csrf") in values:
            values["body_params", "csrf"] = sessions.csrf[role]
        victim = data.draw(st.sampled_from([None, *sorted(values)]), label="junk in")
        if victim is not None:
            values[victim] = data.draw(st.none() | (NASTY if victim[0] == "body_params" else URL_NASTY),
                                       label=f"junk {victim[1]} (None: left out)")
        url = route.path_format
        for (kind, name), value in values.items():
            if kind == "path_params":
                url = url.replace("{" + name + "}", quote(value or "", safe=""))
        params = {n: v for (kind, n), v in values.items() if kind == "query_params" and v is not None}
        fields = {n: v for (kind, n), v in values.items() if kind == "body_params" and v is not None}
        headers = {"accept": data.draw(st.sampled_from(["text/html", "application/json", "*/*"])),
                   "x-csrf-token": sessions.csrf[role], **sessions.headers(role)}  # the header: script's POSTs
        try:
            r = client.request(method, url, params=params, data=fields or None, headers=headers)
            assert r.status_code < 500, (method, url, params, fields, r.status_code, r.text[:500])
        finally:
            client.cookies.clear()  # the next example sends the session it draws, no other
            if method == "POST":
                sessions.keep(client, role)

    run()


def test_no_route_answers_5xx_to_junk(seeded):
    sessions = Sessions(seeded.app, ("auditor1", "admin"))
    routes = [r for r in seeded.app.routes if isinstance(r, APIRoute)]
    assert {"/alerts", "/alerts/{alert_id}/verdict", "/alerts/{alert_id}/reopen", "/login"} <= {r.path for r in routes}
    for route in routes:
        for method in sorted(route.methods - {"HEAD"}):
            _fuzz_route(route, method, seeded, sessions)
