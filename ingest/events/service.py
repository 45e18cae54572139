"""The intake service: HTTP API and MQTT subscriber over one `Intake`, with a spool for outages."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import uvicorn
from psycopg_pool import ConnectionPool

from ingest.events.config import TOKEN_ENV, EventsConfig
from ingest.events.http_api import create_app
from ingest.events.intake import Intake
from ingest.events.mqtt import LaneSensorSubscriber
from ingest.events.scope import Scope
from ingest.events.spool import Spool
from ingest.events.store import EventStore

log = logging.getLogger(__name__)


class IntakeConfigError(Exception):
    """A setting the service cannot run without (one line)."""


def bearer_token(cfg: EventsConfig, env: dict[str, str] | None = None) -> str:
    token = cfg.http.token.get_secret_value() if cfg.http.token else (env or os.environ).get(TOKEN_ENV, "")
    if not token.strip():
        raise IntakeConfigError(f"the HTTP intake needs a bearer token: set {TOKEN_ENV} (or events.http.token)")
    if len(token) < 16:
        raise IntakeConfigError("the HTTP intake token is too short (16 characters at least)")
    return token.strip()


class EventService:
    """`run()` blocks: uvicorn serves the HTTP API in this thread; MQTT and the spool replay run beside it."""

    def __init__(self, cfg: EventsConfig, dsn: str, spool_dir: Path, scope: Scope) -> None:
        self.cfg = cfg
        self.token = bearer_token(cfg) if cfg.http.enabled else ""
        if not cfg.http.enabled and cfg.mqtt is None:
            raise IntakeConfigError("events: neither http nor mqtt is enabled; nothing to serve")
        self.pool = ConnectionPool(dsn, min_size=1, max_size=4, open=False, reconnect_timeout=3600,
                                   kwargs={"application_name": "jianguan-intake"})
        self.store = EventStore(self.pool, max_inspection_s=cfg.max_inspection_s)
        self.intake = Intake(self.store, Spool(spool_dir, cfg.max_spool_bytes), max_future_s=cfg.max_future_s,
                             scope=scope)
        self.subscriber = (LaneSensorSubscriber(self.intake, cfg.mqtt, max_message_bytes=cfg.max_message_bytes,
                                                max_future_s=cfg.max_future_s) if cfg.mqtt else None)
        self.server: uvicorn.Server | None = None
        self._stopped = threading.Event()

    def run(self) -> None:
        self.pool.open(wait=False)  # the database may be down at start: the spool takes over
        self.intake.start()
        threading.Thread(target=self._forget_loop, name="events-forget", daemon=True).start()
        if self.subscriber:
            self.subscriber.start()
        try:
            if self.cfg.http.enabled:
                h = self.cfg.http
                lane_tokens = {t.token.get_secret_value(): t.lanes for t in h.lane_tokens}
                app = create_app(self.intake, self.token, lane_tokens=lane_tokens,
                                 max_body_bytes=h.max_body_bytes, max_batch=h.max_batch,
                                 max_message_bytes=self.cfg.max_message_bytes, max_future_s=self.cfg.max_future_s)
                self.server = uvicorn.Server(uvicorn.Config(app, host=h.host, port=h.port, log_level="warning",
                                                            access_log=False))
                log.info("event intake: HTTP on %s:%d", h.host, h.port)
                self.server.run()
            else:
                self._stopped.wait()
        finally:
            self.close()

    def _forget_loop(self, every_s: float = 3600.0) -> None:
        """Drop message ids older than `seen_days`: a minute after start, then hourly once it has worked (a
        database that is away is tried again each minute until then, and next hour after)."""
        delay = 60.0
        while not self._stopped.wait(delay):
            try:
                n = self.store.forget_seen(self.cfg.seen_days * 86400)
                delay = every_s
                if n:
                    log.info("event intake: forgot %d message ids older than %g days", n, self.cfg.seen_days)
            except Exception as exc:  # noqa: BLE001 - housekeeping must never stop the intake
                log.warning("event intake: could not drop old message ids (%s)", type(exc).__name__)

    def stop(self) -> None:
        self._stopped.set()
        if self.server is not None:
            self.server.should_exit = True

    def close(self) -> None:
        if self.subscriber:
            self.subscriber.stop()
        self.intake.close()
        self.intake.replay()  # a last try, so a clean stop leaves as little as possible in the spool
        self.pool.close()
