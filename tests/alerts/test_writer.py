"""The durable alert path against a real PostgreSQL: incidents spooled while the database is away, replayed
in order when it answers, exactly once even when a replay repeats a committed job."""

import shutil
import socket
import time

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from alerts import AlertStore, WebhookNotifier, WebhookNotifierConfig
from alerts.manager import AlertManager
from analytics import Incident
from analytics.rules.base import IncidentEvent
from jianguan.config import AlertsConfig


@pytest.fixture
def site(db_dsn):
    with psycopg.connect(db_dsn) as conn:
        conn.execute("INSERT INTO sites (id, name) VALUES ('s1', 'Site 1')")
        conn.execute("INSERT INTO cameras (id, site_id, name, area, detect_fps) VALUES ('w1', 's1', 'W1', 'window', 5)")


def dead_dsn() -> str:
    """A PostgreSQL address where nothing listens: every connection is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"postgresql://nobody@127.0.0.1:{port}/none?connect_timeout=1"


def notifiers() -> dict:
    return {name: WebhookNotifier(WebhookNotifierConfig(type="webhook", id=name, url="http://127.0.0.1:9/x"))
            for name in ("hook-a", "hook-b")}


def incident(start: float = 1_700_000_000.0) -> Incident:
    return Incident(camera_id="w1", rule="zone_unattended", zone_id="staff", severity="major", started_at=start,
                    raised_at=start + 20, measures={"threshold_s": 20.0, "empty_s": 20.0})


def manager(pool: ConnectionPool, tmp_path) -> AlertManager:
    return AlertManager(AlertStore(pool), AlertsConfig(), notifiers(), tmp_path / "evidence", site_of=lambda _c: "s1",
                        spool_dir=tmp_path / "spool")


def counts(dsn: str) -> tuple[int, int, int, int]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM incidents), (SELECT count(*) FROM alerts),"
            " (SELECT count(*) FROM outbox), (SELECT count(*) FROM incidents WHERE ended_at IS NOT NULL)").fetchone()


def test_an_outage_holds_nothing_up_and_loses_nothing(db_dsn, site, tmp_path):
    """With the database away, `handle` returns at once and the incident waits in the spool (snapshot
    already drawn); the next node replays it: one incident, one alert, one push per channel, closed."""
    with ConnectionPool(dead_dsn(), min_size=0, max_size=1, open=True) as dead:
        away = manager(dead, tmp_path)
        inc = incident()
        t0 = time.monotonic()
        away.handle(IncidentEvent("opened", inc), None, None, None)
        inc.ended_at = inc.raised_at + 5
        away.handle(IncidentEvent("closed", inc), None, None, None)
        assert time.monotonic() - t0 < 0.1  # the analysis thread is never held by the database
        away.close(drain_s=3)
    assert away.writer.spool.pending_rows == 2 and away.stats.alerts_opened == 0
    assert list((tmp_path / "evidence" / "w1").glob("*.jpg"))  # drawn and written during the outage
    backup = tmp_path / "spool-before-replay"
    shutil.copytree(tmp_path / "spool", backup)

    with ConnectionPool(db_dsn, min_size=1, max_size=2, open=True) as pool:
        back = manager(pool, tmp_path)  # the next run replays what the last one spooled
        back.close()
        assert back.stats.alerts_opened == 1 and back.writer.applied == 2
        assert counts(db_dsn) == (1, 1, 2, 1)
        assert not (tmp_path / "spool" / "alerts.spool").exists()

        # A crash after the commit but before the acknowledgement: the same jobs are replayed again.
        shutil.rmtree(tmp_path / "spool")
        shutil.copytree(backup, tmp_path / "spool")
        again = manager(pool, tmp_path)
        again.close()
        assert again.stats.alerts_opened == 0 and again.writer.applied == 2
    assert counts(db_dsn) == (1, 1, 2, 1)  # nothing twice: the incident's uid is unique


def test_a_refused_job_is_set_aside_and_the_next_ones_go_on(db_dsn, site, tmp_path):
    """An incident of a camera the database does not know (removed from the config) cannot be written, ever:
    it goes to alerts.dead and the next incident is written."""
    with ConnectionPool(db_dsn, min_size=1, max_size=2, open=True) as pool:
        m = manager(pool, tmp_path)
        stray = incident()
        stray.camera_id = "gone"
        m.handle(IncidentEvent("opened", stray), None, None, None)
        m.handle(IncidentEvent("opened", incident(1_700_000_100.0)), None, None, None)
        m.close()
    assert m.writer.dead == 1 and m.stats.alerts_opened == 1
    assert counts(db_dsn)[:2] == (1, 1)
    assert '"camera_id": "gone"' in (tmp_path / "spool" / "alerts.dead").read_text()


def test_a_spool_on_a_full_disk_neither_crashes_nor_loses_what_the_database_takes(db_dsn, site, tmp_path, caplog):
    """The spool's disk is full (its file is /dev/full: every write fails with ENOSPC): a critical line says
    so, the alert goes straight to the database, and with the database away too it is counted lost, loudly,
    without taking the writer down."""
    spool = tmp_path / "spool" / "alerts.spool"
    caplog.set_level("CRITICAL")
    with ConnectionPool(db_dsn, min_size=1, max_size=2, open=True) as pool:
        m = manager(pool, tmp_path)
        spool.symlink_to("/dev/full")  # after start-up: an empty spool is removed when the writer opens it
        m.handle(IncidentEvent("opened", incident()), None, None, None)
        m.close()
    assert m.stats.alerts_opened == 1 and counts(db_dsn)[:3] == (1, 1, 2)
    assert any("disk is full or failing" in r.message for r in caplog.records)
    spool.unlink()
    with ConnectionPool(dead_dsn(), min_size=0, max_size=1, open=True) as dead:
        m = manager(dead, tmp_path)
        spool.symlink_to("/dev/full")
        m.handle(IncidentEvent("opened", incident(1_700_000_500.0)), None, None, None)
        m.close(drain_s=5)
    assert m.writer.lost == 1 and any("alert lost" in r.message for r in caplog.records)
    assert m.writer._thread.is_alive() is False  # stopped by close(), not by the error
