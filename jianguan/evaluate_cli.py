"""`jianguan evaluate`: precision, recall and alert delay per rule on the labelled scenario library."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import click

from jianguan.messages import _, error_text


class _RealVariants(click.Choice):
    """--variant's choices, the degraded copies of jianguan.evaluate_real, read when the option is parsed or
    shown: importing that module with this one would load devkit's scenario library into every `jianguan`
    command, the node's `run` included, and devkit is for the dev commands only (docs/design.md)."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        from jianguan.evaluate_real import VARIANTS

        return tuple(sorted(VARIANTS))

    @choices.setter
    def choices(self, _value: object) -> None:  # click.Choice.__init__ assigns them; the property answers
        pass


@click.command("evaluate")
@click.option("--work-dir", type=click.Path(path_type=Path), default=Path("var/evaluation"), show_default=True,
              help="Rendered scenarios (cached), sprites, the embedded database and the run's evidence.")
@click.option("--only", "patterns", multiple=True, help="Scenario id pattern (glob), repeatable.")
@click.option("--model", default="yolo11n-pose.pt", show_default=True, help="Person/pose weights.")
@click.option("--imgsz", default=640, show_default=True, type=int, help="Detector input size.")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None,
              help="Also write per-rule scores and per-scenario outcomes as JSON.")
@click.option("--list", "list_only", is_flag=True, help="List the scenarios and exit.")
@click.option("--via-rtsp", is_flag=True, help="Serve each scenario as a live camera from the RTSP simulator and "
              "analyse the streams in real time (costs each scenario's duration, batch by batch).")
@click.option("--rtsp-batch", type=click.IntRange(1, 64), default=2, show_default=True,
              help="With --via-rtsp: scenarios served and analysed at once (as many as the machine keeps up with).")
@click.option("--real", is_flag=True, help="Judge the rules on the real-footage set (devkit/scenarios/real: people's "
              "positions read by eye) and its degraded copies, instead of the scenario library.")
@click.option("--variant", "variants", multiple=True, type=_RealVariants(),
              help="With --real: the copies to judge (repeatable); default all.")
@click.option("--crops", type=click.Choice(["zones", "full", "roi"]), default=None,
              help="With --real: what the detector looks at (default: the detector's own, zones for YOLO).")
@click.option("--record", "record_dir", type=click.Path(path_type=Path), default=None,
              help="Also keep every analysed frame's detections (and the events fed to the rules) in this folder, "
              "for --replay.")
@click.option("--replay", "replay_dir", type=click.Path(path_type=Path), default=None,
              help="Judge the rules again on the detections recorded with --record: tracking, zones, rules and "
              "alerts as the node runs them, without detector or database (the whole library in under a minute).")
@click.pass_context
def evaluate_cmd(ctx: click.Context, work_dir: Path, patterns: tuple[str, ...], model: str, imgsz: int,
                 json_out: Path | None, list_only: bool, via_rtsp: bool, rtsp_batch: int, real: bool,
                 variants: tuple[str, ...], crops: str | None, record_dir: Path | None, replay_dir: Path | None
                 ) -> None:
    """Run the real pipeline on every labelled scenario and print, per rule, precision, recall and delay."""
    if record_dir is not None or replay_dir is not None:
        if record_dir is not None and replay_dir is not None:
            raise click.UsageError(_("--record and --replay cannot be used together"))
        if real or via_rtsp:
            # A live run's frames depend on timing and the real set keeps its own cache (jianguan/evaluate_real.py).
            raise click.UsageError(_("--record and --replay are for the scenario library, not with --real or "
                                     "--via-rtsp"))
    if replay_dir is not None and not list_only:
        _replay(ctx, replay_dir, patterns, model, imgsz, json_out)
        return
    if real:
        _evaluate_real(work_dir, model, imgsz, crops, variants, json_out)
        return
    from devkit.scenarios.library import build_library
    from jianguan.evaluate import evaluate, format_table
    from jianguan.evaluate_replay import RecordingError
    from storage import StorageConfig, migrate, resolve_dsn

    library = build_library()
    chosen = [s for s in library if not patterns or any(fnmatch.fnmatch(s.id, p) for p in patterns)]
    if not chosen:
        raise click.UsageError(f"no scenario matches {', '.join(patterns)}; see `jianguan evaluate --list`")
    if list_only:
        for s in chosen:
            click.echo(f"{s.id:<40} {s.kind:<9} {','.join(sorted(s.rule_names)):<28} {s.title}")
        return
    if via_rtsp:
        from devkit.simulator import missing_reason

        why = missing_reason()
        if why is not None:
            raise click.UsageError(f"--via-rtsp needs the RTSP simulator: {why}")
    work_dir = work_dir.resolve()
    dsn, embedded = resolve_dsn(StorageConfig(data_dir=work_dir / "pg"))
    try:
        migrate(dsn)
        result = evaluate(chosen, work_dir, dsn, model=model, imgsz=imgsz,
                          say=lambda m: click.echo(f"  ... {m}", err=True), via_rtsp=via_rtsp, rtsp_batch=rtsp_batch,
                          record=None if record_dir is None else record_dir.resolve())
    except RecordingError as exc:
        raise click.ClickException(error_text(exc)) from None
    finally:
        if embedded is not None and embedded.started_here:
            embedded.stop()
    click.echo(format_table(result))
    if record_dir is not None:
        click.echo(_("detections recorded in {path}: `jianguan evaluate --replay {path}` judges them again",
                     path=str(record_dir)), err=True)
    if json_out is not None:
        json_out.write_text(json.dumps(to_json(result), indent=1))


def _replay(ctx: click.Context, directory: Path, patterns: tuple[str, ...], model: str, imgsz: int,
            json_out: Path | None) -> None:
    """--replay: the recorded scenarios through the analytics and alert path again, no detector, no database."""
    from devkit.scenarios.library import build_library
    from jianguan.evaluate import format_table, replay
    from jianguan.evaluate_replay import RecordingError

    # Only what was asked for is checked against the recording: the defaults are not a request.
    explicit = {name: ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
                for name in ("model", "imgsz")}
    try:
        result = replay(directory, build_library(), patterns=patterns, model=model if explicit["model"] else None,
                        imgsz=imgsz if explicit["imgsz"] else None, say=lambda m: click.echo(f"  ... {m}", err=True))
    except RecordingError as exc:
        raise click.ClickException(error_text(exc)) from None
    click.echo(format_table(result))
    if json_out is not None:
        json_out.write_text(json.dumps(to_json(result), indent=1))


def _evaluate_real(work_dir: Path, model: str, imgsz: int, crops: str | None, variants: tuple[str, ...],
                   json_out: Path | None) -> None:
    from analytics import YoloConfig
    from jianguan.evaluate_real import evaluate_real

    # No --crops: the kind's own default (zone crops for YOLO).
    detector = YoloConfig(name="pose", model=model, imgsz=imgsz, **({"crops": crops} if crops else {}))
    result = evaluate_real(work_dir.resolve() / "real", [detector], variants=variants or None,
                           say=lambda m: click.echo(f"  ... {m}", err=True))
    click.echo(result.table())
    if json_out is not None:
        json_out.write_text(json.dumps({
            "rules": {r: {"tp": s.tp, "fp": s.fp, "fn": s.fn, "precision": s.precision, "recall": s.recall}
                      for r, s in result.scores.items()},
            "copies": [{"clip": c.clip, "variant": c.variant, "fps": c.fps, "count_exact": c.count_exact,
                        "ms_per_frame": c.ms_per_frame, "crops_per_frame": c.crops_per_frame,
                        "missed": [t.__dict__ for t in c.missed],
                        "false_alarms": [f.__dict__ for f in c.false_alarms]} for c in result.copies]}, indent=1))


def to_json(result) -> dict:
    return {
        "rules": {r: {"tp": s.tp, "fp": s.fp, "fn": s.fn, "precision": s.precision, "recall": s.recall,
                      "threshold_s": s.threshold_s, "median_delay_s": s.median_delay_s, "delays_s": s.delays}
                  for r, s in result.scores.items()},
        "scenarios": [{"id": o.scenario.id, "kind": o.scenario.kind, "correct": o.correct,
                       "found": [f.__dict__ for f in o.found],
                       "missed": [t.model_dump() for t in o.missed],
                       "false_alarms": [f.__dict__ for f in o.false_alarms]} for o in result.outcomes],
        "frames": result.node.frames, "run_s": result.run_s, "render_s": result.render_s,
        "mode": result.mode, "warnings": result.warnings,
        "dropped": {cam: c.dropped for cam, c in result.node.cameras.items() if c.dropped},
    }
