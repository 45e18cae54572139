"""The one writer of `dead_letters`: input the system refused, kept for a person to read.

Two producers share the table: storage's durable writer (a batch the database refused for its content would
block its spool for ever) and the event intake (messages that failed validation or scope). The table belongs
to storage (docs/design.md, "Table ownership"), so the intake calls this instead of writing the SQL itself.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

DeadLetterRow = tuple[str, str, str]  # source, reason, payload (text a person can read)


def put_dead_letters(conn: psycopg.Connection, rows: Iterable[DeadLetterRow]) -> int:
    """Insert the rows in the caller's transaction (so they commit or roll back with what refused them);
    the number inserted."""
    batch = list(rows)
    if batch:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO dead_letters (source, reason, payload) VALUES (%s, %s, %s)", batch)
    return len(batch)


__all__ = ["DeadLetterRow", "put_dead_letters"]
