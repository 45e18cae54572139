"""The systemd unit in deploy/ is what systemd accepts: `systemd-analyze verify` reports nothing (it prints
unknown keys and bad values as warnings and still exits 0, so its output must be empty)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
INSTALLED = "/opt/jianguan/.venv/bin/jianguan"  # where the unit expects the project (see its header)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("unit", sorted(DEPLOY.glob("*.service")), ids=lambda p: p.name)
def test_the_unit_verifies_clean(unit, tmp_path):
    text = unit.read_text()
    assert INSTALLED in text
    # verify checks that ExecStart exists: point it at this checkout's jianguan, nothing else changes
    here = tmp_path / unit.name
    here.write_text(text.replace(INSTALLED, str(Path(sys.executable).with_name("jianguan"))))
    result = subprocess.run(["systemd-analyze", "verify", str(here)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr.strip() and not result.stdout.strip(), result.stderr


def test_a_bad_unit_is_caught(tmp_path):
    """The check itself: a misspelt key is reported."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    bad = tmp_path / "bad.service"
    bad.write_text("[Service]\nExecStart=/bin/true\nRestartt=always\n")
    result = subprocess.run(["systemd-analyze", "verify", str(bad)], capture_output=True, text=True, timeout=60)
    assert "Restartt" in result.stderr
