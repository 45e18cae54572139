"""The front door every transport calls: store a batch now, or spool it durably and store it later.

`Intake.submit(results)` takes what `validate.parse_batch` made of a payload and returns one `Outcome`
per message. With the database up, valid messages are `accepted`, `updated` or `duplicate` and refused
ones `rejected` (and in `dead_letters`). With the database down, the batch goes to the spool first (fsync'd)
and its valid messages are reported `queued`: they are stored, exactly once, when the database is back
(`replay()`, also run by a background thread after `start()`). Without a spool, `StoreUnavailable` is
raised and nothing is taken: the caller must keep the messages (the MQTT subscriber does not acknowledge;
HTTP answers 503; the CSV import stops and can be run again).

While the spool holds anything, new batches queue behind it, so messages reach the store in the order
they were received.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import PoolClosed, PoolTimeout

from ingest.events.models import DEFAULT_MAX_FUTURE_S, MODELS
from ingest.events.scope import Scope
from ingest.events.spool import Spool
from ingest.events.store import EventStore, Outcome
from ingest.events.validate import Accepted, DeadLetter, one_line

log = logging.getLogger(__name__)


class StoreUnavailable(Exception):
    """The database cannot take the batch now and there is no spool (or it is full): nothing was taken."""


# SQLSTATE classes that say the server cannot do any work now, whatever the batch: connection exceptions (08),
# transaction rollback (40: deadlock or serialisation failure, still there after the store's retries),
# insufficient resources (53: disk full, out of memory, too many connections), operator intervention (57:
# shutdown, starting up, statement timeout), system errors (58: I/O). Plus two single codes: a read-only
# transaction (25006: a failover left us on a standby) and lock_not_available (55P03: lock_timeout).
_OUTAGE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
_OUTAGE_CODES = frozenset({"25006", "55P03"})
# ... except configuration_limit_exceeded (53400): a limit this batch hits every time, e.g. TimescaleDB's
# timescaledb.max_tuples_decompressed_per_dml_transaction on an update of compressed chunks.
_NOT_OUTAGE_CODES = frozenset({"53400"})


def is_outage(exc: BaseException) -> bool:
    """An outage (store it later: spool it, or refuse it with StoreUnavailable) rather than an error of this
    batch, which retrying cannot cure: content the database refuses (DataError, IntegrityError), a statement
    it does not support (FeatureNotSupported, e.g. TimescaleDB's `locking compressed tuples is not
    supported`), a programming or internal error. Those are stored message by message, the refused ones as
    dead letters: taken for an outage, one such batch would be refused for ever (503 without a spool) or
    would hold every later batch behind it in the spool."""
    if isinstance(exc, PoolTimeout | PoolClosed | OSError):
        return True
    if not isinstance(exc, psycopg.Error):
        return False
    code = exc.sqlstate
    if code is None:  # raised by the client: connection refused, lost or closed
        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
    if code in _NOT_OUTAGE_CODES:
        return False
    return code in _OUTAGE_CODES or code[:2] in _OUTAGE_CLASSES


class Intake:
    def __init__(self, store: EventStore, spool: Spool | None = None, *, retry_s: float = 1.0,
                 max_retry_s: float = 30.0, max_future_s: float = DEFAULT_MAX_FUTURE_S,
                 replay_per_submit: int = 5, scope: Scope | None = None) -> None:
        self.store = store
        self.scope = scope  # None: any site and lane (a CSV import names its site itself)
        self.spool = spool
        self.retry_s = retry_s
        self.max_retry_s = max_retry_s
        self.max_future_s = max_future_s
        self.replay_per_submit = replay_per_submit
        self.counts: Counter[str] = Counter()    # outcomes reported to callers, by status
        self.replayed: Counter[str] = Counter()  # outcomes of spooled messages once stored, by status
        self.set_aside = 0                       # spooled batches the database refused outright (`.failed`)
        self._lock = threading.Lock()            # one writer at a time: keeps spool order
        self._next_try = 0.0
        self._backoff = retry_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- submit ---------------------------------------------------------------------------------------
    def submit(self, results: Sequence[Accepted | DeadLetter],
               token_lanes: Collection[str] | None = None) -> list[Outcome]:
        """Store what is valid and in scope (`token_lanes`: the lanes the sender's token may report), set the
        rest aside in dead_letters; one Outcome per result, in order."""
        if self.scope is not None:
            results = [self.scope.check(r, token_lanes) for r in results]
        accepted = [r for r in results if isinstance(r, Accepted)]
        dead = [r for r in results if isinstance(r, DeadLetter)]
        with self._lock:
            stored = self._submit_locked(accepted, dead)
            it = iter(stored)
            outcomes = [next(it) if isinstance(r, Accepted) else Outcome("rejected", r.message_id, r.reason)
                        for r in results]
            self.counts.update(o.status for o in outcomes)
        return outcomes

    def _submit_locked(self, accepted: list[Accepted], dead: list[DeadLetter]) -> list[Outcome]:
        spool = self.spool
        if spool is not None and spool.has_backlog() and self._due():
            self._replay_locked(self.replay_per_submit)
        if spool is None or (not spool.has_backlog() and self._due()):
            try:
                return self._store(accepted, dead)
            except Exception as exc:
                if not is_outage(exc):
                    raise
                self._failed(exc)
                if spool is None:
                    raise StoreUnavailable(f"database unavailable ({type(exc).__name__}: "
                                           f"{one_line(str(exc), 160)})") from None
        if not (accepted or dead):
            return []
        if not spool.append(_encode(accepted, dead)):
            log.error("event spool full (%d bytes); refusing a batch of %d messages", spool.size, len(accepted))
            raise StoreUnavailable("database unavailable and the spool is full")
        return [Outcome("queued", a.message.message_id) for a in accepted]

    def _store(self, accepted: list[Accepted], dead: list[DeadLetter]) -> list[Outcome]:
        """One transaction; if the database refuses its content, message by message so that only the
        refused ones end in dead_letters (with the database's reason)."""
        if not (accepted or dead):
            return []
        try:
            outcomes = self.store.write(accepted, dead)
        except Exception as exc:
            if is_outage(exc):
                raise
            log.warning("batch refused by the database (%s); storing message by message", type(exc).__name__)
            outcomes = []
            for a in accepted:
                try:
                    outcomes += self.store.write([a])
                except Exception as one:
                    if is_outage(one):
                        raise
                    reason = f"database refused: {one_line(str(one), 200)}"
                    self.store.write([], [DeadLetter.of(a.source, reason, a.message.model_dump_json(),
                                                        a.message.message_id)])
                    outcomes.append(Outcome("rejected", a.message.message_id, reason))
            for d in dead:
                try:
                    self.store.write([], [d])
                except Exception as one:
                    if is_outage(one):
                        raise
                    # Last resort, so that nothing refused is lost: the letter itself, in ASCII.
                    self.store.write([], [DeadLetter.of("intake", f"dead letter refused by the database "
                                                                  f"({type(one).__name__})", ascii(d))])
        self._backoff = self.retry_s
        self._next_try = 0.0
        return outcomes

    # -- replay ---------------------------------------------------------------------------------------
    def replay(self, limit: int | None = None) -> int:
        """Store spooled batches in order while the database answers; returns the number stored."""
        with self._lock:
            return self._replay_locked(limit)

    def pending(self) -> int:
        """Batches waiting in the spool."""
        return self.spool.count if self.spool is not None else 0

    def _replay_locked(self, limit: int | None) -> int:
        spool = self.spool
        if spool is None:
            return 0
        done = 0
        for path in spool.files()[:limit]:
            batch = spool.read(path)
            if batch is None:
                continue
            accepted, dead = _decode(batch, self.max_future_s)
            try:
                outcomes = self._store(accepted, dead)
            except Exception as exc:
                if is_outage(exc):
                    self._failed(exc)
                    return done
                # Refused beyond the dead letters (even the last-resort one), or a bug: set the batch aside
                # for a person rather than hold every later batch behind it for ever.
                aside = spool.set_aside(path, ".failed")
                log.error("event spool: batch %s refused (%s: %s); set aside as %s", path.name,
                          type(exc).__name__, one_line(str(exc), 200), aside.name, exc_info=exc)
                self.set_aside += 1
                continue
            spool.remove(path)
            self.replayed.update(o.status for o in outcomes)
            done += 1
        if done:
            log.info("event spool: %d batches replayed, %d waiting", done, spool.count)
        return done

    def _due(self) -> bool:
        return time.monotonic() >= self._next_try

    def _failed(self, exc: BaseException) -> None:
        self._next_try = time.monotonic() + self._backoff
        log.warning("event store unavailable (%s); %s, next try in %.1f s", type(exc).__name__,
                    "spooling" if self.spool is not None else "not taking messages", self._backoff)
        self._backoff = min(self._backoff * 2, self.max_retry_s)

    # -- background replay ----------------------------------------------------------------------------
    def start(self) -> None:
        """Replay the spool in the background (needed when no new messages arrive to trigger it)."""
        if self._thread is None and self.spool is not None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="events-replay", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(min(self.retry_s, 1.0)):
            if self.spool is not None and self.spool.has_backlog() and self._due():
                try:
                    self.replay()
                except Exception:  # noqa: BLE001 - the thread must survive a bug in one batch
                    log.exception("event spool replay failed")
                    self._failed(RuntimeError("replay"))

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None


def _encode(accepted: list[Accepted], dead: list[DeadLetter]) -> dict[str, Any]:
    return {
        "received_at": datetime.now(UTC).isoformat(),
        "accepted": [{"stream": a.stream, "source": a.source, "message": a.message.model_dump(mode="json")}
                     for a in accepted],
        "dead": [{"source": d.source, "reason": d.reason, "payload": d.payload, "message_id": d.message_id}
                 for d in dead],
    }


def _decode(batch: dict[str, Any], max_future_s: float) -> tuple[list[Accepted], list[DeadLetter]]:
    # Judged again as at reception, so a message that was valid then is valid now (clock checks included).
    context = {"now": datetime.fromisoformat(batch["received_at"]), "max_future_s": max_future_s}
    accepted: list[Accepted] = []
    dead = [DeadLetter(**d) for d in batch.get("dead", [])]
    for item in batch.get("accepted", []):
        try:
            message = MODELS[item["stream"]].model_validate(item["message"], context=context)
        except Exception as exc:  # noqa: BLE001 - a spool edited by hand: keep it, as a dead letter
            dead.append(DeadLetter.of(item.get("source", "spool"), f"spooled message no longer valid: {exc}", item))
            continue
        accepted.append(Accepted(item["stream"], message, item["source"]))
    return accepted, dead
