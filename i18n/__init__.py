"""Translations (gettext catalogues through Babel): what supervision staff read is in Chinese by default, English
on request, from one catalogue per language under i18n/locale/<locale>/LC_MESSAGES/jianguan.po.

The source texts (msgids) are the English written in the code, marked with `N_` where they are defined (rule
titles beside the rule configs, measure names beside the catalogue of measures, the desk's templates through
Jinja2's i18n extension), so `pybabel extract -F babel.cfg` finds them all. The .po files are read and compiled
in memory when first used: no .mo build step, nothing compiled in git. A msgid the catalogue lacks reads as the
English source (gettext's rule); tests/i18n/test_catalogue.py fails on any that a person would see.

Why Babel: it is the well-kept gettext toolkit of the Python world (extraction, .po reading and writing, CLDR
dates, numbers and time-zone names), and Jinja2's i18n extension takes its `Translations` as they are.

    >>> gettext("Major", "zh_CN"), gettext("Major", "en")
    ('重要', 'Major')
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Mapping
from datetime import datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, dates
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

DOMAIN = "jianguan"
DEFAULT_LOCALE = "zh_CN"  # the users are Chinese supervision staff
LOCALES = ("zh_CN", "en")  # zh_CN: the catalogue's translations; en: the msgids as written
LOCALE_DIR = Path(__file__).parent / "locale"


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "mark for extraction, translate later"
    return message


def cli_locale(environ: Mapping[str, str] | None = None) -> str:
    """The language of the `jianguan` command's messages: $JIANGUAN_LANG, else the POSIX locale variables in
    gettext's order (LANGUAGE, LC_ALL, LC_MESSAGES, LANG) where they name a language; C/POSIX and unset name
    none, so a bare server prints Chinese like everything else staff read.

    >>> cli_locale({"LANG": "en_US.UTF-8"}), cli_locale({"LANG": "C.UTF-8"}), cli_locale({"JIANGUAN_LANG": "en"})
    ('en', 'zh_CN', 'en')
    """
    env = os.environ if environ is None else environ
    for var in ("JIANGUAN_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var, "").split(":")[0].split(".")[0]
        if value and value not in ("C", "POSIX"):
            return normalise(value)
    return DEFAULT_LOCALE


def normalise(locale: str | None) -> str:
    """A supported locale for a setting or an Accept-Language value: zh, zh-CN, zh_Hans -> zh_CN; en-US -> en.

    >>> normalise("zh-cn"), normalise("en_GB"), normalise(None), normalise("fr")
    ('zh_CN', 'en', 'zh_CN', 'zh_CN')
    """
    if not locale:
        return DEFAULT_LOCALE
    lang = locale.replace("-", "_").split("_")[0].lower()
    return "en" if lang == "en" else DEFAULT_LOCALE if lang != "zh" else "zh_CN"


@functools.cache
def translations(locale: str) -> NullTranslations:
    """The catalogue of `locale` (compiled in memory on first use); English has none: the msgids are English."""
    path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        return NullTranslations()
    with path.open("rb") as f:
        catalog = read_po(f, locale=locale, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


def gettext(message: str, locale: str | None = None) -> str:
    return translations(normalise(locale)).gettext(message)


class Translatable:
    """Mixed into an exception: its message can be read in any language. Raise it with a msgid (marked where
    raised, so extraction finds it) and the values of its placeholders, `raise StorageError(N_("cannot reach
    {host}"), host=h)`; `str()` is the English, `text(locale)` the reader's. Raised with a finished string
    (no values), it is that string in every language."""

    def __init__(self, msgid: str, /, **values: object) -> None:
        self.msgid, self.values = msgid, values
        super().__init__(msgid.format(**values) if values else msgid)

    def text(self, locale: str | None = None) -> str:
        """In `locale`; a value that is itself Translatable (the cause of a failure) reads in it too."""
        if not self.values:
            return gettext(self.msgid, locale)
        values = {k: v.text(locale) if isinstance(v, Translatable) else v for k, v in self.values.items()}
        return gettext(self.msgid, locale).format(**values)


class TranslatableError(Translatable, ValueError):
    """A ValueError to raise in config validators: pydantic keeps it in the error's ctx, where jianguan.config
    finds it to word the problem in the operator's language."""


def missing(locale: str, messages: list[str]) -> list[str]:
    """Of `messages`, those the catalogue of `locale` does not translate."""
    t = translations(locale)
    return [m for m in messages if locale != "en" and t.gettext(m) == m]


def local_datetime(moment: datetime | float, timezone: str | tzinfo, locale: str | None = None,
                   seconds: bool = True, offset: bool = False) -> str:
    """A moment as staff read it: in the site's zone, `2026-12-07 09:49:02`, with `offset` its UTC offset
    (`+08:00`) where the reader might be elsewhere (pushes, reports).

    >>> local_datetime(0.0, "Asia/Shanghai", offset=True)
    '1970-01-01 08:00:00 +08:00'
    """
    tz = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
    if isinstance(moment, int | float):
        moment = datetime.fromtimestamp(moment, tz)
    elif moment.tzinfo is None:
        raise ValueError("a naive datetime has no place in time: give it a zone")
    local = moment.astimezone(tz)
    text = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    if offset:
        off = local.strftime("%z")
        text += f" {off[:3]}:{off[3:]}"
    return text


def zone_name(timezone: str, locale: str | None = None) -> str:
    """The zone's name for a reader, e.g. 中国时间 (Asia/Shanghai in zh_CN)."""
    return dates.get_timezone_location(ZoneInfo(timezone), locale=Locale.parse(normalise(locale)),
                                       return_city=False)


__all__ = ["DEFAULT_LOCALE", "LOCALES", "N_", "Translatable", "TranslatableError", "cli_locale", "gettext",
           "local_datetime", "missing", "normalise", "translations", "zone_name"]
