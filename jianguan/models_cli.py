"""`jianguan models ...`: export YOLO weights to ONNX / OpenVINO (about 2x faster on CPU) and show where models live."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import click


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
def export_cmd(model: str, fmt: str, imgsz: int, out_dir: Path | None, compare: bool) -> None:
    """Export MODEL (a .pt path or a built-in name) with Ultralytics, offline; print the path and speeds.

    Use the printed path as `model:` of a `kind: yolo` detector, with the same `imgsz`.
    """
    from analytics.config import DetectorConfig
    from analytics.detectors import ModelError, YoloDetector, model_dir, resolve_model

    if imgsz % 32:
        raise click.BadParameter(f"must be a multiple of 32, got {imgsz}", param_hint="--imgsz")
    source = resolve_model(model)
    if source.suffix != ".pt":
        raise ModelError(f"export needs a .pt checkpoint, got {source.name}")
    out_dir = out_dir or model_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    # Ultralytics writes the export beside its input: copy the weights into the cache first (a built-in
    # model lives inside site-packages), named by size so exports for 320 and 640 can sit side by side.
    staged = out_dir / f"{source.stem}-{imgsz}.pt"
    if not staged.exists() or staged.stat().st_size != source.stat().st_size:
        shutil.copy2(source, staged)
    click.echo(f"exporting {source.name} to {fmt} at {imgsz} px (offline) ...")
    from ultralytics import YOLO

    t0 = time.monotonic()
    try:
        # dynamic: one export serves batches of any size (the node batches frames across cameras)
        extra = {"simplify": True} if fmt == "onnx" else {}
        result = YOLO(str(staged)).export(format=fmt, imgsz=imgsz, dynamic=True, verbose=False, **extra)
    except Exception as exc:  # Ultralytics raises many types; one line for the user
        raise ModelError(f"export to {fmt} failed: {exc}".splitlines()[0]) from exc
    path = Path(result)
    click.echo(f"exported in {time.monotonic() - t0:.0f} s: {path}")
    if compare:
        _compare(YoloDetector, DetectorConfig, staged, path, imgsz)


def _compare(detector_cls, config_cls, pt: Path, export: Path, imgsz: int, frames: int = 10) -> None:
    """Milliseconds per frame of the .pt and of its export on a real photo, same size, one frame at a time."""
    import cv2

    from analytics.detectors.accuracy import image_path

    image = cv2.imread(str(image_path("ultralytics", "assets/bus.jpg")))
    for label, path in (("torch", pt), (export.suffix.lstrip(".") or "openvino", export)):
        det = detector_cls(config_cls(model=str(path), imgsz=imgsz))
        det.detect([image])  # warm-up
        t0 = time.perf_counter()
        for _ in range(frames):
            found = det.detect([image])[0]
        ms = (time.perf_counter() - t0) / frames * 1000
        click.echo(f"  {label:<9} {ms:6.1f} ms/frame at {imgsz} px ({len(found)} people on bus.jpg)")


@models.command("list")
def list_cmd() -> None:
    """Models in the cache and whether NanoDet has been built."""
    from analytics.detectors import model_dir

    root = model_dir()
    click.echo(f"model cache: {root}")
    nanodet = root / "nanodet-m.onnx"
    click.echo(f"  nanodet-m.onnx: {'present' if nanodet.is_file() else 'missing (run scripts/build_nanodet.sh)'}")
    if root.is_dir():
        for p in sorted(root.iterdir()):
            if p.suffix == ".onnx" and p.name != "nanodet-m.onnx" or p.name.endswith("_openvino_model"):
                click.echo(f"  {p.name}")
