"""Site configs and process checks for tests that run a real node on simulated cameras."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from jianguan.config import parse_config
from jianguan.node import Node

# The sky above vtest.avi's campus: nobody ever stands there, so a staff zone there is unattended at once.
SKY = [[0.02, 0.02], [0.2, 0.02], [0.2, 0.1], [0.02, 0.1]]
HOOK = {"notifiers": [{"type": "webhook", "id": "hook", "url": "${HOOK_URL}"}], "retry": {"initial_s": 1}}


def camera(url: str, *, unattended_s: float | None = None, area: str = "window", **extra: Any) -> dict[str, Any]:
    """One camera at 2 frames/s without recording; with `unattended_s`, a sky zone that goes unattended."""
    cam: dict[str, Any] = {"id": "cam-1", "name": "Cam 1", "area": area, "streams": {"detect": url},
                           "detect": {"fps": 2}, "record": {"enabled": False}}
    if unattended_s is not None:
        cam["zones"] = [{"id": "sky", "kind": "staff", "polygon": SKY}]
        cam["rules"] = [{"type": "zone_unattended", "zone": "sky", "seconds": unattended_s}]
    return {**cam, **extra}


def site(data_dir: Any, cam: dict[str, Any], *, hook: bool = False, **sections: Any) -> dict[str, Any]:
    """A site with one camera, the small detector input, and (`hook`) a webhook notifier at ${HOOK_URL}."""
    raw: dict[str, Any] = {"site": {"id": "s1", "name": "S"}, "paths": {"data_dir": str(data_dir)},
                           "detector": {"imgsz": 320}, "cameras": [cam], **sections}
    if hook:
        raw["alerts"] = HOOK
    return raw


@contextmanager
def running_node(raw: dict[str, Any], dsn: str, env: dict[str, str] | None = None,
                 drain_s: float = 5.0) -> Iterator[Node]:
    """A real node on `raw` (a site config) in a thread; stopped the orderly way on leaving."""
    node = Node(parse_config(raw, env=env or {}), dsn, drain_s=drain_s)
    runner = threading.Thread(target=node.run, name="node", daemon=True)
    runner.start()
    try:
        yield node
    finally:
        node.stop_event.set()
        runner.join(60)
        assert not runner.is_alive(), "the node did not stop"
