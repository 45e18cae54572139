"""The 112-camera office is defined once (devkit.office): the shipped example config is its YAML, and the
seeder's default site is the same office as the node would load it."""

from __future__ import annotations

from devkit.office import example_path, office_config, office_document, render_yaml
from devkit.seed import office_112
from jianguan.config import load_config
from jianguan.seed_cli import site_of_file


def test_the_example_config_is_generated_from_the_definition():
    # Fails when devkit/office.py changed and the example was not written again (python -m devkit.office).
    assert example_path().read_text(encoding="utf-8") == render_yaml()


def test_the_seeders_office_has_the_configs_cameras_zones_and_lanes():
    cfg = office_config()
    site = office_112()
    assert (site.id, site.name, site.timezone) == (cfg.site.id, cfg.site.name, cfg.site.timezone)
    assert [c.id for c in site.cameras] == [c.id for c in cfg.cameras] and len(site.cameras) == 112
    assert [(c.name, c.area, c.detect_fps) for c in site.cameras] == [(c.name, c.area, c.detect.fps)
                                                                        for c in cfg.cameras]
    assert [[(z.id, z.kind, [list(p) for p in z.polygon]) for z in c.zones] for c in site.cameras] == \
        [[(z.id, z.kind, [list(p) for p in z.polygon]) for z in c.zones] for c in cfg.cameras]
    assert site.lane_ids() == cfg.lane_ids() == [f"lane-{n}" for n in range(1, 7)]


def test_seeding_the_example_file_seeds_the_same_office(monkeypatch):
    # `jianguan seed --config jianguan/examples/office-112.yaml` and plain `jianguan seed` agree.
    for name in ("JIANGUAN_CAMERA_PASSWORD", "JIANGUAN_WEBHOOK_URL", "JIANGUAN_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    assert site_of_file(example_path()) == office_112()


def test_the_office_loads_as_a_node_would_load_it():
    env = {"JIANGUAN_CAMERA_PASSWORD": "pw", "JIANGUAN_WEBHOOK_URL": "https://hooks.example/x",
           "JIANGUAN_WEBHOOK_SECRET": "s"}
    loaded = load_config(example_path(), env=env)
    assert [c.id for c in loaded.cameras] == [c["id"] for c in office_document()["cameras"]]
    assert loaded.camera("win-01").streams.detect.startswith("rtsp://viewer:pw@127.0.0.1:8554/win-01/")
