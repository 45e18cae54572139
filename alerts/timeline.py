"""An alert's timeline (`alert_events`, append-only: migration 0005): the one statement that adds to it.

Opening, merging, clips, escalation, workflow steps, business findings and clip retention all record their
step here, in the caller's transaction, so the row's shape is written once.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb


def add_event(conn: psycopg.Connection, alert_id: int, actor: str, action: str,
              detail: dict[str, Any] | None = None) -> None:
    """One step on the alert's timeline; `action` is a key of alerts/review/texts.py EVENTS."""
    conn.execute("INSERT INTO alert_events (alert_id, actor, action, detail) VALUES (%s, %s, %s, %s)",
                 (alert_id, actor, action, Jsonb(detail or {})))


__all__ = ["add_event"]
