"""`jianguan serve` as a real process: its roles run as children, a role killed with kill -9 is back within
10 s, and SIGTERM stops everything the orderly way (the node closes its incidents)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import psycopg
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from devkit.simulator import missing_reason, start_simulator
from jianguan.config import ROLE_PORT_OFFSET
from tests.testkit.net import alive, free_port, free_port_run, wait_until
from tests.testkit.node import HOOK, camera, site


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}

pytestmark = pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))


def test_a_killed_role_is_restarted_and_sigterm_stops_them_all(db_dsn, role_dsn, tmp_path):
    dsn = db_dsn
    intake_port = free_port()
    metrics_port = free_port_run(len(ROLE_PORT_OFFSET))
    state_path = tmp_path / "serve-state.json"

    def roles() -> dict:
        return json.loads(state_path.read_text())["roles"] if state_path.exists() else {}

    def wait(cond, timeout_s: float, what: str) -> float:
        start = time.monotonic()
        while not cond():
            assert time.monotonic() - start < timeout_s, f"{what}: {roles()}"
            time.sleep(0.1)
        return time.monotonic() - start

    with start_simulator(["cam-1"]) as sim:
        config = site(tmp_path, camera(sim.url("cam-1", "sub", credentials=False), unattended_s=2),
                      events={"http": {"port": intake_port, "token": "${INTAKE_TOKEN}"}},
                      serve={"roles": ["node", "events"]}, metrics={"port": metrics_port})
        path = tmp_path / "site.yaml"
        path.write_text(yaml.safe_dump(config))
        # The owner's DSN for the supervisor (it migrates), each role's own for the roles (issue 18).
        env = {**os.environ, "JIANGUAN_DSN": dsn, "INTAKE_TOKEN": "t" * 32,
               "JIANGUAN_DSN_NODE": role_dsn("node"), "JIANGUAN_DSN_INTAKE": role_dsn("intake")}
        serve = subprocess.Popen([sys.executable, "-m", "jianguan", "serve", str(path)], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            wait(lambda: {r.get("state") for r in roles().values()} == {"running"}, 60, "roles not running")
            first = {name: r["pid"] for name, r in roles().items()}
            # the intake answers, the node analyses (an incident is opened on the empty zone)
            def answering() -> bool:
                try:
                    return httpx.get(f"http://127.0.0.1:{intake_port}/api/openapi.json", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            wait(answering, 60, "intake not answering")
            with psycopg.connect(dsn, autocommit=True) as conn:
                wait(lambda: conn.execute("SELECT count(*) FROM incidents").fetchone()[0] > 0, 90, "node idle")
                users = {u for (u,) in conn.execute("SELECT DISTINCT usename FROM pg_stat_activity"
                                                    " WHERE datname = current_database() AND pid <> pg_backend_pid()")}
                assert users == {"jianguan_node", "jianguan_intake"}  # no role works as the owner

            os.kill(first["node"], signal.SIGKILL)
            back_s = wait(lambda: roles()["node"]["state"] == "running" and roles()["node"]["pid"] != first["node"],
                          10, "the node was not restarted")
            node = roles()["node"]
            assert node["restarts"] == 1 and node["last_exit"] == "signal SIGKILL" and back_s < 10
            assert roles()["events"]["pid"] == first["events"]  # the other role was left alone
            # The supervisor's /metrics says so too; the intake serves its own.
            supervisor = scrape(metrics_port + ROLE_PORT_OFFSET["serve"])
            assert supervisor[("jianguan_role_restarts_total", (("role", "node"),))] == 1
            assert supervisor[("jianguan_role_up", (("role", "events"),))] == 1
            assert ("jianguan_intake_spool_batches", ()) in scrape(metrics_port + ROLE_PORT_OFFSET["events"])

            serve.send_signal(signal.SIGTERM)
            out, _ = serve.communicate(timeout=90)
        finally:
            serve.kill()
    assert serve.returncode == 0, out
    assert {r["state"] for r in roles().values()} == {"stopped"}
    assert not alive(node["pid"]) and not alive(first["events"])
    with psycopg.connect(dsn) as conn:  # the restarted node stopped the orderly way: its incident is closed
        open_left = conn.execute("SELECT count(*) FROM incidents WHERE ended_at IS NULL").fetchone()[0]
    assert open_left <= 1  # the one the killed node had open (kill -9: nothing could close it)


def test_business_run_delivers_pushes_without_a_node_and_stops_on_sigterm(db_dsn, role_dsn, tmp_path, receiver):
    """A report link or an early warning queued while no node runs is delivered by `business run` itself."""
    from psycopg.types.json import Jsonb

    metrics_port = free_port_run(len(ROLE_PORT_OFFSET))
    config = {**site(tmp_path, camera("rtsp://127.0.0.1:9/none")), "alerts": HOOK, "metrics": {"port": metrics_port}}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**{k: v for k, v in os.environ.items() if k != "JIANGUAN_DSN"}, "HOOK_URL": receiver.url,
           "JIANGUAN_DSN_BUSINESS": role_dsn("business")}  # its own role only, as `serve` starts it
    proc = subprocess.Popen([sys.executable, "-m", "jianguan", "business", "run", "--config", str(path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with psycopg.connect(db_dsn, autocommit=True) as conn:
            conn.execute("INSERT INTO outbox (channel, idempotency_key, payload) VALUES ('hook', 'report-1-hook', %s)",
                         (Jsonb({"event": "report.published", "title": "daily report"}),))
        deadline = time.monotonic() + 60
        while not receiver.deliveries:
            assert proc.poll() is None and time.monotonic() < deadline, "not delivered"
            time.sleep(0.2)
        # Its /metrics: one delivered, none pending, once the delivery is committed (the receiver sees it first).
        wanted = {("jianguan_pushes_delivered_total", ()): 1, ("jianguan_pushes_pending", ()): 0}
        wait_until(lambda: wanted.items() <= scrape(metrics_port + ROLE_PORT_OFFSET["business"]).items(), 10,
                   "the business role's push metrics")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert [d.body["title"] for d in receiver.deliveries] == ["daily report"]
