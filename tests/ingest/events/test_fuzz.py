"""Property-based fuzzing (hypothesis): junk never crashes the intake; every valid message is stored exactly
once, every invalid one only in dead_letters. Checked in the tables, not only in the returned statuses."""

from __future__ import annotations

import json
import os
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.events import KIND_ALIASES, LANE_KINDS, parse_batch
from ingest.events.validate import DeadLetter

# psycopg_pool's maintenance threads draw jitter from the global `random` while hypothesis generates data,
# which hypothesis reports as if a strategy had used it.
pytestmark = pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")

# More examples for a long hunt: JIANGUAN_FUZZ_EXAMPLES=1000 (the default keeps the suite quick on 2 cores).
EXAMPLES = int(os.environ.get("JIANGUAN_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,  # no .hypothesis dir in the shared tree
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Text that survives validation: no controls, surrogates or separators (which also covers what strip() eats).
SAFE = st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"))
ident = st.from_regex(r"[A-Za-z0-9_.:-]{1,20}", fullmatch=True)
safe_text = st.text(SAFE, min_size=1, max_size=16)
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
times = st.builds(lambda dt, tz: dt.replace(tzinfo=UTC).astimezone(tz),
                  st.datetimes(datetime(2000, 1, 2), datetime(2024, 12, 31)), offsets)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(SAFE, max_size=40))
json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text()),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                           max_leaves=12)


@st.composite
def valid_lane(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from([*LANE_KINDS, *KIND_ALIASES]))
    msg = {"site_id": draw(ident), "lane_id": draw(ident), "kind": kind, "ts": draw(times).isoformat()}
    if kind.startswith("inspection") or draw(st.booleans()):
        msg["plate"] = draw(safe_text)
        msg["inspector_id"] = draw(ident)
    if draw(st.booleans()):
        msg["data"] = draw(st.dictionaries(st.text(SAFE, min_size=1, max_size=10), scalars, max_size=5))
    return msg


@st.composite
def valid_tx(draw: Any) -> dict[str, Any]:
    queued = draw(times)
    msg = {"site_id": draw(ident), "window_id": draw(ident), "business_type": draw(safe_text),
           "queued_at": queued.isoformat()}
    if draw(st.booleans()):
        msg["ticket"], msg["staff_id"] = draw(safe_text), draw(ident)
    called = queued + timedelta(seconds=draw(st.integers(0, 7200)))
    if called <= datetime(2024, 12, 31, tzinfo=UTC) and draw(st.booleans()):
        msg["called_at"] = called.isoformat()
        if draw(st.booleans()):
            msg["finished_at"] = (called + timedelta(seconds=draw(st.integers(0, 7200)))).isoformat()
    return msg


def _break(draw: Any, msg: dict[str, Any], stream: str) -> dict[str, Any]:
    """A change that certainly makes `msg` invalid."""
    required = ["site_id", "lane_id", "kind", "ts"] if stream == "lane_events" else [
        "site_id", "window_id", "business_type", "queued_at"]
    how = draw(st.sampled_from(["drop", "wrong_type", "unknown_field", "future", "naive", "bad_char", "oversize",
                                "bad_kind_or_order", "too_long", "before_2000"]))
    msg = dict(msg)
    time_field = "ts" if stream == "lane_events" else "queued_at"
    if how == "drop":
        del msg[draw(st.sampled_from(required))]
    elif how == "wrong_type":
        msg[draw(st.sampled_from(required))] = draw(st.one_of(st.integers(), st.lists(st.integers(), max_size=2),
                                                              st.booleans(), st.none(), st.dictionaries(
                                                                  st.text(), st.integers(), max_size=2)))
    elif how == "unknown_field":
        msg[draw(st.text(min_size=1).filter(lambda k: k not in msg and k not in (
            "message_id", "plate", "inspector_id", "data", "ticket", "staff_id", "called_at", "finished_at")))] = 1
    elif how == "future":
        msg[time_field] = (datetime.now(UTC) + timedelta(seconds=draw(st.integers(600, 10**8)))).isoformat()
    elif how == "naive":
        msg[time_field] = draw(st.datetimes(datetime(2000, 1, 2), datetime(2024, 1, 1))).isoformat()
    elif how == "before_2000":
        msg[time_field] = draw(st.datetimes(datetime(1900, 1, 1), datetime(1999, 12, 30))).replace(
            tzinfo=UTC).isoformat()
    elif how == "bad_char":
        field = "site_id" if draw(st.booleans()) else ("plate" if stream == "lane_events" else "business_type")
        bad = draw(st.sampled_from(["\x00", "\x1b", "\x7f", "\x85", "\ud800", "\udfff"]))
        msg[field] = "A" + bad + "B"
    elif how == "oversize":
        msg["data" if stream == "lane_events" else "business_type"] = "x" * draw(st.integers(17_000, 40_000))
    elif how == "too_long":
        msg["site_id"] = "s" * draw(st.integers(65, 200))
    elif stream == "lane_events":
        msg["kind"] = draw(st.text(max_size=20).filter(lambda k: k not in (*LANE_KINDS, *KIND_ALIASES)))
    else:
        msg["called_at"] = (datetime.fromisoformat(msg["queued_at"]) - timedelta(seconds=draw(
            st.integers(1, 10**6)))).isoformat()
    return msg


@st.composite
def batches(draw: Any, stream: str) -> list[tuple[bool, dict[str, Any]]]:
    """(is_valid, message) pairs with unique ids; some messages repeated later (a redelivery)."""
    make = valid_lane if stream == "lane_events" else valid_tx
    n = draw(st.integers(1, 25))
    out = []
    for i in range(n):
        msg = draw(make())
        ok = draw(st.booleans())
        msg = msg if ok else _break(draw, msg, stream)
        suffix = draw(st.from_regex(r"[!-~]{0,12}", fullmatch=True))
        out.append((ok, {"message_id": f"{'v' if ok else 'x'}{i}-{suffix}", **msg}))
    repeats = draw(st.lists(st.integers(0, n - 1), max_size=5))
    return out + [out[i] for i in repeats]


def _reset(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE lane_events, inspections, transactions, intake_seen, dead_letters")


def _submit_in_chunks(intake, stream: str, items: list[dict[str, Any]], seed: int) -> list[str]:
    rng = random.Random(seed)
    statuses: list[str] = []
    k = 0
    while k < len(items):
        size = rng.randint(1, 8)
        raw = json.dumps(items[k:k + size], ensure_ascii=True).encode()  # \ud800 travels as an escape
        statuses += [o.status for o in intake.submit(parse_batch(raw, stream, source="fuzz"))]
        k += size
    return statuses


def _check_tables(dsn: str, stream: str, batch: list[tuple[bool, dict[str, Any]]]) -> None:
    valid_ids = {m["message_id"] for ok, m in batch if ok}
    invalid = [m for ok, m in batch if not ok]
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(f"SELECT message_id, count(*) FROM {stream} GROUP BY 1").fetchall()  # noqa: S608
        dead = conn.execute("SELECT source, reason, payload FROM dead_letters").fetchall()
    stored = dict(rows)
    assert set(stored) == valid_ids, "valid messages must be stored, invalid ones never"
    assert all(n == 1 for n in stored.values()), "a message stored twice"
    assert len(dead) == len(invalid), "each invalid delivery is one dead letter"
    for _, reason, payload in dead:
        assert reason and len(reason) <= 500 and payload
    for m in invalid:  # every invalid message's payload is findable by its id
        as_json = json.dumps(m["message_id"], ensure_ascii=False)
        assert any(f'"message_id": {as_json}' in p for _, _, p in dead), m["message_id"]


@FUZZ
@given(batch=batches("lane_events"), seed=st.integers(0, 10**6))
def test_fuzz_lane_events(intake, db_dsn, batch, seed):
    _reset(db_dsn)
    statuses = _submit_in_chunks(intake, "lane_events", [m for _, m in batch], seed)
    assert statuses.count("accepted") == len({m["message_id"] for ok, m in batch if ok})
    _check_tables(db_dsn, "lane_events", batch)
    with psycopg.connect(db_dsn) as conn:  # inspections only ever come from stored inspection starts
        started = conn.execute("SELECT count(*) FROM lane_events WHERE kind = 'inspection_start'").fetchone()[0]
        opened = conn.execute("SELECT count(*) FROM inspections").fetchone()[0]
    assert opened == started


@FUZZ
@given(batch=batches("transactions"), seed=st.integers(0, 10**6))
def test_fuzz_transactions(intake, db_dsn, batch, seed):
    _reset(db_dsn)
    statuses = _submit_in_chunks(intake, "transactions", [m for _, m in batch], seed)
    assert statuses.count("accepted") == len({m["message_id"] for ok, m in batch if ok})
    _check_tables(db_dsn, "transactions", batch)


@FUZZ
@given(payloads=st.lists(st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode()),
                                   st.dictionaries(st.sampled_from(["message_id", "site_id", "lane_id", "kind", "ts",
                                                                    "plate", "window_id", "queued_at", "data"]),
                                                   json_values, max_size=9).map(lambda d: json.dumps(d).encode())),
                         min_size=1, max_size=10),
       stream=st.sampled_from(["lane_events", "transactions"]))
def test_fuzz_junk_payloads_are_accounted_for(intake, db_dsn, payloads, stream):
    _reset(db_dsn)
    accepted = rejected = 0
    for raw in payloads:
        outcomes = intake.submit(parse_batch(raw, stream, source="fuzz"))
        accepted += sum(o.status == "accepted" for o in outcomes)
        rejected += sum(o.status == "rejected" for o in outcomes)
    with psycopg.connect(db_dsn) as conn:
        assert conn.execute(f"SELECT count(*) FROM {stream}").fetchone()[0] == accepted  # noqa: S608
        assert conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == rejected


@settings(max_examples=400, deadline=None, database=None)
@given(raw=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass"))))
def test_fuzz_parse_never_raises(raw):
    for stream in ("lane_events", "transactions"):
        for result in parse_batch(raw, stream, source="fuzz"):
            if isinstance(result, DeadLetter):
                assert "\x00" not in result.payload and result.reason
                result.payload.encode("utf-8")  # storable: no lone surrogates
