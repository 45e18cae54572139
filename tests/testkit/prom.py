"""A real Prometheus server for tests of the metrics endpoints and the dashboards that read them."""

from __future__ import annotations

import shutil
import subprocess
from contextlib import ExitStack

import httpx
import pytest
import yaml

from dashboards import Dashboard, expand_prom
from tests.testkit.net import free_port, wait_until

NEEDS_PROMETHEUS = pytest.mark.skipif(shutil.which("prometheus") is None,
                                      reason="no Prometheus server (scripts/setup.sh installs Debian's prometheus)")


def start_prometheus(stack: ExitStack, tmp_path, job: dict) -> str:
    """A Prometheus scraping `job` every second, stopped with `stack`; its URL."""
    port = free_port()
    conf = tmp_path / "prometheus.yml"
    job = {**job, "scrape_interval": "1s"}
    conf.write_text(yaml.safe_dump({"global": {"scrape_interval": "1s"}, "scrape_configs": [job]}))
    proc = subprocess.Popen(["prometheus", f"--config.file={conf}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    stack.callback(lambda: (proc.terminate(), proc.wait(20)))
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _status(f"{url}/-/ready") == 200, 30, "Prometheus ready", every=0.2)
    return url


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


def prom_query(url: str, expr: str) -> list[dict]:
    reply = httpx.post(f"{url}/api/v1/query", data={"query": expr}, timeout=10).json()
    assert reply["status"] == "success", (expr, reply)
    return reply["data"]["result"]


RATE_S = 4  # Grafana's $__rate_interval for a 1 s scrape is 4 scrapes


def panels_off_site(url: str, model: Dashboard, site: str, variables: dict[str, list[str]] | None = None,
                    may_be_empty: frozenset[str] = frozenset()) -> list[str]:
    """Each query of `model`'s panels with `$site` = `site` that returns no series, and with another site any
    that returns some (`may_be_empty`: panel titles that show nothing when all is well, e.g. offline cameras)."""
    all_values = {v.name: v.all_value for v in model.variables}
    wrong = []
    for panel in model.panels:
        for target in panel.targets:
            for sites, expect in (([site], panel.title not in may_be_empty), (["elsewhere"], False)):
                expr = expand_prom(target.expr, variables={"site": sites, **(variables or {})},
                                   all_values=all_values, range_s=60, rate_interval_s=RATE_S)
                assert "$" not in expr, expr
                got = prom_query(url, expr)
                if bool(got) != expect:
                    wrong.append(f"{panel.title}/{target.ref_id} site={sites}: {len(got)} series")
    return wrong
