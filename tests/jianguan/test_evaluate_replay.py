"""`jianguan evaluate --record/--replay` without the detector: the recording's files give back every frame as the
node handed it to the analytics, and a replay is refused where its recording is not of this library and config.
(The replay of a real recorded run against its table: tests/jianguan/test_evaluate.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import supervision as sv
from click.testing import CliRunner

from analytics.rules import ExternalEvent
from devkit.scenarios.library import build_library
from jianguan.config import parse_config
from jianguan.evaluate import format_table, replay, site_raw
from jianguan.evaluate_replay import (
    MANIFEST,
    DetectionRecorder,
    RecordingError,
    load_tape,
    manifest,
    prepare_record_dir,
)

BASE = 1_700_000_000.0


def _detections(n: int, *, pose: bool = True) -> sv.Detections:
    rng = np.random.default_rng(n)
    xy = rng.uniform(0, 500, (n, 2)).astype(np.float32)
    det = sv.Detections(xyxy=np.hstack([xy, xy + 80]), confidence=rng.uniform(0.3, 1, n).astype(np.float32),
                        class_id=np.zeros(n, dtype=int))
    det.data["class_name"] = np.array(["person"] * n, dtype=str)
    if pose:
        det.data["keypoints"] = rng.uniform(0, 500, (n, 17, 3)).astype(np.float32)
    return det


def test_a_recorded_camera_comes_back_frame_by_frame_with_its_dtypes_and_events(tmp_path: Path) -> None:
    frames = [_detections(3), _detections(0), _detections(2, pose=False), _detections(1)]
    frames[3].data["class_name"] = np.array(["cell phone"])  # another string width: another layout
    frames[3].xyxy = frames[3].xyxy.astype(np.float64)
    events = [[ExternalEvent(BASE + 0.5, "inspection", "lane", {"plate": "京A12345"})], [], [],
              [ExternalEvent(BASE + 1.5, "a", "*"), ExternalEvent(BASE + 1.5, "b", "*")]]
    recorder = DetectionRecorder()
    for i, (det, due) in enumerate(zip(frames, events, strict=True)):
        recorder.frame("cam", BASE + i * 0.2 + 0.1234567, (768, 576), det, due)
    frames[0].xyxy[:] = 0  # changed after it was recorded, as the analytics may: the recording keeps its copy
    recorder.save(tmp_path, {"format": 1})

    back = list(load_tape(tmp_path / "cameras" / "cam.npz").frames())
    assert [(ts, wh) for ts, wh, _d, _e in back] == [(BASE + i * 0.2 + 0.1234567, (768, 576)) for i in range(4)]
    assert [e for _t, _w, _d, e in back] == events
    assert float(back[0][2].xyxy.sum()) > 0
    for (_ts, _wh, got, _e), want in zip(back, [_detections(3), *frames[1:]], strict=True):
        for name in ("xyxy", "confidence", "class_id"):
            assert getattr(got, name).dtype == getattr(want, name).dtype
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
        assert got.tracker_id is None and got.mask is None
        assert sorted(got.data) == sorted(want.data)
        for key, value in want.data.items():
            assert got.data[key].dtype == value.dtype
            np.testing.assert_array_equal(got.data[key], value)


@pytest.fixture
def recording(tmp_path: Path) -> tuple[Path, list]:
    """A recording of two scenarios with nobody in them, made without the detector."""
    chosen = [s for s in build_library() if s.id in ("window-clerk-stays", "lane-record-no-vehicle")]
    raw = site_raw(chosen, {s.id: f"{s.id}.mp4" for s in chosen}, tmp_path / "run", model="yolo11n-pose.pt",
                   imgsz=640)
    config = parse_config(raw)
    recorder = DetectionRecorder()
    for cam in config.cameras:
        sc = next(s for s in chosen if s.id == cam.id)
        for i in range(int(sc.duration_s * cam.analysis_fps)):
            ts = BASE + i / cam.analysis_fps
            due = [ExternalEvent(BASE + e.t, e.kind, e.zone or "*", e.payload) for e in sc.events
                   if ts - 1 / cam.analysis_fps < BASE + e.t <= ts]
            recorder.frame(cam.id, ts, sc.size, _detections(0), due)
    out = tmp_path / "recording"
    recorder.save(out, manifest(chosen, raw, config, model="yolo11n-pose.pt", imgsz=640, base_ts=BASE))
    return out, chosen


def test_a_recording_replays_without_detector_or_database(recording: tuple[Path, list]) -> None:
    directory, chosen = recording
    result = replay(directory, build_library())
    assert result.mode == "replay" and [o.scenario.id for o in result.outcomes] == [s.id for s in chosen]
    # Nobody in the lane when the inspection record comes: the record alone raises the alert.
    assert [(o.scenario.id, [f.rule for f in o.found]) for o in result.outcomes] == [
        ("window-clerk-stays", ["zone_unattended"]), ("lane-record-no-vehicle", ["inspection_without_vehicle"])]
    assert "replayed from recorded detections" in format_table(result)
    only = replay(directory, build_library(), patterns=["lane-*"])
    assert [o.scenario.id for o in only.outcomes] == ["lane-record-no-vehicle"]


def _refused(directory: Path, library: list | None = None, **kwargs) -> str:  # noqa: ANN003
    with pytest.raises(RecordingError) as caught:
        replay(directory, library if library is not None else build_library(), **kwargs)
    return caught.value.msgid


def test_a_replay_is_refused_without_a_recording(tmp_path: Path) -> None:
    assert _refused(tmp_path / "nothing-here").startswith("no recording in")
    result = CliRunner().invoke(_cli(), ["evaluate", "--replay", str(tmp_path / "nothing-here")])
    assert result.exit_code == 1 and str(tmp_path / "nothing-here") in result.output


def test_a_replay_is_refused_when_the_library_or_the_config_changed(recording: tuple[Path, list]) -> None:
    directory, _chosen = recording
    library = build_library()
    changed = [s.model_copy(update={"duration_s": s.duration_s + 1}) if s.id == "window-clerk-stays" else s
               for s in library]
    assert _refused(directory, changed).startswith("the scenario library changed")
    # Another library for other cases: those are not judged, the rest replays.
    assert replay(directory, changed, patterns=["lane-*"]).outcomes
    assert _refused(directory, [s for s in library if s.id != "window-clerk-stays"]).startswith(
        "the scenario library changed")

    data = json.loads((directory / MANIFEST).read_text())
    data["config"]["cameras"]["lane-record-no-vehicle"] = "0" * 16
    (directory / MANIFEST).write_text(json.dumps(data))
    assert _refused(directory).startswith("the evaluation config changed")
    assert _refused(directory, model="yolo11s-pose.pt").endswith("not {wanted}")
    assert _refused(directory, patterns=["nothing-*"]).startswith("no recorded scenario matches")
    data["format"] = 0
    (directory / MANIFEST).write_text(json.dumps(data))
    assert _refused(directory).startswith("{path} was recorded in another format")


def test_a_file_cut_short_is_refused_not_misread(recording: tuple[Path, list]) -> None:
    directory, _chosen = recording
    npz = directory / "cameras" / "lane-record-no-vehicle.npz"
    npz.write_bytes(npz.read_bytes()[:200])
    assert _refused(directory) == "{path} cannot be read: {error}"


def test_a_recording_replaces_a_recording_but_no_other_files(recording: tuple[Path, list], tmp_path: Path) -> None:
    directory, _chosen = recording
    prepare_record_dir(directory)  # a recording again: replaced
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(RecordingError):
        prepare_record_dir(tmp_path / "mine")
    result = CliRunner().invoke(_cli(), ["evaluate", "--record", str(tmp_path / "mine"), "--replay", str(directory)])
    assert result.exit_code == 2


def _cli():  # noqa: ANN202
    from jianguan.cli import cli

    return cli


@pytest.mark.timeout(900)
def test_record_and_replay_two_scenarios_end_to_end(db_dsn: str, tmp_path: Path) -> None:
    """The command as a developer runs it: the real node (detectors, database) records two small scenarios
    (one with a lane record fed to the rules, one raising a pose rule), and the replay prints their table, figure
    for figure, with neither detector nor database."""
    runner, recording = CliRunner(), tmp_path / "recording"
    only = ["--only", "lane-record-no-vehicle", "--only", "exam-helper-at-seat11"]
    full = runner.invoke(_cli(), ["evaluate", "--work-dir", str(tmp_path / "work"), *only, "--record",
                                  str(recording)], env={"JIANGUAN_DSN": db_dsn})
    assert full.exit_code == 0, full.output
    again = runner.invoke(_cli(), ["evaluate", "--replay", str(recording)], env={"JIANGUAN_DSN": "postgresql://nowhere"})
    assert again.exit_code == 0, again.output
    table = full.stdout.splitlines()
    assert table[:-1] == again.stdout.splitlines()[:-1]
    assert {line.split()[0] for line in table[1:-1]} == {"inspection_without_vehicle", "exam_seat_crowded"}
    assert "replayed from recorded detections" in again.stdout.splitlines()[-1]
