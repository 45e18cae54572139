"""A small office seeded for six weeks with known anomalies in week five, shared by the business tests.

Module-scoped (seeding takes a few seconds): tests that write to it work on their own copy (`office_copy`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from devkit.seed import SeedSite, office_112, seed
from devkit.seed_anomalies import Injected, inject

TZ = ZoneInfo("Asia/Shanghai")
END = datetime(2024, 4, 14, 16, 0, tzinfo=UTC)       # Monday 2024-04-15 00:00 local: 42 whole days
DAYS = 42
FIRST = END.astimezone(TZ).date() - timedelta(days=DAYS - 1)   # a Tuesday


def week(k: int) -> datetime:
    return datetime.combine(FIRST + timedelta(days=7 * k), datetime.min.time(), tzinfo=TZ)


def small_office() -> SeedSite:
    """12 windows, 3 inspection lanes (4 cameras each), 7 partner outlets, one kiosk; 4 testing lines."""
    full = office_112()
    lanes = {f"lane-{n}" for n in (1, 2, 3)}
    keep = [c for c in full.cameras if (c.area == "window" and int(c.id[-2:]) <= 12)
            or (c.area == "inspection_lane" and c.id.rsplit("-", 1)[0] in lanes)
            or (c.area == "outlet" and int(c.id[-2:]) <= 7) or c.id == "self-1"]
    return SeedSite(full.id, full.name, full.timezone, tuple(keep))


@dataclass(frozen=True)
class Office:
    dsn: str
    site: SeedSite
    truth: list[Injected]
    inject_days: list[date]


def _clone(admin: str, template: str) -> str:
    name = f"jianguan_biz_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


def _drop(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def office(pg_admin_dsn: str, _migrated_template: str) -> Iterator[Office]:
    name = _clone(pg_admin_dsn, _migrated_template)
    dsn = make_conninfo(pg_admin_dsn, dbname=name)
    site = small_office()
    seed(dsn, site, days=DAYS, end=END, seed=5, stats_every_s=3600, occupancy_every_s=300)
    days = [FIRST + timedelta(days=7 * 4 + k) for k in range(6)]   # week five, Tuesday to Sunday
    days = [d for d in days if d.weekday() < 6][:5] + [FIRST + timedelta(days=7 * 4 + 1)]
    with psycopg.connect(dsn) as conn:
        truth = inject(conn, site.id, days)
        conn.commit()
    try:
        yield Office(dsn, site, truth, days)
    finally:
        _drop(pg_admin_dsn, name)


@pytest.fixture
def office_copy(office: Office, pg_admin_dsn: str) -> Iterator[str]:
    """A private copy of the seeded office for a test that writes (alerts, rectifications)."""
    template = psycopg.conninfo.conninfo_to_dict(office.dsn)["dbname"]
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:  # a template must have no other sessions
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (template,))
    name = _clone(pg_admin_dsn, template)
    try:
        yield make_conninfo(pg_admin_dsn, dbname=name)
    finally:
        _drop(pg_admin_dsn, name)
