"""Every package's marked texts reach the catalogue: babel.cfg names each package of the setuptools include list
(common/ was added without it once, and its registry's messages would have stayed English)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_babel_cfg_reads_every_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    read = set(re.findall(r"^\[python: (\w+)/\*\*\.py\]$", (ROOT / "babel.cfg").read_text(), re.M))
    assert packages - read == set()
