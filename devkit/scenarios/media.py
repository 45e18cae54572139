"""Where the real photos and footage come from: files shipped inside registry packages, never downloads.

- `ultralytics/assets/bus.jpg`, `zidane.jpg`: in the ultralytics wheel (AGPL-3.0, like this project).
- Debian's `opencv-doc`: `examples/data/vtest.avi` (pedestrians, the PETS 2009 scene), `basketball1.png`,
  `messi5.jpg`, `licenseplate_motion.jpg` (Apache-2.0/BSD sample data of OpenCV).
- The same package's HTML documentation: `yolo.jpg` (the dnn YOLO tutorial's photo of a phone on a table).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
OPENCV_HTML = Path("/usr/share/doc/opencv-doc/opencv4/html")


class MediaError(Exception):
    """A source photo or video is not installed; the message says which package brings it."""


def media_path(name: str) -> Path:
    """Path of a named source file, e.g. `ultralytics:bus.jpg` or `opencv:vtest.avi`.

    >>> media_path("ultralytics:bus.jpg").name
    'bus.jpg'
    """
    origin, _, filename = name.partition(":")
    if origin == "ultralytics":
        path = Path(str(resources.files("ultralytics") / "assets" / filename))
        hint = "the ultralytics package (scripts/setup.sh)"
    elif origin == "opencv":
        path = OPENCV_DATA / filename
        hint = "Debian's opencv-doc package (apt-get install opencv-doc)"
    elif origin == "opencv-doc":
        path = OPENCV_HTML / filename
        hint = "Debian's opencv-doc package (apt-get install opencv-doc)"
    else:
        raise MediaError(f"unknown media origin {origin!r} in {name!r} (use ultralytics:, opencv: or opencv-doc:)")
    if not path.is_file():
        raise MediaError(f"{path} is missing; it comes with {hint}")
    return path
