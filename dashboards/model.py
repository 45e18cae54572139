"""A small typed builder for Grafana dashboard JSON (schemaVersion 39).

Only what these dashboards use: query variables, panels laid out left to right on Grafana's 24-column grid,
raw-SQL targets in code mode over the PostgreSQL datasource, and PromQL targets over the Prometheus one (the
System dashboard: what the roles' /metrics say, jianguan/metrics.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

SCHEMA_VERSION = 39
DATASOURCE_UID = "jianguan-pg"
DATASOURCE_TYPE = "grafana-postgresql-datasource"
DATASOURCE: dict[str, str] = {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}
PROM_DATASOURCE_UID = "jianguan-prom"
PROM_DATASOURCE_TYPE = "prometheus"
PROM_DATASOURCE: dict[str, str] = {"type": PROM_DATASOURCE_TYPE, "uid": PROM_DATASOURCE_UID}
GRID_WIDTH = 24
TAG = "jianguan"
# Grafana's max data points when a panel sets none: about its width in pixels (a half-width panel ~ 1000).
DEFAULT_MAX_DATA_POINTS = 1000

Format = Literal["table", "time_series"]


@dataclass(frozen=True)
class Target:
    """One query of a panel. `columns` lists the result columns the SQL promises (checked by the tests)."""

    sql: str
    format: Format = "table"
    columns: tuple[str, ...] = ()
    ref_id: str = "A"

    datasource = DATASOURCE

    def to_json(self) -> dict[str, Any]:
        return {"refId": self.ref_id, "datasource": dict(DATASOURCE), "rawSql": self.sql.strip(),
                "format": self.format, "rawQuery": True, "editorMode": "code"}


@dataclass(frozen=True)
class PromTarget:
    """One PromQL query. `instant` for stats and tables (the value now), else a range over the time picker."""

    expr: str
    legend: str = ""
    instant: bool = False
    ref_id: str = "A"

    datasource = PROM_DATASOURCE

    def to_json(self) -> dict[str, Any]:
        return {"refId": self.ref_id, "datasource": dict(PROM_DATASOURCE), "expr": self.expr.strip(),
                "legendFormat": self.legend or "__auto", "instant": self.instant, "range": not self.instant,
                "editorMode": "code"}


@dataclass(frozen=True)
class Panel:
    title: str
    type: Literal["timeseries", "stat", "table", "barchart", "piechart", "bargauge"]
    targets: tuple[Target, ...] | tuple[PromTarget, ...]
    w: int = 12
    h: int = 8
    description: str = ""
    unit: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    overrides: tuple[dict[str, Any], ...] = ()
    custom: dict[str, Any] = field(default_factory=dict)
    max_data_points: int | None = None  # caps the points per series (Grafana's $__interval = range / this)

    def __post_init__(self) -> None:
        if len({t.datasource["uid"] for t in self.targets}) > 1:
            raise ValueError(f"panel {self.title!r}: all targets must use one datasource")

    def to_json(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        defaults: dict[str, Any] = {"custom": dict(self.custom)}
        if self.unit:
            defaults["unit"] = self.unit
        return {
            "id": panel_id, "type": self.type, "title": self.title, "description": self.description,
            "datasource": dict(self.targets[0].datasource if self.targets else DATASOURCE),
            "gridPos": {"x": x, "y": y, "w": self.w, "h": self.h},
            "targets": [t.to_json() for t in self.targets],
            "fieldConfig": {"defaults": defaults, "overrides": list(self.overrides)},
            "options": dict(self.options),
            **({"maxDataPoints": self.max_data_points} if self.max_data_points else {}),
        }


@dataclass(frozen=True)
class QueryVariable:
    """A multi-value, include-All variable whose options come from a query: SQL (`__value`/`__text` columns),
    or over `datasource` PROM_DATASOURCE a `label_values(...)` call. `all_value` is what All stands for
    (None: every option; for PromQL ".*", which also matches series without the label)."""

    name: str
    label: str
    sql: str
    multi: bool = True
    include_all: bool = True
    datasource: dict[str, str] = field(default_factory=lambda: dict(DATASOURCE))
    all_value: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "query", "name": self.name, "label": self.label, "datasource": dict(self.datasource),
            "query": self.sql, "definition": self.sql, "refresh": 1, "sort": 1, "regex": "", "hide": 0,
            "multi": self.multi, "includeAll": self.include_all, "allValue": self.all_value, "options": [],
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        }


@dataclass(frozen=True)
class TextVariable:
    """A free-text variable used outside SQL only (e.g. the review UI's base URL in data links)."""

    name: str
    label: str
    default: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"type": "textbox", "name": self.name, "label": self.label, "query": self.default, "hide": 0,
                "current": {"text": self.default, "value": self.default}, "options": []}


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    panels: tuple[Panel, ...]
    variables: tuple[QueryVariable | TextVariable, ...] = ()
    tags: tuple[str, ...] = ()
    description: str = ""
    time_from: str = "now-6h"
    refresh: str = "30s"

    def to_json(self) -> dict[str, Any]:
        return {
            "uid": self.uid, "title": self.title, "description": self.description,
            "tags": [TAG, *self.tags], "schemaVersion": SCHEMA_VERSION, "version": 1, "editable": True,
            "time": {"from": self.time_from, "to": "now"}, "refresh": self.refresh, "timezone": "browser",
            "graphTooltip": 1, "id": None,
            "templating": {"list": [v.to_json() for v in self.variables]},
            "links": [{"type": "dashboards", "tags": [TAG], "asDropdown": True, "title": "Jianguan",
                       "includeVars": True, "keepTime": True}],
            "panels": layout(self.panels),
        }


def layout(panels: tuple[Panel, ...]) -> list[dict[str, Any]]:
    """Place panels left to right, wrapping to a new row when the next one does not fit in 24 columns."""
    out: list[dict[str, Any]] = []
    x = y = row_h = 0
    for panel_id, panel in enumerate(panels, start=1):
        if not 0 < panel.w <= GRID_WIDTH:
            raise ValueError(f"panel {panel.title!r}: width {panel.w} is not within 1..{GRID_WIDTH}")
        if x + panel.w > GRID_WIDTH:
            x, y, row_h = 0, y + row_h, 0
        out.append(panel.to_json(panel_id, x, y))
        x += panel.w
        row_h = max(row_h, panel.h)
    return out
