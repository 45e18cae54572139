"""Bring the translation catalogues up to date with the code, keeping every translation still in use.

    .venv/bin/python scripts/update_catalogue.py          # then write the Chinese of each new msgstr ""

The msgids are what `pybabel extract -F babel.cfg` finds (N_(), _(), gettext() in the code, _() in the
templates) plus the texts built at run time, which extraction cannot see: the dashboards' titles, panel
titles, descriptions and variable labels (dashboards.all_dashboards) and the command's `--help`
(jianguan.cli.help_texts). `pybabel update` alone would mark those obsolete and lose their Chinese. New msgids
are added untranslated (tests/i18n/test_catalogue.py fails until they have Chinese); msgids no longer used
anywhere are dropped; the file is written sorted by msgid, without source locations, so a change of line
numbers never touches it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from i18n import DOMAIN, LOCALE_DIR, LOCALES  # noqa: E402 - after the path is set
from i18n.extract import marked_msgids  # noqa: E402


def built_at_run_time() -> set[str]:
    from dashboards import all_dashboards
    from jianguan.cli import help_texts

    texts = help_texts()
    for dash in all_dashboards("en").values():
        texts |= {dash["title"], dash.get("description", "")}
        for panel in dash["panels"]:
            texts |= {panel["title"], panel.get("description", "")}
        texts |= {v.get("label", "") for v in dash["templating"]["list"]}
    return texts - {""}


def update(locale: str, msgids: set[str]) -> tuple[int, int]:
    """(added, dropped) in `locale`'s catalogue."""
    path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as f:
        old = read_po(f, locale=locale, domain=DOMAIN)
    before = {m.id for m in old if m.id}
    for msgid in sorted(msgids - before):
        old.add(msgid, "", flags=("python-brace-format",) if "{" in msgid else ())
    for msgid in before - msgids:
        del old[msgid]
    with path.open("wb") as f:
        write_po(f, old, width=120, no_location=True, sort_output=True)
    return len(msgids - before), len(before - msgids)


def main() -> None:
    msgids = marked_msgids(ROOT) | built_at_run_time()
    for locale in LOCALES:
        if (LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po").is_file():
            added, dropped = update(locale, msgids)
            print(f"{locale}: {len(msgids)} msgids, {added} new (untranslated), {dropped} no longer used")


if __name__ == "__main__":
    main()
