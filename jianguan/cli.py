"""The `jianguan` command. Every error the user can cause ends as one line on stderr and a non-zero exit."""

from __future__ import annotations

import atexit
import contextlib
import inspect
import logging
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import click

from jianguan.messages import _, error_text

EXIT_CONFIG = 2
EXIT_RUNTIME = 1


def _fail(message: str, code: int = EXIT_RUNTIME) -> None:
    click.echo(_("error: {message}", message=message), err=True)
    sys.exit(code)


def _user_errors() -> tuple[type[BaseException], ...]:
    from alerts import DeliveryError
    from analytics import ModelError
    from dashboards import GrafanaPushError
    from ingest import ClipError, SourceError
    from storage import StorageError

    return (ModelError, SourceError, ClipError, StorageError, DeliveryError, GrafanaPushError)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what every component does.")
def cli(verbose: bool) -> None:
    """jianguan (监管): video analytics and supervision for vehicle & driver administration offices."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")


# -- config -----------------------------------------------------------------------------------------
@cli.group()
def config() -> None:
    """Check site configuration files."""


@config.command("check")
@click.argument("file", type=click.Path(path_type=Path))
def config_check(file: Path) -> None:
    """Validate FILE; print a summary, or every problem with the field it concerns."""
    from analytics.texts import area_label
    from i18n import cli_locale
    from jianguan.config import load_config

    cfg = load_config(file)  # a ConfigError is reported by main(), one line per problem
    areas = Counter(c.area for c in cfg.cameras)
    zones = sum(len(c.zones) for c in cfg.cameras)
    rules = sum(len(c.rules) for c in cfg.cameras)
    by_area = _(", ").join(f"{n} {area_label(a, cli_locale())}" for a, n in sorted(areas.items()))
    click.echo(_("ok: site {site}: {cameras} cameras ({by_area}), {zones} zones, {rules} rules", site=cfg.site.id,
                 cameras=len(cfg.cameras), by_area=by_area, zones=zones, rules=rules))


# -- database ---------------------------------------------------------------------------------------
@cli.group()
def db() -> None:
    """The PostgreSQL/TimescaleDB store (embedded when no DSN is configured)."""


@db.command("migrate")
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path("var/pg"), show_default=True,
              help="Embedded database directory, used when JIANGUAN_DSN is not set.")
def db_migrate(data_dir: Path) -> None:
    """Apply pending schema migrations."""
    from storage import StorageConfig, migrate, redact_dsn, resolve_dsn

    dsn, embedded = resolve_dsn(StorageConfig(data_dir=data_dir))
    applied = migrate(dsn)
    done = _(", ").join(applied) if applied else _("nothing (up to date)")
    click.echo(_("{dsn}: applied {migrations}", dsn=redact_dsn(dsn), migrations=done))
    if embedded is not None and embedded.started_here:
        embedded.stop()


@db.command("start")
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path("var/pg"), show_default=True)
def db_start(data_dir: Path) -> None:
    """Start the embedded PostgreSQL and print its DSN (password hidden; it is in DATA_DIR)."""
    from storage import EmbeddedPostgres, redact_dsn

    dsn = EmbeddedPostgres(data_dir).start()
    click.echo(redact_dsn(dsn))


@db.command("stop")
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path("var/pg"), show_default=True)
def db_stop(data_dir: Path) -> None:
    """Stop the embedded PostgreSQL."""
    from storage import EmbeddedPostgres

    EmbeddedPostgres(data_dir).stop()
    click.echo(_("stopped"))


# -- dashboards -------------------------------------------------------------------------------------
@cli.group()
def dashboards() -> None:
    """Grafana dashboards as code."""


@dashboards.command("export")
@click.argument("out_dir", type=click.Path(path_type=Path))
def dashboards_export(out_dir: Path) -> None:
    """Write dashboard JSON and Grafana provisioning files to OUT_DIR."""
    from dashboards import export

    for path in export(out_dir):
        click.echo(str(path))


@dashboards.command("push")
def dashboards_push() -> None:
    """Upsert the datasource and every dashboard through the Grafana HTTP API
    ($JIANGUAN_GRAFANA_URL, $JIANGUAN_GRAFANA_TOKEN)."""
    from dashboards import GrafanaPusher

    for uid in GrafanaPusher().push_all():
        click.echo(_("pushed {uid}", uid=uid))


@dashboards.command("scrape-config")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--host", default=None, help="Where Prometheus reaches the roles (default: metrics.bind).")
@click.option("--cluster", "cluster_host", default=None, metavar="HOST",
              help="Instead: the job for `jianguan cluster run` on HOST, started with FILE first (the Cluster "
                   "dashboard's data).")
def dashboards_scrape_config(file: Path, host: str | None, cluster_host: str | None) -> None:
    """Print the Prometheus scrape config for the roles of the site in FILE (the System dashboard's data):
    add it under `scrape_configs:` in prometheus.yml."""
    import yaml

    from jianguan.config import load_config
    from jianguan.metrics import cluster_scrape_config, scrape_config

    try:
        cfg = load_config(file)
        job = cluster_scrape_config(cfg, cluster_host) if cluster_host else scrape_config(cfg, host)
    except ValueError as exc:
        _fail(error_text(exc))
    click.echo(yaml.safe_dump({"scrape_configs": [job]}, sort_keys=False), nl=False)


# -- run and demo -----------------------------------------------------------------------------------
@cli.command("run")
@click.argument("file", type=click.Path(path_type=Path))
def run(file: Path) -> None:
    """Run the node for the site in FILE until interrupted (or until file sources end)."""
    from jianguan.config import load_config
    from jianguan.node import Node, preflight
    from jianguan.signals import stop_on_signals
    from storage import open_store

    cfg = load_config(file)  # a ConfigError is reported by main(), one line per problem
    checked = preflight(cfg)
    store = open_store(cfg.storage, "node")
    try:
        store.migrate()
        node = Node(cfg, store.dsn, checked=checked, progress=_print_progress)
        restore = stop_on_signals(node.stop_event)
        try:
            report = node.run()
        except KeyboardInterrupt:
            node.stop_event.set()
            raise
        finally:
            restore()
        _print_summary(report)
    finally:
        store.close()


@cli.command("demo")
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path("var/demo"), show_default=True,
              help="Where the demo keeps its database, recordings, clips and dashboards.")
@click.option("--source", type=click.Path(path_type=Path), default=None,
              help="Footage to analyse (default: Debian opencv-doc's vtest.avi).")
@click.option("--model", default=None, help="YOLO weights (default: the offline yolo11n-pose.pt).")
@click.option("--webhook-url", default=None, envvar="JIANGUAN_DEMO_WEBHOOK",
              help="Push alerts here instead of the demo's own local receiver.")
def demo(data_dir: Path, source: Path | None, model: str | None, webhook_url: str | None) -> None:
    """Run the whole path on real footage: detect, track, rule, alert, clip, push, store, dashboard."""
    from analytics.texts import rule_label
    from dashboards import export
    from i18n import cli_locale
    from jianguan.demo import DEMO_VIDEO, WebhookReceiver, demo_config, run_demo
    from jianguan.node import preflight
    from storage import StorageConfig, open_store, redact_dsn

    source = source or DEMO_VIDEO
    if not source.exists():
        _fail(_("footage not found: {source} (install Debian's opencv-doc, or pass --source)", source=source))
    # The demo's own receiver refuses the first push, so every run shows the outbox retrying.
    receiver = None if webhook_url else WebhookReceiver(fail_first=1)
    cfg = demo_config(data_dir.resolve(), webhook_url or receiver.url, source.resolve(), model)
    click.echo(_("jianguan demo: {source} -> camera {camera}, rule {rule} ({seconds:.0f} s), data in {data_dir}",
                 source=source, camera=cfg.cameras[0].name or cfg.cameras[0].id,
                 seconds=cfg.cameras[0].rules[0].seconds, rule=rule_label("zone_unattended", cli_locale()),
                 data_dir=data_dir))
    checked = preflight(cfg)
    store = open_store(StorageConfig(data_dir=data_dir / "pg"), "node")
    dsn, embedded = store.dsn, store.embedded
    try:
        applied = store.migrate()
        click.echo(_("database: {dsn} ({kind}; migrations applied: {migrations})", dsn=redact_dsn(dsn),
                     kind=_("embedded") if embedded else "JIANGUAN_DSN",
                     migrations=_(", ").join(applied) or _("none needed")))
        report = run_demo(cfg, dsn, checked=checked, progress=_print_progress, owner_dsn=store.owner_dsn)
        _print_summary(report)
        _print_alerts(dsn, report.alert_ids)
        paths = export(data_dir / "dashboards")
        click.echo(_("dashboards: {n} files in {folder}", n=len(paths), folder=data_dir / "dashboards"))
        if receiver is not None:
            click.echo(_("webhook receiver on 127.0.0.1: {n} deliveries in {attempts} attempts (it refuses the "
                         "first on purpose)", n=len(receiver.deliveries), attempts=receiver.attempts))
        if embedded is not None and embedded.started_here:
            click.echo(_("embedded PostgreSQL data: {folder} (reopen with: jianguan db start --data-dir {folder})",
                         folder=data_dir / "pg"))
    finally:
        store.close()
        if receiver is not None:
            receiver.close()


def _register() -> None:
    from jianguan.business_cli import business, report
    from jianguan.evaluate_cli import evaluate_cmd
    from jianguan.events_cli import events
    from jianguan.models_cli import models
    from jianguan.review_cli import review, users
    from jianguan.rollups_cli import refresh_rollups_command
    from jianguan.seed_cli import seed
    from jianguan.simulate import simulate

    cli.add_command(business)
    cli.add_command(report)
    cli.add_command(review)
    cli.add_command(users)
    cli.add_command(seed)
    cli.add_command(simulate)
    cli.add_command(evaluate_cmd)
    cli.add_command(events)
    cli.add_command(models)
    db.add_command(refresh_rollups_command)


_register()


@cli.command("serve")
@click.argument("file", type=click.Path(path_type=Path))
def serve(file: Path) -> None:
    """Run the roles FILE's `serve.roles` asks for (node, events, business, review) as processes under one
    supervisor that restarts any that dies; SIGTERM or Ctrl-C stops them all the orderly way. Each role's
    state: <data_dir>/serve-state.json."""
    from jianguan.config import load_config
    from jianguan.metrics import serve_role_metrics, supervisor_families
    from jianguan.signals import stop_on_signals
    from jianguan.supervisor import ROLE_KINDS, Supervisor, role_commands
    from storage import DSN_ENV, dsn_env, open_store

    cfg = load_config(file)
    store = open_store(cfg.storage)  # one database for every role, the owner's: started here if embedded
    try:
        store.migrate()
        roles = role_commands(file.resolve(), cfg.serve.roles, cfg.paths.data_dir.resolve(), cfg.serve.review_port)
        # Each role gets its own kind's DSN and not the owner's (it finds the schema migrated).
        base = {k: v for k, v in os.environ.items() if k != DSN_ENV}
        role_env = {role: {**base, dsn_env(ROLE_KINDS[role]): store.dsn_for(ROLE_KINDS[role])} for role in roles}
        supervisor = Supervisor(roles, cfg.paths.data_dir / "serve-state.json", env=base, role_env=role_env)
        restore = stop_on_signals(supervisor.stop_event)
        metrics = serve_role_metrics(cfg.metrics, "serve", lambda: supervisor_families(supervisor))
        click.echo(_("serving {roles}; state in {path}", roles=", ".join(roles), path=supervisor.state_path),
                   err=True)
        try:
            supervisor.run()
        finally:
            restore()
            if metrics is not None:
                metrics.shutdown()
    finally:
        store.close()


@cli.group("cluster")
def cluster_group() -> None:
    """Many nodes as one system, on a Ray cluster (pip install -e '.[cluster]')."""


_ADDRESS = click.option("--address", envvar="RAY_ADDRESS", default=None,
                        help="Ray cluster to join (default $RAY_ADDRESS; none: a local one-machine Ray).")


@cluster_group.command("run")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@_ADDRESS
@click.option("--every", "every_s", default=10.0, show_default=True, help="Seconds between status lines.")
def cluster_run(files: tuple[Path, ...], address: str | None, every_s: float) -> None:
    """Run the sites of FILES on a Ray cluster: camera groups placed on its machines and restarted elsewhere
    when a machine dies; each site's outbox, escalation and rollups once. SIGTERM or Ctrl-C stops it."""
    import threading

    from jianguan.cluster import ClusterMonitor, run_cluster
    from jianguan.config import load_config
    from jianguan.signals import stop_on_signals
    from storage import open_store

    configs = [load_config(f) for f in files]
    store = open_store(configs[0].storage, "node")  # one database for every site and machine
    dsn = store.dsn
    stop = threading.Event()
    restore = stop_on_signals(stop)
    try:
        store.migrate()

        def show(monitor: ClusterMonitor) -> None:
            for s in monitor.groups:
                frames = sum(c["frames"] for c in s["cameras"].values())
                click.echo(_("{group}: {state} on {host}, {cameras} cameras, {frames} frames, restarted {n}x",
                             group=s["group"], state=_state(s), host=s.get("host", "?"), cameras=len(s["cameras"]),
                             frames=frames, n=monitor.restarts.get(s["group"], 0)), err=True)
            for line in _server_lines(monitor.servers):
                click.echo(line, err=True)

        try:
            run_cluster(configs, dsn, address, stop, every_s=every_s, on_status=show)
        except RuntimeError as exc:
            _fail(error_text(exc))
    finally:
        restore()
        store.close()


@cluster_group.command("status")
@_ADDRESS
def cluster_status(address: str | None) -> None:
    """Camera groups of the running cluster (machine, cameras, frames analysed, fps and lag) and its shared
    detection servers (batches, mean batch, wait)."""
    from jianguan.cluster import NAMESPACE, group_statuses
    from jianguan.shared_detection import server_statuses

    try:
        import ray
    except ImportError:
        _fail(_("the cluster needs Ray: pip install -e '.[cluster]'"))
    ray.init(address=address or "auto", namespace=NAMESPACE, logging_level=logging.WARNING, ignore_reinit_error=True)
    for s in group_statuses():
        click.echo(f"{s['group']}  {_state(s)}  {s.get('host', '?')}")
        for cam, c in sorted(s["cameras"].items()):
            click.echo(_("  {camera}: {frames} frames, {fps} fps, lag {lag} s, {online}", camera=cam,
                         frames=c["frames"], fps=c["fps"], lag=c["lag_s"],
                         online=_("online") if c["online"] else _("offline")))
        for name, u in s.get("shared", {}).items():
            click.echo(_("  detector {name}: {calls} calls on {server} ({ms} ms round trip, {mb:.1f} MB sent), "
                         "{local} local", name=name, calls=u["remote_calls"], server=u["server"],
                         ms=u["round_trip_ms"], mb=u["bytes_sent"] / 1e6, local=u["local_calls"]))
    for line in _server_lines(server_statuses()):
        click.echo(line)


def _state(s: dict) -> str:
    """A camera group's or detection server's state: running, or down with its error."""
    return _("running") if s["running"] else _("down ({error})", error=s.get("error"))


def _server_lines(servers: list[dict]) -> list[str]:
    lines = []
    for v in servers:
        if not v["running"]:
            lines.append(f"{v['server']}  {_state(v)}")
            continue
        batches = max(1, v["batches"])
        lines.append(f"{v['server']}  {_state(v)}  " + _(
            "{model} on {device}: {batches} batches, {inputs:.1f} inputs and {calls:.1f} calls a batch, "
            "{wait:.1f} ms wait, {run:.1f} ms run, {callers} callers", model=v["model"], device=v["device"],
            batches=v["batches"], inputs=v["inputs"] / batches, calls=v["requests"] / batches,
            wait=v["wait_ms"] / max(1, v["requests"]), run=v["run_ms"] / batches, callers=v["callers"]))
    return lines


def _print_progress(report) -> None:
    parts = []
    for cam_id, c in report.cameras.items():
        total = f"/{c.expected_frames}" if c.expected_frames else ""
        parts.append(_("{camera}: {frames}{total} frames, {detections} detections", camera=cam_id,
                       frames=c.frames_analysed, total=total, detections=c.detections))
    click.echo("  ... " + _("; ").join(parts), err=True)


def _print_summary(report) -> None:
    fps = report.frames / report.wall_s if report.wall_s else 0.0
    click.echo(_("frames analysed: {frames} in {seconds:.1f} s ({fps:.1f} fps)", frames=report.frames,
                 seconds=report.wall_s, fps=fps))
    click.echo(_("detections: {n}", n=report.detections))
    failed = _(" ({n} failed)", n=report.clip_failures) if report.clip_failures else ""
    click.echo(_("incidents: {incidents}; alerts opened: {alerts}; clips: {clips}{failed}",
                 incidents=report.incidents, alerts=report.alerts, clips=report.clips, failed=failed))
    click.echo(_("pushes delivered: {n} (failed attempts retried: {failed}; still queued: {queued})",
                 n=report.deliveries, failed=report.failed_deliveries, queued=report.undelivered))


def _print_alerts(dsn: str, alert_ids: list[int]) -> None:
    """Each alert as the site's people read it: its title (in the site's language), local times."""
    import psycopg

    from i18n import local_datetime

    if not alert_ids:
        return
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT a.id, a.title, a.started_at, a.ended_at, a.snapshot_path, c.path, c.sha256, s.timezone"
            " FROM alerts a JOIN sites s ON s.id = a.site_id LEFT JOIN clips c ON c.id = a.clip_id"
            " WHERE a.id = ANY(%s) ORDER BY a.id", (alert_ids,)).fetchall()
    for alert_id, title, started, ended, snap, clip, sha, tz in rows:
        end = local_datetime(ended, tz)[11:] if ended else _("ongoing")
        click.echo(_("  Alert {id}: {title} [{start} - {end}]", id=alert_id, title=title,
                     start=local_datetime(started, tz, offset=True), end=end))
        click.echo(_("    Snapshot: {path}", path=snap))
        click.echo(_("    Clip: {path}", path=clip or "-") + (f"  sha256 {sha[:16]}…" if sha else ""))


# Libraries whose native teardown at exit may abort the process (see _end_before_native_teardown).
NATIVE_LIBRARIES = frozenset({"torch", "cv2", "openvino", "onnxruntime"})
_exit_code: list[int] = [0]


def _end_before_native_teardown() -> None:
    """The last exit handler (registered first): by now Python has joined the non-daemon threads and run every
    other handler (logging flushed, Ray and pools shut down), so the process ends here with its exit code,
    before the native libraries tear themselves down. Their C++ destructors can race their own worker threads
    ("terminate called without an active exception", SIGABRT after a node had stopped the orderly way and
    printed its summary): systemd would count that a crash and a supervisor would restart the role."""
    if not NATIVE_LIBRARIES & sys.modules.keys():
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing left to say
            stream.flush()
    os._exit(_exit_code[0])


def main() -> None:
    tempfile.tempdir = None
    atexit.register(_end_before_native_teardown)
    try:
        _main()
    except SystemExit as exc:
        code = exc.code
        _exit_code[0] = code if isinstance(code, int) else (0 if code is None else 1)
        raise
    except BaseException:
        _exit_code[0] = 1  # Python prints the traceback, then exits with 1
        raise


def _help_fields(cmd: click.Command) -> Iterator[tuple[object, str, str]]:
    """(object, attribute, text as msgid) of every help text in the command tree under `cmd`: commands'
    docstrings and options' help. The msgid is the text dedented, as `--help` prints it."""
    for obj, attr in ((cmd, "help"), (cmd, "short_help"), *((p, "help") for p in cmd.params)):
        text = getattr(obj, attr, None)
        if text:
            yield obj, attr, inspect.cleandoc(text)
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            yield from _help_fields(sub)


def help_texts() -> set[str]:
    """The msgids of `--help` (built at run time, so scripts/update_catalogue.py asks here)."""
    return {text for _, _, text in _help_fields(cli)}


def _translate_help(locale: str) -> None:
    from i18n import gettext

    for obj, attr, text in _help_fields(cli):
        setattr(obj, attr, gettext(text, locale))


def _show_click_error(exc: click.exceptions.ClickException) -> None:
    """A usage or command error in the reader's language, as one `error:` line like every other (click's own
    texts, e.g. "No such option", stay English: click ships no Chinese catalogue)."""
    if isinstance(exc, click.UsageError) and exc.ctx is not None:
        click.echo(exc.ctx.get_usage(), err=True)
        click.echo(_("Try '{command} -h' for help.", command=exc.ctx.command_path), err=True)
    click.echo(_("error: {message}", message=exc.format_message()), err=True)


def _main() -> None:
    from i18n import cli_locale

    _translate_help(cli_locale())
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        _fail(_("interrupted"), 130)
    except click.exceptions.ClickException as exc:
        _show_click_error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _fail(_("interrupted"), 130)
    except Exception as exc:  # noqa: BLE001 - the one place that turns errors into a line
        if isinstance(exc, _user_errors()):
            text = error_text(exc)
            _fail(text.splitlines()[0] if text else type(exc).__name__)
        from jianguan.config import ConfigError

        if isinstance(exc, ConfigError):
            for problem in exc.problems:
                click.echo(_("config error: {problem}", problem=problem), err=True)
            sys.exit(EXIT_CONFIG)
        raise


if __name__ == "__main__":
    main()
