"""The words of a business finding, translated when they are read: its explanation, its evidence table's column
names and the cells that are words (issue 17).

A rule writes a `Text`: an English msgid marked with `N_` and the values of its placeholders, numbers already
formatted as they should read ("3.1", "16.0"). A value may itself be a `Text` (a weekday, "本周") or a list
(joined by the reader's ", "). An explanation is a sequence of clauses, joined by the reader's "; ", so an
optional clause needs no variant of the whole sentence. The evidence JSON keeps each `Text` as
`{"msgid": ..., "values": {...}}`; `explain`, `column` and `cell` read it back in the reader's language (the desk
user's, the site's for a push). An explanation stored before this, a plain English string, reads as it was.

    >>> weekday(0)
    Text(msgid='Mon', values={})
    >>> explain([Text("{count} records", {"count": 3}), Text("expected: none")], "en")
    '3 records; expected: none'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from i18n import N_, gettext

CLAUSES = N_("; ")  # between an explanation's clauses ("；" in Chinese)
ITEMS = N_(", ")  # between the items of a list value ("，" in Chinese)
WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
EXPECTED_NONE = N_("expected: none")


@dataclass(frozen=True)
class Text:
    """Words to translate when read: an N_-marked msgid and its placeholders' values."""

    msgid: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return {"msgid": self.msgid, "values": {k: to_json(v) for k, v in self.values.items()}}


def text(msgid: str, **values: Any) -> Text:
    """`Text(msgid, values)` with the values as keywords: `text(N_("{count} records"), count=3)`."""
    return Text(msgid, values)


def weekday(index: int) -> Text:
    """Monday is 0, as datetime.weekday() counts."""
    return Text(WEEKDAYS[index])


def to_json(value: Any) -> Any:
    """A value as the evidence JSON keeps it: a `Text` as its msgid and values, lists element by element."""
    if isinstance(value, Text):
        return value.json()
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


def render(value: Any, locale: str | None) -> str:
    """One value in `locale`: a `Text` or its JSON translated and filled in, a list joined, None empty."""
    if isinstance(value, Text):
        return _fill(value.msgid, value.values, locale)
    if isinstance(value, Mapping) and isinstance(value.get("msgid"), str):
        return _fill(value["msgid"], value.get("values") or {}, locale)
    if isinstance(value, list | tuple):
        return gettext(ITEMS, locale).join(render(v, locale) for v in value)
    return "" if value is None else str(value)


def _fill(msgid: str, values: Mapping[str, Any], locale: str | None) -> str:
    filled = _Values({k: render(v, locale) for k, v in values.items()})
    try:
        return gettext(msgid, locale).format_map(filled)
    except (ValueError, IndexError, AttributeError):
        # A translation whose placeholders are broken must not break the page or the push: the English reads.
        return msgid.format_map(filled)


class _Values(dict):
    def __missing__(self, key: str) -> str:
        return "?"  # a placeholder the stored values lack (a msgid changed since): never an error


def explain(source: Any, locale: str | None) -> str:
    """A finding's explanation in `locale`, from the finding, its evidence JSON, a push payload, or the stored
    explanation itself: clauses (Texts or their JSON) joined by the reader's "; ", a plain string as it is."""
    if isinstance(source, Mapping) and "msgid" not in source:  # evidence or a payload (a video alert's: none)
        source = source.get("explanation")
    elif hasattr(source, "why"):
        source = source.why
    if source is None or isinstance(source, str):
        return source or ""
    if isinstance(source, Text) or (isinstance(source, Mapping) and "msgid" in source):
        return render(source, locale)
    return gettext(CLAUSES, locale).join(render(clause, locale) for clause in source)


def column(name: Any, locale: str | None) -> str:
    """An evidence column's name: its msgid translated (columns stored before this are English msgids too)."""
    if isinstance(name, str):
        return gettext(name, locale) if name else ""  # gettext("") is the catalogue's header
    return render(name, locale)


def cell(value: Any, locale: str | None) -> str:
    """An evidence cell: words (a `Text`'s JSON) translated, ids, plates, times and numbers as they are."""
    return render(value, locale)


def columns(names: Sequence[Any], locale: str | None) -> list[str]:
    return [column(n, locale) for n in names]


def rows(table: Sequence[Sequence[Any]], locale: str | None) -> list[list[str]]:
    return [[cell(v, locale) for v in r] for r in table]


__all__ = ["EXPECTED_NONE", "Text", "cell", "column", "columns", "explain", "render", "rows", "text", "to_json",
           "weekday"]
