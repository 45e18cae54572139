"""Dev tooling: synthetic office data (`seed*`), the RTSP camera simulator, detector accuracy scoring and
the example office's one definition (`office`).

Layering: devkit may import the domain packages (analytics, alerts, ingest, storage, reports, dashboards,
i18n) and `jianguan.config`; nothing in a domain package imports devkit, and the `jianguan` command imports
it only inside its dev commands (seed, simulate, evaluate, business inject), so a node never loads it.
"""
