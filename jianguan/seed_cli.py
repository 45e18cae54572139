"""`jianguan seed`: fill the store with realistic synthetic data for an office (dashboards, demos, benchmarks)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from jianguan.messages import _

if TYPE_CHECKING:
    from devkit.seed import SeedSite


def site_of_file(path: Path) -> SeedSite:
    """The seeder's site (a devkit.seed.SeedSite) from a site config file. devkit is dev tooling: imported
    here, inside the dev command, never when the module loads."""
    import os

    from devkit.office import PLACEHOLDER_ENV
    from devkit.seed import site_from_config
    from jianguan.config import load_config

    return site_from_config(load_config(path, env={**PLACEHOLDER_ENV, **os.environ}))


@click.command("seed")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None,
              help="Site config whose site and cameras to use (default: the 112-camera example office).")
@click.option("--days", type=click.IntRange(1, 3650), default=30, show_default=True, help="Days of data.")
@click.option("--end", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]), default=None,
              help="End of the data, UTC (default: now). Fix it, with --seed, for identical data on every run.")
@click.option("--seed", "seed_value", type=int, default=1, show_default=True, help="Random seed.")
@click.option("--stats-every", type=click.IntRange(1, 3600), default=60, show_default=True,
              help="Seconds between camera_stats samples per camera.")
@click.option("--occupancy-every", type=click.IntRange(1, 3600), default=60, show_default=True,
              help="Seconds between occupancy samples per zone.")
@click.option("--truncate", is_flag=True, help="Empty the time-series, business and alert tables first.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path("var/pg"), show_default=True,
              help="Embedded database directory, used when JIANGUAN_DSN is not set.")
def seed(config_file: Path | None, days: int, end: datetime | None, seed_value: int, stats_every: int,
         occupancy_every: int, truncate: bool, data_dir: Path) -> None:
    """Fill the store with DAYS of synthetic office data: transactions, camera stats, occupancy, lanes, alerts."""
    from devkit.seed import office_112
    from devkit.seed import seed as run_seed
    from jianguan.config import ConfigError
    from storage import StorageConfig, migrate, redact_dsn, resolve_dsn

    try:
        site = site_of_file(config_file) if config_file else office_112()
    except ConfigError as exc:
        raise click.ClickException("; ".join(exc.problems)) from None
    dsn, embedded = resolve_dsn(StorageConfig(data_dir=data_dir))
    try:
        migrate(dsn)
        click.echo(_("seeding {dsn}: site {site}, {cameras} cameras, {days} days (seed {seed})", dsn=redact_dsn(dsn),
                     site=site.id, cameras=len(site.cameras), days=days, seed=seed_value))
        report = run_seed(dsn, site, days=days, end=end.replace(tzinfo=UTC) if end else None, seed=seed_value,
                          stats_every_s=stats_every, occupancy_every_s=occupancy_every, truncate=truncate,
                          progress=click.echo)
        rate = report.total_rows / report.seconds if report.seconds else 0.0
        click.echo(_("done: {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC, {rows} rows ({rate:,.0f} rows/s)",
                     start=report.start, end=report.end, rows=report.total_rows, rate=rate))
        from jianguan.rollups_cli import describe
        from storage.rollups import refresh_rollups  # the hourly rollups the long-range panels read

        rolled = refresh_rollups(dsn)
        click.echo(_("rollups: ") + _(", ").join(describe(r) for r in rolled))
    finally:
        if embedded is not None and embedded.started_here:
            embedded.stop()
