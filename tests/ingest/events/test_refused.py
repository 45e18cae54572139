"""Errors of one batch are not outages: they never make the intake refuse everything (503 for ever without a
spool) nor hold the spool behind one batch for ever. Only an unreachable or unable database is an outage."""

from __future__ import annotations

import json

import psycopg
import pytest
from psycopg import errors
from psycopg_pool import ConnectionPool, PoolTimeout

from ingest.events import EventStore, Intake, Spool, parse_batch
from ingest.events.intake import is_outage


@pytest.mark.parametrize(("exc", "outage"), [
    (psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly"), True),
    (psycopg.InterfaceError("the connection is closed"), True),
    (PoolTimeout("couldn't get a connection after 2.00 sec"), True),
    (ConnectionRefusedError(), True),
    (errors.AdminShutdown("terminating connection due to administrator command"), True),
    (errors.CannotConnectNow("the database system is starting up"), True),
    (errors.ConnectionFailure(), True),
    (errors.DeadlockDetected(), True),
    (errors.TooManyConnections(), True),
    (errors.DiskFull(), True),
    (errors.QueryCanceled("canceling statement due to statement timeout"), True),
    (errors.LockNotAvailable(), True),
    (errors.ReadOnlySqlTransaction(), True),
    (errors.FeatureNotSupported("locking compressed tuples is not supported"), False),
    (errors.ConfigurationLimitExceeded("tuple decompression limit exceeded by operation"), False),
    (errors.InternalError_("unexpected chunk state"), False),
    (errors.UndefinedColumn(), False),
    (errors.InsufficientPrivilege("alert_events is append-only: UPDATE refused"), False),
    (errors.UniqueViolation(), False),
    (errors.StringDataRightTruncation(), False),
    (psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"), False),
    (psycopg.ProgrammingError("the query has 2 placeholders but 1 parameters were passed"), False),
    (ValueError("a bug"), False),
])
def test_is_outage_tells_an_outage_from_an_error_of_the_batch(exc, outage):
    assert is_outage(exc) is outage


class Refusing(EventStore):
    """A database that refuses every write mentioning 'poison' with a permanent, non-outage error (as
    TimescaleDB refused row locks on compressed chunks); with `dead_too`, dead letters mentioning it too."""

    def __init__(self, pool: ConnectionPool, *, dead_too: bool = False) -> None:
        super().__init__(pool)
        self.dead_too = dead_too

    def write(self, accepted, dead=()):
        if any("poison" in a.message.message_id for a in accepted) or (
                self.dead_too and any("poison" in repr(d) for d in dead)):
            raise errors.FeatureNotSupported("locking compressed tuples is not supported")
        return super().write(accepted, dead)


def _batch(ev, *mids: str):
    return parse_batch(json.dumps([ev.tx(mid, 0) for mid in mids]).encode(), "transactions", source="test")


def _spooled(ev, spool_dir, *batches: tuple[str, ...]) -> None:
    """Batches spooled while the database was away (nothing listens on the pool's port)."""
    with ConnectionPool(f"host=127.0.0.1 port={ev.free_port()} user=x dbname=x connect_timeout=1",
                        min_size=0, max_size=1, open=True) as dead:
        intake = Intake(EventStore(dead, connect_timeout_s=0.3), Spool(spool_dir))
        for mids in batches:
            assert {o.status for o in intake.submit(_batch(ev, *mids))} == {"queued"}
        assert intake.pending() == len(batches)


def test_a_refused_message_is_a_dead_letter_not_an_outage(pool, db_dsn, ev):
    intake = Intake(Refusing(pool))  # no spool: an outage would be StoreUnavailable (HTTP 503)
    out = intake.submit(_batch(ev, "t-001", "poison-1", "t-002"))
    assert [o.status for o in out] == ["accepted", "rejected", "accepted"]
    assert out[1].reason == "database refused: locking compressed tuples is not supported"
    assert ev.query(db_dsn, "SELECT message_id FROM transactions ORDER BY 1") == [("t-001",), ("t-002",)]
    assert ev.query(db_dsn, "SELECT reason FROM dead_letters") == [(out[1].reason,)]


def test_a_refused_batch_does_not_hold_the_spool(pool, db_dsn, ev, tmp_path):
    _spooled(ev, tmp_path / "spool", ("t-001", "poison-1"), ("t-002",))
    intake = Intake(Refusing(pool), Spool(tmp_path / "spool"))
    assert intake.replay() == 2 and intake.pending() == 0
    assert intake.replayed == {"accepted": 2, "rejected": 1}
    assert ev.query(db_dsn, "SELECT message_id FROM transactions ORDER BY 1") == [("t-001",), ("t-002",)]
    assert ev.query(db_dsn, "SELECT count(*) FROM dead_letters")[0][0] == 1
    assert ev.submit(intake, "transactions", ev.tx("t-003", 0)) == ["accepted"]


def test_a_batch_refused_even_as_a_dead_letter_is_set_aside(pool, db_dsn, ev, tmp_path):
    spool_dir = tmp_path / "spool"
    _spooled(ev, spool_dir, ("poison-1",), ("t-002",))
    intake = Intake(Refusing(pool, dead_too=True), Spool(spool_dir))
    # Through a submit, which replays the backlog first: it must neither raise nor wait behind the batch.
    assert ev.submit(intake, "transactions", ev.tx("t-003", 0)) == ["accepted"]
    assert intake.pending() == 0 and intake.set_aside == 1
    assert sorted(p.name for p in spool_dir.iterdir()) == ["000000000001.failed"]
    assert json.loads((spool_dir / "000000000001.failed").read_text())["accepted"][0]["message"][
        "message_id"] == "poison-1"  # kept whole for a person
    assert ev.query(db_dsn, "SELECT message_id FROM transactions ORDER BY 1") == [("t-002",), ("t-003",)]
    # A new process numbers new batches past the set-aside file: it is never overwritten.
    spool = Spool(spool_dir)
    assert spool.count == 0 and spool.append({"received_at": "2024-05-01T08:00:00+00:00", "accepted": []})
    assert sorted(p.name for p in spool_dir.iterdir()) == ["000000000001.failed", "000000000002.json"]
