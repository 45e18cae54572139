import json
import os
import subprocess
import sys


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "jianguan", *args], capture_output=True, text=True, timeout=120,
                          env={**{k: v for k, v in os.environ.items() if not k.startswith("JIANGUAN_GRAFANA")},
                               **(env or {})})


def test_help_lists_the_verbs():
    r = cli("--help")
    assert r.returncode == 0
    for verb in ("config", "dashboards", "db", "demo", "review", "run", "seed", "simulate", "users"):
        assert f"  {verb} " in r.stdout


def test_help_reads_in_chinese_or_in_english_on_request():
    zh = cli("config", "check", "--help")
    assert zh.returncode == 0 and "校验 FILE" in zh.stdout and "Validate" not in zh.stdout, zh.stdout
    en = cli("config", "check", "--help", env={"JIANGUAN_LANG": "en"})
    assert "Validate FILE" in en.stdout


def test_dashboards_export_writes_json_and_provisioning(tmp_path):
    r = cli("dashboards", "export", str(tmp_path))
    assert r.returncode == 0, r.stderr
    overview = json.loads((tmp_path / "jianguan-overview.json").read_text())
    assert overview["uid"] == "jianguan-overview" and overview["panels"]
    assert (tmp_path / "provisioning" / "datasources" / "jianguan.yaml").is_file()


def test_dashboards_push_without_grafana_url_is_one_clear_line():
    r = cli("dashboards", "push")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == ["错误：未设置 Grafana 地址：请设置 JIANGUAN_GRAFANA_URL（如 http://127.0.0.1:3000）"]


def test_dashboards_scrape_config_names_every_role_of_the_site(tmp_path):
    import yaml

    site = {"site": {"id": "office-07", "name": "七所"}, "paths": {"data_dir": str(tmp_path)},
            "cameras": [{"id": "c1", "name": "C1", "area": "window", "streams": {"detect": "rtsp://127.0.0.1:9/x"}}],
            "serve": {"roles": ["node", "business", "review"]}}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site, allow_unicode=True))
    r = cli("dashboards", "scrape-config", str(path))
    assert r.returncode == 1 and r.stderr.strip() == "错误：监控指标未开启：请先在站点配置中设置 metrics.port"
    path.write_text(yaml.safe_dump({**site, "metrics": {"port": 9108}}, allow_unicode=True))
    r = cli("dashboards", "scrape-config", str(path))
    assert r.returncode == 0, r.stderr
    (job,) = yaml.safe_load(r.stdout)["scrape_configs"]
    assert job["job_name"] == "jianguan-office-07"
    assert [(c["targets"], c["labels"]["service"]) for c in job["static_configs"]] == [
        (["127.0.0.1:9108"], "node"), (["127.0.0.1:9109"], "serve"), (["127.0.0.1:9110"], "business")]
    assert {c["labels"]["site"] for c in job["static_configs"]} == {"office-07"}
    # The cluster's driver: one target on metrics.port + 4; its series name their own sites.
    r = cli("dashboards", "scrape-config", str(path), "--cluster", "10.0.0.5")
    assert r.returncode == 0, r.stderr
    (job,) = yaml.safe_load(r.stdout)["scrape_configs"]
    assert job["job_name"] == "jianguan-cluster"
    assert job["static_configs"] == [{"targets": ["10.0.0.5:9112"], "labels": {"service": "cluster"}}]
