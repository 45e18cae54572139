"""GrafanaPusher against a real HTTP server on 127.0.0.1 that plays Grafana's API and records requests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dashboards import GrafanaPusher, GrafanaPushError, all_dashboards

pytest.importorskip("grafana_client")

TOKEN = "glsa_test-token-123"


class FakeGrafana:
    """Just enough of /api: datasources by uid, folders by uid, dashboards/db. Records every request."""

    def __init__(self, datasource_exists: bool = False, folder_exists: bool = False, status: int | None = None):
        self.requests: list[tuple[str, str, str | None, object]] = []
        self.datasource_exists = datasource_exists
        self.folder_exists = folder_exists
        self.status = status
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _reply(self, code: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                fake.requests.append((self.command, self.path, self.headers.get("Authorization"), body))
                code, reply = fake.route(self.command, self.path, body)
                self._reply(code, reply)

            do_GET = do_POST = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def route(self, method: str, path: str, body: object) -> tuple[int, object]:
        if self.status:
            return self.status, {"message": f"denied for {TOKEN}"}
        uid = path.rsplit("/", 1)[-1]
        match method, path:
            case "GET", p if p.startswith("/api/datasources/uid/"):
                return (200, {"id": 7, "uid": uid, "version": 3}) if self.datasource_exists else \
                    (404, {"message": "Data source not found"})
            case ("POST", "/api/datasources") | ("PUT", "/api/datasources/uid/jianguan-pg") | \
                    ("PUT", "/api/datasources/uid/jianguan-prom"):
                return 200, {"id": 7, "message": "Datasource saved"}
            case "GET", "/api/folders/jianguan":
                return (200, {"uid": "jianguan", "title": "Jianguan"}) if self.folder_exists else \
                    (404, {"message": "folder not found"})
            case "POST", "/api/folders":
                return 200, {"uid": body["uid"], "title": body["title"]}
            case "POST", "/api/dashboards/db":
                return 200, {"status": "success", "uid": body["dashboard"]["uid"]}
        return 404, {"message": "not found"}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def grafana():
    servers: list[FakeGrafana] = []

    def make(**kw) -> FakeGrafana:
        servers.append(FakeGrafana(**kw))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def test_first_push_creates_datasource_folder_and_dashboards(grafana, monkeypatch):
    fake = grafana()
    monkeypatch.setenv("JIANGUAN_GRAFANA_URL", fake.url)
    monkeypatch.setenv("JIANGUAN_GRAFANA_TOKEN", TOKEN)
    monkeypatch.setenv("JIANGUAN_GRAFANA_DB_PASSWORD", "db-pw")
    pushed = GrafanaPusher().push_all()
    assert pushed == list(all_dashboards())
    calls = [(m, p) for m, p, _, _ in fake.requests]
    assert calls[:6] == [("GET", "/api/datasources/uid/jianguan-pg"), ("POST", "/api/datasources"),
                         ("GET", "/api/datasources/uid/jianguan-prom"), ("POST", "/api/datasources"),
                         ("GET", "/api/folders/jianguan"), ("POST", "/api/folders")]
    assert calls[6:] == [("POST", "/api/dashboards/db")] * len(pushed)
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth, _ in fake.requests)
    ds = fake.requests[1][3]
    assert ds["uid"] == "jianguan-pg" and ds["type"] == "grafana-postgresql-datasource"
    assert ds["secureJsonData"] == {"password": "db-pw"} and ds["jsonData"]["timescaledb"] is False
    prom = fake.requests[3][3]
    assert prom["uid"] == "jianguan-prom" and prom["type"] == "prometheus" and "secureJsonData" not in prom
    assert fake.requests[5][3] == {"title": "Jianguan", "uid": "jianguan"}
    for (_, _, _, body), uid in zip(fake.requests[6:], pushed, strict=True):
        assert body["overwrite"] is True and body["folderUid"] == "jianguan"
        assert body["dashboard"]["uid"] == uid and body["dashboard"]["id"] is None


def test_second_push_updates_existing_datasource(grafana, monkeypatch):
    fake = grafana(datasource_exists=True, folder_exists=True)
    monkeypatch.delenv("JIANGUAN_GRAFANA_DB_PASSWORD", raising=False)
    GrafanaPusher(fake.url, TOKEN).push_all()
    calls = [(m, p) for m, p, _, _ in fake.requests]
    assert calls[:5] == [("GET", "/api/datasources/uid/jianguan-pg"), ("PUT", "/api/datasources/uid/jianguan-pg"),
                         ("GET", "/api/datasources/uid/jianguan-prom"),
                         ("PUT", "/api/datasources/uid/jianguan-prom"), ("GET", "/api/folders/jianguan")]
    update = fake.requests[1][3]
    assert update["id"] == 7 and update["version"] == 3
    assert "secureJsonData" not in update  # no password in the environment: Grafana keeps the one it has


def test_rejected_token_is_a_clear_error_without_the_token(grafana):
    fake = grafana(status=401)
    with pytest.raises(GrafanaPushError, match="refused") as info:
        GrafanaPusher(fake.url, TOKEN).push_all()
    assert TOKEN not in str(info.value)


def test_unreachable_grafana(grafana):
    fake = grafana()
    url = fake.url
    fake.close()
    with pytest.raises(GrafanaPushError, match="cannot reach"):
        GrafanaPusher(url, TOKEN, timeout_s=2).push_all()


def test_missing_settings(monkeypatch):
    monkeypatch.delenv("JIANGUAN_GRAFANA_URL", raising=False)
    monkeypatch.delenv("JIANGUAN_GRAFANA_TOKEN", raising=False)
    with pytest.raises(GrafanaPushError, match="JIANGUAN_GRAFANA_URL"):
        GrafanaPusher()
    with pytest.raises(GrafanaPushError, match="JIANGUAN_GRAFANA_TOKEN"):
        GrafanaPusher("http://127.0.0.1:3000")
