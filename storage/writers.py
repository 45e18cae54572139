"""Batched writers for time-series rows: buffer in memory, write with COPY in one transaction.

Two modes of `BatchWriter`:

- in memory (no `spool_dir`): a failed write keeps the rows in memory for the next flush, bounded by
  `max_buffer` (oldest dropped with a warning). A short outage loses nothing; a long one does.
- durable (`spool_dir` given): a batch that cannot be written is appended to an on-disk spool (one
  append-only file per table, each batch framed with a sequence number and a CRC, fsync'd), and the spool
  is replayed in order once the database answers again. Every write, direct or replayed, goes through a
  COPY into a temporary table and `INSERT .. SELECT .. ON CONFLICT DO NOTHING`, so a batch whose commit
  was lost in transit (the server died between COMMIT and its reply) and is then replayed cannot create
  duplicates: the table's primary key absorbs it. Memory stays bounded by `max_rows` whatever the outage
  length: the disk holds the backlog (up to `max_spool_bytes`).

Spool layout, per table, in `spool_dir`:

    <table>.spool   frames: magic "JGSP", u32 payload length, u64 sequence number, u32 crc32, pickled rows
    <table>.ack     the highest sequence number known to be committed (written atomically: tmp + rename)

A frame whose header or payload is cut short (a crash mid-append) is detected by its length/CRC and
truncated when the spool is opened. When every frame is acknowledged both files are removed. The spool
is read back only by this process's code; it is never taken from anywhere else (pickle is trusted here).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import struct
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from storage.dead_letters import put_dead_letters

log = logging.getLogger(__name__)

_MAGIC = b"JGSP"
_HEADER = struct.Struct("<4sIQI")  # magic, payload length, sequence number, crc32 of the payload


class BatchWriter:
    """Collects rows for one table and writes them with COPY when `max_rows` gather, when the oldest buffered
    row is `flush_every_s` old (a timer thread, started with the first row, so dashboards see a quiet
    camera's rows within seconds, not after 500 of them), or on `flush()`.

    Thread-safe: `add()` may be called from any thread; writes (direct, spooled or replayed) are serialised,
    so rows reach the table in the order their batches were formed.

    Without `spool_dir`, a failed write keeps the rows for the next flush (bounded by `max_buffer`, oldest
    dropped with a warning). With `spool_dir`, see the module docstring: nothing is lost, nothing is
    written twice (given a primary key or unique constraint on the table), and after a failure the writer
    spools without touching the database for `retry_s` (doubling up to `max_retry_s`), so a dead server
    does not stall the producer for a connection timeout on every batch.
    """

    def __init__(self, pool: ConnectionPool, table: str, columns: Sequence[str], max_rows: int = 500,
                 max_buffer: int = 100_000, spool_dir: Path | str | None = None, *,
                 connect_timeout_s: float = 2.0, retry_s: float = 1.0, max_retry_s: float = 30.0,
                 max_spool_bytes: int = 2 * 1024**3, replay_batches: int = 20,
                 flush_every_s: float | None = 5.0) -> None:
        self.pool = pool
        self.table = table
        self.columns = list(columns)
        self.max_rows = max_rows
        self.max_buffer = max_buffer
        self.connect_timeout_s = connect_timeout_s
        self.retry_s = retry_s
        self.max_retry_s = max_retry_s
        self.replay_batches = replay_batches
        self.written = 0       # rows inserted (duplicates absorbed by the key are not counted)
        self.duplicates = 0    # rows skipped by ON CONFLICT DO NOTHING (replays of committed rows)
        self.dropped = 0       # rows lost: in-memory overflow, or a full spool
        self.spooled = 0       # rows that went to the spool
        self.rejected = 0      # rows the database refused (bad data): moved to dead_letters, not retried
        self._rows: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()       # guards _rows
        self._io_lock = threading.Lock()    # serialises database and spool I/O (keeps batch order)
        cols = sql.SQL(", ").join(map(sql.Identifier, self.columns))
        self._copy = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), cols)
        stage = sql.Identifier(f"_jg_stage_{table}")
        self._stage_create = sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS SELECT {cols} FROM {table} WITH NO DATA"
        ).format(stage=stage, cols=cols, table=sql.Identifier(table))
        self._stage_copy = sql.SQL("COPY {} ({}) FROM STDIN").format(stage, cols)
        self._stage_insert = sql.SQL("INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} ON CONFLICT DO NOTHING"
                                     ).format(table=sql.Identifier(table), cols=cols, stage=stage)
        self.spool: Spool | None = None
        if spool_dir is not None:
            self.spool = Spool(Path(spool_dir), table, max_spool_bytes)
        self._next_try = 0.0
        self._backoff = retry_s
        self.flush_every_s = flush_every_s
        self._timer: threading.Thread | None = None
        self._closed = threading.Event()

    # -- public -------------------------------------------------------------------------------------
    def add(self, row: Sequence[Any]) -> None:
        with self._lock:
            self._rows.append(tuple(row))
            full = len(self._rows) >= self.max_rows
            start_timer = self.flush_every_s is not None and self._timer is None and not self._closed.is_set()
            if start_timer:
                self._timer = threading.Thread(target=self._tick, name=f"flush:{self.table}", daemon=True)
        if start_timer:
            assert self._timer is not None
            self._timer.start()
        if full:
            # A producer's flush replays at most a few spooled batches, so it is never held up for long.
            self._flush(replay_limit=self.replay_batches)

    def flush(self) -> int:
        """Write what is buffered; in durable mode replay the whole spool first if the database is back.
        Returns the number of rows inserted by this call."""
        return self._flush(replay_limit=None)

    def _flush(self, replay_limit: int | None) -> int:
        if self.spool is None:
            return self._flush_memory()
        with self._io_lock:
            with self._lock:
                rows, self._rows = self._rows, []
            return self._flush_durable(rows, replay_limit)

    def pending(self) -> int:
        """Rows not yet in the database: in memory plus in the spool (durable mode)."""
        with self._lock:
            n = len(self._rows)
        return n + (self.spool.pending_rows if self.spool is not None else 0)

    def close(self) -> None:
        """Last flush; in durable mode whatever the database refused stays in the spool for the next run."""
        self._closed.set()
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.join()
        self._next_try = 0.0  # the last chance this run: try the database now, whatever the backoff says
        self.flush()

    def _tick(self) -> None:
        """The timer: every `flush_every_s`, write what is buffered (and replay a few spooled batches)."""
        assert self.flush_every_s is not None
        while not self._closed.wait(self.flush_every_s):
            with self._lock:
                due = bool(self._rows)
            if due or (self.spool is not None and self.spool.has_backlog()):
                try:
                    self._flush(replay_limit=self.replay_batches)
                except PoolClosed:
                    return  # the owner closed the pool without closing the writer: nothing more can be written
                except Exception:  # a timer must outlive one bad round; the rows stay buffered or spooled
                    log.exception("%s: timed flush failed", self.table)

    # -- in-memory mode (the original behaviour) ------------------------------------------------------
    def _flush_memory(self) -> int:
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

    # -- durable mode ---------------------------------------------------------------------------------
    def _flush_durable(self, rows: list[tuple[Any, ...]], replay_limit: int | None) -> int:
        spool = self.spool
        assert spool is not None
        inserted = 0
        if spool.has_backlog() and time.monotonic() >= self._next_try:
            inserted += self._replay(replay_limit)
        if rows:
            # Straight to the table only when nothing waits in the spool (order) and the server is not
            # known to be down (a failed replay just now has pushed _next_try into the future).
            if not spool.has_backlog() and time.monotonic() >= self._next_try:
                try:
                    inserted += self._write_idempotent(rows)
                    return inserted
                except Exception as exc:
                    if not _transient(exc) and self._reject(rows, exc):
                        return inserted
                    self._failed(exc, len(rows))
            if spool.append(rows):
                self.spooled += len(rows)
            else:
                self.dropped += len(rows)
                log.error("%s: spool full (%d bytes) or its disk refused it; %d rows dropped", self.table, spool.size,
                          len(rows))
        return inserted

    def _replay(self, limit: int | None) -> int:
        spool = self.spool
        assert spool is not None
        inserted = 0
        for i, (seq, rows, end) in enumerate(spool.unacked()):
            if limit is not None and i >= limit:
                return inserted
            try:
                inserted += self._write_idempotent(rows)
            except Exception as exc:
                if _transient(exc) or not self._reject(rows, exc):
                    self._failed(exc, len(rows), replay=True)
                    return inserted
            spool.ack(seq, end, len(rows))
        spool.reset_if_done()
        log.info("%s: spool replayed", self.table)
        return inserted

    def _write_idempotent(self, rows: list[tuple[Any, ...]]) -> int:
        with self.pool.connection(timeout=self.connect_timeout_s) as conn, conn.transaction():
            cur = conn.cursor()
            cur.execute(self._stage_create)
            with cur.copy(self._stage_copy) as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(self._stage_insert)
            n = max(cur.rowcount, 0)
        self.written += n
        self.duplicates += len(rows) - n
        self._backoff = self.retry_s
        self._next_try = 0.0
        return n

    def _reject(self, rows: list[tuple[Any, ...]], exc: Exception) -> bool:
        """A batch the server refuses for its content (constraint, type) would block the spool forever:
        keep it in `dead_letters` for a human instead. False when even that cannot be written."""
        reason = " ".join(str(exc).split())[:500] or type(exc).__name__
        try:
            with self.pool.connection(timeout=self.connect_timeout_s) as conn, conn.transaction():
                put_dead_letters(conn, [(f"writer:{self.table}", reason, json.dumps(
                    {"columns": self.columns, "rows": rows}, default=str, ensure_ascii=False))])
        except Exception:  # noqa: BLE001 - treated as an outage by the caller
            return False
        self.rejected += len(rows)
        log.error("%s: %d rows refused by the database (%s); moved to dead_letters", self.table, len(rows), reason)
        return True

    def _failed(self, exc: Exception, n: int, replay: bool = False) -> None:
        self._next_try = time.monotonic() + self._backoff
        log.warning("%s: %s of %d rows failed (%s); spooling, next try in %.1f s", self.table,
                    "replay" if replay else "write", n, type(exc).__name__, self._backoff)
        self._backoff = min(self._backoff * 2, self.max_retry_s)


def _transient(exc: Exception) -> bool:
    """An outage (connection refused or lost, server shutting down, pool exhausted) rather than bad data."""
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError | PoolTimeout | PoolClosed | OSError)


class Spool:
    """One table's append-only spool file plus its acknowledgement marker (the layout: the module docstring).
    Not thread-safe: its owner serialises every call (BatchWriter's I/O lock, the alert writer's thread).
    A "row" is any picklable tuple."""

    def __init__(self, directory: Path, table: str, max_bytes: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{table}.spool"
        self.ack_path = directory / f"{table}.ack"
        self.max_bytes = max_bytes
        self.acked = self._read_ack()
        self.last_seq = self.acked
        self.pending_rows = 0
        self.size = 0
        self.ack_offset = 0   # byte offset just past the last acknowledged frame
        self.write_errors = 0  # appends the disk refused (full, failing)
        self._last_error_log = -1e9
        self._recover()

    # -- state ----------------------------------------------------------------------------------------
    def has_backlog(self) -> bool:
        return self.last_seq > self.acked

    def _read_ack(self) -> int:
        try:
            return int(self.ack_path.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def _recover(self) -> None:
        """Scan an existing spool: find the last good frame, cut a torn tail, count unacknowledged rows."""
        if not self.path.exists():
            return
        good_end = 0
        for seq, rows, end in self._frames():
            self.last_seq = max(self.last_seq, seq)
            if seq > self.acked:
                self.pending_rows += len(rows)
            else:
                self.ack_offset = end
            good_end = end
        size = self.path.stat().st_size
        if size > good_end:
            log.warning("%s: cutting %d bytes of a torn spool frame", self.path, size - good_end)
            with self.path.open("r+b") as f:
                f.truncate(good_end)
                f.flush()
                os.fsync(f.fileno())
        self.size = good_end
        self.reset_if_done()

    def _frames(self, start: int = 0) -> Iterator[tuple[int, list[tuple[Any, ...]], int]]:
        """(sequence, rows, end offset) for each intact frame from byte `start`, stopping at the first
        damaged one."""
        try:
            f = self.path.open("rb")
        except FileNotFoundError:
            return
        with f:
            f.seek(start)
            offset = start
            while True:
                header = f.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    return
                magic, length, seq, crc = _HEADER.unpack(header)
                if magic != _MAGIC:
                    return
                payload = f.read(length)
                if len(payload) < length or zlib.crc32(payload) != crc:
                    return
                try:
                    rows = pickle.loads(payload)
                except Exception:  # noqa: BLE001 - a damaged frame ends the readable part
                    return
                offset += _HEADER.size + length
                yield seq, rows, offset

    # -- operations -------------------------------------------------------------------------------------
    def append(self, rows: list[tuple[Any, ...]]) -> bool:
        """Append one frame, durably. False when the spool is at `max_bytes` or the disk refused the write
        (logged critical, at most once a minute): the caller decides what to do with the rows."""
        payload = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
        frame = _HEADER.pack(_MAGIC, len(payload), self.last_seq + 1, zlib.crc32(payload)) + payload
        if self.size + len(frame) > self.max_bytes:
            return False
        try:
            with self.path.open("ab") as f:
                try:
                    f.write(frame)
                    f.flush()
                    os.fsync(f.fileno())
                except OSError:
                    # A full disk (ENOSPC) may have taken part of the frame: cut it off, or the frames
                    # appended after it (once space is back) would sit behind a torn one and be lost.
                    with contextlib.suppress(OSError):
                        f.truncate(self.size)
                    raise
        except OSError as exc:
            now = time.monotonic()
            if now - self._last_error_log > 60:  # one line a minute, not one per batch
                log.critical("spool %s cannot be written (%s): the disk is full or failing; what cannot be "
                             "written to the database now is lost", self.path, exc.strerror or exc)
                self._last_error_log = now
            self.write_errors += 1
            return False
        if self.size == 0:
            _fsync_dir(self.path.parent)  # the file is new: make its directory entry durable too
        self.size += len(frame)
        self.last_seq += 1
        self.pending_rows += len(rows)
        return True

    def unacked(self) -> Iterator[tuple[int, list[tuple[Any, ...]], int]]:
        """(sequence, rows, end offset) of the frames after the acknowledged one, in order, one at a time
        (memory: one batch)."""
        for seq, rows, end in self._frames(self.ack_offset):
            if seq > self.acked:
                yield seq, rows, end

    def ack(self, seq: int, end: int, n_rows: int) -> None:
        tmp = self.ack_path.with_suffix(".ack.tmp")
        with tmp.open("w") as f:
            f.write(f"{seq}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.ack_path)
        self.acked = seq
        self.ack_offset = end
        self.pending_rows = max(0, self.pending_rows - n_rows)

    def reset_if_done(self) -> None:
        """Everything acknowledged: remove the spool, then the marker (in that order, so a crash between
        the two leaves a marker without a spool, which reads as 'nothing pending')."""
        if self.has_backlog():
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with contextlib.suppress(FileNotFoundError):
            self.ack_path.unlink()
        _fsync_dir(self.path.parent)
        self.acked = self.last_seq = 0
        self.pending_rows = 0
        self.size = self.ack_offset = 0


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
