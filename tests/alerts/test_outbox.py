"""The durable outbox against a real PostgreSQL and a real HTTP receiver on 127.0.0.1."""

import hashlib
import hmac
import json
import socket
import time

import psycopg
import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from alerts import OutboxWorker, RetryConfig, WebhookNotifier, WebhookNotifierConfig
from jianguan.demo import WebhookReceiver


@pytest.fixture
def pool(db_dsn):
    with ConnectionPool(db_dsn, min_size=1, max_size=2, open=True) as p:
        yield p


@pytest.fixture
def receiver():
    r = WebhookReceiver()
    yield r
    r.close()


def enqueue(dsn, key, channel="hook", payload=None):
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO outbox (channel, idempotency_key, payload) VALUES (%s, %s, %s)",
                     (channel, key, Jsonb(payload or {"alert_id": 1, "title": "test"})))


def rows(dsn):
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT idempotency_key, status, attempts, last_error FROM outbox ORDER BY id").fetchall()


def notifier(url, secret="k"):
    return WebhookNotifier(WebhookNotifierConfig(type="webhook", id="hook", url=url, hmac_secret=secret,
                                                 timeout_s=2))


def drive(worker, dsn, until, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.deliver_due()
        if until(rows(dsn)):
            return
        time.sleep(0.05)
    raise AssertionError(f"outbox did not settle: {rows(dsn)}")


def test_one_failure_then_exactly_one_delivery(pool, db_dsn, receiver):
    receiver.fail_first = 1
    enqueue(db_dsn, "alert-1-opened-hook", payload={"alert_id": 1, "title": "窗口无人"})
    worker = OutboxWorker(pool, {"hook": notifier(receiver.url)}, RetryConfig(initial_s=0.2, max_attempts=5))
    drive(worker, db_dsn, lambda rs: rs[0][1] == "delivered")
    assert receiver.attempts == 2
    assert len(receiver.deliveries) == 1
    ((key, status, attempts, last_error),) = rows(db_dsn)
    assert (status, attempts, last_error) == ("delivered", 2, None)
    delivery = receiver.deliveries[0]
    assert delivery.body["title"] == "窗口无人"
    assert delivery.headers["Idempotency-Key"] == "alert-1-opened-hook"
    body = json.dumps(delivery.body, ensure_ascii=False, sort_keys=True).encode()
    expected = "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert delivery.headers["X-Jianguan-Signature"] == expected
    # Nothing more goes out once delivered.
    worker.deliver_due()
    assert receiver.attempts == 2


def test_retries_back_off_then_give_up_as_dead(pool, db_dsn, receiver):
    receiver.fail_first = 1000
    enqueue(db_dsn, "k1")
    worker = OutboxWorker(pool, {"hook": notifier(receiver.url)}, RetryConfig(initial_s=0.1, max_s=0.3,
                                                                               max_attempts=3))
    worker.deliver_due()
    worker.deliver_due()  # not due yet: backoff holds the second attempt back
    assert receiver.attempts == 1
    drive(worker, db_dsn, lambda rs: rs[0][1] == "dead")
    assert receiver.attempts == 3 and receiver.deliveries == []
    assert rows(db_dsn)[0][2:] == (3, "webhook hook: HTTP 503")
    assert worker.stats.dead == 1


def test_nothing_is_lost_across_a_restart(pool, db_dsn, receiver):
    receiver.fail_first = 2
    for i in range(3):
        enqueue(db_dsn, f"k{i}")
    first = OutboxWorker(pool, {"hook": notifier(receiver.url)}, RetryConfig(initial_s=0.1, max_attempts=5))
    first.deliver_due(limit=2)  # two attempts fail, then the "process" is gone
    del first
    second = OutboxWorker(pool, {"hook": notifier(receiver.url)}, RetryConfig(initial_s=0.1, max_attempts=5))
    drive(second, db_dsn, lambda rs: all(r[1] == "delivered" for r in rs))
    assert sorted(d.headers["Idempotency-Key"] for d in receiver.deliveries) == ["k0", "k1", "k2"]


def test_unreachable_receiver_error_hides_the_url_token(pool, db_dsn):
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    enqueue(db_dsn, "k")
    worker = OutboxWorker(pool, {"hook": notifier(f"http://127.0.0.1:{port}/robot?token=TOPSECRET")},
                          RetryConfig(initial_s=5, max_attempts=5))
    worker.deliver_due()
    (_, status, attempts, last_error) = rows(db_dsn)[0]
    assert status == "pending" and attempts == 1
    assert "ConnectError" in last_error and "TOPSECRET" not in last_error


def test_unknown_channel_is_retried_not_dropped(pool, db_dsn):
    enqueue(db_dsn, "k", channel="gone")
    worker = OutboxWorker(pool, {}, RetryConfig(initial_s=5, max_attempts=5))
    worker.deliver_due()
    (_, status, attempts, last_error) = rows(db_dsn)[0]
    assert status == "pending" and "no notifier named 'gone'" in last_error


# -- wake-up by LISTEN/NOTIFY (migration 0009's trigger) -------------------------------------------------
def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_new_row_wakes_the_worker_long_before_the_poll(pool, db_dsn, receiver):
    worker = OutboxWorker(pool, {"hook": notifier(receiver.url)}, RetryConfig(), poll_s=120)
    worker.start()
    try:
        wait_for(lambda: worker._listener is not None, 10, "the worker to LISTEN")
        time.sleep(0.3)  # the worker is asleep now: only a notification can wake it within the next 2 minutes
        enqueue(db_dsn, "k1")
        wait_for(lambda: rows(db_dsn)[0][1] == "delivered", 15, "the notified row to be delivered")
        assert worker.stats.wakeups >= 1 and len(receiver.deliveries) == 1
    finally:
        worker.stop()


def test_a_lost_listen_connection_is_reopened_and_nothing_is_missed(pool, db_dsn, receiver):
    worker = OutboxWorker(pool, {"hook": notifier(receiver.url)}, RetryConfig(), poll_s=120)
    worker.start()
    try:
        wait_for(lambda: worker._listener is not None, 10, "the worker to LISTEN")
        pid = worker._listener.info.backend_pid
        with psycopg.connect(db_dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        wait_for(lambda: worker.stats.listen_failures == 1, 10, "the worker to notice the lost connection")
        enqueue(db_dsn, "while-deaf")  # its notification goes nowhere: the round after reconnecting finds it
        wait_for(lambda: rows(db_dsn)[0][1] == "delivered", 20, "the row queued while not listening")
        wait_for(lambda: worker._listener is not None, 10, "the LISTEN connection to be back")
        assert worker._listener.info.backend_pid != pid
        enqueue(db_dsn, "after")
        wait_for(lambda: all(r[1] == "delivered" for r in rows(db_dsn)), 15, "the row after reconnecting")
        assert sorted(d.headers["Idempotency-Key"] for d in receiver.deliveries) == ["after", "while-deaf"]
    finally:
        worker.stop()


def test_retries_are_timed_by_their_due_time_not_the_poll(pool, db_dsn, receiver):
    receiver.fail_first = 1
    worker = OutboxWorker(pool, {"hook": notifier(receiver.url)}, RetryConfig(initial_s=0.5, max_attempts=3),
                          poll_s=120)
    worker.start()
    try:
        enqueue(db_dsn, "k1")
        wait_for(lambda: rows(db_dsn)[0][1] == "delivered", 20, "the retried row")  # no NOTIFY for a retry
        assert receiver.attempts == 2 and rows(db_dsn)[0][2] == 2
    finally:
        worker.stop()


def test_without_listen_it_polls(pool, db_dsn, receiver):
    worker = OutboxWorker(pool, {"hook": notifier(receiver.url)}, RetryConfig(), poll_s=0.1, listen=False)
    worker.start()
    try:
        enqueue(db_dsn, "k1")
        wait_for(lambda: rows(db_dsn)[0][1] == "delivered", 15, "the polled row")
        assert worker._listener is None and worker.stats.wakeups == 0
    finally:
        worker.stop()
