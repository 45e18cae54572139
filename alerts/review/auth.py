"""Users, passwords (argon2id), roles scoped to sites, and a login rate limit."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from i18n import N_, TranslatableError

ROLES = ("auditor", "supervisor", "commander", "admin")

# What each role may do. Everyone with a role may view alerts of their own sites.
CAN_GIVE_VERDICT = {"auditor", "supervisor", "admin"}
CAN_ACKNOWLEDGE = {"commander", "supervisor", "admin"}
CAN_CLOSE = {"supervisor", "admin"}

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
    row = conn.execute("SELECT id, username, role, sites, password_hash, locale FROM users WHERE username = %s",
                       (username,)).fetchone()
    try:
        _hasher.verify(row[4] if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    return User(int(row[0]), row[1], row[2], tuple(row[3]), row[5])


def load_user(conn: psycopg.Connection, user_id: int) -> User | None:
    row = conn.execute("SELECT id, username, role, sites, locale FROM users WHERE id = %s", (user_id,)).fetchone()
    return User(int(row[0]), row[1], row[2], tuple(row[3]), row[4]) if row else None


class LoginLimiter:
    """At most `attempts` failed logins per username and per client address in `window_s`."""

    def __init__(self, attempts: int = 5, window_s: float = 300.0) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                q = self._failures[key]
                while q and now - q[0] > self.window_s:
                    q.popleft()
                if len(q) >= self.attempts:
                    return True
        return False

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._failures[key].append(now)

    def succeeded(self, username_key: str) -> None:
        with self._lock:
            self._failures.pop(username_key, None)
