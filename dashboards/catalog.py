"""The dashboards. Every query filters by the `$site`/`$camera` variables and the time picker
(`$__timeFilter`), and works the same on plain PostgreSQL and on TimescaleDB (same table names)."""

from __future__ import annotations

from typing import Any

from dashboards.cluster import cluster_model
from dashboards.long_range import people_per_zone_sql, per_camera_series, stream_problems_sql
from dashboards.model import Dashboard, Panel, QueryVariable, Target, TextVariable
from dashboards.system import system_model
from i18n import DEFAULT_LOCALE, gettext

AREAS = ("window", "inspection_lane", "exam_room", "outlet", "hall", "self_service")

SITE = QueryVariable("site", "Site", "SELECT id AS __value, name AS __text FROM sites ORDER BY name")
REVIEW_URL = TextVariable("review_url", "Review UI base URL", "")
# Points per series of the per-camera and per-zone series: 112 cameras x Grafana's ~1000 default made answers of
# 80,000 rows at 90 days, most of a panel's time (issue 15); 200 points still draw a smooth line per camera.
SERIES_POINTS = 200


def _camera_variable(area: str | None = None) -> QueryVariable:
    return QueryVariable("camera", "Camera", "SELECT id AS __value, name AS __text FROM cameras "
                         f"WHERE site_id IN ($site){_area(area)} ORDER BY name")


def _area(area: str | None, alias: str = "") -> str:
    """An area condition; `area` only ever comes from AREAS in this module, never from a user."""
    if area is None:
        return ""
    if area not in AREAS:
        raise ValueError(f"unknown camera area {area!r}")
    return f" AND {alias}area = '{area}'"


def _link_override(field: str = "link") -> dict[str, Any]:
    """Makes the `link` column ('/alerts/<id>') clickable, into the review UI."""
    return {"matcher": {"id": "byName", "options": field},
            "properties": [{"id": "links", "value": [{"title": "Open in review UI",
                                                      "url": "${review_url}${__value.raw}", "targetBlank": True}]}]}


# -- reusable panels (area=None: all cameras) ---------------------------------------------------------
def open_alerts_stat(area: str | None = None) -> Panel:
    return Panel("Open alerts", "stat", (Target(f"""
SELECT count(*) AS open_alerts
FROM alerts a JOIN cameras c ON c.id = a.camera_id
WHERE a.status IN ('open', 'acknowledged') AND a.site_id IN ($site) AND a.camera_id IN ($camera){_area(area, 'c.')}
""", columns=("open_alerts",)),), w=6, h=4, description="Alerts open or acknowledged now (ignores the time range).",
        options={"colorMode": "background", "graphMode": "none"})


def alerts_in_range_stat(area: str | None = None) -> Panel:
    return Panel("Alerts in range", "stat", (Target(f"""
SELECT count(*) AS alerts
FROM alerts a JOIN cameras c ON c.id = a.camera_id
WHERE $__timeFilter(a.started_at) AND a.site_id IN ($site) AND a.camera_id IN ($camera){_area(area, 'c.')}
""", columns=("alerts",)),), w=6, h=4)


def false_alarm_stat(area: str | None = None) -> Panel:
    return Panel("False alarm rate", "stat", (Target(f"""
SELECT round(100.0 * count(*) FILTER (WHERE a.verdict = 'false_alarm')
             / nullif(count(*) FILTER (WHERE a.verdict IS NOT NULL), 0), 1) AS false_alarm_pct
FROM alerts a JOIN cameras c ON c.id = a.camera_id
WHERE $__timeFilter(a.started_at) AND a.site_id IN ($site) AND a.camera_id IN ($camera){_area(area, 'c.')}
""", columns=("false_alarm_pct",)),), w=6, h=4, unit="percent",
        description="Share of reviewed alerts in the range that auditors marked as false alarms.")


def cameras_online_stat(area: str | None = None) -> Panel:
    return Panel("Cameras online", "stat", (Target(f"""
SELECT count(*) FILTER (WHERE last.online) AS online, count(*) AS cameras
FROM cameras c
LEFT JOIN LATERAL (
    SELECT s.online FROM camera_stats s
    WHERE s.camera_id = c.id AND $__timeFilter(s.ts)
    ORDER BY s.ts DESC LIMIT 1
) last ON true
WHERE c.site_id IN ($site) AND c.id IN ($camera){_area(area, 'c.')}
""", columns=("online", "cameras")),), w=6, h=4,
        description="Cameras whose latest sample in the range says online, of all selected cameras.")


def alerts_per_rule_timeseries(area: str | None = None) -> Panel:
    return Panel("Alerts per rule", "timeseries", (Target(f"""
SELECT $__timeGroupAlias(a.started_at, $__interval), a.rule AS metric, count(*) AS alerts
FROM alerts a JOIN cameras c ON c.id = a.camera_id
WHERE $__timeFilter(a.started_at) AND a.site_id IN ($site) AND a.camera_id IN ($camera){_area(area, 'c.')}
GROUP BY 1, 2
ORDER BY 1
""", format="time_series", columns=("time", "metric", "alerts")),), custom={"drawStyle": "bars", "stacking":
                                                                             {"mode": "normal"}})


def people_per_zone_timeseries(area: str | None = None) -> Panel:
    return Panel("People per zone", "timeseries", (Target(
        people_per_zone_sql(_area(area, 'c.')), format="time_series", columns=("time", "metric", "people")),),
        unit="short", max_data_points=SERIES_POINTS,
        description="Average people counted in each zone (1 Hz samples averaged per interval; "
                    "over 24 h, whole hours from the hourly rollup occupancy_hourly).")


def latest_alerts_table(area: str | None = None, title: str = "Latest alerts") -> Panel:
    return Panel(title, "table", (Target(f"""
SELECT a.started_at AS "time", c.name AS camera, a.rule, a.zone_id AS zone, a.severity, a.status, a.verdict,
       a.title, '/alerts/' || a.id AS link
FROM alerts a JOIN cameras c ON c.id = a.camera_id
WHERE $__timeFilter(a.started_at) AND a.site_id IN ($site) AND a.camera_id IN ($camera){_area(area, 'c.')}
ORDER BY a.started_at DESC
LIMIT 200
""", columns=("time", "camera", "rule", "zone", "severity", "status", "verdict", "title", "link")),),
        w=24, h=10, overrides=(_link_override(),))


def cameras_table(area: str | None = None) -> Panel:
    return Panel("Cameras (latest sample in range)", "table", (Target(f"""
SELECT c.name AS camera, c.area, last.ts AS "time", coalesce(last.online, false) AS online,
       last.camera_fps, last.process_fps, last.detection_fps, last.skipped_fps, last.lag_s, last.reconnects
FROM cameras c
LEFT JOIN LATERAL (
    SELECT s.* FROM camera_stats s
    WHERE s.camera_id = c.id AND $__timeFilter(s.ts)
    ORDER BY s.ts DESC LIMIT 1
) last ON true
WHERE c.site_id IN ($site) AND c.id IN ($camera){_area(area, 'c.')}
ORDER BY c.name
""", columns=("camera", "area", "time", "online", "camera_fps", "process_fps", "detection_fps", "skipped_fps",
              "lag_s", "reconnects")),), w=24, h=8,
        description="A camera without a sample in the range shows as offline with empty figures.")


# -- dashboards ---------------------------------------------------------------------------------------
def supervision_overview_model() -> Dashboard:
    """The spine: what is wrong now, what happened in the range, and whether the cameras are healthy."""
    return Dashboard(
        uid="jianguan-overview", title="Jianguan · Supervision overview", tags=("overview",),
        description="Alerts, zone occupancy and camera health across the selected sites and cameras.",
        variables=(SITE, _camera_variable(), REVIEW_URL),
        panels=(open_alerts_stat(), alerts_in_range_stat(), false_alarm_stat(), cameras_online_stat(),
                alerts_per_rule_timeseries(), people_per_zone_timeseries(), latest_alerts_table(), cameras_table()),
    )


def camera_health_model() -> Dashboard:
    def per_camera(title: str, expr: str, column: str, unit: str | None = None, hourly: str = "") -> Panel:
        # `hourly`: the same figure from camera_stats_hourly (h), read for ranges over 24 h.
        return Panel(title, "timeseries", (Target(per_camera_series(expr, hourly, column), format="time_series",
                                                  columns=("time", "metric", column)),), unit=unit,
                     max_data_points=SERIES_POINTS)

    def picture(title: str, expr: str, hourly: str, column: str, unit: str, description: str) -> Panel:
        # The picture measures of analytics/health.py (migration 0008), NULL while offline (the sharpness ratio
        # and scene shift also while the baseline is learned, `changed` on the first sample). A row's measures
        # come from one health sample (jianguan/node.py health_figures) and every sample has luma_mean, so a
        # row with any measure has luma_mean: the raw rows with luma_mean and the hours with luma_samples > 0
        # give the same points, and avg(x) over those rows = sum(sum_x) / sum(x_samples) (NULL where none).
        return Panel(title, "timeseries", (Target(per_camera_series(
            expr, hourly, column, raw_where=" AND s.luma_mean IS NOT NULL", rollup_where=" AND h.luma_samples > 0"),
            format="time_series", columns=("time", "metric", column)),), unit=unit, max_data_points=SERIES_POINTS,
            description=description + " Over 24 h, from the hourly rollup camera_stats_hourly.")

    picture_now = Panel("Picture health (latest sample in range)", "table", (Target("""
SELECT c.name AS camera, c.area, last.ts AS "time", round(last.luma_mean::numeric, 1) AS brightness,
       round(last.luma_std::numeric, 1) AS contrast, round((100 * last.sharpness_ratio)::numeric, 1) AS sharpness_pct,
       round((100 * last.changed)::numeric, 3) AS changed_pct, round((100 * last.scene_shift)::numeric, 2) AS shift_pct,
       array_to_string(last.health_issues, ', ') AS issues
FROM cameras c
JOIN LATERAL (
    SELECT s.* FROM camera_stats s
    WHERE s.camera_id = c.id AND $__timeFilter(s.ts)
    ORDER BY s.ts DESC LIMIT 1
) last ON true
WHERE c.site_id IN ($site) AND c.id IN ($camera)
ORDER BY last.health_issues IS NULL, last.sharpness_ratio NULLS FIRST, c.name
""", columns=("camera", "area", "time", "brightness", "contrast", "sharpness_pct", "changed_pct", "shift_pct",
              "issues")),), w=24, h=8,
        description="Cameras with an open health incident (covered, frozen, defocus, scene moved, video loss) "
                    "first, then the least sharp. Sharpness is against the baseline learned at start; empty "
                    "figures: offline, or the baseline is still being learned.")
    # analysed_fps / needed_fps of migration 0010 (jianguan/node.py): under 100 % the node falls behind. The
    # node writes both together and needed_fps > 0 (it divides by it), so the rows with analysed_fps are those
    # analysed_share_samples counts.
    analysis = Panel("Analysis against need", "timeseries", (Target(per_camera_series(
        "round(avg(s.analysed_fps / nullif(s.needed_fps, 0))::numeric, 3)",
        "round((sum(h.sum_analysed_share) / sum(h.analysed_share_samples))::numeric, 3)", "analysed_share",
        raw_where=" AND s.analysed_fps IS NOT NULL", rollup_where=" AND h.analysed_share_samples > 0"),
        format="time_series", columns=("time", "metric", "analysed_share")),), unit="percentunit",
        max_data_points=SERIES_POINTS,
        description="Frames analysed per second against the rate the camera's rules need. Under 100 % the "
                    "node is overloaded and drops frames (the node_overloaded health alert says so after 30 s). "
                    "Over 24 h, from the hourly rollup camera_stats_hourly.")
    reconnects = Panel("Stream problems per camera", "table", (Target(stream_problems_sql(), columns=(
        "camera", "samples", "offline_samples", "reconnects", "avg_decode_ms", "max_lag_s", "avg_skipped_fps")),),
        w=24, h=8)
    uptime = Panel("Least available cameras", "table", (Target("""
SELECT c.name AS camera, c.area,
       round((100.0 * sum(u.online_samples) / sum(u.samples))::numeric, 2) AS uptime_pct,
       sum(u.reconnects) AS reconnects, round(max(u.max_lag_s)::numeric, 1) AS max_lag_s
FROM camera_uptime_hourly u JOIN cameras c ON c.id = u.camera_id
WHERE $__timeFilter(u.bucket) AND c.site_id IN ($site) AND u.camera_id IN ($camera)
GROUP BY c.name, c.area
ORDER BY uptime_pct, reconnects DESC, c.name
LIMIT 20
""", columns=("camera", "area", "uptime_pct", "reconnects", "max_lag_s")),), w=24, h=8,
        description="Share of stats samples online per camera, from the hourly view camera_uptime_hourly "
                    "(a continuous aggregate on TimescaleDB).")
    return Dashboard(
        uid="jianguan-camera-health", title="Jianguan · Camera health", tags=("cameras",),
        description="Frame rates, lag, offline time and reconnects per camera (Frigate-style stats), and the "
                    "picture checks: brightness, sharpness, frozen picture, scene moved.",
        variables=(SITE, _camera_variable()),
        panels=(cameras_online_stat(),
                per_camera("Processed fps", "round(avg(s.process_fps)::numeric, 2)", "process_fps",
                           hourly="round((sum(h.sum_process_fps) / sum(h.samples))::numeric, 2)"),
                per_camera("Detection fps", "round(avg(s.detection_fps)::numeric, 2)", "detection_fps",
                           hourly="round((sum(h.sum_detection_fps) / sum(h.samples))::numeric, 2)"),
                per_camera("Lag", "round(max(s.lag_s)::numeric, 2)", "lag_s", unit="s",
                           hourly="round(max(h.max_lag_s)::numeric, 2)"),
                per_camera("Offline share", "round(100.0 * avg(CASE WHEN s.online THEN 0 ELSE 1 END), 1)",
                           "offline_pct", unit="percent",
                           hourly="round(100.0 * (sum(h.samples - h.online_samples) / sum(h.samples)), 1)"),
                analysis, reconnects, uptime, cameras_table(), picture_now,
                picture("Brightness", "round(avg(s.luma_mean)::numeric, 1)",
                        "round((sum(h.sum_luma_mean) / sum(h.luma_samples))::numeric, 1)", "brightness", "none",
                        "Mean grey level 0-255 of the picture; near 0 (or a flat picture) is covered or black."),
                picture("Sharpness vs. baseline", "round(avg(s.sharpness_ratio)::numeric, 3)",
                        "round((sum(h.sum_sharpness_ratio) / nullif(sum(h.sharpness_samples), 0))::numeric, 3)",
                        "sharpness_ratio", "percentunit", "Sharpness against the baseline learned at start; a "
                        "sustained drop below the defocus ratio (40 % by default) is a defocused or fogged lens."),
                picture("Picture change", "round(avg(s.changed)::numeric, 5)",
                        "round((sum(h.sum_changed) / nullif(sum(h.changed_samples), 0))::numeric, 5)", "changed",
                        "percentunit",
                        "Share of pixels that changed between health samples; ~0 for a long time is a frozen "
                        "picture."),
                picture("Scene shift", "round(max(s.scene_shift)::numeric, 4)",
                        "round(max(h.max_scene_shift)::numeric, 4)", "scene_shift", "percentunit",
                        "Shift of the view against the reference scene, share of the width; a lasting shift "
                        "means the camera was moved.")),
    )


def alerts_review_model() -> Dashboard:
    pending = Panel("Awaiting review", "table", (Target("""
SELECT a.started_at AS "time", c.name AS camera, a.rule, a.zone_id AS zone, a.severity, a.status,
       round(extract(epoch from now() - a.started_at) / 60) AS age_min, '/alerts/' || a.id AS link
FROM alerts a JOIN cameras c ON c.id = a.camera_id
WHERE a.verdict IS NULL AND a.status <> 'closed' AND a.site_id IN ($site) AND a.camera_id IN ($camera)
ORDER BY a.severity = 'critical' DESC, a.severity = 'major' DESC, a.started_at
LIMIT 500
""", columns=("time", "camera", "rule", "zone", "severity", "status", "age_min", "link")),), w=24, h=10,
        description="Alerts without a verdict, most severe and oldest first (ignores the time range).",
        overrides=(_link_override(),))
    verdicts = Panel("Verdicts per rule", "table", (Target("""
SELECT a.rule, count(*) AS alerts,
       count(*) FILTER (WHERE a.verdict = 'confirmed') AS confirmed,
       count(*) FILTER (WHERE a.verdict = 'false_alarm') AS false_alarm,
       count(*) FILTER (WHERE a.verdict = 'needs_follow_up') AS needs_follow_up,
       count(*) FILTER (WHERE a.verdict IS NULL) AS pending
FROM alerts a
WHERE $__timeFilter(a.started_at) AND a.site_id IN ($site) AND a.camera_id IN ($camera)
GROUP BY a.rule
ORDER BY alerts DESC, a.rule
""", columns=("rule", "alerts", "confirmed", "false_alarm", "needs_follow_up", "pending")),), w=12)
    reviewers = Panel("Reviewer activity", "table", (Target("""
SELECT e.actor, count(*) AS actions, count(DISTINCT e.alert_id) AS alerts, max(e.at) AS last_action
FROM alert_events e JOIN alerts a ON a.id = e.alert_id
WHERE $__timeFilter(e.at) AND a.site_id IN ($site) AND a.camera_id IN ($camera)
GROUP BY e.actor
ORDER BY actions DESC, e.actor
""", columns=("actor", "actions", "alerts", "last_action")),), w=12)
    by_severity = Panel("Alerts by severity", "timeseries", (Target("""
SELECT $__timeGroupAlias(a.started_at, $__interval), a.severity AS metric, count(*) AS alerts
FROM alerts a
WHERE $__timeFilter(a.started_at) AND a.site_id IN ($site) AND a.camera_id IN ($camera)
GROUP BY 1, 2
ORDER BY 1
""", format="time_series", columns=("time", "metric", "alerts")),), w=24,
        custom={"drawStyle": "bars", "stacking": {"mode": "normal"}})
    return Dashboard(
        uid="jianguan-alerts-review", title="Jianguan · Alerts for review", tags=("alerts",),
        description="The auditors' queue: alerts without a verdict link straight into the review UI.",
        variables=(SITE, _camera_variable(), REVIEW_URL),
        panels=(open_alerts_stat(), alerts_in_range_stat(), false_alarm_stat(), cameras_online_stat(),
                pending, verdicts, reviewers, by_severity, latest_alerts_table(title="All alerts in range")),
    )


def business_volume_model() -> Dashboard:
    per_type = Panel("Transactions per business type", "timeseries", (Target("""
SELECT $__timeGroupAlias(t.queued_at, $__interval), t.business_type AS metric, count(*) AS transactions
FROM transactions t
WHERE $__timeFilter(t.queued_at) AND t.site_id IN ($site)
GROUP BY 1, 2
ORDER BY 1
""", format="time_series", columns=("time", "metric", "transactions")),),
        custom={"drawStyle": "bars", "stacking": {"mode": "normal"}})
    wait = Panel("Average wait", "timeseries", (Target("""
SELECT $__timeGroupAlias(t.queued_at, $__interval), t.business_type AS metric,
       round(avg(t.wait_s)::numeric, 1) AS wait_s
FROM transactions t
WHERE $__timeFilter(t.queued_at) AND t.site_id IN ($site) AND t.wait_s IS NOT NULL
GROUP BY 1, 2
ORDER BY 1
""", format="time_series", columns=("time", "metric", "wait_s")),), unit="s")
    windows = Panel("Per window", "table", (Target("""
SELECT t.window_id AS "window", count(*) AS transactions, count(DISTINCT t.staff_id) AS staff,
       round(avg(t.wait_s)::numeric, 1) AS avg_wait_s,
       round((percentile_cont(0.9) WITHIN GROUP (ORDER BY t.wait_s))::numeric, 1) AS p90_wait_s,
       round(avg(t.handle_s)::numeric, 1) AS avg_handle_s
FROM transactions t
WHERE $__timeFilter(t.queued_at) AND t.site_id IN ($site)
GROUP BY t.window_id
ORDER BY t.window_id
""", columns=("window", "transactions", "staff", "avg_wait_s", "p90_wait_s", "avg_handle_s")),), w=24)
    totals = Panel("Transactions in range", "stat", (Target("""
SELECT count(*) AS transactions, round(avg(t.wait_s)::numeric, 1) AS avg_wait_s
FROM transactions t
WHERE $__timeFilter(t.queued_at) AND t.site_id IN ($site)
""", columns=("transactions", "avg_wait_s")),), w=24, h=4)
    service_level = Panel("Finished within 30 minutes", "timeseries", (Target("""
SELECT $__timeGroupAlias(v.bucket, $__interval), v.business_type AS metric,
       round((100.0 * sum(v.within_target) / nullif(sum(v.finished), 0))::numeric, 1) AS within_target_pct
FROM business_volume_hourly v
WHERE $__timeFilter(v.bucket) AND v.site_id IN ($site)
GROUP BY 1, 2
ORDER BY 1
""", format="time_series", columns=("time", "metric", "within_target_pct")),), unit="percent",
        description="Share of finished tickets done within 30 min of queueing (wait + handling), per business "
                    "type, from the hourly view business_volume_hourly.")
    return Dashboard(
        uid="jianguan-business", title="Jianguan · Business volume", tags=("business",),
        description="Queue-system transactions: volume per business type, waits and handling times per window.",
        variables=(SITE,), panels=(totals, per_type, wait, service_level, windows),
    )


def inspection_lanes_model() -> Dashboard:
    events = Panel("Lane events per kind", "timeseries", (Target("""
SELECT $__timeGroupAlias(e.ts, $__interval), e.kind AS metric, count(*) AS events
FROM lane_events e
WHERE $__timeFilter(e.ts) AND e.site_id IN ($site)
GROUP BY 1, 2
ORDER BY 1
""", format="time_series", columns=("time", "metric", "events")),))
    lanes = Panel("Inspections per lane", "table", (Target("""
SELECT i.lane_id AS lane, count(*) AS inspections,
       count(*) FILTER (WHERE i.finished_at IS NULL) AS unfinished,
       round(avg(extract(epoch from i.finished_at - i.started_at)) / 60, 1) AS avg_minutes,
       count(DISTINCT i.inspector_id) AS inspectors
FROM inspections i
WHERE $__timeFilter(i.started_at) AND i.site_id IN ($site)
GROUP BY i.lane_id
ORDER BY i.lane_id
""", columns=("lane", "inspections", "unfinished", "avg_minutes", "inspectors")),))
    inspectors = Panel("Inspections per inspector", "table", (Target("""
SELECT coalesce(i.inspector_id, '(unknown)') AS inspector, count(*) AS inspections,
       round(avg(extract(epoch from i.finished_at - i.started_at)) / 60, 1) AS avg_minutes,
       round(min(extract(epoch from i.finished_at - i.started_at)) / 60, 1) AS min_minutes
FROM inspections i
WHERE $__timeFilter(i.started_at) AND i.site_id IN ($site)
GROUP BY 1
ORDER BY inspections DESC, 1
""", columns=("inspector", "inspections", "avg_minutes", "min_minutes")),), w=24,
        description="Very short inspections are a classic sign of skipped checks.")
    return Dashboard(
        uid="jianguan-inspection-lanes", title="Jianguan · Inspection lanes", tags=("inspection",),
        description="Lane sensor events, inspection durations and alerts on inspection-lane cameras.",
        variables=(SITE, _camera_variable("inspection_lane"), REVIEW_URL),
        panels=(events, alerts_per_rule_timeseries("inspection_lane"), lanes, inspectors,
                latest_alerts_table("inspection_lane", "Inspection-lane alerts")),
    )


def _area_dashboard(uid: str, title: str, area: str, description: str) -> Dashboard:
    return Dashboard(
        uid=uid, title=title, tags=(area,), description=description,
        variables=(SITE, _camera_variable(area), REVIEW_URL),
        panels=(open_alerts_stat(area), alerts_in_range_stat(area), false_alarm_stat(area), cameras_online_stat(area),
                people_per_zone_timeseries(area), alerts_per_rule_timeseries(area),
                latest_alerts_table(area), cameras_table(area)),
    )


def windows_model() -> Dashboard:
    return _area_dashboard("jianguan-windows", "Jianguan · Service windows", "window",
                           "Staffing of the service windows: people in the staff zones, unattended-window alerts.")


def exam_rooms_model() -> Dashboard:
    return _area_dashboard("jianguan-exam-rooms", "Jianguan · Exam rooms", "exam_room",
                           "Exam-room occupancy and alerts (extra people, unattended rooms).")


MODELS = (supervision_overview_model, business_volume_model, inspection_lanes_model, exam_rooms_model,
          windows_model, camera_health_model, alerts_review_model)


def dashboard_models() -> dict[str, Dashboard]:
    """Every dashboard over the database as a builder object (keeps each target's promised columns), by uid.
    The System dashboard reads Prometheus instead (dashboards/system.py)."""
    out: dict[str, Dashboard] = {}
    for build in MODELS:
        dash = build()
        if dash.uid in out:
            raise ValueError(f"duplicate dashboard uid {dash.uid}")
        out[dash.uid] = dash
    return out


def supervision_overview(locale: str = DEFAULT_LOCALE) -> dict[str, Any]:
    """The spine dashboard's JSON: what is wrong now, what happened in the range, camera health."""
    return translated(supervision_overview_model().to_json(), locale)


def _text(message: str, locale: str) -> str:
    """`message` in `locale`; an empty one stays empty (gettext's "" is the catalogue's header)."""
    return gettext(message, locale) if message else message


def translated(dash: dict[str, Any], locale: str) -> dict[str, Any]:
    """A dashboard's JSON as a person reads it in `locale`: its title and description, its panels' titles and
    descriptions (the ⓘ tooltips) and its variables' labels (the catalogue: i18n/; tests/i18n checks every one
    has Chinese). The msgids are the whole English texts as built here, so a description put together in code
    is one msgid. Queries stay as written."""
    dash = {**dash, "title": _text(dash["title"], locale), "description": _text(dash.get("description", ""), locale),
            "panels": [{**p, "title": _text(p["title"], locale), "description": _text(p.get("description", ""), locale)}
                       for p in dash["panels"]]}
    dash["templating"] = {**dash["templating"], "list": [
        {**v, "label": gettext(v["label"], locale)} for v in dash["templating"]["list"]]}
    return dash


# The dashboards over Prometheus (the roles' metrics endpoints) rather than the database.
PROM_MODELS = (system_model, cluster_model)


def all_dashboards(locale: str = DEFAULT_LOCALE) -> dict[str, dict[str, Any]]:
    """Every dashboard's JSON, by uid: those over the database, then those over Prometheus (PROM_MODELS),
    titled in `locale` (Chinese by default: the supervision staff's)."""
    out = {uid: dash.to_json() for uid, dash in dashboard_models().items()}
    out |= {dash.uid: dash.to_json() for dash in (build() for build in PROM_MODELS)}
    return {uid: translated(dash, locale) for uid, dash in out.items()}
