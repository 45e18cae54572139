"""Pushing the datasource and dashboards to a running Grafana through its HTTP API (grafana-client)."""

from __future__ import annotations

import os
import re
from typing import Any

from dashboards.catalog import all_dashboards
from dashboards.provisioning import FOLDER_TITLE, FOLDER_UID, PASSWORD_ENV, DatasourceSettings, datasource_models
from i18n import N_, Translatable

URL_ENV = "JIANGUAN_GRAFANA_URL"
TOKEN_ENV = "JIANGUAN_GRAFANA_TOKEN"


class GrafanaPushError(Translatable, Exception):
    """Grafana unreachable, refusing the token, or rejecting a dashboard; one line, never the token;
    `text(locale)` in the reader's language."""


def _redact_url(url: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


class GrafanaPusher:
    """Upserts the `jianguan-pg` and `jianguan-prom` datasources, a "Jianguan" folder and every dashboard
    (overwrite=True).

    `url`/`token` default to $JIANGUAN_GRAFANA_URL / $JIANGUAN_GRAFANA_TOKEN (a service-account token).
    The datasource password is sent only when $JIANGUAN_GRAFANA_DB_PASSWORD is set; otherwise an
    existing datasource keeps the password Grafana already has.
    """

    def __init__(self, url: str | None = None, token: str | None = None, *,
                 datasource: DatasourceSettings | None = None, timeout_s: float = 10.0) -> None:
        self.url = (url or os.environ.get(URL_ENV, "")).rstrip("/")
        self.token = token or os.environ.get(TOKEN_ENV, "")
        if not self.url:
            raise GrafanaPushError(N_("no Grafana URL: set {env} (e.g. http://127.0.0.1:3000)"), env=URL_ENV)
        if not self.token:
            raise GrafanaPushError(N_("no Grafana token: set {env} to a service-account token"), env=TOKEN_ENV)
        self.datasource = datasource or DatasourceSettings()
        self.timeout_s = timeout_s

    def _api(self) -> Any:
        try:
            from grafana_client import GrafanaApi  # lazy: only pushing needs it
        except ImportError:
            raise GrafanaPushError(N_("pushing to Grafana needs the grafana-client package "
                                      "(pip install grafana-client)")) from None
        return GrafanaApi.from_url(self.url, credential=self.token, timeout=self.timeout_s)

    def push_all(self) -> list[str]:
        """Push everything; return the uids of the dashboards pushed."""
        from grafana_client.client import GrafanaException

        api = self._api()
        pushed: list[str] = []
        try:
            self._upsert_datasources(api)
            folder_uid = self._ensure_folder(api)
            for uid, dash in all_dashboards().items():
                api.dashboard.update_dashboard({"dashboard": {**dash, "id": None}, "folderUid": folder_uid,
                                                "overwrite": True, "message": "pushed by jianguan"})
                pushed.append(uid)
        except GrafanaException as exc:
            raise GrafanaPushError(N_("Grafana at {url} refused: {error}"), url=_redact_url(self.url),
                                   error=self._scrub(exc.message)) from None
        except OSError as exc:  # niquests' connection errors are OSErrors
            raise GrafanaPushError(N_("cannot reach Grafana at {url}: {error}"), url=_redact_url(self.url),
                                   error=self._scrub(type(exc).__name__)) from None
        return pushed

    def _scrub(self, text: str) -> str:
        return " ".join(str(text).replace(self.token, "***").split())

    def _upsert_datasources(self, api: Any) -> None:
        from grafana_client.client import GrafanaClientError

        password = os.environ.get(PASSWORD_ENV) or None
        for model in datasource_models(self.datasource, password):
            uid = model["uid"]
            try:
                existing = api.datasource.get_datasource_by_uid(uid)
            except GrafanaClientError as exc:
                if exc.status_code != 404:
                    raise
                api.datasource.create_datasource(model)
                continue
            api.datasource.update_datasource_by_uid(uid, {**model, "id": existing.get("id"),
                                                          "version": existing.get("version")})

    def _ensure_folder(self, api: Any) -> str:
        from grafana_client.client import GrafanaClientError

        try:
            return str(api.folder.get_folder(FOLDER_UID)["uid"])
        except GrafanaClientError as exc:
            if exc.status_code != 404:
                raise
        return str(api.folder.create_folder(FOLDER_TITLE, uid=FOLDER_UID)["uid"])
