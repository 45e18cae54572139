"""`jianguan demo`: the whole path on real footage, with no external service to install."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from jianguan.config import SiteConfig, parse_config
from jianguan.node import Node, NodeReport, Preflight

DEMO_VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


@dataclass
class Delivery:
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class WebhookReceiver:
    """A real HTTP receiver on 127.0.0.1 standing in for the commanders' chat robot.

    `fail_first` answers that many requests with HTTP 503 before accepting, to show the outbox retry.
    """

    fail_first: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    attempts: int = 0

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                receiver.attempts += 1
                if receiver.attempts <= receiver.fail_first:
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.deliveries.append(Delivery(dict(self.headers), json.loads(raw)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# The demo's secrets: the environment's when set, else random per data directory (demo_secrets).
DEMO_SECRETS = ("JIANGUAN_LINK_SECRET", "JIANGUAN_DEMO_HMAC")


def demo_secrets(data_dir: Path) -> dict[str, str]:
    """The demo's link and webhook secrets: made at random on the first run in `data_dir` and kept in
    <data_dir>/secrets.json (0600), so a later run and `jianguan review serve` on the same data sign and check
    with the same ones; each variable set in the environment wins. A secret written in the example config
    would be the same on every machine that runs it, and anyone could forge its acknowledge links."""
    path = data_dir / "secrets.json"
    try:
        kept = json.loads(path.read_text())
    except FileNotFoundError:
        kept = {}
    missing = [name for name in DEMO_SECRETS if not kept.get(name)]
    if missing:
        kept |= {name: secrets.token_urlsafe(48) for name in missing}
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(kept, f)
    return {name: os.environ.get(name) or kept[name] for name in DEMO_SECRETS}


def demo_config(data_dir: Path, webhook_url: str, source: Path = DEMO_VIDEO, model: str | None = None) -> SiteConfig:
    raw = yaml.safe_load(resources.files("jianguan").joinpath("examples/demo.yaml").read_text(encoding="utf-8"))
    env = {"JIANGUAN_DEMO_DATA": str(data_dir), "JIANGUAN_DEMO_WEBHOOK": webhook_url,
           "JIANGUAN_DEMO_VIDEO": str(source), **demo_secrets(data_dir)}
    if model:
        env["JIANGUAN_DEMO_MODEL"] = model
    return parse_config(raw, env=env, source="demo.yaml")


def close_stale_alerts(dsn: str, config: SiteConfig) -> int:
    """A re-run of the demo starts clean: live alerts of its cameras from an earlier run are closed
    (with an audit event), or deduplication would fold the new incident into them."""
    import psycopg

    from alerts.workflow import withdraw_live

    # The workflow's `withdraw` step (status, timeline and audit log), on the alerts the workflow finds.
    with psycopg.connect(dsn) as conn, conn.transaction():
        return len(withdraw_live(conn, [c.id for c in config.cameras], "demo", "demo restarted"))


def run_demo(config: SiteConfig, dsn: str, checked: Preflight | None = None, progress=None,
             drain_s: float = 30.0, owner_dsn: str | None = None) -> NodeReport:
    """The node on `dsn` (the node's role); stale alerts are withdrawn as `owner_dsn` (a node may not close
    alerts, storage/roles.py), or as `dsn` when not given."""
    close_stale_alerts(owner_dsn or dsn, config)
    node = Node(config, dsn, checked=checked, base_ts=time.time(), progress=progress, drain_s=drain_s)
    return node.run()
