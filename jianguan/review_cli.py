"""`jianguan review serve` and `jianguan users add`: the review desk and its accounts."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from jianguan.messages import _, error_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from alerts.links import LinkSigner
    from jianguan.config import SiteConfig

SESSION_ENV = "JIANGUAN_SESSION_SECRET"
PASSWORD_ENV = "JIANGUAN_USER_PASSWORD"


def _store(data_dir: Path, kind: str | None = None):
    """(DSN, embedded server) of the store, migrated: the owner's for account changes, `kind`'s role (the
    desk's for `review serve`) otherwise (storage/roles.py)."""
    from storage import StorageConfig, open_store

    store = open_store(StorageConfig(data_dir=data_dir / "pg"), kind)
    store.migrate()
    return store.dsn, store.embedded


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
    from alerts.review import add_user

    password = os.environ.get(PASSWORD_ENV) or click.prompt("password", hide_input=True,
                                                            confirmation_prompt=True)
    if role != "admin" and not sites:
        raise click.UsageError(_("non-admin users need at least one --site"))
    _change_account(data_dir, lambda conn: _(
        "user {username} ({role}; sites: {sites}) saved as id {id}", username=username, role=role,
        sites=", ".join(sites) or _("all"), id=add_user(conn, username, password, role, list(sites))))


# -- account changes: each ends every desk session of the user at once (issue 18) and lands in the audit log --

_DATA_DIR = click.option("--data-dir", type=click.Path(path_type=Path), default=Path("var/demo"), show_default=True)


def _actor() -> str:
    """Who changed an account, for the audit log: the operator's login on this machine."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (a bare container)
        return "cli"


def _change_account(data_dir: Path, change: Callable[[Any], str]) -> None:
    """Run `change(conn)` in one transaction and print what it returns; a refused change is a usage error."""
    import psycopg

    dsn, embedded = _store(data_dir)
    try:
        with psycopg.connect(dsn) as conn:
            try:
                message = change(conn)
            except ValueError as exc:
                raise click.UsageError(error_text(exc)) from None
        click.echo(message)
    finally:
        if embedded is not None and embedded.started_here:
            embedded.stop()


@users.command("passwd")
@click.argument("username")
@_DATA_DIR
def users_passwd(username: str, data_dir: Path) -> None:
    """Set USERNAME's password ($JIANGUAN_USER_PASSWORD or a prompt) and end all of their desk sessions."""
    from alerts.review.auth import set_password

    password = os.environ.get(PASSWORD_ENV) or click.prompt("password", hide_input=True,
                                                            confirmation_prompt=True)
    _change_account(data_dir, lambda conn: _(
        "password of {username} changed; {count} session(s) ended", username=username,
        count=set_password(conn, username, password, _actor())))


@users.command("role")
@click.argument("username")
@click.option("--role", type=click.Choice(["auditor", "supervisor", "commander", "admin"]), required=True)
@click.option("--site", "sites", multiple=True,
              help="Sites the user may see from now on (repeat); without it they stay as they are.")
@_DATA_DIR
def users_role(username: str, role: str, sites: tuple[str, ...], data_dir: Path) -> None:
    """Change USERNAME's role (and with --site their sites) and end all of their desk sessions."""
    from alerts.review.auth import set_role

    _change_account(data_dir, lambda conn: _(
        "{username} is now {role}; {count} session(s) ended", username=username, role=role,
        count=set_role(conn, username, role, list(sites) or None, _actor())))


@users.command("disable")
@click.argument("username")
@_DATA_DIR
def users_disable(username: str, data_dir: Path) -> None:
    """Disable USERNAME: no more logins, and all of their desk sessions end at once."""
    from alerts.review.auth import set_disabled

    _change_account(data_dir, lambda conn: _(
        "{username} disabled; {count} session(s) ended", username=username,
        count=set_disabled(conn, username, True, _actor())))


@users.command("enable")
@click.argument("username")
@_DATA_DIR
def users_enable(username: str, data_dir: Path) -> None:
    """Let a disabled USERNAME log in again."""
    from alerts.review.auth import set_disabled

    def change(conn: Any) -> str:
        set_disabled(conn, username, False, _actor())
        return _("{username} enabled", username=username)

    _change_account(data_dir, change)


@users.command("logout")
@click.argument("username")
@_DATA_DIR
def users_logout(username: str, data_dir: Path) -> None:
    """End all of USERNAME's desk sessions, on every device, without changing the account."""
    from alerts.review.auth import end_user_sessions

    _change_account(data_dir, lambda conn: _(
        "{count} session(s) of {username} ended", username=username,
        count=end_user_sessions(conn, username, _actor())))


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


def cookie_security(host: str, insecure: bool, trusted_proxies: tuple[str, ...]) -> bool | None:
    """The session cookie's Secure flag for `review serve`: True (always), False (never) or None (per request:
    on over TLS, off for plain HTTP to the loopback address, as in the README's local demo). Bound to another
    address or behind a trusted proxy the desk is reached over a network, where the cookie must be Secure."""
    from alerts.review.auth import is_loopback

    if insecure and trusted_proxies:
        raise click.UsageError(_("--insecure-cookies and --trusted-proxy exclude each other: a proxy in front "
                                 "is there for TLS"))
    if insecure:
        return False
    if trusted_proxies:
        return True
    return None if is_loopback(host) else True


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
@click.option("--insecure-cookies", is_flag=True,
              help="Send the session cookie without Secure even off 127.0.0.1: only for plain HTTP on a trusted "
                   "network (on 127.0.0.1 plain HTTP works without it).")
@click.option("--trusted-proxy", "trusted_proxies", multiple=True, metavar="ADDRESS",
              help="Address or network of the reverse proxy in front (repeat): its X-Forwarded-For names the "
                   "client; the cookie is then always Secure. Without it X-Forwarded-For is ignored.")
@click.option("--session-hours", type=click.FloatRange(min=0, min_open=True), default=12.0, show_default=True,
              help="A desk session ends this long after login, however busy.")
@click.option("--idle-minutes", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              help="A desk session ends after this long without a request.")
@click.option("--live-per-user", type=click.IntRange(min=1), default=2, show_default=True,
              help="Live views one user may have open at once.")
@click.option("--live-max", type=click.IntRange(min=1), default=8, show_default=True,
              help="Live views the desk serves at once, all users together (each costs a video encoder).")
def review_serve(data_dir: Path, host: str, port: int, config_file: Path | None, reports_dir: Path,
                 insecure_cookies: bool, trusted_proxies: tuple[str, ...], session_hours: float,
                 idle_minutes: float, live_per_user: int, live_max: int) -> None:
    """Serve the review desk. Sessions are signed with $JIANGUAN_SESSION_SECRET (random if unset)."""
    import uvicorn

    from alerts.review import create_app
    from alerts.review.auth import trusted_networks

    secure = cookie_security(host, insecure_cookies, trusted_proxies)
    try:
        trusted_networks(trusted_proxies)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--trusted-proxy") from None
    if secure is False:
        click.echo(_("note: the session cookie goes without Secure (--insecure-cookies): anyone on the network "
                     "path can copy it"), err=True)

    secret = os.environ.get(SESSION_ENV)
    if not secret:
        secret = secrets.token_urlsafe(48)
        click.echo(_("note: {env} is not set; sessions end when this process stops", env=SESSION_ENV), err=True)
    dsn, embedded = _store(data_dir, "desk")
    try:
        cfg = desk_config(data_dir, config_file)
        links = desk_links(cfg)
        live = {c.id: c.streams.detect for c in cfg.cameras}
        if config_file is not None:
            reports_dir = cfg.reports.archive_dir
        app = create_app(dsn, secret, data_dir / "evidence", secure_cookies=secure,
                         session_lifetime_s=session_hours * 3600, session_idle_s=idle_minutes * 60,
                         trusted_proxies=trusted_proxies, links=links, live_sources=live, reports_root=reports_dir,
                         live_per_user=live_per_user, live_max=live_max)
        click.echo(_("review desk on http://{host}:{port}/ (evidence from {folder})", host=host, port=port,
                     folder=data_dir / "evidence"))
        # uvicorn would believe X-Forwarded-For from 127.0.0.1 on its own: the app decides (--trusted-proxy).
        uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False)
    finally:
        if embedded is not None and embedded.started_here:
            embedded.stop()
