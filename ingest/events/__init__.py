"""Lane-sensor events and business transactions: schemas, validation, idempotent storage, transports.

Transports (MQTT subscriber, HTTP router, CSV import) turn payloads into `Accepted`/`DeadLetter` with
`parse_batch`, then hand them to one `Intake`, which stores them through `EventStore` (or spools them to
disk while the database is away). See docs/intake.md.
"""

from ingest.events.intake import Intake, StoreUnavailable
from ingest.events.models import KIND_ALIASES, LANE_KINDS, LaneEvent, Transaction
from ingest.events.spool import Spool
from ingest.events.store import EventStore, Outcome, StoredLaneEvent, lane_events_since
from ingest.events.validate import Accepted, DeadLetter, parse_batch, validate_message

__all__ = [
    "KIND_ALIASES",
    "LANE_KINDS",
    "Accepted",
    "DeadLetter",
    "EventStore",
    "Intake",
    "LaneEvent",
    "Outcome",
    "Spool",
    "StoreUnavailable",
    "StoredLaneEvent",
    "Transaction",
    "lane_events_since",
    "parse_batch",
    "validate_message",
]
