"""A real Mosquitto broker for a test: generated config, optional password file and extra listeners (TLS),
restartable on the same port.

>>> with Mosquitto() as broker:          # doctest: +SKIP
...     publish("127.0.0.1", broker.port)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.testkit.net import free_port, listening, wait_until

MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None)
needs_mosquitto = pytest.mark.skipif(
    MOSQUITTO is None, reason="the mosquitto broker is not installed (apt-get install -y mosquitto)")


class Mosquitto:
    """A broker listening on 127.0.0.1:`port` (plain), anonymous unless `users` is given, in memory.

    `extra` is appended to the config as it is (more listeners, e.g. TLS ones); `wait_ports` are the ports
    that must accept connections before the broker counts as started (default: `port`)."""

    def __init__(self, port: int | None = None, users: dict[str, str] | None = None,
                 extra: list[str] | None = None, wait_ports: list[int] | None = None) -> None:
        assert MOSQUITTO is not None, "mosquitto is not installed"
        self.port = port or free_port()
        # Not pytest's tmp_path: as root, mosquitto drops to its own account, which cannot enter a 0700 dir.
        self.dir = Path(tempfile.mkdtemp(prefix="jianguan-mqtt-"))
        self.dir.chmod(0o755)
        lines = [f"listener {self.port} 127.0.0.1", "persistence false", "log_dest stderr",
                 "max_inflight_messages 100", "max_queued_messages 100000"]
        if users:
            pwfile = self.dir / "passwd"
            pwfile.write_text("".join(f"{u}:{p}\n" for u, p in users.items()))
            subprocess.run(["mosquitto_passwd", "-U", str(pwfile)], check=True, capture_output=True)
            pwfile.chmod(0o644)
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
        else:
            lines.append("allow_anonymous true")
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text("\n".join([*lines, *(extra or [])]) + "\n")
        self.conf.chmod(0o644)
        self.log = self.dir / "mosquitto.log"
        self.wait_ports = wait_ports or [self.port]
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=log)

        def up() -> bool:
            if self.proc is None or self.proc.poll() is not None:
                raise AssertionError(f"mosquitto exited: {self.log.read_text(errors='replace')[-2000:]}")
            return all(listening(p) for p in self.wait_ports)

        wait_until(up, 10, "mosquitto to listen")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Mosquitto:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
