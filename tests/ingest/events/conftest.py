"""Fixtures for the event intake: a pool on the per-test database, the intake, real mosquitto brokers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from ingest.events import EventStore, Intake, parse_batch
from tests.testkit.mosquitto import MOSQUITTO, Mosquitto, needs_mosquitto  # noqa: F401 - re-exported
from tests.testkit.net import free_port, wait_until

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def lane(mid: str, kind: str, minute: float, *, site: str = "hq", lane_id: str = "lane-1", plate: str = "京A12345",
         inspector: str = "insp-1", **extra: Any) -> dict[str, Any]:
    return {"message_id": mid, "site_id": site, "lane_id": lane_id, "kind": kind,
            "ts": (T0 + timedelta(minutes=minute)).isoformat(), "plate": plate, "inspector_id": inspector, **extra}


def tx(mid: str, queued: float, called: float | None = None, finished: float | None = None, *, site: str = "hq",
       window: str = "W01", **extra: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"message_id": mid, "site_id": site, "window_id": window, "business_type": "renewal",
                           "ticket": f"A{mid[-3:]}", "queued_at": (T0 + timedelta(minutes=queued)).isoformat()}
    if called is not None:
        msg["called_at"] = (T0 + timedelta(minutes=called)).isoformat()
    if finished is not None:
        msg["finished_at"] = (T0 + timedelta(minutes=finished)).isoformat()
    return {**msg, **extra}


def submit(intake: Intake, stream: str, *messages: Any, source: str = "test") -> list[str]:
    """Statuses of the messages, sent as one JSON batch."""
    import json

    raw = json.dumps(list(messages), ensure_ascii=False).encode()
    return [o.status for o in intake.submit(parse_batch(raw, stream, source=source))]  # type: ignore[arg-type]


def query(dsn: str, sql: str, *params: Any) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params or None).fetchall()


@pytest.fixture
def pool(db_dsn: str) -> Iterator[ConnectionPool]:
    with ConnectionPool(db_dsn, min_size=1, max_size=4, open=True) as p:
        yield p


@pytest.fixture
def intake(pool: ConnectionPool) -> Intake:
    return Intake(EventStore(pool))


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    if MOSQUITTO is None:
        pytest.skip("the mosquitto broker is not installed (apt-get install -y mosquitto)")
    b = Mosquitto()
    yield b
    b.close()


@pytest.fixture(scope="session")
def ev() -> Any:
    """The helpers above, for test modules (conftest is not importable under --import-mode=importlib)."""
    from types import SimpleNamespace

    return SimpleNamespace(T0=T0, lane=lane, tx=tx, submit=submit, query=query, wait_until=wait_until,
                           free_port=free_port, Mosquitto=Mosquitto, MOSQUITTO=MOSQUITTO)
