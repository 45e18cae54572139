"""Desk sessions and login throttling (issue 18, findings 2 and 3), in-process (Starlette's TestClient, whose
`client=` sets the address a request comes from) against real PostgreSQL.

2. A session is live only while the server holds it: a copied cookie is worthless after logout; a password,
   role or sites change and disabling the user end every session of that user; the cookie is Secure off the
   loopback address.
3. Failed logins are throttled per (user, address) with a growing wait: nobody can lock someone else out from
   another address, one user's failures behind a shared address do not hold up the others there, and every
   blocked attempt is audited. X-Forwarded-For is believed only from a configured proxy."""

from __future__ import annotations

from collections.abc import Iterator

import click
import psycopg
import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from starlette.testclient import TestClient

from alerts.review import LoginLimiter, add_user, create_app
from alerts.review.auth import client_address, trusted_networks, wants_secure_cookie
from jianguan.review_cli import cookie_security, review, users

PASSWORD = "correct horse battery"
OWNER, ATTACKER, OFFICE = "198.51.100.7", "203.0.113.66", "192.0.2.10"


class Clock:
    """A monotonic clock the test moves by hand: backoff is checked without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def dsn(db_dsn: str) -> str:
    with psycopg.connect(db_dsn) as conn:
        conn.execute("INSERT INTO sites (id, name) VALUES ('s1', 'Office one'), ('s2', 'Office two')")
        add_user(conn, "auditor1", PASSWORD, "auditor", ["s1"])
        add_user(conn, "auditor2", PASSWORD, "auditor", ["s1"])
    return db_dsn


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(dsn: str, tmp_path, clock: Clock) -> Iterator[FastAPI]:
    app = create_app(dsn, "x" * 40, tmp_path, limiter=LoginLimiter(clock=clock))
    try:
        yield app
    finally:
        app.state.pool.close()


def client(app: FastAPI, address: str = OWNER, **kw) -> TestClient:
    return TestClient(app, follow_redirects=False, client=(address, 50000), **kw)


def csrf_in(html: str) -> str:
    return html.split('name="csrf" value="')[1].split('"')[0]


def login(c: TestClient, username: str = "auditor1", password: str = PASSWORD, headers: dict | None = None):
    csrf = csrf_in(c.get("/login").text)
    return c.post("/login", data={"username": username, "password": password, "csrf": csrf}, headers=headers)


def logged_in(app: FastAPI, username: str = "auditor1", address: str = OWNER) -> TestClient:
    c = client(app, address)
    assert login(c, username).status_code == 303
    assert c.get("/alerts").status_code == 200
    return c


def to_login(c: TestClient) -> bool:
    r = c.get("/alerts")
    return r.status_code == 303 and r.headers["location"].startswith("/login")


def audit_rows(dsn: str, action: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT actor, object, detail FROM audit_log WHERE action = %s ORDER BY id",
                            (action,)).fetchall()


# -- finding 2: sessions ---------------------------------------------------------------------------------------

def test_a_copied_cookie_is_worthless_after_logout(app):
    owner = logged_in(app)
    thief = client(app, ATTACKER, cookies={"jianguan_session": owner.cookies["jianguan_session"]})
    assert thief.get("/alerts").status_code == 200  # the copy works while the session lives ...
    r = owner.post("/logout", data={"csrf": csrf_in(owner.get("/alerts").text)})
    assert r.status_code == 303
    assert to_login(thief)  # ... and not after logout
    assert to_login(owner)


def test_logout_ends_every_session_of_that_user_and_only_theirs(app, dsn):
    office, home = logged_in(app), logged_in(app, address=ATTACKER)
    colleague = logged_in(app, "auditor2")
    office.post("/logout", data={"csrf": csrf_in(office.get("/alerts").text)})
    assert to_login(home)
    assert colleague.get("/alerts").status_code == 200
    [(actor, _, detail)] = audit_rows(dsn, "logout")
    assert actor == "auditor1" and detail["sessions_ended"] == 2


def _cli(dsn: str, tmp_path, *args: str):
    env = {"JIANGUAN_DSN": dsn, "JIANGUAN_USER_PASSWORD": "a brand new passphrase"}
    return CliRunner().invoke(users, [*args, "--data-dir", str(tmp_path / "data")], env=env)


@pytest.mark.parametrize(("args", "action"), [
    (("passwd", "auditor1"), "password_changed"),
    (("role", "auditor1", "--role", "supervisor"), "role_changed"),
    (("role", "auditor1", "--role", "auditor", "--site", "s2"), "role_changed"),  # sites only
    (("disable", "auditor1"), "user_disabled"),
    (("logout", "auditor1"), "sessions_ended"),
])
def test_account_changes_end_every_session_of_the_user(app, dsn, tmp_path, args, action):
    first, second = logged_in(app), logged_in(app, address=ATTACKER)
    colleague = logged_in(app, "auditor2")
    result = _cli(dsn, tmp_path, *args)
    assert result.exit_code == 0, result.output
    assert to_login(first) and to_login(second)
    assert colleague.get("/alerts").status_code == 200
    [(actor, obj, detail)] = audit_rows(dsn, action)
    assert actor.startswith("cli") and obj == "user:auditor1" and detail["sessions_ended"] == 2


def test_the_changes_take_effect_at_the_next_login(app, dsn, tmp_path):
    assert _cli(dsn, tmp_path, "passwd", "auditor1").exit_code == 0
    assert login(client(app)).status_code == 401  # the old password
    assert login(client(app), password="a brand new passphrase").status_code == 303
    assert _cli(dsn, tmp_path, "disable", "auditor1").exit_code == 0
    assert login(client(app, "198.51.100.8"), password="a brand new passphrase").status_code == 401
    assert _cli(dsn, tmp_path, "enable", "auditor1").exit_code == 0
    assert login(client(app, "198.51.100.9"), password="a brand new passphrase").status_code == 303
    assert _cli(dsn, tmp_path, "role", "auditor1", "--role", "commander").exit_code == 0
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT role, sites FROM users WHERE username = 'auditor1'").fetchone() == \
            ("commander", ["s1"])  # the sites stay without --site


def test_account_changes_refuse_what_they_cannot_do(dsn, tmp_path):
    assert _cli(dsn, tmp_path, "passwd", "nobody").exit_code != 0
    assert _cli(dsn, tmp_path, "role", "auditor1", "--role", "nope").exit_code != 0
    with psycopg.connect(dsn) as conn:
        add_user(conn, "root", PASSWORD, "admin", [])
    assert _cli(dsn, tmp_path, "role", "root", "--role", "auditor").exit_code != 0  # a non-admin needs a site


def test_any_change_to_the_account_row_ends_its_sessions(app, dsn):
    """The trigger (migration 0013) is the net under other paths: a re-run of `users add`, SQL by hand."""
    s = logged_in(app)
    with psycopg.connect(dsn) as conn:
        add_user(conn, "auditor1", PASSWORD, "auditor", ["s1"])  # the same again: a fresh hash all the same
    assert to_login(s)
    s = logged_in(app)
    with psycopg.connect(dsn) as conn:
        conn.execute("UPDATE users SET locale = 'en' WHERE username = 'auditor1'")  # not a change of rights
    assert s.get("/alerts").status_code == 200
    with psycopg.connect(dsn) as conn:
        conn.execute("UPDATE users SET sites = '{s1,s2}' WHERE username = 'auditor1'")
    assert to_login(s)


@pytest.mark.parametrize("column", ["last_seen_at", "expires_at"])
def test_idle_and_old_sessions_end(app, dsn, column):
    s = logged_in(app)
    with psycopg.connect(dsn) as conn:
        conn.execute(f"UPDATE desk_sessions SET {column} = now() - interval '31 minutes'")
    assert to_login(s)


def test_lifetime_and_idle_timeout_are_settings(dsn, tmp_path):
    app = create_app(dsn, "x" * 40, tmp_path, session_lifetime_s=7200, session_idle_s=60)
    try:
        s = logged_in(app)
        assert "Max-Age=7200" in s.post("/locale", data={"locale": "en", "csrf": csrf_in(s.get("/alerts").text)}
                                        ).headers["set-cookie"]
        with psycopg.connect(dsn) as conn:
            left = conn.execute("SELECT expires_at - created_at FROM desk_sessions").fetchone()[0]
            assert left.total_seconds() == pytest.approx(7200, abs=2)
            conn.execute("UPDATE desk_sessions SET last_seen_at = now() - interval '61 seconds'")
        assert to_login(s)
    finally:
        app.state.pool.close()


def test_the_cookie_holds_no_user_id_and_the_table_no_token(app, dsn):
    s = logged_in(app)
    token_cookie = s.cookies["jianguan_session"]
    with psycopg.connect(dsn) as conn:
        [(sid,)] = conn.execute("SELECT id FROM desk_sessions").fetchall()
    assert sid not in token_cookie and len(sid) == 64


# -- finding 2: the cookie's Secure flag -------------------------------------------------------------------------

def _set_cookie(app: FastAPI, base_url: str, headers: dict | None = None) -> str:
    return TestClient(app, base_url=base_url).get("/login", headers=headers).headers["set-cookie"]


def test_the_cookie_is_secure_by_default_except_plain_http_on_loopback(dsn, tmp_path):
    app = create_app(dsn, "x" * 40, tmp_path)
    try:
        assert "secure" in _set_cookie(app, "http://10.1.2.3:8080").lower()  # reached over a network
        assert "secure" in _set_cookie(app, "https://127.0.0.1:8443").lower()
        assert "secure" in _set_cookie(app, "http://127.0.0.1:8080", {"X-Forwarded-Proto": "https"}).lower()
        assert "secure" not in _set_cookie(app, "http://127.0.0.1:8080").lower()  # the README's local demo
        assert "secure" not in _set_cookie(app, "http://[::1]:8080").lower()
    finally:
        app.state.pool.close()
    for forced, expected in ((True, True), (False, False)):
        app = create_app(dsn, "x" * 40, tmp_path, secure_cookies=forced)
        try:
            assert ("secure" in _set_cookie(app, "http://127.0.0.1:8080").lower()) is expected
            assert ("secure" in _set_cookie(app, "http://10.1.2.3:8080").lower()) is expected
        finally:
            app.state.pool.close()


def test_wants_secure_cookie():
    assert wants_secure_cookie({"scheme": "http", "server": ("192.168.1.5", 8080), "headers": []})
    assert not wants_secure_cookie({"scheme": "http", "server": ("127.0.0.1", 8080), "headers": []})
    assert wants_secure_cookie({"scheme": "http", "server": ("127.0.0.1", 8080),
                                "headers": [(b"x-forwarded-proto", b"https")]})


def test_review_serve_decides_the_secure_flag_from_where_it_listens():
    assert cookie_security("127.0.0.1", False, ()) is None  # per request: plain HTTP here works
    assert cookie_security("localhost", False, ()) is None
    assert cookie_security("0.0.0.0", False, ()) is True
    assert cookie_security("10.0.0.5", False, ()) is True
    assert cookie_security("127.0.0.1", False, ("127.0.0.1",)) is True  # behind a TLS proxy on this machine
    assert cookie_security("0.0.0.0", True, ()) is False
    with pytest.raises(click.UsageError):
        cookie_security("0.0.0.0", True, ("10.0.0.1",))


def test_review_serve_passes_its_session_options(monkeypatch, db_dsn, tmp_path):
    import uvicorn

    import alerts.review

    seen: dict = {}
    monkeypatch.setattr(alerts.review, "create_app", lambda *a, **kw: seen.update(kw) or "app")
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(uvicorn=kw))
    env = {"JIANGUAN_DSN": db_dsn, "JIANGUAN_SESSION_SECRET": "s" * 40}
    args = ["serve", "--data-dir", str(tmp_path), "--host", "0.0.0.0", "--session-hours", "8",
            "--idle-minutes", "15", "--trusted-proxy", "10.0.0.0/24"]
    result = CliRunner().invoke(review, args, env=env)
    assert result.exit_code == 0, result.output
    assert seen["secure_cookies"] is True and seen["trusted_proxies"] == ("10.0.0.0/24",)
    assert seen["session_lifetime_s"] == 8 * 3600 and seen["session_idle_s"] == 15 * 60
    assert seen["uvicorn"]["proxy_headers"] is False  # uvicorn would believe X-Forwarded-For from 127.0.0.1
    result = CliRunner().invoke(review, ["serve", "--data-dir", str(tmp_path)], env=env)
    assert result.exit_code == 0 and seen["secure_cookies"] is None  # the README's `jianguan review serve`
    assert CliRunner().invoke(review, ["serve", "--data-dir", str(tmp_path), "--trusted-proxy", "a.b"],
                              env=env).exit_code != 0


# -- finding 3: throttling -------------------------------------------------------------------------------------

def test_failures_from_another_address_never_block_the_owner(app, dsn):
    attacker = client(app, ATTACKER)
    codes = [login(attacker, password="guess number one").status_code for _ in range(8)]
    assert codes[:3] == [401] * 3 and set(codes[3:]) == {429}
    assert login(client(app, OWNER)).status_code == 303  # the owner, elsewhere: straight in
    assert len(audit_rows(dsn, "login_blocked")) == 5


def test_one_users_failures_behind_a_shared_address_do_not_block_another_there(app):
    office = client(app, OFFICE)
    for _ in range(3):
        assert login(office, "auditor1", "wrong password!").status_code == 401
    assert login(office, "auditor1").status_code == 429  # that user waits a moment at that address ...
    assert login(client(app, OFFICE), "auditor2").status_code == 303  # ... the colleague does not


def test_the_wait_grows_and_every_blocked_attempt_is_audited(app, dsn, clock):
    c = client(app, OFFICE)
    for _ in range(3):
        assert login(c, password="wrong password!").status_code == 401
    waits = []
    for _ in range(4):
        r = login(c, password="wrong password!")
        assert r.status_code == 429
        waits.append(int(r.headers["retry-after"]))
        assert f" {waits[-1]} " in r.text.split('id="error">')[1].split("<")[0]  # the page says how long
        clock.now += waits[-1] + 0.01
        assert login(c, password="wrong password!").status_code == 401  # the wait over: one more try
    assert waits == [1, 2, 4, 8]
    assert login(c).status_code == 429  # even the right password waits its turn here
    blocked = audit_rows(dsn, "login_blocked")
    assert len(blocked) == 5
    assert all(actor == "auditor1" and obj == "session" and detail["client"] == OFFICE and detail["wait_s"] >= 1
               for actor, obj, detail in blocked)
    clock.now += 16.01
    assert login(c).status_code == 303
    assert login(client(app, OFFICE), password="wrong password!").status_code == 401  # a success starts afresh


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(dsn, tmp_path, app):
    attacker = client(app, ATTACKER)
    for n in range(5):  # a fresh made-up address each time buys nothing
        r = login(attacker, password="wrong password!", headers={"X-Forwarded-For": f"10.9.9.{n}"})
    assert r.status_code == 429
    proxied = create_app(dsn, "x" * 40, tmp_path, limiter=LoginLimiter(), trusted_proxies=("10.0.0.1",))
    try:
        via_proxy = client(proxied, "10.0.0.1")
        for _ in range(5):
            login(via_proxy, password="wrong password!", headers={"X-Forwarded-For": ATTACKER})
        r = login(client(proxied, "10.0.0.1"), headers={"X-Forwarded-For": f"6.6.6.6, {OWNER}"})
        assert r.status_code == 303
        clients = [detail["client"] for _, _, detail in audit_rows(dsn, "login")]
        assert clients[-1] == OWNER
    finally:
        proxied.state.pool.close()


def test_client_address():
    proxy = trusted_networks(["10.0.0.0/24"])
    assert client_address(ATTACKER, "1.2.3.4") == ATTACKER
    assert client_address("10.0.0.2", f"1.2.3.4, {OWNER}", proxy) == OWNER
    assert client_address("10.0.0.2", f"{OWNER}, 10.0.0.3", proxy) == OWNER  # proxies chained
    assert client_address("10.0.0.2", None, proxy) == "10.0.0.2"


def test_limiter_backoff_window_and_parallel_guesses(clock):
    limiter = LoginLimiter(attempts=3, window_s=600, max_delay_s=60, clock=clock)
    assert [limiter.delay_after(n) for n in (0, 2, 3, 4, 5, 8, 9, 40)] == [0, 0, 1, 2, 4, 32, 60, 60]
    for _ in range(3):  # sent at once: each counts before its verdict, so the fourth waits
        assert limiter.attempt("u", "a") == 0
    assert limiter.attempt("u", "a") == pytest.approx(1)
    assert limiter.attempt("u", "b") == 0 and limiter.attempt("v", "a") == 0
    clock.now += 601  # forgotten after the window
    assert limiter.wait_s("u", "a") == 0 and limiter.attempt("u", "a") == 0


def test_a_flood_of_made_up_pairs_does_not_free_a_throttled_one(clock):
    limiter = LoginLimiter(attempts=3, max_pairs=50, clock=clock)
    for _ in range(4):
        limiter.attempt("victim", ATTACKER)
    for n in range(500):
        limiter.attempt(f"user{n}", ATTACKER)
    assert limiter.wait_s("victim", ATTACKER) > 0 and len(limiter._failures) <= 50
