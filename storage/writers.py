"""Batched writers for time-series rows: buffer in memory, write with COPY in one transaction."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from psycopg import sql
from psycopg_pool import ConnectionPool

log = logging.getLogger(__name__)


class BatchWriter:
    """Collects rows for one table and writes them with COPY when `max_rows` gather or on `flush()`.

    Thread-safe. A failed write keeps the rows for the next flush (bounded by `max_buffer`, oldest
    dropped with a warning) so a short database outage loses nothing.
    """

    def __init__(self, pool: ConnectionPool, table: str, columns: Sequence[str], max_rows: int = 500,
                 max_buffer: int = 100_000) -> None:
        self.pool = pool
        self.table = table
        self.columns = list(columns)
        self.max_rows = max_rows
        self.max_buffer = max_buffer
        self.written = 0
        self.dropped = 0
        self._rows: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()
        self._copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, self.columns)))

    def add(self, row: Sequence[Any]) -> None:
        with self._lock:
            self._rows.append(tuple(row))
            full = len(self._rows) >= self.max_rows
        if full:
            self.flush()

    def flush(self) -> int:
        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return 0
        try:
            with self.pool.connection() as conn, conn.transaction(), conn.cursor().copy(self._copy) as copy:
                for row in rows:
                    copy.write_row(row)
        except Exception as exc:
            with self._lock:
                self._rows = rows + self._rows
                excess = len(self._rows) - self.max_buffer
                if excess > 0:
                    self.dropped += excess
                    del self._rows[:excess]
            log.warning("%s: write of %d rows failed (%s); kept for retry", self.table, len(rows),
                        type(exc).__name__)
            return 0
        self.written += len(rows)
        return len(rows)
