"""The one writer of outbox rows: alert openings, escalations, business early warnings and report links all
queue their pushes here, inside their own transaction (the `outbox` table belongs to the alerts package;
alerts/outbox.py delivers what is queued). No imports from the project: every layer that pushes may use it.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb


def enqueue(conn: psycopg.Connection, channel: str, key: str, payload: dict[str, Any],
            alert_id: int | None = None) -> bool:
    """Queue one message for one channel in the caller's transaction; the idempotency key makes a repeat a
    no-op. True if a row was added."""
    cur = conn.execute(
        "INSERT INTO outbox (alert_id, channel, idempotency_key, payload) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (idempotency_key) DO NOTHING", (alert_id, channel, key, Jsonb(payload)))
    return cur.rowcount == 1
