"""From raw bytes to validated messages or dead letters, with a one-line reason for each refusal.

Nothing here touches the database: the transports (MQTT, HTTP, CSV) call these, then hand the result
to `Intake.submit`.

>>> batch = parse_batch(b'[{"message_id": "a"}, 7]', "lane_events", source="http")
>>> [type(x).__name__ for x in batch], batch[1].reason
(['DeadLetter', 'DeadLetter'], 'not a JSON object')
>>> parse_batch(b'\\xff\\xfe', "lane_events", source="mqtt")[0].reason
'not valid UTF-8 (byte 0xff at offset 0)'
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from ingest.events.models import DEFAULT_MAX_FUTURE_S, MODELS, LaneEvent, Stream, Transaction

MAX_DEAD_PAYLOAD = 4096       # characters of the raw payload kept in dead_letters
MAX_MESSAGE_BYTES = 16 * 1024  # one message, serialised
MAX_JSON_DEPTH = 32


@dataclass(frozen=True)
class Accepted:
    """A message that passed validation, with the source it came through (`mqtt`, `http`, `csv`...)."""

    stream: Stream
    message: LaneEvent | Transaction
    source: str


@dataclass(frozen=True)
class DeadLetter:
    source: str
    reason: str
    payload: str
    message_id: str | None = None

    @staticmethod
    def of(source: str, reason: str, payload: bytes | str | Any, message_id: str | None = None) -> DeadLetter:
        return DeadLetter(one_line(source, 200), one_line(reason, 500), printable_payload(payload), message_id)


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def one_line(text: str, limit: int = 300) -> str:
    """One line of storable text: whitespace runs collapsed, other control characters and lone surrogates
    (a field name in a reason can be anything a sender wrote) escaped.

    >>> one_line('a\\n  b\\x00c')
    'a b\\\\x00c'
    """
    text = _UNPRINTABLE.sub(lambda m: ascii(m.group())[1:-1], " ".join(str(text).split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def printable_payload(payload: bytes | str | Any, limit: int = MAX_DEAD_PAYLOAD) -> str:
    """The raw payload as text PostgreSQL accepts: undecodable bytes as \\xNN, NUL and lone surrogates
    escaped, cut to `limit` characters with a note of the full size."""
    if isinstance(payload, bytes | bytearray):
        size = len(payload)
        text = bytes(payload[: limit * 4]).decode("utf-8", "backslashreplace")
    elif isinstance(payload, str):
        size = len(payload.encode("utf-8", "surrogatepass"))
        text = payload
    else:
        text = json.dumps(payload, ensure_ascii=False, default=str, allow_nan=True)
        size = len(text.encode("utf-8", "surrogatepass"))
    text = text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) > limit:
        text = text[:limit] + f"…[truncated, {size} bytes]"
    return text


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _depth(node: Any, level: int = 0) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(node, dict):
        return max((_depth(v, level + 1) for v in node.values()), default=level + 1)
    if isinstance(node, list):
        return max((_depth(v, level + 1) for v in node), default=level + 1)
    return level


def decode_json(raw: bytes) -> Any:
    """Strict UTF-8 JSON (no NaN/Infinity, bounded nesting). Raises ValueError with a one-line reason."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})") from None
    text = text.removeprefix("\ufeff")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({one_line(str(exc), 120)})") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise ValueError("JSON nested too deeply")
    return value


_UNION_TAGS = {"str", "int", "float", "bool", "none", "constrained-str", "nullable", "list", "dict", "datetime"}
_VALID = "Input should be a valid "


def validation_reason(exc: ValidationError) -> str:
    """Pydantic's errors as `field: problem; ...`, the members of a union (`data.x` may be a string,
    number or boolean) folded into one problem."""
    grouped: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False):
        parts = list(err["loc"])
        while parts and isinstance(parts[-1], str) and (parts[-1] in _UNION_TAGS or parts[-1].startswith("function-")):
            parts.pop()
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "required"
        grouped.setdefault(".".join(str(p) for p in parts), []).append(msg)
    out = []
    for loc, msgs in grouped.items():
        unique = list(dict.fromkeys(msgs))
        specific = [m for m in unique if not m.startswith(_VALID)]
        if specific:
            msg = specific[0]
        elif len(unique) > 1:
            kinds = [m.removeprefix(_VALID) for m in unique]
            msg = _VALID + ", ".join(kinds[:-1]) + " or " + kinds[-1]
        else:
            msg = unique[0]
        out.append(f"{loc}: {msg}" if loc else msg)
    return one_line("; ".join(out))


def validate_message(obj: Any, stream: Stream, *, source: str, defaults: Mapping[str, str] | None = None,
                     now: datetime | None = None, max_future_s: float = DEFAULT_MAX_FUTURE_S,
                     max_message_bytes: int = MAX_MESSAGE_BYTES) -> Accepted | DeadLetter:
    """One decoded JSON value -> Accepted, or DeadLetter with the reason. `defaults` fill fields the
    transport knows (MQTT topic: site_id, lane_id); a message that names a different value is refused."""
    message_id = obj.get("message_id") if isinstance(obj, dict) else None
    message_id = message_id if isinstance(message_id, str) and len(message_id) <= 128 else None
    if not isinstance(obj, dict):
        return DeadLetter.of(source, "not a JSON object", obj)
    try:
        size = len(json.dumps(obj, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass"))
    except (TypeError, ValueError):
        return DeadLetter.of(source, "not serialisable as JSON", obj, message_id)
    if size > max_message_bytes:
        return DeadLetter.of(source, f"message of {size} bytes exceeds {max_message_bytes}", obj, message_id)
    if defaults:
        for key, value in defaults.items():
            given = obj.get(key, value)
            if given != value:
                return DeadLetter.of(source, f"{key} {one_line(repr(given), 80)} differs from the topic's {value!r}",
                                     obj, message_id)
        obj = {**obj, **defaults}
    context = {"now": now or datetime.now(UTC), "max_future_s": max_future_s}
    try:
        message = MODELS[stream].model_validate(obj, context=context)
    except ValidationError as exc:
        return DeadLetter.of(source, validation_reason(exc), obj, message_id)
    return Accepted(stream, message, source)


class PayloadError(ValueError):
    """The payload as a whole is unusable (not JSON, not UTF-8, too many messages)."""

    def __init__(self, reason: str, too_large: bool = False) -> None:
        super().__init__(reason)
        self.too_large = too_large


def decode_batch(raw: bytes, max_batch: int = 1000) -> list[Any]:
    """A payload holding one JSON value or an array of them -> the list of values. Raises PayloadError."""
    try:
        value = decode_json(raw)
    except ValueError as exc:
        raise PayloadError(str(exc)) from None
    items = value if isinstance(value, list) else [value]
    if len(items) > max_batch:
        raise PayloadError(f"batch of {len(items)} messages exceeds {max_batch}", too_large=True)
    return items


def parse_batch(raw: bytes, stream: Stream, *, source: str, defaults: Mapping[str, str] | None = None,
                now: datetime | None = None, max_future_s: float = DEFAULT_MAX_FUTURE_S,
                max_message_bytes: int = MAX_MESSAGE_BYTES, max_batch: int = 1000) -> list[Accepted | DeadLetter]:
    """A payload holding one JSON object or an array of them -> one result per message. A payload that is
    not JSON, or an array longer than `max_batch`, becomes one dead letter."""
    try:
        items = decode_batch(raw, max_batch)
    except PayloadError as exc:
        return [DeadLetter.of(source, str(exc), raw)]
    now = now or datetime.now(UTC)
    return [validate_message(item, stream, source=source, defaults=defaults, now=now, max_future_s=max_future_s,
                             max_message_bytes=max_message_bytes) for item in items]
