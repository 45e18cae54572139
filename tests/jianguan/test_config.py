import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
import yaml

from jianguan.config import ConfigError, load_config, parse_config

OFFICE = Path(str(resources.files("jianguan") / "examples" / "office-112.yaml"))
ENV = {"JIANGUAN_CAMERA_PASSWORD": "s3cret", "JIANGUAN_WEBHOOK_URL": "https://hook.example/robot?key=abc",
       "JIANGUAN_WEBHOOK_SECRET": "k"}


def minimal(**camera_overrides):
    cam = {"id": "w1", "name": "Window 1", "area": "window", "streams": {"detect": "/tmp/x.mp4"},
           "zones": [{"id": "staff", "kind": "staff", "polygon": [[0, 0], [1, 0], [1, 1]]}],
           "rules": [{"type": "zone_unattended", "zone": "staff", "seconds": 30}]}
    cam.update(camera_overrides)
    return {"site": {"id": "s1", "name": "Site"}, "cameras": [cam]}


def problems(raw, env=None):
    with pytest.raises(ConfigError) as info:
        parse_config(raw, env=env or {})
    return info.value.problems


def test_office_example_has_112_cameras_and_fills_secrets_from_env():
    cfg = load_config(OFFICE, env=ENV)
    assert len(cfg.cameras) == 112
    assert {c.area for c in cfg.cameras} == {"window", "inspection_lane", "exam_room", "outlet", "hall",
                                              "self_service"}
    assert cfg.cameras[0].streams.detect.startswith("rtsp://viewer:s3cret@127.0.0.1:8554/")
    assert cfg.alerts.notifiers[0].url.get_secret_value() == ENV["JIANGUAN_WEBHOOK_URL"]
    assert "s3cret" not in repr(cfg.alerts) and "abc" not in repr(cfg.alerts)  # SecretStr hides them


def test_missing_env_var_is_named():
    (p,) = problems(yaml.safe_load(OFFICE.read_text()), env={"JIANGUAN_CAMERA_PASSWORD": "x",
                                                             "JIANGUAN_WEBHOOK_URL": "u"})
    assert "alerts.notifiers[0].hmac_secret" in p and "环境变量 JIANGUAN_WEBHOOK_SECRET 未设置" in p


def test_wrong_field_names_the_field_and_why():
    raw = minimal()
    raw["cameras"][0]["zones"][0]["polygon"] = [[0, 0], [1.5, 0], [1, 1]]
    (p,) = problems(raw)
    assert p.startswith("config：cameras[0].zones[0].polygon：") and "点 (1.5, 0.0) 超出 0..1" in p


def test_unknown_field_and_missing_field():
    raw = minimal(fps=5)
    del raw["cameras"][0]["area"]
    ps = problems(raw)
    assert "config：cameras[0].fps：未知字段（请检查拼写）" in ps
    assert "config：cameras[0].area：缺少必填项" in ps


def test_rule_must_point_at_an_existing_zone():
    raw = minimal(rules=[{"type": "zone_unattended", "zone": "desk", "seconds": 30}])
    (p,) = problems(raw)
    assert "引用的区域 'desk' 在本摄像机中不存在" in p


def test_bad_rule_parameter():
    raw = minimal(rules=[{"type": "zone_unattended", "zone": "staff", "seconds": -1}])
    (p,) = problems(raw)
    assert p == "config：cameras[0].rules[0].seconds：必须大于 0.0"


def test_duplicate_camera_ids():
    raw = minimal()
    raw["cameras"].append(dict(raw["cameras"][0]))
    (p,) = problems(raw)
    assert p == "config：（顶层）：摄像机编号不能重复：w1"


@pytest.mark.parametrize("where, value", [
    (("streams", "detect"), "rtsp://admin:hunter2@10.0.0.5/stream1"),
])
def test_clear_text_password_in_url_is_refused(where, value):
    raw = minimal()
    raw["cameras"][0]["streams"]["detect"] = value
    (p,) = problems(raw)
    assert "cameras[0].streams.detect" in p and "密码是明文" in p
    assert "hunter2" not in p


def test_clear_text_notifier_url_and_secret_are_refused():
    raw = minimal()
    raw["alerts"] = {"notifiers": [{"type": "webhook", "id": "w", "url": "https://x/robot?key=abc",
                                    "hmac_secret": "plain"}]}
    ps = problems(raw)
    assert any("alerts.notifiers[0].url" in p for p in ps)
    assert any("alerts.notifiers[0].hmac_secret" in p for p in ps)
    assert not any("abc" in p or "plain" in p for p in ps)


def _cli(*args, env=None):
    import os

    return subprocess.run([sys.executable, "-m", "jianguan", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_cli_config_check_ok():
    r = _cli("config", "check", str(OFFICE), env=ENV)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("通过：站点 office-01：112 路摄像机（24 考场，8 服务大厅，24 查验道，"), r.stdout


def test_cli_config_check_bad_field_gives_one_line(tmp_path):
    raw = minimal()
    raw["cameras"][0]["detect"] = {"fps": "fast"}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    r = _cli("config", "check", str(path))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "cameras[0].detect.fps" in lines[0] and "Traceback" not in r.stderr


def test_cli_config_check_broken_yaml_and_missing_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("site: {id: s1\ncameras: [")
    r = _cli("config", "check", str(path))
    assert r.returncode == 2 and "不是有效的 YAML" in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.startswith("配置错误：") and "第 2 行" in r.stderr
    r = _cli("config", "check", str(tmp_path / "missing.yaml"))
    assert r.returncode == 2 and "文件不存在" in r.stderr


def test_routes_must_name_existing_notifiers():
    raw = minimal()
    raw["alerts"] = {"notifiers": [{"type": "webhook", "id": "hook", "url": "${U}"}],
                     "routes": [{"match": {"min_severity": "major"}, "notifiers": ["hook", "dingtalk-chief"]}],
                     "escalation": {"steps": [{"after_min": 5, "notifiers": ["director"]}]}}
    (p,) = problems(raw, env={"U": "http://127.0.0.1:9/x"})
    assert "不存在的通知渠道：dingtalk-chief, director" in p


def test_problems_read_in_english_on_request(monkeypatch):
    """JIANGUAN_LANG=en (or an English LANG): the same problems in English, pydantic's by type and ours."""
    monkeypatch.setenv("JIANGUAN_LANG", "en")
    raw = minimal(fps=5)
    raw["cameras"][0]["rules"][0]["seconds"] = 0
    raw["cameras"][0]["zones"][0]["polygon"] = [[0, 0], [1.5, 0], [1, 1]]
    assert sorted(problems(raw)) == [
        "config: cameras[0].fps: unknown field (check the spelling)",
        "config: cameras[0].rules[0].seconds: must be greater than 0.0",
        "config: cameras[0].zones[0].polygon: point (1.5, 0.0) is outside 0..1; zone points are relative to the "
        "frame"]


def test_live_queue_holds_the_buffer_at_the_detect_rate():
    from jianguan.config import DetectSettings

    assert DetectSettings().queue_frames(5.0) == 8  # 1.5 s at 5 frames/s
    assert DetectSettings(live_buffer_s=1.0).queue_frames(12.5) == 13  # rounded up, never short
    assert DetectSettings(live_buffer_s=0.5).queue_frames(1.0) == 2  # a floor: one frame in, one out
    with pytest.raises(ValueError, match="live_buffer_s"):
        DetectSettings(live_buffer_s=0)


def test_a_camera_is_analysed_at_the_rate_its_rules_need():
    dwell = parse_config(minimal(), env={}).cameras[0]
    assert dwell.analysis_fps == 2.0  # zone_unattended only: 2 frames/s of the 5 the camera may take
    fixed = parse_config(minimal(detect={"rate": "fixed"}), env={}).cameras[0]
    assert fixed.analysis_fps == 5.0
    slow = parse_config(minimal(detect={"fps": 1}), env={}).cameras[0]
    assert slow.analysis_fps == 1.0  # never above detect.fps
    phone = minimal()
    phone["cameras"][0]["rules"].append({"type": "staff_phone", "zone": "staff"})
    assert parse_config(phone, env={}).cameras[0].analysis_fps == 5.0  # a phone needs every frame
    bare = parse_config(minimal(rules=[]), env={}).cameras[0]
    assert bare.analysis_fps == 5.0


@pytest.mark.parametrize("section, value", [
    ({"alerts": {"link_secret": "${LINK:-public-default-link-secret-0123456789}"}}, None),
    ({"alerts": {"notifiers": [{"type": "webhook", "id": "h", "url": "${HOOK:-https://x/robot?key=abc}"}]}}, None),
    ({"events": {"http": {"token": "${TOKEN:-in-the-file-0123456789}"}}}, None),
])
def test_a_secret_with_its_default_written_in_the_file_is_refused(section, value):
    """Issue 18: `${VAR:-literal}` put the literal in the file, and config check accepted it."""
    ps = problems({**minimal(), **section})
    assert len(ps) == 1 and "密钥不能在配置中写默认值" in ps[0], ps


def test_a_camera_password_with_its_default_in_the_file_is_refused():
    ps = problems(minimal(streams={"detect": "rtsp://viewer:${PW:-hunter2}@10.0.0.5/s"}))
    assert len(ps) == 1 and "密码是明文" in ps[0] and "hunter2" not in ps[0]
