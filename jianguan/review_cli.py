"""`jianguan review serve` and `jianguan users add`: the review desk and its accounts."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import click

from jianguan.messages import _

if TYPE_CHECKING:
    from alerts.links import LinkSigner
    from jianguan.config import SiteConfig

SESSION_ENV = "JIANGUAN_SESSION_SECRET"
PASSWORD_ENV = "JIANGUAN_USER_PASSWORD"


def _store(data_dir: Path):
    from storage import StorageConfig, migrate, resolve_dsn

    dsn, embedded = resolve_dsn(StorageConfig(data_dir=data_dir / "pg"))
    migrate(dsn)
    return dsn, embedded


@click.group()
def users() -> None:
    """Accounts of the review desk (roles: auditor, supervisor, commander, admin)."""


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["auditor", "supervisor", "commander", "admin"]), required=True)
@click.option("--site", "sites", multiple=True, help="Site the user may see (repeat); admins without one see all.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path("var/demo"), show_default=True)
def users_add(username: str, role: str, sites: tuple[str, ...], data_dir: Path) -> None:
    """Create or update USERNAME. The password comes from $JIANGUAN_USER_PASSWORD or a prompt, never argv."""
    import psycopg

    from alerts.review import add_user
    from i18n import Translatable, cli_locale

    password = os.environ.get(PASSWORD_ENV) or click.prompt("password", hide_input=True,
                                                            confirmation_prompt=True)
    if role != "admin" and not sites:
        raise click.UsageError(_("non-admin users need at least one --site"))
    dsn, embedded = _store(data_dir)
    try:
        with psycopg.connect(dsn) as conn:
            try:
                user_id = add_user(conn, username, password, role, list(sites))
            except ValueError as exc:
                raise click.UsageError(exc.text(cli_locale()) if isinstance(exc, Translatable) else str(exc)) from None
        click.echo(_("user {username} ({role}; sites: {sites}) saved as id {id}", username=username, role=role,
                     sites=", ".join(sites) or _("all"), id=user_id))
    finally:
        if embedded is not None and embedded.started_here:
            embedded.stop()


def desk_config(data_dir: Path, config_file: Path | None) -> SiteConfig:
    """The site config the desk serves: FILE, or the demo's for `data_dir` (the README's commands), so the
    desk checks acknowledge links with the secret and lifetime the node signs them with: one config."""
    if config_file is not None:
        from jianguan.config import load_config

        return load_config(config_file)
    from jianguan.demo import demo_config

    return demo_config(data_dir.resolve(), webhook_url="http://127.0.0.1:9/not-used-by-the-desk")


def desk_links(cfg: SiteConfig) -> LinkSigner | None:
    """Checks acknowledge links as the site's nodes sign them (alerts.link_secret, alerts.link_ttl_h); None:
    the site pushes no such links."""
    from alerts.links import LinkSigner

    secret = cfg.alerts.link_secret
    return LinkSigner(secret.get_secret_value(), max_age_s=int(cfg.alerts.link_ttl_h * 3600)) if secret else None


@click.group()
def review() -> None:
    """The auditors' review desk (web UI)."""


@review.command("serve")
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path("var/demo"), show_default=True,
              help="Where the database and the evidence live (the demo's by default).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None,
              help="Site config whose cameras get a live view (default: the demo camera).")
@click.option("--reports-dir", type=click.Path(path_type=Path), default=Path("var/reports"), show_default=True,
              help="The report archive (reports.archive_dir) whose reports the desk may show.")
def review_serve(data_dir: Path, host: str, port: int, config_file: Path | None, reports_dir: Path) -> None:
    """Serve the review desk. Sessions are signed with $JIANGUAN_SESSION_SECRET (random if unset)."""
    import uvicorn

    from alerts.review import create_app

    secret = os.environ.get(SESSION_ENV)
    if not secret:
        secret = secrets.token_urlsafe(48)
        click.echo(_("note: {env} is not set; sessions end when this process stops", env=SESSION_ENV), err=True)
    dsn, embedded = _store(data_dir)
    try:
        cfg = desk_config(data_dir, config_file)
        links = desk_links(cfg)
        live = {c.id: c.streams.detect for c in cfg.cameras}
        if config_file is not None:
            reports_dir = cfg.reports.archive_dir
        app = create_app(dsn, secret, data_dir / "evidence", https_only=False, links=links, live_sources=live,
                         reports_root=reports_dir)
        click.echo(_("review desk on http://{host}:{port}/ (evidence from {folder})", host=host, port=port,
                     folder=data_dir / "evidence"))
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        if embedded is not None and embedded.started_here:
            embedded.stop()
