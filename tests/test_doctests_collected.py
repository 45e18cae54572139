"""The README's test command runs the doctests of every package: pytest collects them from `testpaths` with
`--doctest-modules`, so a package added to the setuptools include list and not to testpaths would have its
examples never run again (23 of 28 modules with doctests were in that state before)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_collected_for_doctests():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    pytest_ini = project["tool"]["pytest"]["ini_options"]
    assert "--doctest-modules" in pytest_ini["addopts"].split()
    assert set(pytest_ini["testpaths"]) == packages | {"tests"}
    assert all((ROOT / p / "__init__.py").is_file() for p in packages)
