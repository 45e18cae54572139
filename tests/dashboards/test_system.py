"""The System dashboard against a real Prometheus that scrapes real roles: a node analysing a simulated camera,
a supervisor with a role that keeps dying, an intake and an outbox worker, found through the scrape config
`jianguan dashboards scrape-config` prints. Every panel query must return series for the site, none for another."""

from __future__ import annotations

import sys
import threading
from contextlib import ExitStack

import pytest
from psycopg_pool import ConnectionPool

from alerts import OutboxWorker, RetryConfig
from dashboards import ALL, all_dashboards, system_model
from devkit.simulator import missing_reason, start_simulator
from ingest.events.intake import Intake
from ingest.events.store import EventStore
from ingest.events.validate import DeadLetter
from jianguan.config import parse_config
from jianguan.metrics import intake_families, outbox_families, scrape_config, serve_role_metrics, supervisor_families
from jianguan.supervisor import Supervisor
from tests.testkit.net import free_port_run, wait_until
from tests.testkit.node import camera, running_node, site
from tests.testkit.prom import NEEDS_PROMETHEUS, panels_off_site, prom_query, start_prometheus

pytestmark = [
    NEEDS_PROMETHEUS,
    pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason())),
]

def test_the_system_dashboard_json_uses_prometheus_throughout():
    dash = all_dashboards("en")["jianguan-system"]
    assert dash["title"] == "System" and all_dashboards()["jianguan-system"]["title"] == "系统"
    for var in dash["templating"]["list"]:
        assert var["datasource"]["uid"] == "jianguan-prom" and var["allValue"] == ".*"
    for panel in dash["panels"]:
        assert panel["datasource"]["uid"] == "jianguan-prom"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "jianguan-prom" and 'site=~"$site"' in target["expr"]


def test_every_system_panel_reads_series_from_the_roles(db_dsn, tmp_path):
    base = free_port_run(4)
    with ExitStack() as stack:
        sim = stack.enter_context(start_simulator(["cam-1"]))
        raw = site(tmp_path, camera(sim.url("cam-1", "sub", credentials=False), unattended_s=2),
                   metrics={"port": base}, serve={"roles": ["node", "events", "business"]})
        cfg = parse_config(raw, env={})
        node = stack.enter_context(running_node(raw, db_dsn, drain_s=1))
        # The supervisor: one role that runs, one that keeps failing (restarted with backoff).
        supervisor = Supervisor({"steady": [sys.executable, "-c", "import time; time.sleep(120)"],
                                 "failing": [sys.executable, "-c", "raise SystemExit(3)"]},
                                tmp_path / "serve-state.json", stop_timeout_s=5)
        runner = threading.Thread(target=supervisor.run, daemon=True)
        runner.start()
        stack.callback(lambda: (supervisor.stop_event.set(), runner.join(30)))
        pool = stack.enter_context(ConnectionPool(db_dsn, min_size=1, max_size=2))
        intake = Intake(EventStore(pool))
        assert intake.submit([DeadLetter.of("http", "not JSON", b"{")])[0].status == "rejected"
        outbox = OutboxWorker(pool, {}, RetryConfig())
        for role, families in (("serve", lambda: supervisor_families(supervisor)),
                               ("events", lambda: intake_families(intake)),
                               ("business", lambda: outbox_families(outbox))):
            server = serve_role_metrics(cfg.metrics, role, families)
            stack.callback(server.shutdown)

        job = scrape_config(cfg)
        assert {c["labels"]["service"] for c in job["static_configs"]} == {"node", "serve", "events", "business"}
        url = start_prometheus(stack, tmp_path, job)
        wait_until(lambda: node._manager is not None and node._manager.stats.alerts_opened >= 1
                   and supervisor.roles["failing"].restarts >= 1, 60, "an alert and a restart", every=0.2)
        wait_until(lambda: len(prom_query(url, 'up{job="jianguan-s1"} == 1')) == 4, 30, "all four roles scraped")
        wait_until(lambda: prom_query(url, 'count_over_time(jianguan_camera_frames_analysed_total[10s]) >= 5'), 30,
                   "five scrapes of the node", every=0.5)

        empty = panels_off_site(url, system_model(), "s1", {"camera": [ALL]})
        assert not empty, empty

        up = {r["metric"]["role"]: float(r["value"][1])
              for r in prom_query(url, 'sum by (role) (jianguan_role_up{site=~"s1"})')}
        assert up["steady"] == 1.0 and "failing" in up
        restarts = prom_query(url, 'jianguan_role_restarts_total{role="failing"}')
        assert float(restarts[0]["value"][1]) >= 1
