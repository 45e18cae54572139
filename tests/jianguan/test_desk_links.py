"""The acknowledge links a node pushes open on the desk started as the README says (issue 18): one secret
and one lifetime, from one config; the demo's secret is random per data directory, never a public default."""

from __future__ import annotations

import json
import stat

from alerts.links import LinkSigner
from jianguan.config import parse_config
from jianguan.demo import demo_config, demo_secrets
from jianguan.review_cli import desk_config, desk_links


def test_the_demo_makes_its_secrets_per_data_directory_and_keeps_them(tmp_path, monkeypatch):
    for name in ("JIANGUAN_LINK_SECRET", "JIANGUAN_DEMO_HMAC"):
        monkeypatch.delenv(name, raising=False)
    first, again, other = demo_secrets(tmp_path / "a"), demo_secrets(tmp_path / "a"), demo_secrets(tmp_path / "b")
    assert first == again and first != other
    assert all(len(v) >= 48 for v in first.values()) and len(set(first.values())) == 2
    path = tmp_path / "a" / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and json.loads(path.read_text()) == first
    monkeypatch.setenv("JIANGUAN_LINK_SECRET", "x" * 40)  # the environment wins
    assert demo_secrets(tmp_path / "a")["JIANGUAN_LINK_SECRET"] == "x" * 40


def test_the_desk_checks_links_with_the_demo_nodes_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("JIANGUAN_LINK_SECRET", raising=False)
    node = demo_config(tmp_path.resolve(), "http://127.0.0.1:1/hook")
    signer = LinkSigner(node.alerts.link_secret.get_secret_value())
    token = signer.sign(7, "acknowledge", "commander-webhook")
    desk = desk_links(desk_config(tmp_path, None))
    assert desk is not None and desk.verify(token).alert_id == 7
    assert desk_links(desk_config(tmp_path / "elsewhere", None)).verify(token) is None


def test_the_desk_keeps_the_links_lifetime_of_the_config():
    raw = {"site": {"id": "s1", "name": "S"},
           "alerts": {"link_secret": "${LINK}", "link_ttl_h": 2},
           "cameras": [{"id": "w1", "name": "W", "area": "window", "streams": {"detect": "/tmp/x.mp4"}}]}
    cfg = parse_config(raw, env={"LINK": "k" * 40})
    desk = desk_links(cfg)
    assert desk.max_age_s == 2 * 3600  # was always 24 h whatever the config said
    token = LinkSigner("k" * 40).sign(3, "acknowledge", "wecom")
    assert desk.verify(token).alert_id == 3
    assert desk.verify(token, max_age_s=-1) is None  # past its lifetime: refused
