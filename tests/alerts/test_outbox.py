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
