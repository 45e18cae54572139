"""Grafana dashboards as code: JSON builders, provisioning export, macro expansion for tests, API push."""

from dashboards.catalog import all_dashboards, dashboard_models, supervision_overview
from dashboards.check import iter_targets, variable_options
from dashboards.macros import ALL, expand_macros
from dashboards.model import DATASOURCE, DATASOURCE_UID, Dashboard, Panel, QueryVariable, Target, TextVariable
from dashboards.provisioning import PASSWORD_ENV, DatasourceSettings, datasource_model, export
from dashboards.push import TOKEN_ENV, URL_ENV, GrafanaPusher, GrafanaPushError

__all__ = [
    "ALL",
    "DATASOURCE",
    "DATASOURCE_UID",
    "PASSWORD_ENV",
    "TOKEN_ENV",
    "URL_ENV",
    "Dashboard",
    "DatasourceSettings",
    "GrafanaPushError",
    "GrafanaPusher",
    "Panel",
    "QueryVariable",
    "Target",
    "TextVariable",
    "all_dashboards",
    "dashboard_models",
    "datasource_model",
    "expand_macros",
    "export",
    "iter_targets",
    "supervision_overview",
    "variable_options",
]
