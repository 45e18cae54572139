"""Generate jianguan/examples/office-112.yaml, the 112-camera example office.

The office is defined once, in devkit/office.py (the seeder builds its default site from the same
definition); this script only writes it out. Same as `python -m devkit.office`.
Run: python scripts/gen_office_config.py [PATH]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's packages, installed or not

from devkit.office import main  # noqa: E402 - after the path is set

if __name__ == "__main__":
    main()
