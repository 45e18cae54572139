"""`jianguan run` stopped by SIGTERM (systemd, docker stop) or Ctrl-C, as a real process on a live camera:
it stops the orderly way, so the open incident is closed with its reason and the metric rows are written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import yaml

from devkit.simulator import missing_reason, start_simulator
from tests.testkit.node import camera, site

pytestmark = pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))


def _rows(dsn: str, sql: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_node_the_orderly_way(db_dsn, tmp_path, sig):
    dsn = db_dsn
    with start_simulator(["cam-1"]) as sim:
        config = site(tmp_path, camera(sim.url("cam-1", "sub", credentials=False), unattended_s=2))
        path = Path(tmp_path) / "site.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {**os.environ, "JIANGUAN_DSN": dsn}
        proc = subprocess.Popen([sys.executable, "-m", "jianguan", "run", str(path)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 120
            while not _rows(dsn, "SELECT 1 FROM incidents LIMIT 1"):
                assert proc.poll() is None, proc.communicate()[0]
                assert time.monotonic() < deadline, "no incident opened"
                time.sleep(0.5)
            # The timer writes the rows of a running node (it used to wait for 500 of them).
            while not _rows(dsn, "SELECT 1 FROM camera_stats LIMIT 1"):
                assert time.monotonic() < deadline, "no camera_stats row while running"
                time.sleep(0.5)
            proc.send_signal(sig)
            out, _ = proc.communicate(timeout=90)
        finally:
            proc.kill()
    assert proc.returncode == 0, out
    assert "正在有序停止" in out and "已分析帧数" in out
    [(ended, measures)] = _rows(dsn, "SELECT ended_at IS NOT NULL, evidence -> 'measures' FROM incidents")
    assert ended and measures["closed_by_end_of_observation"] == 1.0
    assert _rows(dsn, "SELECT ended_at IS NOT NULL FROM alerts") == [(True,)]
    # the last stats row says the camera went offline with the node
    assert _rows(dsn, "SELECT online FROM camera_stats ORDER BY ts DESC LIMIT 1") == [(False,)]
