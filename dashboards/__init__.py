"""Grafana dashboards as code: JSON builders, provisioning export, macro expansion for tests, API push."""

from dashboards.catalog import PROM_MODELS, all_dashboards, dashboard_models, supervision_overview
from dashboards.check import iter_targets, variable_options
from dashboards.cluster import cluster_model
from dashboards.macros import ALL, expand_macros, expand_prom
from dashboards.model import (
                              DATASOURCE,
                              DATASOURCE_UID,
                              PROM_DATASOURCE_UID,
                              Dashboard,
                              Panel,
                              PromTarget,
                              QueryVariable,
                              Target,
                              TextVariable,
)
from dashboards.provisioning import PASSWORD_ENV, DatasourceSettings, datasource_model, datasource_models, export
from dashboards.push import TOKEN_ENV, URL_ENV, GrafanaPusher, GrafanaPushError
from dashboards.system import system_model

__all__ = [
    "ALL",
    "DATASOURCE",
    "DATASOURCE_UID",
    "PASSWORD_ENV",
    "PROM_MODELS",
    "PROM_DATASOURCE_UID",
    "TOKEN_ENV",
    "URL_ENV",
    "Dashboard",
    "DatasourceSettings",
    "GrafanaPushError",
    "GrafanaPusher",
    "Panel",
    "PromTarget",
    "QueryVariable",
    "Target",
    "TextVariable",
    "all_dashboards",
    "cluster_model",
    "dashboard_models",
    "datasource_model",
    "datasource_models",
    "expand_macros",
    "expand_prom",
    "export",
    "iter_targets",
    "supervision_overview",
    "system_model",
    "variable_options",
]
