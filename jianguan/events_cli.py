"""`jianguan events ...`: the lane-sensor and business-transaction intake (serve, CSV import, schemas)."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

import click

from jianguan.messages import _

DEFAULT_SCHEMA_DIR = Path("docs/schemas")
log = logging.getLogger(__name__)


@click.group()
def events() -> None:
    """Lane-sensor events and business transactions: intake service, CSV import, JSON schemas."""


@events.command("serve")
@click.option("--config", "config_file", required=True, type=click.Path(path_type=Path),
              help="Site config; its `events:` and `storage:` sections are used.")
def serve(config_file: Path) -> None:
    """Run the HTTP intake API and the MQTT lane-sensor subscriber until interrupted."""
    from ingest.events.scope import Scope
    from ingest.events.service import EventService, IntakeConfigError
    from jianguan.config import load_config
    from jianguan.metrics import intake_families, serve_role_metrics
    from storage import open_store, redact_dsn

    cfg = load_config(config_file)
    spool_dir = cfg.events.spool_dir or cfg.paths.data_dir / "events-spool"
    store = open_store(cfg.storage, "intake")
    dsn = store.dsn
    try:
        store.migrate()
        try:
            service = EventService(cfg.events, dsn, spool_dir, Scope(cfg.site.id, frozenset(cfg.lane_ids())))
        except IntakeConfigError as exc:
            raise click.ClickException(str(exc)) from None
        signal.signal(signal.SIGTERM, lambda *_: service.stop())
        h, m = cfg.events.http, cfg.events.mqtt
        click.echo(_("event intake for site {site}: database {dsn}, spool {spool}", site=cfg.site.id,
                     dsn=redact_dsn(dsn), spool=spool_dir))
        if h.enabled:
            click.echo(_("  HTTP  http://{host}:{port}/api/v1/lane-events, /api/v1/transactions (bearer token)",
                         host=h.host, port=h.port))
        if m is not None:
            click.echo(_("  MQTT  {host}:{port} topic {topic} (QoS 1, client id {client})", host=m.host, port=m.port,
                         topic=m.topic, client=m.client_id))
        metrics = serve_role_metrics(cfg.metrics, "events", lambda: intake_families(service.intake))
        try:
            service.run()
        finally:
            if metrics is not None:
                metrics.shutdown()
        i = service.intake
        click.echo(_("stopped: {counts}; replayed from spool: {replayed}; batches still spooled: {pending}",
                     counts=dict(i.counts), replayed=dict(i.replayed), pending=i.pending()))
    finally:
        store.close()


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
    from storage import StorageConfig, open_store

    try:
        ZoneInfo(tz)
        codecs.lookup(encoding)
    except (ZoneInfoNotFoundError, ValueError, LookupError) as exc:
        raise click.UsageError(_("bad --tz or --encoding: {error}", error=exc)) from None
    if not file.is_file() or not os.access(file, os.R_OK):  # before any database is started or touched
        click.echo(_("error: {message}", message=_("{file}: cannot read (not a readable file)", file=file)), err=True)
        sys.exit(2)
    store = open_store(StorageConfig(data_dir=data_dir), "intake")
    dsn = store.dsn
    try:
        store.migrate()
        with ConnectionPool(dsn, min_size=1, max_size=1, open=True) as pool:
            intake = Intake(EventStore(pool))  # no spool: if the database goes, stop and say so

            def progress(summary, done: int, size: int) -> None:
                pct = f"{100 * done / size:.0f}%" if size else "100%"
                click.echo(_("  ... {pct}: {rows} rows ({new} new, {rejected} rejected)", pct=pct, rows=summary.rows,
                             new=summary.accepted, rejected=summary.rejected), err=True)

            try:
                s = import_csv(file, intake, site_id, tz=tz, encoding=encoding, batch_size=batch_size,
                               progress=progress)
            except CsvFileError as exc:
                click.echo(_("error: {message}", message=exc), err=True)
                sys.exit(2)
            except StoreUnavailable as exc:
                kept = _("; rows stored so far are kept, run the import again")
                click.echo(_("error: {message}", message=exc) + kept, err=True)
                sys.exit(1)
        if s.accepted or s.updated:
            # On TimescaleDB the hourly business aggregate's policy only refreshes the last 7 days: imported
            # history must be refreshed now or it never shows there (issue 15). Plain PostgreSQL: views, cheap.
            from storage.rollups import refresh_rollups

            if store.owner_dsn is not None:  # only the owner may refresh an aggregate (storage/roles.py)
                refresh_rollups(store.owner_dsn)
            else:
                log.warning("imported history reaches the hourly aggregates at the next `jianguan db "
                            "refresh-rollups`, run with the owner's JIANGUAN_DSN")
    finally:
        store.close()
    click.echo(_("{file}: {rows} rows: {accepted} accepted, {updated} updated, {duplicate} duplicates, "
                 "{rejected} rejected", file=file, rows=s.rows, accepted=s.accepted, updated=s.updated,
                 duplicate=s.duplicate, rejected=s.rejected))
    for reason, n in s.reasons.most_common():
        click.echo(_("  rejected {n}: {reason}", n=n, reason=reason))
    if s.ignored_columns:
        click.echo(_("  ignored columns: {columns}", columns=", ".join(s.ignored_columns)))
    if s.rejected:
        click.echo(_("  rejected rows are kept in the dead_letters table with their line number"))


@events.command("schemas")
@click.argument("out_dir", type=click.Path(path_type=Path), default=DEFAULT_SCHEMA_DIR)
def schemas(out_dir: Path) -> None:
    """Write the JSON Schema files of the intake messages to OUT_DIR (default docs/schemas)."""
    from ingest.events.schemas import write_schemas

    for path in write_schemas(out_dir):
        click.echo(str(path))
