"""`jianguan models ...`: export YOLO weights to ONNX / OpenVINO (about 2x faster on CPU) and show where models live."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import click

from i18n import N_
from jianguan.messages import _


@click.group()
def models() -> None:
    """Detector models: export, list."""


@models.command("export")
@click.argument("model", default="yolo11n-pose.pt")
@click.option("--format", "fmt", type=click.Choice(["onnx", "openvino"]), default="onnx", show_default=True)
@click.option("--imgsz", type=int, default=640, show_default=True, help="input size the export is made for")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="where the export goes (default: the model cache, ~/.cache/jianguan/models)")
@click.option("--compare/--no-compare", default=True, show_default=True, help="time torch vs the export")
@click.option("--best", is_flag=True, help="export to ONNX and OpenVINO, time torch and both on this machine, and "
              "make the fastest the runtime of MODEL wherever a detector names it (runtime: auto)")
def export_cmd(model: str, fmt: str, imgsz: int, out_dir: Path | None, compare: bool, best: bool) -> None:
    """Export MODEL (a .pt path or a built-in name) with Ultralytics, offline; print the path and speeds.

    Use the printed path as `model:` of a `kind: yolo` detector, with the same `imgsz`; or pass --best once
    per machine and keep naming the .pt.
    """
    from analytics.detectors import ModelError, model_dir, resolve_model

    if imgsz % 32:
        raise click.BadParameter(_("must be a multiple of 32, got {imgsz}", imgsz=imgsz), param_hint="--imgsz")
    source = resolve_model(model)
    if source.suffix != ".pt":
        raise ModelError(N_("export needs a .pt checkpoint, got {name}"), name=source.name)
    out_dir = out_dir or model_dir()
    if not best:
        staged, path = _export(source, fmt, imgsz, out_dir)
        if compare:
            _compare(staged, path, imgsz)
        return
    exports = {f: _export(source, f, imgsz, out_dir)[1] for f in ("onnx", "openvino")}
    _choose_best(source, exports)


def _export(source: Path, fmt: str, imgsz: int, out_dir: Path) -> tuple[Path, Path]:
    """(the staged .pt, the export) of `source` in `fmt` at `imgsz`, made with Ultralytics offline."""
    from analytics.detectors import ModelError

    out_dir.mkdir(parents=True, exist_ok=True)
    # Ultralytics writes the export beside its input: copy the weights into the cache first (a built-in
    # model lives inside site-packages), named by size so exports for 320 and 640 can sit side by side.
    staged = out_dir / f"{source.stem}-{imgsz}.pt"
    if not staged.exists() or staged.stat().st_size != source.stat().st_size:
        shutil.copy2(source, staged)
    click.echo(_("exporting {model} to {fmt} at {imgsz} px (offline) ...", model=source.name, fmt=fmt, imgsz=imgsz))
    from ultralytics import YOLO

    t0 = time.monotonic()
    try:
        # dynamic: one export serves batches and crops of any size (the node runs zone crops at their scale)
        extra = {"simplify": True} if fmt == "onnx" else {}
        result = YOLO(str(staged)).export(format=fmt, imgsz=imgsz, dynamic=True, verbose=False, **extra)
    except Exception as exc:  # Ultralytics raises many types; one line for the user
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(N_("export to {fmt} failed: {error}"), fmt=fmt, error=first) from exc
    path = Path(result)
    click.echo(_("exported in {seconds:.0f} s: {path}", seconds=time.monotonic() - t0, path=path))
    return staged, path


def _time(path: Path, images: list, sizes: list[int], rounds: int = 5) -> float:
    """Milliseconds per input, one input at a time (as the node runs a camera's crops), after a warm-up."""
    from analytics.config import YoloConfig
    from analytics.detectors import YoloDetector

    det = YoloDetector(YoloConfig(model=str(path), runtime="torch"))
    for image, size in zip(images, sizes, strict=True):
        det.detect([image], sizes=[size])  # warm-up: a runtime may prepare each shape once
    t0 = time.perf_counter()
    for _round in range(rounds):
        for image, size in zip(images, sizes, strict=True):
            det.detect([image], sizes=[size])
    return (time.perf_counter() - t0) / (rounds * len(images)) * 1000


def _bus_jpg() -> Path:
    """The real photo the timings run on: the one Ultralytics ships (here, since it exports with it). Not
    devkit's picture finder: a production command never imports dev tooling."""
    from ultralytics.utils import ASSETS

    return Path(ASSETS) / "bus.jpg"


def _choose_best(source: Path, exports: dict[str, Path]) -> None:
    """Time the .pt and its exports on zone-crop-like inputs of a real frame and record the fastest."""
    import cv2

    from analytics.detectors import record_best

    image = cv2.imread(str(_bus_jpg()))
    h, w = image.shape[:2]
    # the sizes zone crops come in (a region at its scale), from small to a whole frame at 640
    images = [image[: h // 2, : w // 2], image[: h // 2], image, image]
    sizes = [256, 384, 480, 640]
    times = {"torch": _time(source, images, sizes)}
    for fmt, path in exports.items():
        times[fmt] = _time(path, images, sizes)
    for runtime, ms in times.items():
        click.echo(_("  {runtime:<9} {ms:6.1f} ms per input (crops of 256-640 px)", runtime=runtime, ms=ms))
    winner = min(times, key=times.__getitem__)
    chosen = source if winner == "torch" else exports[winner]
    record_best(source, chosen, {k: round(v, 2) for k, v in times.items()})
    click.echo(_("fastest here: {winner}; detectors naming {model} use {chosen} (runtime: auto)", winner=winner,
                 model=source.name, chosen=chosen.name))


def _compare(pt: Path, export: Path, imgsz: int, frames: int = 10) -> None:
    """Milliseconds per frame of the .pt and of its export on a real photo, same size, one frame at a time."""
    import cv2

    from analytics.config import YoloConfig
    from analytics.detectors import YoloDetector

    image = cv2.imread(str(_bus_jpg()))
    for label, path in (("torch", pt), (export.suffix.lstrip(".") or "openvino", export)):
        det = YoloDetector(YoloConfig(model=str(path), imgsz=imgsz))
        det.detect([image])  # warm-up
        t0 = time.perf_counter()
        for _frame in range(frames):
            found = det.detect([image])[0]
        ms = (time.perf_counter() - t0) / frames * 1000
        click.echo(_("  {runtime:<9} {ms:6.1f} ms/frame at {imgsz} px ({n} people on bus.jpg)", runtime=label, ms=ms,
                     imgsz=imgsz, n=len(found)))


@models.command("list")
def list_cmd() -> None:
    """Models in the cache and whether NanoDet has been built."""
    from analytics.detectors import model_dir

    root = model_dir()
    click.echo(_("model cache: {path}", path=root))
    nanodet = root / "nanodet-m.onnx"
    state = _("present") if nanodet.is_file() else _("missing (run scripts/build_nanodet.sh)")
    click.echo(f"  nanodet-m.onnx: {state}")
    if root.is_dir():
        for p in sorted(root.iterdir()):
            if p.suffix == ".onnx" and p.name != "nanodet-m.onnx" or p.name.endswith("_openvino_model"):
                click.echo(f"  {p.name}")
