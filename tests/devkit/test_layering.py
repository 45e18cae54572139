"""devkit is dev tooling beside the product (docs/design.md, "Packages and data flow"): no domain package imports
it, and the processes of a running site (node, supervisor, intake, desk, early warning) never load it: the
`jianguan` command reaches it only inside its dev commands.

That `jianguan` is not imported by the domain packages is tests/storage/test_table_ownership.py's to check.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEV = "devkit"
NOT_DOMAIN = {DEV, "jianguan", "tests"}


def domain_packages() -> list[str]:
    return sorted(p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name not in NOT_DOMAIN)


def imported_tops(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level package) of every import in the module, inside functions too."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def test_no_domain_package_imports_devkit():
    packages = domain_packages()
    assert {"alerts", "analytics", "ingest", "storage"} <= set(packages)
    wrong = [f"{path.relative_to(ROOT)}:{line}" for pkg in packages for path in sorted((ROOT / pkg).rglob("*.py"))
             for line, top in imported_tops(ast.parse(path.read_text(encoding="utf-8"))) if top == DEV]
    assert wrong == []


def test_a_running_site_never_loads_devkit():
    # A fresh interpreter: this one has loaded devkit for the other tests.
    # jianguan.cli registers every command, the dev ones included: `jianguan run` starts the node through it
    modules = ["jianguan.cli", "jianguan.node", "jianguan.supervisor", "jianguan.events_cli", "jianguan.review_cli",
               "jianguan.business_cli", "jianguan.seed_cli", "jianguan.simulate", "jianguan.models_cli",
               "jianguan.evaluate_cli"]
    code = (f"import importlib, json, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            f"print(json.dumps(sorted(m for m in sys.modules if m == {DEV!r} or m.startswith({DEV + '.'!r}))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.splitlines()[-1]) == []
