"""The message schemas: lane-sensor events and business transactions (pydantic v2, JSON Schema exported).

Every field name is the database column it lands in. Unknown fields are refused (`extra="forbid"`): a
sensor's extra readings go into `data` (lane events), so a misspelt field never passes silently.

>>> e = LaneEvent.model_validate({"message_id": "l1-0001", "site_id": "hq", "lane_id": "lane-1",
...                               "kind": "vehicle_entered", "ts": "2024-05-01T08:00:00+08:00"})
>>> e.kind, e.ts.isoformat()
('vehicle_in', '2024-05-01T08:00:00+08:00')
>>> t = Transaction.model_validate({"message_id": "t1", "site_id": "hq", "window_id": "W03",
...     "business_type": "licence_renewal", "queued_at": "2024-05-01T09:00:00+08:00",
...     "called_at": "2024-05-01T09:04:00+08:00", "finished_at": "2024-05-01T09:10:30+08:00"})
>>> t.wait_s, t.handle_s
(240.0, 390.0)
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

# Time sanity: a clock more than this far ahead is broken (or the message is forged); before 2000 is junk.
DEFAULT_MAX_FUTURE_S = 300.0
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)

# Canonical kinds are the names already in the store (devkit/seed.py, dashboards); the spelled-out
# forms some sensors send are accepted and stored under the canonical name.
LANE_KINDS = ("vehicle_in", "vehicle_out", "inspection_start", "inspection_end")
KIND_ALIASES = {"vehicle_entered": "vehicle_in", "vehicle_left": "vehicle_out",
                "inspection_started": "inspection_start", "inspection_finished": "inspection_end"}
INSPECTION_KINDS = frozenset({"inspection_start", "inspection_end"})

# C0/C1 controls (NUL cannot even be stored in PostgreSQL text) and lone surrogates (not encodable as UTF-8).
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _clean(value: str) -> str:
    if _BAD_CHARS.search(value):
        raise ValueError("control characters or invalid code points are not allowed")
    return value


_ISO_START = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _iso_only(value: Any) -> Any:
    """Times travel as ISO 8601 text: a bare number (seconds? milliseconds?) is exactly the ambiguity that
    produces junk, so it is refused instead of guessed."""
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_START.match(value.strip())):
        return value
    raise ValueError("expected an ISO 8601 date and time with a UTC offset, e.g. 2024-05-01T09:30:00+08:00")


def _kind(value: Any) -> Any:
    return KIND_ALIASES.get(value, value) if isinstance(value, str) else value


Text = Annotated[str, AfterValidator(_clean)]
Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Time = Annotated[AwareDatetime, BeforeValidator(_iso_only)]
MessageId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[!-~]+$",
                                 description="unique per stream; printable ASCII without spaces (a UUID is ideal)")]
Scalar = str | int | float | bool | None


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False,
                              ser_json_inf_nan="null")

    message_id: MessageId
    site_id: Ident

    @staticmethod
    def _check_time(value: datetime | None, info: ValidationInfo) -> datetime | None:
        """Refuse times before 2000 and times in the future beyond the allowed clock skew. The validation
        context may carry `now` (an aware datetime) and `max_future_s`, so a replay judges a message by
        the time it was received."""
        if value is None:
            return None
        ctx = info.context or {}
        now = ctx.get("now") or datetime.now(UTC)
        max_future = ctx.get("max_future_s", DEFAULT_MAX_FUTURE_S)
        if value < EARLIEST:
            raise ValueError("time before 2000-01-01")
        if value > now + timedelta(seconds=max_future):
            raise ValueError(f"time in the future (more than {max_future:g} s ahead of the receiver's clock)")
        return value


class LaneEvent(_Message):
    """One event of an inspection-lane sensor. `inspection_start`/`inspection_end` must name the plate
    (they open and close the vehicle's inspection record) and the inspector."""

    lane_id: Ident
    kind: Annotated[Literal[LANE_KINDS], BeforeValidator(_kind), Field(  # type: ignore[valid-type]
        description="vehicle_in, vehicle_out, inspection_start, inspection_end (also accepted: "
                    + ", ".join(KIND_ALIASES) + ")",
        json_schema_extra={"enum": [*LANE_KINDS, *KIND_ALIASES]})]
    ts: Time = Field(description="when it happened, ISO 8601 with a UTC offset")
    plate: Annotated[Text, Field(min_length=1, max_length=16)] | None = Field(
        None, description="licence plate as read, e.g. 京A12345")
    inspector_id: Ident | None = None
    data: dict[Annotated[Text, Field(min_length=1, max_length=64)], Scalar] = Field(
        default_factory=dict, max_length=32,
        description="further sensor readings (flat: strings, numbers, booleans), stored as JSON")

    @field_validator("ts")
    @classmethod
    def _ts(cls, value: datetime, info: ValidationInfo) -> datetime:
        return cls._check_time(value, info)  # type: ignore[return-value]

    @field_validator("data")
    @classmethod
    def _data(cls, value: dict[str, Scalar]) -> dict[str, Scalar]:
        for key, item in value.items():
            if isinstance(item, str):
                if len(item) > 256:
                    raise ValueError(f"data.{key}: strings are limited to 256 characters")
                _clean(item)
            elif isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"data.{key}: numbers must be finite")
            elif isinstance(item, int) and not isinstance(item, bool) and abs(item) >= 2**63:
                raise ValueError(f"data.{key}: integer out of range")
        return value

    @model_validator(mode="after")
    def _inspection_names_vehicle(self) -> LaneEvent:
        if self.kind in INSPECTION_KINDS and (self.plate is None or self.inspector_id is None):
            raise ValueError(f"{self.kind} needs plate and inspector_id")
        return self


class Transaction(_Message):
    """One ticket of the queue system: taken (queued), called to a window, finished. `called_at` and
    `finished_at` may come later, in a message with the same `message_id` (see docs/intake.md)."""

    window_id: Ident
    business_type: Annotated[Text, Field(min_length=1, max_length=64)]
    ticket: Annotated[Text, Field(min_length=1, max_length=32)] | None = None
    staff_id: Ident | None = None
    queued_at: Time = Field(description="ticket taken, ISO 8601 with a UTC offset")
    called_at: Time | None = Field(None, description="called to the window; not before queued_at")
    finished_at: Time | None = Field(None, description="done; needs called_at, not before it")

    @field_validator("queued_at", "called_at", "finished_at")
    @classmethod
    def _times(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        return cls._check_time(value, info)

    @model_validator(mode="after")
    def _order(self) -> Transaction:
        check_order(self.queued_at, self.called_at, self.finished_at)
        return self

    @property
    def wait_s(self) -> float | None:
        return (self.called_at - self.queued_at).total_seconds() if self.called_at else None

    @property
    def handle_s(self) -> float | None:
        if self.called_at and self.finished_at:
            return (self.finished_at - self.called_at).total_seconds()
        return None


def check_order(queued: datetime, called: datetime | None, finished: datetime | None) -> None:
    """The queue's order of events; also applied when a later message fills in a stored ticket."""
    if called is not None and called < queued:
        raise ValueError("called_at is before queued_at")
    if finished is not None:
        if called is None:
            raise ValueError("finished_at without called_at")
        if finished < called:
            raise ValueError("finished_at is before called_at")


Stream = Literal["lane_events", "transactions"]
MODELS: dict[str, type[LaneEvent] | type[Transaction]] = {"lane_events": LaneEvent, "transactions": Transaction}
