"""Idempotent storage on a real PostgreSQL: repeats, transaction updates, inspection pairing, dead letters."""

from __future__ import annotations

import threading
from datetime import timedelta

import psycopg

from ingest.events import EventStore, Intake


def test_lane_event_repeat_with_other_timestamp_is_a_duplicate(intake, db_dsn, ev):
    assert ev.submit(intake, "lane_events", ev.lane("m1", "vehicle_in", 0)) == ["accepted"]
    # A redelivery whose timestamp was re-stamped by a gateway: same id, still the same message.
    assert ev.submit(intake, "lane_events", ev.lane("m1", "vehicle_in", 3)) == ["duplicate"]
    assert ev.submit(intake, "lane_events", ev.lane("m1", "vehicle_in", 0), ev.lane("m1", "vehicle_in", 0),
                     ev.lane("m2", "vehicle_entered", 1)) == ["duplicate", "duplicate", "accepted"]
    rows = ev.query(db_dsn, "SELECT message_id, kind, ts FROM lane_events ORDER BY message_id")
    assert [(r[0], r[1]) for r in rows] == [("m1", "vehicle_in"), ("m2", "vehicle_in")]
    assert rows[0][2] == ev.T0  # the first delivery's time is kept
    assert ev.query(db_dsn, "SELECT count(*) FROM intake_seen")[0][0] == 2


def test_lane_event_data_lands_in_payload(intake, db_dsn, ev):
    ev.submit(intake, "lane_events", ev.lane("m1", "vehicle_in", 0, data={"speed_kmh": 4.5, "axle": 2}))
    assert ev.query(db_dsn, "SELECT payload FROM lane_events")[0][0] == {"speed_kmh": 4.5, "axle": 2}


def test_transaction_update_fills_in_later_fields(intake, db_dsn, ev):
    assert ev.submit(intake, "transactions", ev.tx("t-001", 0)) == ["accepted"]
    assert ev.submit(intake, "transactions", ev.tx("t-001", 0, called=4)) == ["updated"]
    # A redelivery of the first message (no called_at) must not wipe what the update filled in.
    assert ev.submit(intake, "transactions", ev.tx("t-001", 0)) == ["duplicate"]
    assert ev.submit(intake, "transactions", ev.tx("t-001", 0, called=4, finished=10.5)) == ["updated"]
    assert ev.submit(intake, "transactions", ev.tx("t-001", 0, called=4, finished=10.5)) == ["duplicate"]
    rows = ev.query(db_dsn, "SELECT called_at, finished_at, wait_s, handle_s FROM transactions")
    assert rows == [(ev.T0 + timedelta(minutes=4), ev.T0 + timedelta(minutes=10.5), 240.0, 390.0)]


def test_transaction_repeat_with_other_queued_at_is_not_a_second_row(intake, db_dsn, ev):
    assert ev.submit(intake, "transactions", ev.tx("t-002", 0)) == ["accepted"]
    # The primary key is (message_id, queued_at): without intake_seen this would be a second ticket.
    assert ev.submit(intake, "transactions", ev.tx("t-002", 2, called=3)) == ["updated"]
    assert ev.query(db_dsn, "SELECT count(*), min(queued_at), min(wait_s) FROM transactions")[0] == (
        1, ev.T0, 180.0)


def test_transaction_first_value_wins_and_bad_updates_are_dead_letters(intake, db_dsn, ev):
    ev.submit(intake, "transactions", ev.tx("t-003", 10, called=12))
    out = intake.submit(_parsed(ev, "transactions", ev.tx("t-003", 10, called=13, finished=20)))
    assert out[0].status == "updated" and "called_at already set" in out[0].reason
    assert ev.query(db_dsn, "SELECT called_at, handle_s FROM transactions")[0] == (
        ev.T0 + timedelta(minutes=12), 480.0)
    # Valid alone, but finished before the stored call: refused, kept in dead_letters with its reason.
    ev.submit(intake, "transactions", ev.tx("t-004", 10, called=12))
    bad = intake.submit(_parsed(ev, "transactions", ev.tx("t-004", 0, called=1, finished=5)))
    assert bad[0].status == "rejected" and "finished_at is before called_at" in bad[0].reason
    # Same id from another window: an id collision, not an update.
    clash = intake.submit(_parsed(ev, "transactions", ev.tx("t-003", 10, called=12, window="W09")))
    assert clash[0].status == "rejected"
    dead = ev.query(db_dsn, "SELECT source, reason FROM dead_letters ORDER BY id")
    assert [r[1].split(":")[0] for r in dead] == ["update of t-004", "update of t-003"]
    assert ev.query(db_dsn, "SELECT message_id FROM transactions WHERE finished_at IS NOT NULL") == [("t-003",)]


def test_one_batch_with_a_ticket_and_its_update(intake, db_dsn, ev):
    assert ev.submit(intake, "transactions", ev.tx("t-005", 0), ev.tx("t-005", 0, called=2),
                     ev.tx("t-005", 0, called=2, finished=3)) == ["accepted", "updated", "updated"]
    assert ev.query(db_dsn, "SELECT wait_s, handle_s FROM transactions")[0] == (120.0, 60.0)


def _parsed(ev, stream, *messages):
    import json

    from ingest.events import parse_batch

    return parse_batch(json.dumps(list(messages)).encode(), stream, source="test")


def _inspections(ev, dsn):
    return ev.query(dsn, "SELECT plate, extract(epoch FROM started_at - %s)::int / 60,"
                         " extract(epoch FROM finished_at - %s)::int / 60, start_message_id, end_message_id"
                         " FROM inspections ORDER BY started_at, id", ev.T0, ev.T0)


def test_inspection_in_order(intake, db_dsn, ev):
    ev.submit(intake, "lane_events", ev.lane("a1", "vehicle_in", 0), ev.lane("a2", "inspection_started", 1))
    assert _inspections(ev, db_dsn) == [("京A12345", 1, None, "a2", None)]
    ev.submit(intake, "lane_events", ev.lane("a3", "inspection_finished", 16), ev.lane("a4", "vehicle_out", 17))
    assert _inspections(ev, db_dsn) == [("京A12345", 1, 16, "a2", "a3")]
    # Redelivered events change nothing.
    ev.submit(intake, "lane_events", ev.lane("a2", "inspection_start", 1), ev.lane("a3", "inspection_end", 16))
    assert _inspections(ev, db_dsn) == [("京A12345", 1, 16, "a2", "a3")]


def test_inspection_end_before_start(intake, db_dsn, ev):
    ev.submit(intake, "lane_events", ev.lane("b2", "inspection_end", 20))
    assert _inspections(ev, db_dsn) == []  # an end alone opens nothing: it waits for its start
    ev.submit(intake, "lane_events", ev.lane("b1", "inspection_start", 5))
    assert _inspections(ev, db_dsn) == [("京A12345", 5, 20, "b1", "b2")]
    # Both in one batch, end first.
    ev.submit(intake, "lane_events", ev.lane("c2", "inspection_end", 60, plate="沪B1"),
              ev.lane("c1", "inspection_start", 45, plate="沪B1"))
    assert _inspections(ev, db_dsn)[1] == ("沪B1", 45, 60, "c1", "c2")


def test_inspection_pairing_respects_the_next_start_and_the_maximum(intake, db_dsn, ev):
    # Lost end of the first inspection; the second is complete. A late end of the second must not
    # close the first across the second one.
    ev.submit(intake, "lane_events", ev.lane("d1", "inspection_start", 0), ev.lane("d2", "inspection_start", 30),
              ev.lane("d3", "inspection_end", 45), ev.lane("d4", "inspection_end", 50))
    assert _inspections(ev, db_dsn) == [("京A12345", 0, None, "d1", None), ("京A12345", 30, 45, "d2", "d3")]
    # An end seven hours after a start (default maximum 6 h) leaves it open.
    ev.submit(intake, "lane_events", ev.lane("e1", "inspection_start", 600, plate="X1"),
              ev.lane("e2", "inspection_end", 600 + 7 * 60, plate="X1"))
    assert _inspections(ev, db_dsn)[-1] == ("X1", 600, None, "e1", None)
    # Other lanes and other plates are other vehicles.
    ev.submit(intake, "lane_events", ev.lane("f1", "inspection_start", 0, plate="Y1"),
              ev.lane("f2", "inspection_end", 10, plate="Y1", lane_id="lane-2"))
    assert ("Y1", 0, None, "f1", None) in _inspections(ev, db_dsn)


def test_concurrent_writers_sharing_ids_store_each_once(pool, db_dsn, ev):
    """Two intakes (think MQTT and HTTP, or two nodes) deliver the same messages in opposite orders."""
    messages = [ev.lane(f"g{i:03d}", "vehicle_in", i, lane_id=f"lane-{i % 3}") for i in range(200)]
    messages += [ev.lane(f"h{i:03d}", "inspection_start" if i % 2 == 0 else "inspection_end", i // 2 * 10 + i % 2,
                         plate=f"P{i // 2}") for i in range(40)]
    statuses: list[str] = []
    errors: list[BaseException] = []

    def run(order):
        try:
            intake = Intake(EventStore(pool))
            for k in range(0, len(order), 25):
                statuses.extend(ev.submit(intake, "lane_events", *order[k:k + 25]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(o,)) for o in (messages, messages[::-1])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert statuses.count("accepted") == len(messages) and statuses.count("duplicate") == len(messages)
    assert ev.query(db_dsn, "SELECT count(*), count(DISTINCT message_id) FROM lane_events")[0] == (240, 240)
    assert ev.query(db_dsn, "SELECT count(*), count(finished_at) FROM inspections")[0] == (20, 20)


def test_rejected_messages_are_dead_letters_with_payload(intake, db_dsn, ev):
    out = ev.submit(intake, "lane_events", ev.lane("ok", "vehicle_in", 0), ev.lane("bad", "vehicle_flew", 0),
                    {"message_id": "x"}, [1, 2])
    assert out == ["accepted", "rejected", "rejected", "rejected"]
    dead = ev.query(db_dsn, "SELECT source, reason, payload FROM dead_letters ORDER BY id")
    assert [d[0] for d in dead] == ["test"] * 3
    assert "kind: Input should be" in dead[0][1] and '"vehicle_flew"' in dead[0][2]
    assert "site_id: required" in dead[1][1]
    assert dead[2][1] == "not a JSON object"
    assert ev.query(db_dsn, "SELECT message_id FROM lane_events") == [("ok",)]


def test_field_names_with_nul_or_surrogates_still_make_storable_dead_letters(intake, db_dsn, ev):
    """Found by the fuzzer: the reason quotes the offending field name, which may hold a NUL."""
    raw = b'[{"\\u0000": null}, {"\\ud800x": 1, "message_id": "m\\u0000"}]'
    from ingest.events import parse_batch

    assert [o.status for o in intake.submit(parse_batch(raw, "lane_events", source="t\x00"))] == ["rejected"] * 2
    dead = ev.query(db_dsn, "SELECT source, reason, payload FROM dead_letters ORDER BY id")
    assert dead[0][0] == "t\\x00" and dead[0][1].endswith("; \\x00: unknown field")
    assert dead[1][1] and "\\ud800x" in dead[1][2] and "\\u0000" in dead[1][2]


def test_migration_0006_can_run_again(db_dsn):
    """Idempotent (IF NOT EXISTS everywhere): a partially applied or re-run file does no harm."""
    from pathlib import Path

    import psycopg

    sql = (Path(__file__).resolve().parents[3] / "storage" / "migrations" / "0006_intake.sql").read_text()
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        conn.execute(sql)
        cols = {r[0] for r in conn.execute("SELECT column_name FROM information_schema.columns"
                                           " WHERE table_name = 'inspections'")}
    assert {"start_message_id", "end_message_id"} <= cols


def test_old_message_ids_are_forgotten_in_batches_recent_ones_kept(intake, db_dsn, ev):
    """intake_seen would grow forever: ids older than seen_days go; a redelivery of a forgotten id is stored
    again (the documented price), a recent id is still a duplicate."""
    msgs = [ev.lane(f"old{i}", "vehicle_in", i) for i in range(25)] + [ev.lane("new", "vehicle_in", 30)]
    assert ev.submit(intake, "lane_events", *msgs) == ["accepted"] * 26
    with psycopg.connect(db_dsn) as conn:
        conn.execute("UPDATE intake_seen SET seen_at = now() - interval '31 days' WHERE message_id LIKE 'old%'")
    assert intake.store.forget_seen(30 * 86400, batch=10) == 25  # three batches: 10, 10, 5
    assert ev.query(db_dsn, "SELECT message_id FROM intake_seen") == [("new",)]
    assert ev.query(db_dsn, "SELECT count(*) FROM lane_events")[0][0] == 26  # the events themselves stay
    assert ev.submit(intake, "lane_events", ev.lane("new", "vehicle_in", 30), ev.lane("old3", "vehicle_in", 3)) == [
        "duplicate", "accepted"]
