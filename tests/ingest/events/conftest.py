"""Fixtures for the event intake: a pool on the per-test database, the intake, real mosquitto brokers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from ingest.events import EventStore, Intake, parse_batch

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None)
needs_mosquitto = pytest.mark.skipif(
    MOSQUITTO is None, reason="the mosquitto broker is not installed (apt-get install -y mosquitto)")


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


def wait_until(cond: Callable[[], Any], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def pool(db_dsn: str) -> Iterator[ConnectionPool]:
    with ConnectionPool(db_dsn, min_size=1, max_size=4, open=True) as p:
        yield p


@pytest.fixture
def intake(pool: ConnectionPool) -> Intake:
    return Intake(EventStore(pool))


class Mosquitto:
    """A real broker on 127.0.0.1:`port` (anonymous), in memory; `restart()` keeps the port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        # Not pytest's tmp_path: as root, mosquitto drops to its own account, which cannot enter a 0700 dir.
        self.dir = Path(tempfile.mkdtemp(prefix="jianguan-intake-mqtt-"))
        self.dir.chmod(0o755)
        conf = self.dir / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                        "log_dest stderr\nmax_inflight_messages 100\nmax_queued_messages 100000\n")
        conf.chmod(0o644)
        self.conf = conf
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        assert MOSQUITTO is not None
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

        def listening() -> bool:
            assert self.proc is not None and self.proc.poll() is None, "mosquitto exited"
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        wait_until(listening, 10, "mosquitto to listen")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


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
