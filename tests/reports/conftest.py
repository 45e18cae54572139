"""A small office seeded for two weeks, with business alerts and one rectification (a fresh database each)."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from alerts import AlertsConfig
from alerts.business import BusinessAlerts, rectification_step
from analytics.business import BusinessConfig, run_checks
from devkit.seed import seed
from tests.analytics.business.conftest import TZ, small_office

END = datetime(2024, 4, 14, 16, 0, tzinfo=UTC)   # 2024-04-15 00:00 local (a Monday)


@pytest.fixture
def seeded(db_dsn):
    seed(db_dsn, small_office(), days=14, end=END, seed=9, stats_every_s=900, occupancy_every_s=900)
    with psycopg.connect(db_dsn) as conn:      # business alerts of the last week, one of them rectified
        findings = run_checks(conn, BusinessConfig(), datetime(2024, 4, 8, tzinfo=TZ), END).findings
    with ConnectionPool(db_dsn, min_size=1, max_size=2) as pool:
        BusinessAlerts(pool, AlertsConfig()).record(findings)
        with pool.connection() as conn, conn.transaction():
            first = conn.execute("SELECT alert_id FROM rectifications ORDER BY id LIMIT 1").fetchone()
            if first:
                rectification_step(conn, first[0], "rectified", "unit-head", "fixed")
    return db_dsn


