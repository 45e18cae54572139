"""Writing validated messages: one transaction per batch, a repeat detected in the same transaction.

Per batch, in one transaction:
1. lane events: their ids go into `intake_seen` (`ON CONFLICT DO NOTHING RETURNING`): the ids that come
   back are new and are inserted into `lane_events`; the others are duplicates, whatever their timestamps.
   New inspection events then open or close `inspections` rows (see `_pair_inspection`).
2. transactions: the same for new ids; a known id is an update that fills in fields still empty in the
   stored row (called_at, finished_at, ticket, staff_id), first value wins, wait_s/handle_s recomputed.
3. dead letters (refused messages) are inserted, through storage's `put_dead_letters` (storage owns the table).

Ids are inserted in sorted order, so two writers that share ids lock them in the same order (no deadlock);
inspection keys and updated transaction ids are serialised with transaction-scoped advisory locks, also
taken in sorted order. No row is locked with SELECT .. FOR UPDATE on the hypertables (lane_events,
transactions): TimescaleDB refuses that on compressed chunks (see `_lock_stored`).

Old rows: on TimescaleDB, chunks older than 30 days are compressed (migration 0004). Two transactions that
write into the same compressed chunk race there (one decompresses a batch of rows while the other's plan
still sees them compressed: an update lost without an error, a stored row not found); so every batch that
touches a row older than `old_after_s` (7 days, well inside the compression window) first takes one
advisory lock shared by all such batches. Rare (late updates, backfills) and cheap; recent traffic never
waits on it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from ingest.events.models import INSPECTION_KINDS, LaneEvent, Transaction, check_order
from ingest.events.validate import Accepted, DeadLetter
from storage.dead_letters import put_dead_letters

log = logging.getLogger(__name__)

Status = Literal["accepted", "updated", "duplicate", "rejected", "queued"]


@dataclass(frozen=True)
class Outcome:
    """What became of one message. `queued`: durably spooled, to be stored when the database is back."""

    status: Status
    message_id: str | None
    reason: str | None = None


class EventStore:
    """Stores batches of `Accepted` messages and `DeadLetter`s through a psycopg pool."""

    def __init__(self, pool: ConnectionPool, *, max_inspection_s: float = 6 * 3600,
                 connect_timeout_s: float = 2.0, deadlock_retries: int = 3, old_after_s: float = 7 * 86400) -> None:
        self.pool = pool
        self.max_inspection = timedelta(seconds=max_inspection_s)
        self.old_after = timedelta(seconds=old_after_s)
        self.connect_timeout_s = connect_timeout_s
        self.deadlock_retries = deadlock_retries

    def write(self, accepted: Sequence[Accepted], dead: Sequence[DeadLetter] = ()) -> list[Outcome]:
        """Store one batch; the outcomes follow `accepted`'s order. Raises psycopg errors (nothing written)."""
        for attempt in range(self.deadlock_retries + 1):
            try:
                with self.pool.connection(timeout=self.connect_timeout_s) as conn, conn.transaction():
                    return self._write(conn, accepted, dead)
            except psycopg.errors.TransactionRollback:  # deadlock or serialisation failure: try again
                if attempt == self.deadlock_retries:
                    raise
        raise AssertionError("unreachable")

    def forget_seen(self, older_than_s: float, batch: int = 10_000) -> int:
        """Drop message ids claimed more than `older_than_s` ago from `intake_seen`, a batch per transaction
        (short locks beside live writes); the number dropped. A redelivery of a forgotten id is stored again,
        so keep ids longer than any sender retries (days, not hours)."""
        total = 0
        while True:
            with self.pool.connection(timeout=self.connect_timeout_s) as conn, conn.transaction():
                n = conn.execute(
                    "DELETE FROM intake_seen WHERE ctid = ANY(ARRAY(SELECT ctid FROM intake_seen"
                    " WHERE seen_at < now() - make_interval(secs => %s) LIMIT %s))", (older_than_s, batch)).rowcount
            total += n
            if n < batch:
                return total

    # -- one transaction ------------------------------------------------------------------------------
    def _write(self, conn: psycopg.Connection, accepted: Sequence[Accepted],
               dead: Sequence[DeadLetter]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(accepted)
        more_dead: list[DeadLetter] = []
        lanes = [i for i, a in enumerate(accepted) if a.stream == "lane_events"]
        txs = [i for i, a in enumerate(accepted) if a.stream == "transactions"]
        old = datetime.now(UTC) - self.old_after
        old_locked = any((a.message.ts if isinstance(a.message, LaneEvent) else a.message.queued_at) < old
                         for a in accepted)
        if old_locked:  # before anything else, so that lock order is the same in every writer
            _lock_old(conn)
        if lanes:
            self._lane_events(conn, accepted, lanes, outcomes)
        remaining = txs
        while remaining:  # rounds of distinct ids, so one batch may carry a ticket and its later update
            seen: set[str] = set()
            this_round: list[int] = []
            later: list[int] = []
            for i in remaining:
                mid = accepted[i].message.message_id
                (later if mid in seen else this_round).append(i)
                seen.add(mid)
            old_locked = self._transactions(conn, accepted, this_round, outcomes, more_dead, old_locked, old)
            remaining = later
        put_dead_letters(conn, [(d.source, d.reason, d.payload) for d in [*dead, *more_dead]])
        assert all(o is not None for o in outcomes)
        return outcomes  # type: ignore[return-value]

    def _claim(self, conn: psycopg.Connection, stream: str, ids: list[str], refs: list[datetime]) -> set[str]:
        """Record ids as seen; return those that were not seen before (this transaction wins them)."""
        order = sorted(range(len(ids)), key=ids.__getitem__)
        rows = conn.execute(
            "INSERT INTO intake_seen (stream, message_id, ref_ts)"
            " SELECT %s::text, m, r FROM unnest(%s::text[], %s::timestamptz[]) WITH ORDINALITY AS u(m, r, n) ORDER BY n"
            " ON CONFLICT DO NOTHING RETURNING message_id",
            (stream, [ids[i] for i in order], [refs[i] for i in order])).fetchall()
        return {r[0] for r in rows}

    # -- lane events ----------------------------------------------------------------------------------
    def _lane_events(self, conn: psycopg.Connection, accepted: Sequence[Accepted], idx: list[int],
                     outcomes: list[Outcome | None]) -> None:
        first: dict[str, int] = {}
        for i in idx:
            mid = accepted[i].message.message_id
            if mid in first:
                outcomes[i] = Outcome("duplicate", mid, "repeated within the batch")
            else:
                first[mid] = i
        events = {mid: accepted[i].message for mid, i in first.items()}
        new = self._claim(conn, "lane_events", list(events), [e.ts for e in events.values()])  # type: ignore[union-attr]
        for mid, i in first.items():
            outcomes[i] = Outcome("accepted", mid) if mid in new else Outcome("duplicate", mid)
        fresh: list[LaneEvent] = [events[m] for m in sorted(new)]  # type: ignore[misc]
        if not fresh:
            return
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO lane_events (ts, message_id, site_id, lane_id, kind, plate, inspector_id, payload)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(e.ts, e.message_id, e.site_id, e.lane_id, e.kind, e.plate, e.inspector_id, Jsonb(e.data))
                 for e in fresh])
        inspection = sorted((e for e in fresh if e.kind in INSPECTION_KINDS),
                            key=lambda e: (e.site_id, e.lane_id, e.plate or "", e.ts, e.kind != "inspection_start"))
        keys = sorted({json.dumps([e.site_id, e.lane_id, e.plate]) for e in inspection})
        for key in keys:
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 74))", (f"jianguan-inspection:{key}",))
        for event in inspection:
            self._pair_inspection(conn, event)

    def _pair_inspection(self, conn: psycopg.Connection, e: LaneEvent) -> None:
        """Keep `inspections` in step with the lane events of one vehicle (site, lane, plate):

        - a start opens a row, unless an end of the same vehicle has already arrived after it (within
          `max_inspection_s`, not yet used, with no other start in between): then the row is closed at once;
        - an end closes the vehicle's latest inspection started before it, if that one is still open (and
          not older than `max_inspection_s`); otherwise it waits, unused, for a late start.
        Duplicates never get here (intake_seen), and an event already used by a row is skipped.
        """
        key = (e.site_id, e.lane_id, e.plate)
        if e.kind == "inspection_start":
            end = conn.execute(
                "SELECT x.message_id, x.ts FROM lane_events x"
                " WHERE x.site_id = %s AND x.lane_id = %s AND x.plate = %s AND x.kind = 'inspection_end'"
                "   AND x.ts >= %s AND x.ts <= %s"
                "   AND NOT EXISTS (SELECT 1 FROM inspections i WHERE i.end_message_id = x.message_id)"
                "   AND NOT EXISTS (SELECT 1 FROM lane_events s WHERE s.site_id = x.site_id"
                "        AND s.lane_id = x.lane_id AND s.plate = x.plate AND s.kind = 'inspection_start'"
                "        AND s.ts > %s AND s.ts <= x.ts AND s.message_id <> %s)"
                " ORDER BY x.ts LIMIT 1",
                (*key, e.ts, e.ts + self.max_inspection, e.ts, e.message_id)).fetchone()
            conn.execute(
                "INSERT INTO inspections (site_id, lane_id, plate, inspector_id, started_at, finished_at,"
                " start_message_id, end_message_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                (*key, e.inspector_id, e.ts, end[1] if end else None, e.message_id, end[0] if end else None))
            return
        if conn.execute("SELECT 1 FROM inspections WHERE end_message_id = %s", (e.message_id,)).fetchone():
            return  # a start in this batch already took it
        latest = conn.execute(
            "SELECT id, finished_at, started_at FROM inspections"
            " WHERE site_id = %s AND lane_id = %s AND plate = %s AND started_at <= %s"
            " ORDER BY started_at DESC, id DESC LIMIT 1 FOR UPDATE", (*key, e.ts)).fetchone()
        if latest and latest[1] is None and e.ts - latest[2] <= self.max_inspection:
            conn.execute("UPDATE inspections SET finished_at = %s, end_message_id = %s,"
                         " inspector_id = coalesce(inspector_id, %s) WHERE id = %s",
                         (e.ts, e.message_id, e.inspector_id, latest[0]))

    # -- transactions ---------------------------------------------------------------------------------
    def _transactions(self, conn: psycopg.Connection, accepted: Sequence[Accepted], idx: list[int],
                      outcomes: list[Outcome | None], dead: list[DeadLetter], old_locked: bool,
                      old: datetime) -> bool:
        """Store one round of distinct ids; whether the lock on old rows is held now."""
        msgs: dict[str, tuple[int, Transaction]] = {accepted[i].message.message_id: (i, accepted[i].message)
                                                    for i in idx}  # type: ignore[misc]
        new = self._claim(conn, "transactions", list(msgs), [t.queued_at for _, t in msgs.values()])
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO transactions (message_id, site_id, window_id, business_type, ticket, staff_id,"
                " queued_at, called_at, finished_at, wait_s, handle_s)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(t.message_id, t.site_id, t.window_id, t.business_type, t.ticket, t.staff_id, t.queued_at,
                  t.called_at, t.finished_at, t.wait_s, t.handle_s) for m, (_, t) in sorted(msgs.items()) if m in new])
        for mid in new:
            outcomes[msgs[mid][0]] = Outcome("accepted", mid)
        repeats = sorted(set(msgs) - new)
        if not repeats:
            return old_locked
        stored, old_locked = self._lock_stored(conn, repeats, old_locked, old)
        updates = []
        for mid in repeats:
            i, t = msgs[mid]
            row = stored.get(mid)
            if row is None:
                outcomes[i] = Outcome("duplicate", mid, "seen before; the stored ticket no longer exists")
                continue
            outcome, update = _merge(t, row)
            outcomes[i] = outcome
            if outcome.status == "rejected":
                dead.append(DeadLetter.of(accepted[i].source, f"update of {mid}: {outcome.reason}",
                                          t.model_dump_json(), mid))
            elif update is not None:
                updates.append(update)
        if updates:
            with conn.cursor() as cur:
                cur.executemany(
                    "UPDATE transactions SET called_at = %s, finished_at = %s, ticket = %s, staff_id = %s,"
                    " wait_s = %s, handle_s = %s WHERE message_id = %s AND queued_at = %s", updates)
        return old_locked

    def _lock_stored(self, conn: psycopg.Connection, ids: list[str], old_locked: bool,
                     old: datetime) -> tuple[dict[str, tuple], bool]:
        """The stored rows of known transaction ids, each serialised against other writers until commit;
        and whether the lock on old rows is held now.

        Not `SELECT .. FOR UPDATE`: TimescaleDB cannot lock rows in compressed chunks (`locking compressed
        tuples is not supported`), where a ticket older than the compression window (0004: 30 days) lives,
        and a row lock over a join would reach every chunk, compressed ones included, even for recent rows.
        Instead a transaction-scoped advisory lock per message id, taken in sorted order (the ids' order:
        writers sharing ids cannot deadlock), serialises every read-modify-write of a ticket (all go through
        here); then, in a new statement (so a new snapshot under READ COMMITTED, which sees what the previous
        holder committed), a plain SELECT bounded by the stored rows' own `queued_at` values (from
        `intake_seen.ref_ts`), which are constants for the planner: chunk exclusion keeps every other chunk,
        compressed or not, out of the plan. The UPDATE that follows works on compressed chunks too
        (TimescaleDB >= 2.11). A stored row older than `old_after_s` needs the lock on old rows before it
        is read: normally taken already (the message carries the same time); if not (a re-stamped time),
        it is taken here, after the id locks, and a deadlock that may cause is retried by `write`.
        """
        # One row per id in the array's order (a function scan, no sort): the locks are taken in that order.
        # ref_ts never changes once claimed, so reading it in the locking statement is safe.
        refs = {m: ref for m, _, ref in conn.execute(
            "SELECT u.m, pg_advisory_xact_lock(hashtextextended('jianguan-transaction:' || u.m, 74)),"
            " (SELECT s.ref_ts FROM intake_seen s WHERE s.stream = 'transactions' AND s.message_id = u.m)"
            " FROM unnest(%s::text[]) AS u(m)", (sorted(ids),)).fetchall() if ref is not None}
        if not refs:
            return {}, old_locked
        if not old_locked and min(refs.values()) < old:
            _lock_old(conn)
            old_locked = True
        rows = conn.execute(
            "SELECT t.message_id, t.site_id, t.window_id, t.queued_at, t.called_at, t.finished_at, t.ticket,"
            " t.staff_id FROM transactions t"
            " WHERE t.queued_at = ANY(%s::timestamptz[]) AND t.message_id = ANY(%s::text[])",
            (sorted(set(refs.values())), sorted(refs))).fetchall()
        return {r[0]: r for r in rows if refs.get(r[0]) == r[3]}, old_locked


def _lock_old(conn: psycopg.Connection) -> None:
    """The lock every batch that touches rows older than `old_after_s` takes first (see the module's doc)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('jianguan-intake-old-rows', 74))")


def _merge(t: Transaction, row: tuple) -> tuple[Outcome, tuple | None]:
    """A repeat of a stored ticket: fill what is still empty (first value wins), check the order again."""
    mid, site_id, window_id, queued, called, finished, ticket, staff = row
    if (t.site_id, t.window_id) != (site_id, window_id):
        return Outcome("rejected", mid, f"message_id already names a ticket of {site_id}/{window_id}"), None
    new_called = called or t.called_at
    new_finished = finished or t.finished_at
    new_ticket, new_staff = ticket or t.ticket, staff or t.staff_id
    try:
        check_order(queued, new_called, new_finished)
    except ValueError as exc:
        return Outcome("rejected", mid, f"{exc} (stored queued_at {queued.isoformat()})"), None
    kept = [name for name, old, given in (("called_at", called, t.called_at), ("finished_at", finished, t.finished_at))
            if old is not None and given is not None and old != given]
    note = f"{', '.join(kept)} already set; the first value is kept" if kept else None
    if (new_called, new_finished, new_ticket, new_staff) == (called, finished, ticket, staff):
        return Outcome("duplicate", mid, note), None
    wait = (new_called - queued).total_seconds() if new_called else None
    handle = (new_finished - new_called).total_seconds() if new_finished and new_called else None
    return Outcome("updated", mid, note), (new_called, new_finished, new_ticket, new_staff, wait, handle, mid, queued)


# -- reading what the intake stored -------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredLaneEvent:
    """A lane event as stored, with when the intake stored it (`seen_at`: the storing transaction's start)."""

    seen_at: datetime
    message_id: str
    ts: datetime
    lane_id: str
    kind: str
    plate: str | None
    inspector_id: str | None
    payload: dict[str, Any] | None


# `intake_seen` is indexed by seen_at, and keeps each lane event's time key (ref_ts), so the join is by key.
_LANE_EVENTS_SINCE = """
SELECT s.seen_at, s.message_id, e.ts, e.lane_id, e.kind, e.plate, e.inspector_id, e.payload
FROM intake_seen s
JOIN lane_events e ON e.message_id = s.message_id AND e.ts = s.ref_ts
WHERE s.stream = 'lane_events' AND s.seen_at > %(since)s AND e.site_id = %(site)s AND e.lane_id = ANY(%(lanes)s)
ORDER BY s.seen_at, s.message_id
LIMIT %(limit)s
"""


def lane_events_since(conn: psycopg.Connection, site_id: str, lanes: Sequence[str], since: datetime,
                      limit: int) -> list[StoredLaneEvent]:
    """The site's lane events on `lanes` stored after `since`, in the order they were stored, at most `limit`.

    For readers outside the intake (the node's lane feed): the tables are ingest's (docs/design.md, "Table
    ownership"), and how a stored event is found (its id claimed in `intake_seen`) is the intake's business."""
    rows = conn.execute(_LANE_EVENTS_SINCE, {"since": since, "site": site_id, "lanes": list(lanes),
                                             "limit": limit}).fetchall()
    return [StoredLaneEvent(*row) for row in rows]
