"""`MemoryAlertStore` (what `jianguan evaluate --replay` records alerts in) against the SQL `AlertStore`: the same
incidents through the same `AlertManager` give the same scored rows and the same alert timelines."""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg_pool import ConnectionPool

from alerts import AlertStore
from alerts.manager import AlertManager
from alerts.memory import MemoryAlertStore, db_time
from analytics import Incident
from analytics.rules.base import IncidentEvent
from jianguan.config import AlertsConfig
from jianguan.evaluate import found_of, load_found

BASE = 1_700_000_000.0


def _incidents() -> list[tuple[str, Incident]]:
    """Openings and closings in order, with times finer than a microsecond (the database rounds them)."""
    def inc(rule: str, zone: str | None, start: float, raised: float) -> Incident:
        return Incident(camera_id="c1", rule=rule, zone_id=zone, severity="major", started_at=BASE + start,
                        raised_at=BASE + raised, measures={"threshold_s": 20.0})

    a = inc("zone_unattended", "staff", 1.0000004, 21.1234567)
    b = inc("zone_unattended", "staff", 30.3333333, 50.6666666)  # same key while a's alert is live: merged
    c = inc("waiting_over_limit", "waiting", 2.5, 12.5)  # never closed
    d = inc("frozen", None, 5.0, 15.0)  # camera health pages again once its outage is over
    e = inc("frozen", None, 40.0, 50.0)
    f = inc("vehicle_left_uninspected", "lane", 60.0, 60.0)  # judged at the end: opens already ended
    f.ended_at = BASE + 60.0
    steps = [("opened", a), ("opened", c), ("opened", d)]
    a.ended_at = BASE + 43.7000001
    d.ended_at = BASE + 20.0
    steps += [("closed", a), ("closed", d), ("opened", b), ("opened", e), ("opened", f)]
    b.ended_at = BASE + 55.5
    steps += [("closed", b)]
    return steps


def _run(store, tmp: Path) -> AlertManager:  # noqa: ANN001 - either store
    manager = AlertManager(store, AlertsConfig(), {}, tmp / "evidence", site_of=lambda _c: "s1",
                           spool_dir=tmp / "spool")
    for kind, inc in _incidents():
        manager.handle(IncidentEvent(kind, inc), None, None, None)  # type: ignore[arg-type]
    manager.close()
    return manager


def test_the_memory_store_gives_the_rows_and_timelines_of_the_database(db_dsn: str, tmp_path: Path) -> None:
    with psycopg.connect(db_dsn) as conn:
        conn.execute("INSERT INTO sites (id, name) VALUES ('s1', 'Site 1')")
        conn.execute("INSERT INTO cameras (id, site_id, name, area, detect_fps)"
                     " VALUES ('c1', 's1', 'C 1', 'window', 5)")
    with ConnectionPool(db_dsn, min_size=1, max_size=2, open=True) as pool:
        in_db = _run(AlertStore(pool), tmp_path / "db")
    memory = MemoryAlertStore()
    in_memory = _run(memory, tmp_path / "memory")

    assert found_of(memory.incident_rows(), {"c1": BASE}) == load_found(db_dsn, BASE, ["c1"])
    with psycopg.connect(db_dsn) as conn:
        timelines = conn.execute("SELECT a.dedup_key, array_agg(e.action ORDER BY e.id), a.ended_at IS NULL"
                                 " FROM alerts a JOIN alert_events e ON e.alert_id = a.id GROUP BY a.id, a.dedup_key"
                                 " ORDER BY a.id").fetchall()
    assert [(a.dedup_key, [action for action, _ in a.events], a.ended_at is None) for a in memory.alerts] \
        == [(key, list(actions), live) for key, actions, live in timelines]
    assert (in_memory.stats.incidents, in_memory.stats.alerts_opened, in_memory.stats.merged) \
        == (in_db.stats.incidents, in_db.stats.alerts_opened, in_db.stats.merged) == (6, 4, 2)
    assert [a.events[-1][0] for a in memory.alerts] == ["incident_ended", "opened", "reopened", "opened"]


def test_times_come_back_as_a_timestamptz_gives_them() -> None:
    assert db_time(BASE + 0.1234567) == float("1700000000.123457")
    assert db_time(BASE + 0.5) == BASE + 0.5
