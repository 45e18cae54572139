"""The "Cluster" dashboard: what `jianguan cluster run`'s driver says about the Ray cluster (jianguan/metrics.py
`cluster_families`), for whoever runs many machines as one system.

It answers: is every camera group up, which restarted on another machine (its own died), how the cameras are
spread over the machines, whether each camera is analysed at its rate and how old its frames are, and, with
shared detection, how well the detection servers batch (inputs and calls a batch, wait, model time), how much
the groups send them and how often a group had to detect on its own machine.

Series name their site themselves (one driver runs many sites), so `$site` filters them as on the System
dashboard; the detection servers serve every site and are not filtered.
"""

from __future__ import annotations

from dashboards.model import PROM_DATASOURCE, Dashboard, Panel, PromTarget, QueryVariable

UID = "jianguan-cluster"

SITE = QueryVariable("site", "Site", "label_values(jianguan_cluster_group_up, site)",
                     datasource=dict(PROM_DATASOURCE), all_value=".*")
S = 'site=~"$site"'
RATE = "[$__rate_interval]"
# The detection servers serve every site: their panels show the servers the chosen sites' groups call.
USED = f' and on (server) group by (server) (jianguan_cluster_detect_calls_total{{{S}}})'


def _per_server(numerator: str, denominator: str) -> str:
    return (f"(sum by (server) (rate({numerator}{RATE})) / sum by (server) (rate({denominator}{RATE})))"
            f"{USED}")

STAT = {"colorMode": "background", "graphMode": "none"}


def cluster_model() -> Dashboard:
    panels = (
        Panel("Camera groups up", "stat", (
            PromTarget(f"sum(jianguan_cluster_group_up{{{S}}})", "up", instant=True),
            PromTarget(f"count(jianguan_cluster_group_up{{{S}}})", "groups", instant=True, ref_id="B")),
              w=6, h=4, options=STAT, description="Groups analysing now, of all the sites' groups."),
        Panel("Group restarts in range", "stat", (PromTarget(
            f"sum(increase(jianguan_cluster_group_restarts_total{{{S}}}[$__range]))", "restarts", instant=True),),
              w=6, h=4, options=STAT,
              description="Groups Ray restarted on another machine because theirs died; each restart also files a "
                          "camera_group_restarted alert per camera with how long it went unanalysed."),
        Panel("Cameras online", "stat", (
            PromTarget(f"sum(jianguan_cluster_camera_online{{{S}}})", "online", instant=True),
            PromTarget(f"count(jianguan_cluster_camera_online{{{S}}})", "cameras", instant=True, ref_id="B")),
              w=6, h=4, options={"graphMode": "none"}),
        Panel("Cameras per machine", "bargauge", (PromTarget(
            f"sum by (host) (jianguan_cluster_group_cameras{{{S}}} * on (site, group, host) "
            f"jianguan_cluster_group_up{{{S}}})", "{{host}}", instant=True),), w=6, h=4,
              description="Cameras analysed on each machine by running groups: after a machine dies, its cameras "
                          "show up on the others."),
        Panel("Analysed frames/s per group", "timeseries", (PromTarget(
            f"sum by (group) (rate(jianguan_cluster_camera_frames_analysed_total{{{S}}}{RATE}))", "{{group}}"),),
              description="A group's rate drops to zero while it is restarted elsewhere."),
        Panel("Cores and memory per group", "timeseries", (
            PromTarget(f"rate(jianguan_cluster_group_cpu_seconds_total{{{S}}}{RATE})", "{{group}} cores"),
            PromTarget(f"jianguan_cluster_group_memory_bytes{{{S}}} / 2^30", "{{group}} GiB", ref_id="B")),
              description="What each group's process costs its machine: the measure for sizing machines "
                          "(docs/scale.md)."),
        Panel("Worst camera lag", "timeseries", (PromTarget(
            f"topk(5, jianguan_cluster_camera_lag_seconds{{{S}}})", "{{camera}} ({{group}})"),), unit="s",
              description="Age of the newest frame read, the five oldest cameras."),
        Panel("Cameras offline", "table", (PromTarget(
            f"jianguan_cluster_camera_online{{{S}}} == 0", "{{camera}}", instant=True),),
              description="Cameras whose stream a running group cannot read."),
        Panel("Groups", "table", (
            PromTarget(f"jianguan_cluster_group_up{{{S}}}", "{{group}} on {{host}}", instant=True),
            PromTarget(f"jianguan_cluster_group_restarts_total{{{S}}}", "{{group}} restarts", instant=True,
                       ref_id="B")),
              description="Each group's machine, whether it runs, and its restarts since the driver started."),
        Panel("Shared detection: inputs and calls a batch", "timeseries", (
            PromTarget(_per_server("jianguan_detection_server_inputs_total", "jianguan_detection_server_batches_total"),
                       "{{server}} inputs"),
            PromTarget(_per_server("jianguan_detection_server_requests_total",
                                   "jianguan_detection_server_batches_total"), "{{server}} calls", ref_id="B")),
              description="How many model inputs, and how many groups' calls, each batch on a detection server "
                          "carries: above one call, batches form across groups."),
        Panel("Shared detection: wait and model time", "timeseries", (
            PromTarget(_per_server("jianguan_detection_server_wait_seconds_total",
                                   "jianguan_detection_server_requests_total"), "{{server}} wait a call"),
            PromTarget(_per_server("jianguan_detection_server_run_seconds_total",
                                   "jianguan_detection_server_batches_total"), "{{server}} model a batch", ref_id="B"),
            PromTarget(f"jianguan_cluster_detect_round_trip_seconds{{{S}}}", "{{group}} round trip", ref_id="C")),
              unit="s", description="The batching deadline (max_wait_ms) bounds the wait; the round trip adds the "
                                    "transfer of the group's model inputs."),
        Panel("Shared detection: calls by where they ran", "timeseries", (PromTarget(
            f"sum by (where) (rate(jianguan_cluster_detect_calls_total{{{S}}}{RATE}))", "{{where}}"),),
              description="local: a group detected on its own machine because its server did not answer."),
        Panel("Shared detection: sent to the servers", "timeseries", (PromTarget(
            f"sum by (group) (rate(jianguan_cluster_detect_sent_bytes_total{{{S}}}{RATE}))", "{{group}}"),),
              unit="Bps", description="Model inputs (crops scaled to the model), never full frames."),
        Panel("Detection servers up", "stat", (PromTarget(
            f"max by (server) (jianguan_detection_server_up){USED}", "{{server}}", instant=True),), w=24, h=4,
              options=STAT),
    )
    return Dashboard(UID, "Cluster", panels, variables=(SITE,), tags=("system", "cluster"), time_from="now-1h",
                     description="Camera groups, machines and shared detection of `jianguan cluster run`.")
