"""Grafana push errors read in the operator's language (issue 17): English from str(), Chinese from
text("zh_CN")."""

from __future__ import annotations

import pytest

from dashboards.push import TOKEN_ENV, URL_ENV, GrafanaPusher, GrafanaPushError


def test_missing_grafana_url_and_token_read_in_chinese(monkeypatch):
    monkeypatch.delenv(URL_ENV, raising=False)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(GrafanaPushError) as info:
        GrafanaPusher()
    assert str(info.value) == "no Grafana URL: set JIANGUAN_GRAFANA_URL (e.g. http://127.0.0.1:3000)"
    assert info.value.text("zh_CN") == "未设置 Grafana 地址：请设置 JIANGUAN_GRAFANA_URL（如 http://127.0.0.1:3000）"
    with pytest.raises(GrafanaPushError) as info:
        GrafanaPusher(url="http://127.0.0.1:3000")
    assert str(info.value) == "no Grafana token: set JIANGUAN_GRAFANA_TOKEN to a service-account token"
    assert info.value.text("zh_CN") == "未设置 Grafana 令牌：请将 JIANGUAN_GRAFANA_TOKEN 设为服务账号令牌"
