"""`jianguan events ...`: the lane-sensor and business-transaction intake (serve, CSV import, schemas)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import click

DEFAULT_SCHEMA_DIR = Path("docs/schemas")


@click.group()
def events() -> None:
    """Lane-sensor events and business transactions: intake service, CSV import, JSON schemas."""


@events.command("serve")
@click.option("--config", "config_file", required=True, type=click.Path(path_type=Path),
              help="Site config; its `events:` and `storage:` sections are used.")
def serve(config_file: Path) -> None:
    """Run the HTTP intake API and the MQTT lane-sensor subscriber until interrupted."""
    from ingest.events.service import EventService, IntakeConfigError
    from jianguan.config import load_config
    from jianguan.metrics import intake_families, serve_role_metrics
    from storage import migrate, redact_dsn, resolve_dsn

    cfg = load_config(config_file)
    spool_dir = cfg.events.spool_dir or cfg.paths.data_dir / "events-spool"
    dsn, embedded = resolve_dsn(cfg.storage)
    try:
        migrate(dsn)
        try:
            service = EventService(cfg.events, dsn, spool_dir)
        except IntakeConfigError as exc:
            raise click.ClickException(str(exc)) from None
        signal.signal(signal.SIGTERM, lambda *_: service.stop())
        h, m = cfg.events.http, cfg.events.mqtt
        click.echo(f"event intake for site {cfg.site.id}: database {redact_dsn(dsn)}, spool {spool_dir}")
        if h.enabled:
            click.echo(f"  HTTP  http://{h.host}:{h.port}/api/v1/lane-events, /api/v1/transactions (bearer token)")
        if m is not None:
            click.echo(f"  MQTT  {m.host}:{m.port} topic {m.topic} (QoS 1, client id {m.client_id})")
        metrics = serve_role_metrics(cfg.metrics, "events", lambda: intake_families(service.intake))
        try:
            service.run()
        finally:
            if metrics is not None:
                metrics.shutdown()
        i = service.intake
        click.echo(f"stopped: {dict(i.counts)}; replayed from spool: {dict(i.replayed)}; "
                   f"batches still spooled: {i.pending()}")
    finally:
        if embedded is not None and embedded.started_here:
            embedded.stop()


@events.command("import-csv")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--site", "site_id", required=True, help="Site id the transactions belong to.")
@click.option("--tz", default="Asia/Shanghai", show_default=True, help="Zone of times written without an offset.")
@click.option("--encoding", default="utf-8-sig", show_default=True,
              help="File encoding (gb18030 for exports from Chinese Windows systems).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path("var/pg"), show_default=True,
              help="Embedded database directory, used when JIANGUAN_DSN is not set.")
@click.option("--batch", "batch_size", default=500, show_default=True, type=click.IntRange(1, 10_000))
def import_csv_cmd(file: Path, site_id: str, tz: str, encoding: str, data_dir: Path, batch_size: int) -> None:
    """Import queue-system transactions from a CSV FILE; prints a summary. Rows already imported count as
    duplicates, so a file can be imported again safely. Exit status is non-zero only when FILE cannot be read."""
    import codecs
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from psycopg_pool import ConnectionPool

    from ingest.events import EventStore, Intake, StoreUnavailable
    from ingest.events.csvimport import CsvFileError, import_csv
    from storage import StorageConfig, migrate, resolve_dsn

    try:
        ZoneInfo(tz)
        codecs.lookup(encoding)
    except (ZoneInfoNotFoundError, ValueError, LookupError) as exc:
        raise click.UsageError(f"bad --tz or --encoding: {exc}") from None
    if not file.is_file() or not os.access(file, os.R_OK):  # before any database is started or touched
        click.echo(f"error: {file}: cannot read (not a readable file)", err=True)
        sys.exit(2)
    dsn, embedded = resolve_dsn(StorageConfig(data_dir=data_dir))
    try:
        migrate(dsn)
        with ConnectionPool(dsn, min_size=1, max_size=1, open=True) as pool:
            intake = Intake(EventStore(pool))  # no spool: if the database goes, stop and say so

            def progress(summary, done: int, size: int) -> None:
                pct = f"{100 * done / size:.0f}%" if size else "100%"
                click.echo(f"  ... {pct}: {summary.rows} rows ({summary.accepted} new, {summary.rejected} rejected)",
                           err=True)

            try:
                s = import_csv(file, intake, site_id, tz=tz, encoding=encoding, batch_size=batch_size,
                               progress=progress)
            except CsvFileError as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(2)
            except StoreUnavailable as exc:
                click.echo(f"error: {exc}; rows stored so far are kept, run the import again", err=True)
                sys.exit(1)
        if s.accepted or s.updated:
            # On TimescaleDB the hourly business aggregate's policy only refreshes the last 7 days: imported
            # history must be refreshed now or it never shows there (issue 15). Plain PostgreSQL: views, cheap.
            from storage.rollups import refresh_rollups

            refresh_rollups(dsn)
    finally:
        if embedded is not None and embedded.started_here:
            embedded.stop()
    click.echo(f"{file}: {s.rows} rows: {s.accepted} accepted, {s.updated} updated, {s.duplicate} duplicates, "
               f"{s.rejected} rejected")
    for reason, n in s.reasons.most_common():
        click.echo(f"  rejected {n}: {reason}")
    if s.ignored_columns:
        click.echo(f"  ignored columns: {', '.join(s.ignored_columns)}")
    if s.rejected:
        click.echo("  rejected rows are kept in the dead_letters table with their line number")


@events.command("schemas")
@click.argument("out_dir", type=click.Path(path_type=Path), default=DEFAULT_SCHEMA_DIR)
def schemas(out_dir: Path) -> None:
    """Write the JSON Schema files of the intake messages to OUT_DIR (default docs/schemas)."""
    from ingest.events.schemas import write_schemas

    for path in write_schemas(out_dir):
        click.echo(str(path))
