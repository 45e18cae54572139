"""An OutboxWorker as a process of its own, for the kill -9 tests (not a test module itself).

Reads a JSON spec on stdin (the DSN holds a password, so it stays out of argv):
  {"dsn": ..., "notifiers": [notifier config dicts], "retry": {...}, "poll_s": 0.1,
   "die_after_send": "<channel>" | null}
With `die_after_send`, the process SIGKILLs itself right after that channel's first successful send,
i.e. after the receiver took the message and before the outbox row's update is committed.
Prints "ready" once the worker thread runs, then works until it is killed.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from psycopg_pool import ConnectionPool
from pydantic import TypeAdapter

from alerts import NotifierConfig, OutboxWorker, RetryConfig, build_notifier


class _DieAfterSend:
    def __init__(self, inner) -> None:
        self.inner = inner
        self.id = inner.id
        self.min_severity = inner.min_severity

    def send(self, payload, idempotency_key) -> None:
        self.inner.send(payload, idempotency_key)
        os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    spec = json.loads(sys.stdin.read())
    adapter = TypeAdapter(NotifierConfig)
    notifiers = {}
    for raw in spec["notifiers"]:
        notifier = build_notifier(adapter.validate_python(raw))
        if notifier.id == spec.get("die_after_send"):
            notifier = _DieAfterSend(notifier)
        notifiers[notifier.id] = notifier
    pool = ConnectionPool(spec["dsn"], min_size=1, max_size=2, open=True)
    worker = OutboxWorker(pool, notifiers, RetryConfig(**spec["retry"]), poll_s=spec.get("poll_s", 0.1))
    worker.start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
