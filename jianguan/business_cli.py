"""`jianguan business check|run|inject` and `jianguan report daily|weekly|monthly` (issue 7)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from jianguan.messages import _

_DATA_DIR = click.option("--data-dir", type=click.Path(path_type=Path), default=Path("var/pg"), show_default=True,
                         help="Embedded database directory, used when JIANGUAN_DSN and --config give no DSN.")
_CONFIG = click.option("--config", "config_file", type=click.Path(path_type=Path), default=None,
                       help="Site config (business rules, notifiers, reports); default: built-in defaults.")


def _settings(config_file: Path | None, data_dir: Path):
    """(business, alerts, reports, storage, metrics) configs: from the site config, or the defaults."""
    from alerts import AlertsConfig
    from analytics.business import BusinessConfig
    from jianguan.config import MetricsConfig
    from reports import ReportsConfig
    from storage import StorageConfig

    if config_file is None:
        return BusinessConfig(), AlertsConfig(), ReportsConfig(), StorageConfig(data_dir=data_dir), MetricsConfig()
    from jianguan.config import load_config

    cfg = load_config(config_file)  # a ConfigError is reported by main(), one line per problem
    return cfg.business, cfg.alerts, cfg.reports, cfg.storage, cfg.metrics


def _moment(value: str | None, default: datetime) -> datetime:
    if value is None:
        return default
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(_("not an ISO date or time: {value!r}", value=value)) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("Asia/Shanghai"))


@click.group()
def business() -> None:
    """Early warning from business data: transactions, inspections, testing lines."""


@business.command("check")
@_CONFIG
@click.option("--since", default=None, help="Start (ISO date/time, local to Asia/Shanghai unless it has an offset);"
              " default: now minus business.recheck_days.")
@click.option("--until", default=None, help="End (default: now; only complete hours are judged).")
@click.option("--site", default=None, help="Only this site.")
@click.option("--dry-run", is_flag=True, help="Print the findings; record no alerts and queue no pushes.")
@_DATA_DIR
def check(config_file: Path | None, since: str | None, until: str | None, site: str | None, dry_run: bool,
          data_dir: Path) -> None:
    """Run every business rule once; findings become alerts (deduplicated) pushed to their units."""
    import psycopg
    from psycopg_pool import ConnectionPool

    from alerts.business import BusinessAlerts
    from analytics.business import run_checks
    from analytics.business.texts import explain
    from analytics.texts import rule_label, severity_label
    from i18n import cli_locale
    from storage import open_store, redact_dsn

    biz, alerts_cfg, _reports, storage_cfg, _metrics = _settings(config_file, data_dir)
    now = datetime.now(tz=UTC)
    end = _moment(until, now)
    start = _moment(since, end - timedelta(days=biz.recheck_days))
    if start >= end:
        raise click.BadParameter(_("--since must be before --until"))
    locale = cli_locale()
    store = open_store(storage_cfg, "business")
    dsn = store.dsn
    try:
        store.migrate()
        with psycopg.connect(dsn) as conn:
            report = run_checks(conn, biz, start, end, site)
        click.echo(_("{dsn}: {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC: {n} findings in {seconds:.2f} s",
                     dsn=redact_dsn(dsn), start=start, end=report.until, n=len(report.findings),
                     seconds=sum(report.seconds_by_rule.values())))
        for rule, n in sorted(report.count_by_rule().items()):
            click.echo(f"  {rule_label(rule, locale)}: {n}")
        for f in report.findings:
            click.echo(f"  - [{severity_label(f.severity, locale)}] {rule_label(f.rule, locale)} {f.source_id}: "
                       f"{explain(f, locale)}")
        if not dry_run and report.findings:
            with ConnectionPool(dsn, min_size=1, max_size=2) as pool:
                stats = BusinessAlerts(pool, alerts_cfg, biz.max_evidence_rows).record(report.findings)
            click.echo(_("alerts opened {opened}, merged into live alerts {merged}, already recorded {recorded}; "
                         "pushes queued {pushes}", opened=stats.alerts_opened, merged=stats.merged,
                         recorded=stats.already_recorded, pushes=stats.pushes))
    finally:
        store.close()


@business.command("run")
@_CONFIG
@_DATA_DIR
def run(config_file: Path | None, data_dir: Path) -> None:
    """Check on a schedule (business.check_every_min) until interrupted (SIGTERM or Ctrl-C); pushes go
    through the outbox, delivered here too, so early warnings and report links need no running node."""
    import threading

    import psycopg
    from psycopg_pool import ConnectionPool

    from alerts import OutboxWorker, build_notifier
    from alerts.business import BusinessAlerts
    from analytics.business import BusinessScheduler
    from jianguan.metrics import outbox_families, serve_role_metrics
    from jianguan.signals import stop_on_signals
    from storage import open_store

    biz, alerts_cfg, _reports, storage_cfg, metrics_cfg = _settings(config_file, data_dir)
    store = open_store(storage_cfg, "business")
    dsn = store.dsn
    stop = threading.Event()
    restore = stop_on_signals(stop)
    try:
        store.migrate()
        with ConnectionPool(dsn, min_size=1, max_size=3) as pool:
            sink = BusinessAlerts(pool, alerts_cfg, biz.max_evidence_rows)
            scheduler = BusinessScheduler(lambda: psycopg.connect(dsn), biz, sink)
            # Several workers may deliver the same outbox (a node's too): rows are claimed FOR UPDATE SKIP LOCKED.
            outbox = OutboxWorker(pool, {n.id: build_notifier(n) for n in alerts_cfg.notifiers}, alerts_cfg.retry)
            click.echo(_("checking every {minutes:g} min (Ctrl-C stops)", minutes=biz.check_every_min))
            outbox.start()
            scheduler.start()
            metrics = serve_role_metrics(metrics_cfg, "business", lambda: outbox_families(outbox))
            try:
                stop.wait()
            finally:
                if metrics is not None:
                    metrics.shutdown()
                scheduler.stop()
                outbox.stop(drain_s=10.0)
    finally:
        restore()
        store.close()


@business.command("inject")
@click.argument("days", nargs=-1, required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--site", default="office-01", show_default=True)
@click.option("--truth", type=click.Path(path_type=Path), required=True, help="Write the ground truth here (JSON).")
@_DATA_DIR
def inject_cmd(days: tuple[datetime, ...], site: str, truth: Path, data_dir: Path) -> None:
    """Plant known anomalies into a seeded database on local DAYS (demos, evaluation; never in production)."""
    import psycopg

    from devkit.seed_anomalies import inject, write_truth
    from storage import StorageConfig, resolve_dsn

    dsn, embedded = resolve_dsn(StorageConfig(data_dir=data_dir))
    try:
        with psycopg.connect(dsn) as conn:
            planted = inject(conn, site, [d.date() for d in days])
            conn.commit()
        write_truth(truth, planted)
        for i in planted:
            click.echo(f"{i.rule} at {i.source_id} from {i.started_at:%Y-%m-%d %H:%M}: {i.note}")
        click.echo(_("ground truth: {path}", path=truth))
    finally:
        if embedded is not None and embedded.started_here:
            embedded.stop()


@click.command("report")
@click.argument("kind", type=click.Choice(["daily", "weekly", "monthly"]))
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="A day inside the period (default: the last complete period).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Archive directory (default: reports.archive_dir).")
@click.option("--site", default=None, help="Site id (default: every site).")
@click.option("--no-pdf", is_flag=True, help="HTML only (no Chromium).")
@_CONFIG
@_DATA_DIR
def report(kind: str, day: datetime | None, out_dir: Path | None, site: str | None, no_pdf: bool,
           config_file: Path | None, data_dir: Path) -> None:
    """Render the KIND report (HTML + PDF with charts), archive it and push its link to the commanders."""
    import psycopg

    from reports import ReportError, default_day, publish
    from storage import open_store

    _biz, _alerts, reports_cfg, storage_cfg, _metrics = _settings(config_file, data_dir)
    store = open_store(storage_cfg, "reports")
    dsn = store.dsn
    try:
        store.migrate()
        with psycopg.connect(dsn) as conn:
            sites = [(site,)] if site else conn.execute("SELECT id FROM sites ORDER BY id").fetchall()
            if not sites:
                raise click.ClickException(_("no sites in the database (run `jianguan seed` or a node first)"))
            for (sid,) in sites:
                tz = conn.execute("SELECT timezone FROM sites WHERE id = %s", (sid,)).fetchone()
                if tz is None:
                    raise click.ClickException(_("no site {site!r} in the database", site=sid))
                target: date = day.date() if day else default_day(kind, datetime.now(ZoneInfo(tz[0])).date())
                try:
                    pub = publish(conn, sid, kind, target, reports_cfg, out_dir=out_dir, with_pdf=not no_pdf)
                except (ReportError, LookupError) as exc:
                    raise click.ClickException(str(exc)) from None
                files = f"{pub.html_path}{f', {pub.pdf_path}' if pub.pdf_path else ''}"
                click.echo(_("report {id} ({kind} {label}, {site}): {files}; sha256 {sha}…; link queued for {to}",
                             id=pub.report_id, kind=kind, label=pub.data.label, site=sid, files=files,
                             sha=(pub.pdf_sha256 or pub.html_sha256)[:16],
                             to=", ".join(pub.pushed_to) or _("nobody (no commanders or centre contacts)")))
    finally:
        store.close()
