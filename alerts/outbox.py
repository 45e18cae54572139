"""Delivers queued notifications: claims due rows, sends, retries with backoff, gives up to 'dead'.

The row is written before any request is made, so a crash or a dead receiver loses nothing; the
idempotency key travels with every attempt so a receiver can drop a repeat after a lost reply.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from alerts.config import RetryConfig
from alerts.notifiers import DeliveryError, Notifier

log = logging.getLogger(__name__)


@dataclass
class OutboxStats:
    delivered: int = 0
    failed_attempts: int = 0
    dead: int = 0


def backoff_s(attempt: int, retry: RetryConfig) -> float:
    """Delay before the next try after `attempt` failures: exponential, capped, with +-20% jitter
    so that many messages failing together do not retry together."""
    base = min(retry.max_s, retry.initial_s * 2 ** max(0, attempt - 1))
    return base * random.uniform(0.8, 1.2)


class OutboxWorker:
    def __init__(self, pool: ConnectionPool, notifiers: dict[str, Notifier], retry: RetryConfig,
                 poll_s: float = 0.5) -> None:
        self.pool = pool
        self.notifiers = notifiers
        self.retry = retry
        self.poll_s = poll_s
        self.stats = OutboxStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)
        self._thread.start()

    def stop(self, drain_s: float = 0.0) -> None:
        """Stop; with `drain_s`, first keep delivering until nothing is due or the time is up."""
        if drain_s > 0:
            deadline = threading.Event()
            timer = threading.Timer(drain_s, deadline.set)
            timer.start()
            while not deadline.is_set() and self.pending_due():
                deadline.wait(self.poll_s)
            timer.cancel()
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def pending_due(self) -> int:
        with self.pool.connection() as conn:
            return conn.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()[0]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.deliver_due()
            except Exception:  # the database may be away: keep the thread alive and try again
                log.exception("outbox: delivery round failed")
                worked = 0
            if not worked:
                self._stop.wait(self.poll_s)

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
                conn.execute(
                    "UPDATE outbox SET attempts = %s, last_error = %s,"
                    " next_attempt_at = now() + make_interval(secs => %s) WHERE id = %s",
                    (attempts, str(exc), delay, row_id),
                )
            return
        self.stats.delivered += 1
        conn.execute(
            "UPDATE outbox SET status = 'delivered', attempts = %s, delivered_at = now(), last_error = NULL"
            " WHERE id = %s",
            (attempts, row_id),
        )
