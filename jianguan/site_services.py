"""The once-per-site work beside the cameras: the site mirrored into the database, push delivery (the outbox),
escalation of unacknowledged alerts, and rollup refreshes.

A single node runs it itself (`Node(site_services=True)`, the default); a cluster runs it once per site in one
actor (jianguan/cluster.py) while its camera groups run nodes without it, so N groups do not mean N outbox
workers, N escalators and N refreshers polling one database. (Running several would still be safe: outbox
rows and escalations are claimed FOR UPDATE SKIP LOCKED, refreshes serialise on an advisory lock.)
"""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from alerts import OutboxWorker, build_notifier
from alerts.routing import Escalator
from jianguan.config import SiteConfig
from jianguan.mirror import mirror_site
from storage.rollups import RollupRefresher


class SiteServices:
    def __init__(self, pool: ConnectionPool, config: SiteConfig, dsn: str, *, refresh_rollups: bool) -> None:
        self.config = config
        self.notifiers = {n.id: build_notifier(n) for n in config.alerts.notifiers}
        self.outbox = OutboxWorker(pool, self.notifiers, config.alerts.retry)
        self.escalator = Escalator(pool, config.alerts.escalation, config.alerts.review_base_url)
        # Hourly rollups keep long-range dashboards fast; live sites refresh them (file runs are short and
        # leave it to `jianguan db refresh-rollups`).
        self.rollups = RollupRefresher(dsn) if refresh_rollups else None
        self._pool = pool
        self._stopped = False

    def start(self) -> None:
        mirror_site(self._pool, self.config)
        self.outbox.start()
        self.escalator.start()
        if self.rollups is not None:
            self.rollups.start()

    def stop(self, drain_s: float = 0.0) -> None:
        """Stop escalating and refreshing; deliver what is due for up to `drain_s` first. Once."""
        if self._stopped:
            return
        self._stopped = True
        if self.rollups is not None:
            self.rollups.stop()
        self.escalator.stop()
        self.outbox.stop(drain_s=drain_s)
