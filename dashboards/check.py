"""Run dashboard queries the way Grafana would, against a real database (tests and the benchmark use this)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from dashboards.macros import ALL, expand_macros
from dashboards.model import DEFAULT_MAX_DATA_POINTS


@dataclass(frozen=True)
class PanelTarget:
    dashboard_uid: str
    panel_title: str
    panel_type: str
    target: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.dashboard_uid}/{self.panel_title}/{self.target.get('refId', 'A')}"


def iter_targets(dashboards: Mapping[str, dict[str, Any]]) -> Iterator[PanelTarget]:
    """The SQL targets (PromQL ones, of the System dashboard, are run by tests/dashboards/test_system.py)."""
    for uid, dash in dashboards.items():
        for panel in dash["panels"]:
            for target in panel.get("targets", []):
                if "rawSql" in target:
                    yield PanelTarget(uid, panel["title"], panel["type"], target)


def auto_interval_s(time_from: datetime, time_to: datetime, max_data_points: int | None = None) -> int:
    """Grafana's auto interval, roughly: the range over the panel's max data points, rounded to a nice step."""
    raw = max((time_to - time_from).total_seconds() / (max_data_points or DEFAULT_MAX_DATA_POINTS), 1)
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400):
        if raw <= step:
            return step
    return 86400 * 7


def variable_options(conn: psycopg.Connection, dashboard: dict[str, Any], selection: Mapping[str, Sequence[str]],
                     time_from: datetime, time_to: datetime) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Resolve the dashboard's query variables in order, as Grafana does on load.

    Returns (selected values, all option values) per variable; a variable missing from `selection` is All.
    Each variable's query sees the variables before it (e.g. `camera` is filtered by `$site`).
    """
    selected: dict[str, list[str]] = {}
    options: dict[str, list[str]] = {}
    for var in dashboard.get("templating", {}).get("list", []):
        if var["type"] != "query":
            continue
        name = var["name"]
        sql = expand_macros(var["query"], time_from=time_from, time_to=time_to, interval_s=60,
                            variables=selected, all_values=options)
        cur = conn.execute(sql)  # type: ignore[arg-type]  # the SQL is the dashboard's own, not user input
        cols = [d.name for d in cur.description or []]
        idx = cols.index("__value") if "__value" in cols else 0
        options[name] = [str(row[idx]) for row in cur.fetchall()]
        selected[name] = list(selection.get(name, [ALL]))
    return selected, options
