"""A JSON Schema of Grafana's dashboard model (v10/v11, schemaVersion 36-41), and the checks a schema cannot
express (grid overlaps, unique refIds and panel ids, variables that SQL refers to).

Written from Grafana's documented dashboard JSON model ("JSON model" in the dashboards docs, and the
`kinds/dashboard` schema it is generated from): what Grafana needs to load a dashboard, and the fields these
dashboards use, closed (`additionalProperties: false`) where a misspelt key would silently do nothing
(dashboard, gridPos, datasource references, variables, links, field config). Panel `options` and
`fieldConfig.defaults.custom` are plugin-specific in Grafana too, so they stay open. `jsonschema` is a dev
dependency: import this module only from tests and tools.

    >>> problems({"title": "x"})[0]
    "(root): 'uid' is a required property"
"""

from __future__ import annotations

import re
from typing import Any

DATASOURCE_REF: dict[str, Any] = {
    "type": "object",
    "properties": {"type": {"type": "string", "minLength": 1}, "uid": {"type": "string", "minLength": 1}},
    "required": ["uid"],
    "additionalProperties": False,
}

GRID_POS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "x": {"type": "integer", "minimum": 0, "maximum": 23},
        "y": {"type": "integer", "minimum": 0},
        "w": {"type": "integer", "minimum": 1, "maximum": 24},
        "h": {"type": "integer", "minimum": 1},
        "static": {"type": "boolean"},
    },
    "required": ["x", "y", "w", "h"],
    "additionalProperties": False,
}

TARGET: dict[str, Any] = {
    "type": "object",
    "properties": {
        "refId": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,32}$"},
        "datasource": DATASOURCE_REF,
        "hide": {"type": "boolean"},
        # The SQL datasources' query model (grafana-postgresql-datasource).
        "rawSql": {"type": "string", "minLength": 1},
        "format": {"enum": ["table", "time_series", "logs"]},
        "rawQuery": {"type": "boolean"},
        "editorMode": {"enum": ["code", "builder"]},
        # The Prometheus datasource's query model.
        "expr": {"type": "string", "minLength": 1},
        "legendFormat": {"type": "string"},
        "instant": {"type": "boolean"},
        "range": {"type": "boolean"},
        "interval": {"type": "string"},
    },
    "required": ["refId"],
}

FIELD_CONFIG: dict[str, Any] = {
    "type": "object",
    "properties": {
        "defaults": {
            "type": "object",
            "properties": {
                "unit": {"type": "string"}, "decimals": {"type": "integer", "minimum": 0},
                "min": {"type": ["number", "null"]}, "max": {"type": ["number", "null"]},
                "displayName": {"type": "string"}, "noValue": {"type": "string"},
                "custom": {"type": "object"}, "color": {"type": "object"}, "thresholds": {"type": "object"},
                "mappings": {"type": "array"}, "links": {"type": "array"},
            },
            "additionalProperties": False,
        },
        "overrides": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "matcher": {"type": "object", "properties": {"id": {"type": "string"}, "options": {}},
                                "required": ["id"], "additionalProperties": False},
                    "properties": {"type": "array", "items": {
                        "type": "object", "properties": {"id": {"type": "string"}, "value": {}},
                        "required": ["id"], "additionalProperties": False}},
                },
                "required": ["matcher", "properties"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["defaults", "overrides"],
    "additionalProperties": False,
}

PANEL: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "type": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "datasource": DATASOURCE_REF,
        "gridPos": GRID_POS,
        "targets": {"type": "array", "items": TARGET},
        "fieldConfig": FIELD_CONFIG,
        "options": {"type": "object"},
        "transformations": {"type": "array", "items": {
            "type": "object", "properties": {"id": {"type": "string"}, "options": {"type": "object"}},
            "required": ["id", "options"]}},
        "transparent": {"type": "boolean"},
        "interval": {"type": "string"},
        "maxDataPoints": {"type": "integer", "minimum": 1},
        "timeFrom": {"type": "string"},
        "timeShift": {"type": "string"},
        "links": {"type": "array"},
        "repeat": {"type": "string"},
        "repeatDirection": {"enum": ["h", "v"]},
        "pluginVersion": {"type": "string"},
        "collapsed": {"type": "boolean"},
        "panels": {"type": "array"},
    },
    "required": ["id", "type", "title", "gridPos"],
    "additionalProperties": False,
    # Data panels need a query; a row (a section header) has none.
    "if": {"properties": {"type": {"not": {"enum": ["row", "text", "news", "dashlist"]}}}},
    "then": {"required": ["targets", "datasource"], "properties": {"targets": {"minItems": 1}}},
}

VARIABLE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"enum": ["query", "adhoc", "constant", "datasource", "interval", "textbox", "custom", "system",
                          "groupby"]},
        # Grafana refuses names starting with "__" (reserved for its globals) and non-word characters.
        "name": {"type": "string", "pattern": "^(?!__)[A-Za-z0-9_]+$"},
        "label": {"type": "string"},
        "description": {"type": "string"},
        "hide": {"enum": [0, 1, 2]},
        "skipUrlSync": {"type": "boolean"},
        "datasource": DATASOURCE_REF,
        "query": {"type": ["string", "object"]},
        "definition": {"type": "string"},
        "refresh": {"enum": [0, 1, 2]},
        "sort": {"type": "integer", "minimum": 0, "maximum": 8},
        "regex": {"type": "string"},
        "multi": {"type": "boolean"},
        "includeAll": {"type": "boolean"},
        "allValue": {"type": ["string", "null"]},
        "current": {"type": "object", "properties": {"selected": {"type": "boolean"}, "text": {}, "value": {}},
                    "additionalProperties": False},
        "options": {"type": "array"},
    },
    "required": ["type", "name"],
    "additionalProperties": False,
    "allOf": [{"if": {"properties": {"type": {"const": "query"}}},
               "then": {"required": ["datasource", "query"]}}],
}

LINK: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string"}, "type": {"enum": ["link", "dashboards"]}, "url": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}}, "asDropdown": {"type": "boolean"},
        "includeVars": {"type": "boolean"}, "keepTime": {"type": "boolean"}, "targetBlank": {"type": "boolean"},
        "icon": {"type": "string"}, "tooltip": {"type": "string"},
    },
    "required": ["title", "type"],
    "additionalProperties": False,
}

DASHBOARD: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Grafana dashboard (v10/v11 JSON model), as these dashboards use it",
    "type": "object",
    "properties": {
        "id": {"type": ["integer", "null"]},
        # Grafana: at most 40 characters, letters, digits, '-' and '_' (what the API accepts for a new uid).
        "uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "title": {"type": "string", "minLength": 1, "pattern": r"\S"},
        "description": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 50}, "uniqueItems": True},
        "schemaVersion": {"type": "integer", "minimum": 36, "maximum": 41},
        "version": {"type": "integer", "minimum": 0},
        "editable": {"type": "boolean"},
        "graphTooltip": {"enum": [0, 1, 2]},
        "timezone": {"type": "string"},
        "weekStart": {"type": "string"},
        "fiscalYearStartMonth": {"type": "integer", "minimum": 0, "maximum": 11},
        "liveNow": {"type": "boolean"},
        "refresh": {"oneOf": [{"type": "string", "pattern": r"^(|\d+[smhdwMy])$"}, {"const": False}]},
        "time": {"type": "object",
                 "properties": {"from": {"type": "string", "minLength": 1}, "to": {"type": "string", "minLength": 1}},
                 "required": ["from", "to"], "additionalProperties": False},
        "timepicker": {"type": "object"},
        "templating": {"type": "object", "properties": {"list": {"type": "array", "items": VARIABLE}},
                       "required": ["list"], "additionalProperties": False},
        "annotations": {"type": "object", "properties": {"list": {"type": "array"}}},
        "links": {"type": "array", "items": LINK},
        "panels": {"type": "array", "items": PANEL},
    },
    "required": ["uid", "title", "schemaVersion", "panels", "time", "templating"],
    "additionalProperties": False,
}

_GLOBALS = re.compile(r"^__")
_REFERENCE = re.compile(r"\$(\w+)|\$\{(\w+)(?::[^}]+)?\}|\[\[(\w+)(?::\w+)?\]\]")


def problems(dashboard: dict[str, Any]) -> list[str]:
    """Every way `dashboard` breaks the schema or the model's rules; empty when it is valid."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(DASHBOARD)
    out = [f"{e.json_path.removeprefix('$.') if e.path else '(root)'}: {e.message}"
           for e in sorted(validator.iter_errors(dashboard), key=lambda e: list(map(str, e.path)))]
    if out:
        return out  # the checks below assume the shape is right
    return _grid_overlaps(dashboard["panels"]) + _unique_ids(dashboard) + _variable_references(dashboard)


def _grid_overlaps(panels: list[dict[str, Any]]) -> list[str]:
    out = []
    for i, a in enumerate(panels):
        pa = a["gridPos"]
        if pa["x"] + pa["w"] > 24:
            out.append(f"panel {a['title']!r}: x + w = {pa['x'] + pa['w']} exceeds the 24-column grid")
        for b in panels[i + 1:]:
            pb = b["gridPos"]
            if pa["x"] < pb["x"] + pb["w"] and pb["x"] < pa["x"] + pa["w"] and \
                    pa["y"] < pb["y"] + pb["h"] and pb["y"] < pa["y"] + pa["h"]:
                out.append(f"panels {a['title']!r} and {b['title']!r} overlap")
    return out


def _unique_ids(dashboard: dict[str, Any]) -> list[str]:
    out = []
    ids = [p["id"] for p in dashboard["panels"]]
    if len(ids) != len(set(ids)):
        out.append(f"panel ids are not unique: {sorted(ids)}")
    for panel in dashboard["panels"]:
        refs = [t["refId"] for t in panel.get("targets", [])]
        if len(refs) != len(set(refs)):
            out.append(f"panel {panel['title']!r}: refIds are not unique: {refs}")
    names = [v["name"] for v in dashboard["templating"]["list"]]
    if len(names) != len(set(names)):
        out.append(f"variable names are not unique: {names}")
    return out


def _variable_references(dashboard: dict[str, Any]) -> list[str]:
    """Every `$var` in a query (panel or variable) names a variable defined before it, or a Grafana global."""
    out = []
    defined: list[str] = []
    for var in dashboard["templating"]["list"]:
        query = var.get("query")
        if isinstance(query, str):
            out += [f"variable {var['name']!r}: {m}" for m in _unknown(query, defined)]
        defined.append(var["name"])
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            out += [f"panel {panel['title']!r}/{target['refId']}: {m}"
                    for m in _unknown(target.get("rawSql") or target.get("expr", ""), defined)]
    return out


def _unknown(text: str, defined: list[str]) -> list[str]:
    names = {next(g for g in m.groups() if g) for m in _REFERENCE.finditer(text)}
    return [f"unknown variable ${n}" for n in sorted(names) if not _GLOBALS.match(n) and n not in defined]
