"""`jianguan simulate`: cameras from a site config, usage errors, and the real command serving until Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

from devkit.simulator import missing_reason
from ingest import probe
from jianguan.simulate import cameras_of_config, simulate

OFFICE = Path(str(resources.files("jianguan") / "examples" / "office-112.yaml"))
ENV = {"JIANGUAN_CAMERA_PASSWORD": "s3cret", "JIANGUAN_WEBHOOK_URL": "https://hook.example/robot?key=abc",
       "JIANGUAN_WEBHOOK_SECRET": "hmac-secret"}


def test_cameras_user_password_and_port_of_the_office_config(monkeypatch):
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    ids, user, password, port = cameras_of_config(OFFICE)
    assert len(ids) == 112 and ids[0] == "win-01" and len(set(ids)) == 112
    assert (user, password, port) == ("viewer", "s3cret", 8554)


def test_usage_errors():
    runner = CliRunner()
    r = runner.invoke(simulate, [])
    assert r.exit_code == 2 and "--cameras N 与 --config FILE 须且只能给出一个" in r.output
    r = runner.invoke(simulate, ["--cameras", "2", "--user", "viewer"], env={"JIANGUAN_SIM_PASSWORD": ""})
    assert r.exit_code == 2 and "JIANGUAN_SIM_PASSWORD" in r.output


@pytest.mark.skipif(missing_reason() is not None, reason=f"RTSP simulator unavailable: {missing_reason()}")
@pytest.mark.timeout(60)
def test_command_serves_until_interrupted():
    env = dict(os.environ, JIANGUAN_SIM_PASSWORD="pw-123")
    proc = subprocess.Popen([sys.executable, "-c", "from jianguan.simulate import simulate; simulate()",
                             "--cameras", "3", "--port", "0", "--user", "viewer"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        out = ""
        for line in proc.stdout:  # the pytest timeout bounds this if the command hangs
            out += line
            if "按 Ctrl-C 停止。" in line:
                break
        assert "正在提供 3 路摄像机" in out, (out, proc.stderr.read() if proc.poll() is not None else "")
        assert "pw-123" not in out  # URLs are printed without the password
        port = int(re.search(r"rtsp://127\.0\.0\.1:(\d+)/", out).group(1))
        assert f"rtsp://viewer@127.0.0.1:{port}/cam-001/sub" in out
        info = probe(f"rtsp://viewer:pw-123@127.0.0.1:{port}/cam-003/main")
        assert (info.width, info.height) == (768, 576)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    # The server process went with it: the port is free again.
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
