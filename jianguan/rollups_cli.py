"""`jianguan db refresh-rollups`: bring the hourly rollups (migration 0009) up to date."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from jianguan.messages import _

if TYPE_CHECKING:
    from storage.rollups import RollupRefresh


def describe(r: RollupRefresh) -> str:
    """One rollup's refresh as the operator reads it."""
    if r.buckets is None:
        return _("{rollup} refreshed", rollup=r.rollup)
    return _("{rollup}: {buckets} hourly rows in {ranges} range(s)", rollup=r.rollup, buckets=r.buckets,
             ranges=r.ranges)


@click.command("refresh-rollups")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]), default=None,
              help="Re-aggregate from this hour on (UTC), e.g. after a manual fix of raw rows.")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]), default=None,
              help="Materialise closed hours up to here (UTC; default: now).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path("var/pg"), show_default=True,
              help="Embedded database directory, used when JIANGUAN_DSN is not set.")
def refresh_rollups_command(start: datetime | None, end: datetime | None, data_dir: Path) -> None:
    """Materialise closed hours since the last refresh and re-aggregate hours that received late rows
    (plain PostgreSQL); refresh the continuous aggregates (TimescaleDB). Safe to run from cron."""
    from storage import StorageConfig, redact_dsn, resolve_dsn
    from storage.rollups import refresh_rollups

    dsn, embedded = resolve_dsn(StorageConfig(data_dir=data_dir))
    try:
        done = refresh_rollups(dsn, start.replace(tzinfo=UTC) if start else None,
                               end.replace(tzinfo=UTC) if end else None)
        click.echo(f"{redact_dsn(dsn)}:")
        for r in done:
            mark = _(", watermark {at:%Y-%m-%d %H:%M} UTC", at=r.watermark) if r.watermark else ""
            click.echo(f"  {describe(r)}{mark}")
    finally:
        if embedded is not None and embedded.started_here:
            embedded.stop()
