"""`metrics are off` reads in the operator's language (issue 17) and stays a ValueError for its callers."""

from __future__ import annotations

import pytest

from jianguan.config import parse_config
from jianguan.metrics import cluster_scrape_config, scrape_config

SITE = {"site": {"id": "office-07", "name": "七所"},
        "cameras": [{"id": "c1", "name": "C1", "area": "window", "streams": {"detect": "rtsp://127.0.0.1:9/x"}}]}


def test_metrics_off_reads_in_chinese(tmp_path):
    cfg = parse_config({**SITE, "paths": {"data_dir": str(tmp_path)}})
    for make in (lambda: scrape_config(cfg), lambda: cluster_scrape_config(cfg, "10.0.0.1")):
        with pytest.raises(ValueError) as info:
            make()
        assert str(info.value) == "metrics are off: set metrics.port in the site config first"
        assert info.value.text("zh_CN") == "监控指标未开启：请先在站点配置中设置 metrics.port"
