"""What the `jianguan` command prints, in its reader's language (i18n.cli_locale: $JIANGUAN_LANG or the POSIX
locale, Chinese when neither names one). The msgids are the English written at each call, so
`pybabel extract` finds them (babel.cfg) and tests/i18n checks the catalogue has every one."""

from __future__ import annotations

from i18n import Translatable, cli_locale, gettext


def _(msgid: str, /, **values: object) -> str:
    """`msgid` translated, then its {placeholders} filled (numbers keep the format spec written in it)."""
    text = gettext(msgid, cli_locale())
    return text.format(**values) if values else text


def error_text(exc: BaseException) -> str:
    """What went wrong in the reader's language (i18n.Translatable errors), else as the error says it."""
    return exc.text(cli_locale()) if isinstance(exc, Translatable) else str(exc)
