"""Dashboard JSON structure, and the files `export` writes."""

from __future__ import annotations

import json
import os

import yaml

from dashboards import DATASOURCE_UID, PROM_DATASOURCE_UID, all_dashboards, export, supervision_overview


def test_dashboards_are_well_formed():
    dashboards = all_dashboards()
    assert len(dashboards) >= 7
    assert len({d["title"] for d in dashboards.values()}) == len(dashboards)
    for uid, dash in dashboards.items():
        assert dash["uid"] == uid and len(uid) <= 40
        assert dash["schemaVersion"] == 39 and "jianguan" in dash["tags"]
        assert dash["time"]["from"].startswith("now-")
        names = [v["name"] for v in dash["templating"]["list"]]
        assert names[0] == "site" and len(names) == len(set(names))
        ids = [p["id"] for p in dash["panels"]]
        assert len(ids) == len(set(ids))
        cells = set()
        for panel in dash["panels"]:
            pos = panel["gridPos"]
            assert {"x", "y", "w", "h"} <= pos.keys() and pos["x"] >= 0 and pos["x"] + pos["w"] <= 24
            cell = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
            assert not cells & cell, f"{uid}: panel {panel['title']} overlaps another"
            cells |= cell
            assert panel["type"] in {"timeseries", "stat", "table", "barchart", "piechart", "bargauge"}
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"] == panel["datasource"]
                if panel["datasource"]["uid"] == PROM_DATASOURCE_UID:  # the System dashboard (test_system.py)
                    query = target["expr"]
                else:
                    assert panel["datasource"] == {"type": "grafana-postgresql-datasource", "uid": DATASOURCE_UID}
                    assert target["format"] in ("table", "time_series")
                    assert target["rawQuery"] is True
                    query = target["rawSql"]
                assert target["editorMode"] == "code"
                assert "$site" in query, f"{uid}/{panel['title']} ignores the site filter"
                if "$camera" in query:
                    assert "camera" in names
        for var in dash["templating"]["list"]:
            if var["type"] == "query":
                assert var["multi"] and var["includeAll"]
                assert var["datasource"]["uid"] in (DATASOURCE_UID, PROM_DATASOURCE_UID)
        json.dumps(dash)  # serialisable


def test_overview_has_the_spine_panels():
    dash = supervision_overview("en")
    assert {p["title"] for p in supervision_overview()["panels"]} >= {"未处理告警", "各规则告警"}  # zh_CN by default
    titles = {p["title"]: p for p in dash["panels"]}
    assert {"Open alerts", "Alerts per rule", "Latest alerts", "People per zone",
            "Cameras (latest sample in range)"} <= titles.keys()
    assert titles["Open alerts"]["type"] == "stat"
    assert "$__timeGroupAlias(a.started_at, $__interval)" in titles["Alerts per rule"]["targets"][0]["rawSql"]
    assert titles["Alerts per rule"]["targets"][0]["format"] == "time_series"
    assert "'/alerts/' || a.id AS link" in titles["Latest alerts"]["targets"][0]["rawSql"]
    link = titles["Latest alerts"]["fieldConfig"]["overrides"][0]
    assert link["matcher"]["options"] == "link"
    assert [v["name"] for v in dash["templating"]["list"]][:2] == ["site", "camera"]


def test_export_writes_parseable_files_without_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("JIANGUAN_GRAFANA_DB_PASSWORD", "very-secret-db-pw")
    paths = export(tmp_path, timescaledb=True)
    names = {p.relative_to(tmp_path).as_posix() for p in paths}
    assert {f"{uid}.json" for uid in all_dashboards()} | {"provisioning/dashboards/jianguan.yaml",
                                                         "provisioning/datasources/jianguan.yaml"} == names
    for path in paths:
        text = path.read_text()
        assert "very-secret-db-pw" not in text
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        assert doc
    ds, prom = yaml.safe_load((tmp_path / "provisioning/datasources/jianguan.yaml").read_text())["datasources"]
    assert ds["uid"] == DATASOURCE_UID and ds["type"] == "grafana-postgresql-datasource"
    assert ds["jsonData"]["timescaledb"] is True
    assert ds["secureJsonData"] == {"password": "$JIANGUAN_GRAFANA_DB_PASSWORD"}
    assert prom["uid"] == PROM_DATASOURCE_UID and prom["type"] == "prometheus" and "secureJsonData" not in prom
    provider = yaml.safe_load((tmp_path / "provisioning/dashboards/jianguan.yaml").read_text())["providers"][0]
    assert provider["options"]["path"] == str(tmp_path) and provider["folder"] == "Jianguan"
    assert not [p for p in tmp_path.rglob("*.tmp")]
    # Re-export overwrites in place.
    assert export(tmp_path) == paths
    ds = yaml.safe_load((tmp_path / "provisioning/datasources/jianguan.yaml").read_text())["datasources"][0]
    assert ds["jsonData"]["timescaledb"] is False
    assert os.access(paths[0], os.R_OK)


# -- Grafana's dashboard model (dashboards/schema.py, validated with jsonschema) ---------------------------
def test_every_dashboard_validates_against_the_dashboard_model():
    from dashboards.schema import problems

    for uid, dash in all_dashboards().items():
        assert problems(dash) == [], uid
        # What Grafana reads back from a file or the API is the JSON text, not the Python objects.
        assert problems(json.loads(json.dumps(dash))) == [], uid


def _broken(change) -> list[str]:
    import copy

    from dashboards.schema import problems

    dash = copy.deepcopy(supervision_overview())
    change(dash)
    return problems(dash)


def test_the_schema_and_checks_catch_broken_dashboards():
    def set_in(path, value):
        def change(dash):
            node = dash
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        return change

    cases = [
        (set_in(["uid"], "has space"), "does not match"),
        (set_in(["uid"], "x" * 41), "does not match"),
        (set_in(["title"], ""), "should be non-empty"),
        (set_in(["schemaVersion"], 12), "is less than the minimum"),
        (set_in(["refresh"], "soon"), "is not valid under any of the given schemas"),
        (set_in(["time"], {"from": "now-6h"}), "'to' is a required property"),
        (set_in(["tmie"], {}), "Additional properties are not allowed ('tmie' was unexpected)"),
        (set_in(["panels", 0, "gridPos", "w"], 25), "is greater than the maximum"),
        (set_in(["panels", 0, "gridPos", "x"], 20), "exceeds the 24-column grid"),
        (set_in(["panels", 1, "gridPos"], {"x": 3, "y": 0, "w": 6, "h": 4}), "overlap"),
        (set_in(["panels", 0, "targets"], []), "should be non-empty"),
        (set_in(["panels", 0, "datasource"], {"type": "grafana-postgresql-datasource"}), "'uid' is a required"),
        (set_in(["panels", 1, "id"], 1), "panel ids are not unique"),
        (lambda d: d["panels"][0]["targets"].append(dict(d["panels"][0]["targets"][0])), "refIds are not unique"),
        (set_in(["panels", 0, "fieldConfig", "defaults", "unti"], "s"), "('unti' was unexpected)"),
        (set_in(["templating", "list", 0, "name"], "__site"), "does not match"),
        (lambda d: d["templating"]["list"][0].pop("query"), "'query' is a required property"),
        (lambda d: d["templating"]["list"].append(dict(d["templating"]["list"][0])), "variable names are not unique"),
        (lambda d: d["templating"]["list"].pop(1), "unknown variable $camera"),
        (set_in(["panels", 0, "targets", 0, "format"], "graph"), "is not one of"),
    ]
    for change, message in cases:
        found = _broken(change)
        assert any(message in p for p in found), (message, found)
