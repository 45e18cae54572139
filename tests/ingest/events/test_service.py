"""`jianguan events serve --config FILE` as a real process: HTTP and MQTT into one database, clean stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.events.config import EventsConfig, HttpIntakeConfig
from ingest.events.service import IntakeConfigError, bearer_token
from jianguan.config import ConfigError, parse_config

TOKEN = "service-token-0123456789abcdef"


def site_config(tmp_path: Path, http_port: int, mqtt_port: int) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(f"""
site: {{id: hq, name: Headquarters}}
paths: {{data_dir: {tmp_path / 'var'}}}
cameras:
  - {{id: cam-1, name: Window 1, area: window, streams: {{detect: "rtsp://127.0.0.1:1/none"}}}}
events:
  lanes: [lane-1, lane-2]
  http: {{port: {http_port}, token: "${{INTAKE_TOKEN}}", max_batch: 100}}
  mqtt: {{port: {mqtt_port}, client_id: service-test}}
""")
    return path


def test_serve_takes_http_and_mqtt_then_stops_cleanly(tmp_path, broker, db_dsn, role_dsn, ev):
    http_port = ev.free_port()
    config = site_config(tmp_path, http_port, broker.port)
    # The intake's own database role only, as `jianguan serve` starts it: no owner's DSN, nothing to migrate.
    env = {**{k: v for k, v in os.environ.items() if k != "JIANGUAN_DSN"}, "JIANGUAN_DSN_INTAKE": role_dsn("intake"),
           "INTAKE_TOKEN": TOKEN}
    proc = subprocess.Popen([sys.executable, "-m", "jianguan", "events", "serve", "--config", str(config)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def up() -> bool:
            assert proc.poll() is None, proc.stdout.read()
            try:
                return httpx.post(f"http://127.0.0.1:{http_port}/api/v1/lane-events", json=[]).status_code == 401
            except httpx.TransportError:
                return False

        ev.wait_until(up, 60, "the service to listen")
        r = httpx.post(f"http://127.0.0.1:{http_port}/api/v1/transactions", json=[ev.tx("t-001", 0, 1, 2)],
                       headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.json()["accepted"] == 1
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="svc-pub")
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        # The subscriber may still be connecting: its persistent session only exists once it subscribed,
        # so publish until the first message lands.
        def stored() -> bool:
            pub.publish("jianguan/hq/lane/lane-1/events", json.dumps(ev.lane("m1", "vehicle_in", 0)), qos=1)
            return ev.query(db_dsn, "SELECT count(*) FROM lane_events")[0][0] == 1

        ev.wait_until(stored, 30, "an MQTT message in the database")
        pub.loop_stop()
        pub.disconnect()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "HTTP  http://127.0.0.1" in out and "MQTT  127.0.0.1" in out and "已停止：" in out
    assert TOKEN not in out and "password=" not in out.replace("password=***", "")
    assert ev.query(db_dsn, "SELECT count(*) FROM transactions")[0][0] == 1
    assert ev.query(db_dsn, "SELECT count(*) FROM lane_events")[0][0] == 1


def test_config_section_defaults_and_secrets(tmp_path):
    base = {"site": {"id": "hq", "name": "HQ"},
            "cameras": [{"id": "c", "name": "c", "area": "window", "streams": {"detect": "rtsp://h/x"}}]}
    cfg = parse_config(base, env={})
    assert cfg.events.mqtt is None and cfg.events.http.enabled and cfg.events.http.token is None
    with pytest.raises(ConfigError, match=r"events.http.token：密钥必须来自环境变量"):
        parse_config({**base, "events": {"http": {"token": "in-clear-0123456789"}}}, env={})
    with pytest.raises(ConfigError, match="events.mqtt.topic：不是有效的 MQTT 主题过滤器"):
        parse_config({**base, "events": {"mqtt": {"topic": "a/#/b"}}}, env={})
    with pytest.raises(IntakeConfigError, match="JIANGUAN_INTAKE_TOKEN"):
        bearer_token(EventsConfig(), env={})
    with pytest.raises(IntakeConfigError, match="too short"):
        bearer_token(EventsConfig(), env={"JIANGUAN_INTAKE_TOKEN": "short"})
    assert bearer_token(EventsConfig(http=HttpIntakeConfig(token=TOKEN)), env={}) == TOKEN
