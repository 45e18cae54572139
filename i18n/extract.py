"""The msgids marked in the source tree, found as `pybabel extract -F babel.cfg` finds them (N_(), _() and
gettext() in the Python packages, _() in the templates): babel.cfg alone says where to look, for
scripts/update_catalogue.py and for tests/i18n alike."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg


def marked_msgids(root: Path) -> set[str]:
    with (root / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    return {msg for _, _, msg, _, _ in extract_from_dir(str(root), method_map, options_map)
            if isinstance(msg, str) and msg}
