"""Delivers queued notifications (rows queued by `alerts.enqueue`): claims due rows, sends, retries with
backoff, gives up to 'dead'.

The row is written before any request is made, so a crash or a dead receiver loses nothing; the
idempotency key travels with every attempt so a receiver can drop a repeat after a lost reply.

Wake-up: a trigger on `outbox` (migration 0009) sends `NOTIFY jianguan_outbox` when rows are inserted; the
notification is delivered at commit, i.e. exactly when the new rows become visible. The worker LISTENs on a
connection of its own and starts a round at once. Between notifications it sleeps until the next retry is
due, at most `poll_s`: the poll is the fallback for retries and for notifications lost while the listening
connection was down (it is reopened, and a round runs right after, so nothing waits for the next poll).
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from dataclasses import dataclass

import psycopg
from psycopg_pool import ConnectionPool

from alerts.config import RetryConfig
from alerts.notifiers import DeliveryError, Notifier

log = logging.getLogger(__name__)

CHANNEL = "jianguan_outbox"  # the NOTIFY channel of migration 0009's trigger


@dataclass
class OutboxStats:
    delivered: int = 0
    failed_attempts: int = 0
    dead: int = 0
    wakeups: int = 0        # rounds started by a notification
    listen_failures: int = 0


def backoff_s(attempt: int, retry: RetryConfig) -> float:
    """Delay before the next try after `attempt` failures: exponential, capped, with +-20% jitter
    so that many messages failing together do not retry together."""
    base = min(retry.max_s, retry.initial_s * 2 ** max(0, attempt - 1))
    return base * random.uniform(0.8, 1.2)


class OutboxWorker:
    """Delivers the outbox on a thread; `listen=False` keeps the plain poll (no extra connection)."""

    def __init__(self, pool: ConnectionPool, notifiers: dict[str, Notifier], retry: RetryConfig,
                 poll_s: float = 5.0, listen: bool = True) -> None:
        self.pool = pool
        self.notifiers = notifiers
        self.retry = retry
        self.poll_s = poll_s
        self.listen = listen
        self.stats = OutboxStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: psycopg.Connection | None = None
        self._listen_retry_at = 0.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)
        self._thread.start()

    def stop(self, drain_s: float = 0.0) -> None:
        """Stop; with `drain_s`, first keep delivering until nothing is due or the time is up."""
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline and self.pending_due():
            time.sleep(0.05)
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        self._close_listener()

    def pending_due(self, timeout_s: float | None = None) -> int:
        """Rows still to deliver (due now or later); `timeout_s` bounds the wait for a connection."""
        with self.pool.connection(timeout=timeout_s) as conn:
            return conn.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()[0]

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.listen and self._listener is None and time.monotonic() >= self._listen_retry_at:
                self._open_listener()  # before the round: a row committed in between still wakes us
            try:
                worked = self.deliver_due()
                wait_s = 0.0 if worked else self._next_due_s()
            except Exception:  # the database may be away: keep the thread alive and try again
                log.exception("outbox: delivery round failed")
                wait_s = self.poll_s
            if wait_s > 0:
                self._wait(wait_s)

    def _next_due_s(self) -> float:
        """Seconds until the earliest pending row is due, capped at `poll_s` (the missed-notification net)."""
        with self.pool.connection() as conn:
            due = conn.execute("SELECT extract(epoch FROM min(next_attempt_at) - clock_timestamp())::float8"
                               " FROM outbox WHERE status = 'pending'").fetchone()[0]
        return self.poll_s if due is None else min(self.poll_s, max(0.0, due))

    def _wait(self, seconds: float) -> None:
        """Sleep up to `seconds`, returning early on a notification or stop(). Waits in short slices so a
        stop is noticed quickly without anyone having to NOTIFY."""
        deadline = time.monotonic() + seconds
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self._listener is None:
                if self.listen and time.monotonic() >= self._listen_retry_at:
                    return  # time to reopen the LISTEN connection (then a round, for anything missed)
                self._stop.wait(min(left, 0.25))
                continue
            try:
                if any(True for _ in self._listener.notifies(timeout=min(left, 0.25), stop_after=1)):
                    self.stats.wakeups += 1
                    return
            except psycopg.Error as exc:  # connection lost: poll until it can be reopened
                self.stats.listen_failures += 1
                log.warning("outbox: lost the LISTEN connection (%s); polling every %.1f s until it is back",
                            type(exc).__name__, self.poll_s)
                self._close_listener()
                self._listen_retry_at = time.monotonic() + min(self.poll_s, 5.0)
                return  # a round now: whatever was notified while the connection died is picked up

    def _open_listener(self) -> None:
        kwargs = dict(self.pool.kwargs or {})
        kwargs["autocommit"] = True
        try:
            conn = psycopg.connect(self.pool.conninfo, **kwargs)
            conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            self.stats.listen_failures += 1
            log.warning("outbox: cannot LISTEN (%s); polling every %.1f s", type(exc).__name__, self.poll_s)
            self._listen_retry_at = time.monotonic() + min(self.poll_s, 5.0)
            return
        self._listener = conn

    def _close_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(psycopg.Error):
                self._listener.close()
            self._listener = None

    def deliver_due(self, limit: int = 20) -> int:
        """One round: claim due rows (SKIP LOCKED so several workers can share the table) and send them."""
        done = 0
        with self.pool.connection() as conn:
            for _ in range(limit):
                with conn.transaction():
                    row = conn.execute(
                        "SELECT id, channel, idempotency_key, payload, attempts FROM outbox"
                        " WHERE status = 'pending' AND next_attempt_at <= now()"
                        " ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
                    ).fetchone()
                    if row is None:
                        return done
                    self._attempt(conn, *row)
                    done += 1
        return done

    def _attempt(self, conn, row_id: int, channel: str, key: str, payload: dict, attempts: int) -> None:
        notifier = self.notifiers.get(channel)
        attempts += 1
        try:
            if notifier is None:
                raise DeliveryError(f"no notifier named {channel!r} is configured")
            notifier.send(payload, key)
        except Exception as exc:  # a notifier bug must cost an attempt, not wedge the queue on one row
            if not isinstance(exc, DeliveryError):
                log.error("outbox %s: notifier %r raised %s", row_id, channel, type(exc).__name__)
                exc = DeliveryError(f"{channel}: unexpected {type(exc).__name__}")
            self.stats.failed_attempts += 1
            if attempts >= self.retry.max_attempts:
                self.stats.dead += 1
                log.error("outbox %s: giving up after %d attempts: %s", row_id, attempts, exc)
                conn.execute("UPDATE outbox SET status = 'dead', attempts = %s, last_error = %s WHERE id = %s",
                             (attempts, str(exc), row_id))
            else:
                delay = backoff_s(attempts, self.retry)
                log.warning("outbox %s: attempt %d failed (%s); retry in %.1fs", row_id, attempts, exc, delay)
                # clock_timestamp(), not now(): the backoff counts from the failure, not from the start of a
                # transaction that lasted as long as the send (else a slow failure retries at once).
                conn.execute(
                    "UPDATE outbox SET attempts = %s, last_error = %s,"
                    " next_attempt_at = clock_timestamp() + make_interval(secs => %s) WHERE id = %s",
                    (attempts, str(exc), delay, row_id),
                )
            return
        self.stats.delivered += 1
        conn.execute(
            "UPDATE outbox SET status = 'delivered', attempts = %s, delivered_at = now(), last_error = NULL"
            " WHERE id = %s",
            (attempts, row_id),
        )
