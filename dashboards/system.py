"""The "System" dashboard: what the roles' Prometheus endpoints say (jianguan/metrics.py), not the database.

It answers an operator's questions about the machinery rather than the office: is every role up, did the
supervisor restart one, is every camera read and analysed at the rate its rules need, does the node keep up
(drops, lag, queue, detector cost), and do alerts and pushes get through (outbox, spools).

Every query filters by `$site`, a label Prometheus adds per scrape target (docs/design.md shows the scrape
config); `$camera` narrows the per-camera panels.
"""

from __future__ import annotations

from dashboards.model import PROM_DATASOURCE, Dashboard, Panel, PromTarget, QueryVariable

UID = "jianguan-system"

SITE = QueryVariable("site", "Site", "label_values(site)", datasource=dict(PROM_DATASOURCE), all_value=".*")
CAMERA = QueryVariable("camera", "Camera", 'label_values(jianguan_camera_online{site=~"$site"}, camera)',
                       datasource=dict(PROM_DATASOURCE), all_value=".*")

S = 'site=~"$site"'
CAM = f'{S}, camera=~"$camera"'


def _per_camera(title: str, expr: str, unit: str | None = None, description: str = "") -> Panel:
    return Panel(title, "timeseries", (PromTarget(expr, "{{camera}}"),), unit=unit, description=description)


def system_model() -> Dashboard:
    panels = (
        Panel("Roles up", "stat", (PromTarget(f"sum by (role) (jianguan_role_up{{{S}}})", "{{role}}", instant=True),),
              w=8, h=4, description="1 while the supervisor (`jianguan serve`) sees the role's process running.",
              options={"colorMode": "background", "graphMode": "none"}),
        Panel("Role restarts in range", "stat", (PromTarget(
            f"sum by (role) (increase(jianguan_role_restarts_total{{{S}}}[$__range]))", "{{role}}", instant=True),),
              w=8, h=4, description="Restarts by the supervisor: a role that died (crash, kill, error) and came back.",
              options={"colorMode": "background", "graphMode": "none"}),
        Panel("Cameras online", "stat", (
            PromTarget(f"sum(jianguan_camera_online{{{S}}})", "online", instant=True),
            PromTarget(f"count(jianguan_camera_online{{{S}}})", "cameras", instant=True, ref_id="B")),
              w=8, h=4, options={"graphMode": "none"}),
        Panel("Analysed frames/s against need", "timeseries", (
            PromTarget(f"rate(jianguan_camera_frames_analysed_total{{{CAM}}}[$__rate_interval])", "{{camera}}"),
            PromTarget(f"jianguan_camera_needed_fps{{{CAM}}}", "{{camera}} needed", ref_id="B")),
              description="Each camera's analysed rate and the rate its rules need; below need, rules see less."),
        _per_camera("Dropped frames/s", f"rate(jianguan_camera_frames_dropped_total{{{CAM}}}[$__rate_interval])",
                    description="Live frames the analysis had no time for: the node is past its capacity."),
        _per_camera("Lag", f"jianguan_camera_lag_seconds{{{CAM}}}", unit="s",
                    description="Age of the newest frame read from each camera."),
        _per_camera("Analysis queue", f"jianguan_camera_queue_frames{{{CAM}}}",
                    description="Frames waiting for analysis, per camera."),
        Panel("Detector cost per frame", "timeseries", (
            PromTarget(f"jianguan_detector_frame_seconds{{{S}}}", "{{instance}}"),), unit="s"),
        _per_camera("Reconnects", f"increase(jianguan_camera_reconnects_total{{{CAM}}}[$__rate_interval])"),
        Panel("Alerts opened", "timeseries", (
            PromTarget(f"sum(increase(jianguan_alerts_opened_total{{{S}}}[$__rate_interval]))", "alerts"),
            PromTarget(f"sum(increase(jianguan_incidents_total{{{S}}}[$__rate_interval]))", "incidents",
                       ref_id="B"))),
        Panel("Pushes", "timeseries", (
            PromTarget(f"sum(rate(jianguan_pushes_delivered_total{{{S}}}[$__rate_interval]))", "delivered/s"),
            PromTarget(f"sum(rate(jianguan_push_failures_total{{{S}}}[$__rate_interval]))", "failed tries/s",
                       ref_id="B"),
            PromTarget(f"sum(rate(jianguan_pushes_dead_total{{{S}}}[$__rate_interval]))", "given up/s", ref_id="C"),
            PromTarget(f"max(jianguan_pushes_pending{{{S}}})", "pending", ref_id="D")),
              description="Outbox delivery by every role that delivers (node, business); pending is one count "
                          "for the whole outbox."),
        Panel("Waiting for the database", "timeseries", (
            PromTarget(f"sum(jianguan_alert_spool_events{{{S}}})", "alert events"),
            PromTarget(f"sum by (table) (jianguan_metric_spool_rows{{{S}}})", "{{table}} rows", ref_id="B"),
            PromTarget(f"sum(jianguan_intake_spool_batches{{{S}}})", "intake batches", ref_id="C")),
              description="What the spools hold while the database is away; all zero when it answers."),
        Panel("Intake messages/s", "timeseries", (
            PromTarget(f"sum by (status) (rate(jianguan_intake_messages_total{{{S}}}[$__rate_interval]))",
                       "{{status}}"),), w=24),
    )
    return Dashboard(UID, "System", panels, variables=(SITE, CAMERA), tags=("system",), time_from="now-1h",
                     description="Roles, cameras, analysis and the alert path, from the roles' Prometheus metrics.")
