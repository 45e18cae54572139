"""Schemas and validation without a database: what is refused, with which reason; exported schema files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from ingest.events.schemas import json_schemas, write_schemas
from ingest.events.validate import Accepted, DeadLetter, parse_batch, printable_payload, validate_message

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[3]


def check(obj, stream="lane_events", **kw):
    return validate_message(obj, stream, source="test", now=NOW, **kw)


def reason(obj, stream="lane_events", **kw) -> str:
    result = check(obj, stream, **kw)
    assert isinstance(result, DeadLetter), f"accepted: {result}"
    return result.reason


def test_valid_lane_event_and_aliases(ev):
    result = check(ev.lane("m1", "inspection_started", 0))
    assert isinstance(result, Accepted) and result.message.kind == "inspection_start"
    assert isinstance(check({"message_id": "m", "site_id": "s", "lane_id": "l", "kind": "vehicle_left",
                             "ts": "2024-05-01T11:00:00Z"}), Accepted)


@pytest.mark.parametrize(("change", "expected"), [
    ({"kind": "vehicle_flew"}, "kind: Input should be"),
    ({"ts": "2024-05-01T08:00:00"}, "ts: Input should have timezone info"),
    ({"ts": "yesterday"}, "ts: expected an ISO 8601 date and time"),
    ({"ts": 1714550400}, "ts: expected an ISO 8601 date and time"),  # seconds or milliseconds? not guessed
    ({"ts": "2024-05-01T25:00:00Z"}, "ts: Input should be a valid datetime"),
    ({"ts": "2024-05-01T12:06:00Z"}, "ts: time in the future (more than 300 s ahead"),
    ({"ts": "1999-12-31T23:59:59Z"}, "ts: time before 2000-01-01"),
    ({"lane_id": 7}, "lane_id: Input should be a valid string"),
    ({"site_id": "a/b"}, "site_id: String should match pattern"),
    ({"message_id": "has space"}, "message_id: String should match pattern"),
    ({"plate": "京A\x0012345"}, "plate: Value error, control characters" .replace("Value error, ", "")),
    ({"plate": None}, "inspection_start needs plate and inspector_id"),
    ({"color": "red"}, "color: unknown field"),
    ({"data": {"x": float("nan")}}, "data.x: Input should be a finite number"),
    ({"data": {"x": {"nested": 1}}}, "data.x"),
    ({"data": {f"k{i}": i for i in range(40)}}, "data: Dictionary should have at most 32 items"),
])
def test_refusals_name_the_field(ev, change, expected):
    assert expected in reason({**ev.lane("m1", "inspection_start", 0), **change})


def test_future_limit_is_configurable(ev):
    msg = {**ev.lane("m1", "vehicle_in", 0), "ts": (NOW + timedelta(seconds=90)).isoformat()}
    assert isinstance(check(msg), Accepted)
    assert "future" in reason(msg, max_future_s=60)


@pytest.mark.parametrize(("times", "expected"), [
    ((10, 5, None), "called_at is before queued_at"),
    ((0, 5, 4), "finished_at is before called_at"),
    ((0, None, 4), "finished_at without called_at"),
])
def test_transaction_order(ev, times, expected):
    assert expected in reason(ev.tx("t-001", *times), "transactions")


def test_oversize_and_payload_problems():
    big = {"message_id": "m", "blob": "x" * 20_000}
    assert reason(big).startswith("message of 20")
    out = parse_batch(b"\xff\xfe{", "lane_events", source="mqtt")
    assert out[0].reason == "not valid UTF-8 (byte 0xff at offset 0)" and out[0].payload.startswith("\\xff\\xfe")
    assert parse_batch(b'{"a": NaN}', "lane_events", source="x")[0].reason.startswith("not valid JSON")
    assert parse_batch(b"[" * 5000 + b"]" * 5000, "lane_events", source="x")[0].reason == "JSON nested too deeply"
    assert "exceeds 3" in parse_batch(b"[{}, {}, {}, {}]", "lane_events", source="x", max_batch=3)[0].reason


def test_dead_letter_payload_is_storable_text():
    text = printable_payload(b"a\x00b\xc3(" + b"z" * 10_000)
    assert "\x00" not in text and text.startswith("a\\x00b\\xc3(") and text.endswith("[truncated, 10005 bytes]")
    assert printable_payload("\ud800x") == "\\ud800x"


def test_exported_schemas_are_current_and_describe_the_messages(tmp_path, ev):
    """docs/schemas/*.json are generated (`jianguan events schemas`); they must match the models."""
    write_schemas(tmp_path)
    for name in json_schemas():
        assert (REPO / "docs" / "schemas" / f"{name}.json").read_text() == (tmp_path / f"{name}.json").read_text(), (
            f"docs/schemas/{name}.json is stale: run `jianguan events schemas`")
    lane_schema = json.loads((tmp_path / "lane-event.json").read_text())
    tx_schema = json.loads((tmp_path / "transaction.json").read_text())
    jsonschema.validate(ev.lane("m1", "inspection_finished", 0), lane_schema)
    jsonschema.validate(ev.tx("t-001", 0, 1, 2), tx_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**ev.lane("m1", "vehicle_in", 0), "kind": "vehicle_flew"}, lane_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**ev.tx("t-001", 0), "extra": 1}, tx_schema)
