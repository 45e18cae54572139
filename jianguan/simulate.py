"""`jianguan simulate`: serve simulated RTSP cameras (real footage, looped) for a site or a count.

Registered in `jianguan.cli` with `cli.add_command(simulate)`.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import click

from jianguan.messages import _


def cameras_of_config(file: Path) -> tuple[list[str], str | None, str | None, int | None]:
    """Camera ids of a site config, and the user, password and port its rtsp:// streams expect
    (taken from the first stream that names them; the password is the one filled from the environment)."""
    from jianguan.config import load_config

    cfg = load_config(file)
    user = password = None
    port = None
    for cam in cfg.cameras:
        for url in (cam.streams.detect, cam.streams.record):
            if not url or not url.startswith("rtsp://"):
                continue
            parts = urlsplit(url)
            if user is None and parts.username:
                user, password = unquote(parts.username), unquote(parts.password or "")
            if port is None and parts.port:
                port = parts.port
    return [c.id for c in cfg.cameras], user, password, port


@click.command("simulate")
@click.option("--cameras", "count", type=click.IntRange(1, 2000), default=None,
              help="Serve this many cameras, cam-001 .. cam-NNN.")
@click.option("--config", "config_file", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="Serve the camera ids of this site config (user, password and port from its rtsp:// URLs).")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="TCP port (default: the config's, else 8554; 0 picks a free one).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--fps", type=click.FloatRange(1, 30), default=10.0, show_default=True, help="Frame rate served.")
@click.option("--user", default=None, help="Require basic auth with this user.")
@click.option("--password-env", default="JIANGUAN_SIM_PASSWORD", show_default=True,
              help="Environment variable holding the password for --user.")
@click.option("--source", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="Footage to loop (default: Debian opencv-doc's vtest.avi).")
def simulate(count: int | None, config_file: Path | None, port: int | None, host: str, fps: float,
             user: str | None, password_env: str, source: Path | None) -> None:
    """Serve simulated cameras over RTSP: rtsp://HOST:PORT/<id>/main (768x576) and /<id>/sub (640x360),
    H.264 from real footage, until interrupted."""
    from devkit.simulator import DEFAULT_SOURCE, SimulatorError, start_simulator

    if (count is None) == (config_file is None):
        raise click.UsageError(_("give exactly one of --cameras N or --config FILE"))
    password = None
    cfg_port = None
    if config_file is not None:
        ids, cfg_user, cfg_password, cfg_port = cameras_of_config(config_file)
        if user is None and cfg_user:
            user, password = cfg_user, cfg_password
    else:
        width = max(3, len(str(count)))
        ids = [f"cam-{i:0{width}d}" for i in range(1, count + 1)]
    if user is not None and password is None:
        password = os.environ.get(password_env)
        if not password:
            raise click.UsageError(_("--user needs a password in the environment variable {env}", env=password_env))
    port = port if port is not None else (cfg_port or 8554)
    try:
        handle = start_simulator(ids, port, host=host, fps=fps, user=user, password=password,
                                 source=source or DEFAULT_SOURCE)
    except SimulatorError as exc:
        click.echo(_("error: {message}", message=exc), err=True)
        sys.exit(1)
    auth = _(" (basic auth, user {user})", user=user) if user else ""
    click.echo(_("serving {n} cameras on rtsp://{host}:{port}/<id>/main|sub at {fps:g} fps{auth}", n=len(ids),
                 host=host, port=handle.port, fps=fps, auth=auth))
    for cam in ids[:5]:
        click.echo(f"  {handle.url(cam, 'main', credentials=False)}  {handle.url(cam, 'sub', credentials=False)}")
    if len(ids) > 5:
        click.echo(_("  ... {n} more, up to {last}", n=len(ids) - 5, last=ids[-1]))
    click.echo(_("Ctrl-C stops."))
    signal.signal(signal.SIGTERM, lambda *_: handle.stop())
    # Ctrl-C (SIGINT) stops it even when started from a background job, which inherits SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = handle.wait()
    except KeyboardInterrupt:
        handle.stop()
        return
    if code not in (0, -signal.SIGTERM):
        click.echo(_("error: {message}", message=_("the RTSP server exited with status {code}", code=code)),
                   err=True)
        sys.exit(1)
