"""Users, passwords (argon2id), roles scoped to sites, server-side sessions, and login throttling.

Sessions (issue 18): the signed cookie carries a random token; the session lives in `desk_sessions`
(migration 0013) until logout, its lifetime or idle timeout, or a change to the account (password, role,
sites, disabled) ends every session of that user at once.

Throttling: failures count per (user name, client address) and each further attempt waits longer (1 s, 2 s,
4 s ... capped), so the right password from another address is never held up by someone else's failures,
and failures for one user from a shared address (office NAT, a proxy) never hold up another user there.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg.types.json import Jsonb

from i18n import N_, TranslatableError

ROLES = ("auditor", "supervisor", "commander", "admin")

# What each role may do. Everyone with a role may view alerts of their own sites.
CAN_GIVE_VERDICT = {"auditor", "supervisor", "admin"}
CAN_ACKNOWLEDGE = {"commander", "supervisor", "admin"}
CAN_CLOSE = {"supervisor", "admin"}

SESSION_LIFETIME_S = 12 * 3600.0  # a working day and a bit: one login per shift
SESSION_IDLE_S = 30 * 60.0  # a desk left unattended stops being usable by whoever walks up to it

_hasher = PasswordHasher()
# Verifying against this when the user does not exist keeps the timing the same either way.
_DUMMY_HASH = _hasher.hash("not a password")


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    sites: tuple[str, ...]
    locale: str | None = None  # None: the default (i18n.DEFAULT_LOCALE)

    @property
    def all_sites(self) -> bool:
        return self.role == "admin" and not self.sites

    def may_see(self, site_id: str) -> bool:
        return self.all_sites or site_id in self.sites


def hash_password(password: str) -> str:
    if len(password) < 10:
        raise TranslatableError(N_("passwords need at least 10 characters"))
    return _hasher.hash(password)


def add_user(conn: psycopg.Connection, username: str, password: str, role: str, sites: list[str]) -> int:
    if role not in ROLES:
        raise TranslatableError(N_("role must be one of {roles}"), roles=", ".join(ROLES))
    row = conn.execute(
        "INSERT INTO users (username, password_hash, role, sites) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role,"
        " sites = EXCLUDED.sites RETURNING id",
        (username, hash_password(password), role, sites),
    ).fetchone()
    return int(row[0])


def authenticate(conn: psycopg.Connection, username: str, password: str) -> User | None:
    row = conn.execute("SELECT id, username, role, sites, password_hash, locale, disabled_at FROM users"
                       " WHERE username = %s", (username,)).fetchone()
    try:
        _hasher.verify(row[4] if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row[6] is not None:  # checked after verifying: a disabled account times as any other
        return None
    return User(int(row[0]), row[1], row[2], tuple(row[3]), row[5])


def load_user(conn: psycopg.Connection, user_id: int) -> User | None:
    row = conn.execute("SELECT id, username, role, sites, locale FROM users WHERE id = %s AND disabled_at IS NULL",
                       (user_id,)).fetchone()
    return User(int(row[0]), row[1], row[2], tuple(row[3]), row[4]) if row else None


# -- accounts (`jianguan users ...`): each change ends the user's sessions ------------------------------------

def _user_row(conn: psycopg.Connection, username: str) -> tuple[int, str, list[str]]:
    row = conn.execute("SELECT id, role, sites FROM users WHERE username = %s FOR UPDATE", (username,)).fetchone()
    if row is None:
        raise TranslatableError(N_("no user {username}"), username=username)
    return int(row[0]), row[1], list(row[2])


def _audit(conn: psycopg.Connection, actor: str, action: str, username: str, detail: dict[str, Any]) -> None:
    conn.execute("INSERT INTO audit_log (actor, action, object, detail) VALUES (%s, %s, %s, %s)",
                 (actor, action, f"user:{username}", Jsonb(detail)))


def set_password(conn: psycopg.Connection, username: str, password: str, actor: str) -> int:
    """A new password for `username`; returns how many of their sessions it ended."""
    user_id, _, _ = _user_row(conn, username)
    ended = end_sessions(conn, user_id)
    conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (hash_password(password), user_id))
    _audit(conn, actor, "password_changed", username, {"sessions_ended": ended})
    return ended


def set_role(conn: psycopg.Connection, username: str, role: str, sites: list[str] | None, actor: str) -> int:
    """`username`'s role (and sites, unless None: they stay); returns how many sessions it ended."""
    if role not in ROLES:
        raise TranslatableError(N_("role must be one of {roles}"), roles=", ".join(ROLES))
    user_id, old_role, old_sites = _user_row(conn, username)
    new_sites = old_sites if sites is None else sites
    if role != "admin" and not new_sites:
        raise TranslatableError(N_("non-admin users need at least one --site"))
    ended = end_sessions(conn, user_id)
    conn.execute("UPDATE users SET role = %s, sites = %s WHERE id = %s", (role, new_sites, user_id))
    _audit(conn, actor, "role_changed", username, {"role": role, "sites": new_sites, "previous_role": old_role,
                                                   "previous_sites": old_sites, "sessions_ended": ended})
    return ended


def set_disabled(conn: psycopg.Connection, username: str, disabled: bool, actor: str) -> int:
    """Disable (no login, sessions end) or enable `username`; returns how many sessions it ended."""
    user_id, _, _ = _user_row(conn, username)
    ended = end_sessions(conn, user_id)
    conn.execute("UPDATE users SET disabled_at = CASE WHEN %s THEN COALESCE(disabled_at, now()) END WHERE id = %s",
                 (disabled, user_id))
    _audit(conn, actor, "user_disabled" if disabled else "user_enabled", username, {"sessions_ended": ended})
    return ended


def end_user_sessions(conn: psycopg.Connection, username: str, actor: str) -> int:
    """Log `username` out everywhere, the account unchanged (a lost phone, a shared PC left logged in)."""
    user_id, _, _ = _user_row(conn, username)
    ended = end_sessions(conn, user_id)
    _audit(conn, actor, "sessions_ended", username, {"sessions_ended": ended})
    return ended


# -- sessions -----------------------------------------------------------------------------------------------

def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(conn: psycopg.Connection, user_id: int, client: str, lifetime_s: float = SESSION_LIFETIME_S,
                  idle_s: float = SESSION_IDLE_S) -> str:
    """A new session of `user_id`; the token for the cookie. Sessions past their end are swept here (logins are
    rare, so this costs nothing noticeable and needs no timer)."""
    conn.execute("DELETE FROM desk_sessions WHERE expires_at < now()"
                 " OR last_seen_at < now() - make_interval(secs => %s)", (idle_s,))
    token = secrets.token_urlsafe(32)
    conn.execute("INSERT INTO desk_sessions (id, user_id, expires_at, client)"
                 " VALUES (%s, %s, now() + make_interval(secs => %s), %s)",
                 (_digest(token), user_id, lifetime_s, client))
    return token


def session_user(conn: psycopg.Connection, token: str, idle_s: float = SESSION_IDLE_S) -> User | None:
    """The user of a live session: not ended, within its lifetime, used within `idle_s`, account enabled."""
    row = conn.execute(
        "SELECT u.id, u.username, u.role, u.sites, u.locale, s.last_seen_at < now() - make_interval(secs => %s)"
        " FROM desk_sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.id = %s AND s.expires_at > now() AND s.last_seen_at > now() - make_interval(secs => %s)"
        " AND u.disabled_at IS NULL", (min(60.0, idle_s / 4), _digest(token), idle_s)).fetchone()
    if row is None:
        return None
    if row[5]:  # written at most every minute or so, not on each of a page's requests (clip, snapshot, ...)
        conn.execute("UPDATE desk_sessions SET last_seen_at = now() WHERE id = %s", (_digest(token),))
    return User(int(row[0]), row[1], row[2], tuple(row[3]), row[4])


def end_sessions(conn: psycopg.Connection, user_id: int) -> int:
    """End every session of `user_id`; how many there were."""
    return conn.execute("DELETE FROM desk_sessions WHERE user_id = %s", (user_id,)).rowcount


# -- the cookie's Secure flag ---------------------------------------------------------------------------------

def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: only this machine can reach a socket bound there."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def wants_secure_cookie(scope: dict[str, Any]) -> bool:
    """Whether a request's session cookie gets `Secure`, when the operator left it to the request: yes over TLS
    (the scheme, or a proxy's `X-Forwarded-Proto: https`: believed from anyone, as it can only make the cookie
    stricter) and on any socket address but loopback; no for plain HTTP to 127.0.0.1 / ::1 (the README's local
    demo: no network to sniff) or in-process (a test client names no address)."""
    if scope.get("scheme") in ("https", "wss"):
        return True
    for name, value in scope.get("headers") or ():
        if name.lower() == b"x-forwarded-proto" and value.split(b",")[0].strip().lower() == b"https":
            return True
    server = scope.get("server")
    if not server:
        return False
    try:
        return not ipaddress.ip_address(server[0]).is_loopback
    except ValueError:
        return False


class AutoSecureCookie:
    """ASGI middleware around Starlette's SessionMiddleware (whose `https_only` is fixed at start): adds `Secure`
    to the session cookie per request, as `wants_secure_cookie` decides."""

    def __init__(self, app: Callable[..., Any], cookie: str) -> None:
        self.app = app
        self.prefix = f"{cookie}=".encode("latin-1")

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http" or not wants_secure_cookie(scope):
            await self.app(scope, receive, send)
            return

        async def send_secure(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [(k, v + b"; secure" if k.lower() == b"set-cookie" and v.startswith(self.prefix)
                                       and b"; secure" not in v.lower() else v)
                                      for k, v in message.get("headers") or ()]
            await send(message)

        await self.app(scope, receive, send_secure)


# -- the client's address -----------------------------------------------------------------------------------

def trusted_networks(proxies: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Reverse proxies (addresses or networks) whose X-Forwarded-For is believed; ValueError on a bad one."""
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies)


def _in(address: str, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(peer: str, forwarded_for: str | None,
                   trusted: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network] = ()) -> str:
    """Who is logging in: the connection's peer, unless that is a trusted proxy; then the right-most address of
    X-Forwarded-For that is not a trusted proxy (the ones left of it are whatever the client chose to send).
    Never X-Forwarded-For by default: anyone could then pick a fresh address for each guess.

    >>> proxy = trusted_networks(["10.0.0.0/24"])
    >>> client_address("203.0.113.9", "10.0.0.1"), client_address("10.0.0.2", "6.6.6.6, 198.51.100.4", proxy)
    ('203.0.113.9', '198.51.100.4')
    """
    trusted = tuple(trusted)
    if not forwarded_for or not _in(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return hop
    return hops[0] if hops else peer


# -- login throttling ---------------------------------------------------------------------------------------

@dataclass
class _Failures:
    count: int
    last: float


class LoginLimiter:
    """Failed logins per (user name, client address): after `attempts` failures in a row each further attempt
    for that pair waits `base_delay_s`, doubling per failure up to `max_delay_s`; a pair's failures are forgotten
    `window_s` after its last one, and at its next successful login.

    Per pair on purpose (issue 18): a lockout per user name let anyone lock a named user out, and one per
    address locked out a whole office behind one NAT. What limits guessing at one account from many
    addresses is argon2id's cost per try and the 10-character minimum, not this."""

    def __init__(self, attempts: int = 3, window_s: float = 900.0, base_delay_s: float = 1.0,
                 max_delay_s: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 max_pairs: int = 100_000) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.clock = clock
        self.max_pairs = max_pairs
        self._failures: dict[tuple[str, str], _Failures] = {}
        self._lock = threading.Lock()

    def delay_after(self, failures: int) -> float:
        """The wait after `failures` failures in a row: 0 below `attempts`, then 1 s, 2 s, 4 s ... (defaults)."""
        if failures < self.attempts:
            return 0.0
        return min(self.base_delay_s * 2 ** min(failures - self.attempts, 64), self.max_delay_s)

    def _current(self, key: tuple[str, str], now: float) -> _Failures | None:
        entry = self._failures.get(key)
        if entry is not None and now - entry.last > self.window_s:
            del self._failures[key]
            return None
        return entry

    def wait_s(self, username: str, address: str) -> float:
        """Seconds until `username` may try again from `address` (0: now)."""
        now = self.clock()
        with self._lock:
            entry = self._current((username, address), now)
            return 0.0 if entry is None else max(0.0, entry.last + self.delay_after(entry.count) - now)

    def attempt(self, username: str, address: str) -> float:
        """Before checking a password: the seconds still to wait (0: go ahead). A permitted attempt counts as a
        failure at once, until `succeeded` says otherwise, so guesses sent in parallel cannot all slip in
        between the check and the verdict."""
        now = self.clock()
        key = (username, address)
        with self._lock:
            entry = self._current(key, now)
            if entry is not None:
                wait = entry.last + self.delay_after(entry.count) - now
                if wait > 0:
                    return wait
                entry.count, entry.last = entry.count + 1, now
            else:
                self._prune(now)
                self._failures[key] = _Failures(1, now)
        return 0.0

    def succeeded(self, username: str, address: str) -> None:
        with self._lock:
            self._failures.pop((username, address), None)

    def _prune(self, now: float) -> None:
        """Bound the memory a flood of made-up names or addresses can take: drop forgotten pairs, then pairs
        not yet held up (a flood of fresh pairs must not push out the one it wants unthrottled), then the oldest."""
        pairs = self._failures
        droppable: list[Callable[[], list[tuple[str, str]]]] = [
            lambda: [k for k, e in pairs.items() if now - e.last > self.window_s],
            lambda: [k for k, e in pairs.items() if e.count < self.attempts],
            lambda: sorted(pairs, key=lambda k: pairs[k].last)[: len(pairs) // 10 + 1],
        ]
        for keys in droppable:
            if len(pairs) < self.max_pairs:
                return
            for key in keys():
                del pairs[key]
