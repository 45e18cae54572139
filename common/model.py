"""The config building blocks every package uses, written once.

>>> severity_at_least("major", "minor"), severity_at_least("info", "major")
(True, False)
>>> Site = type("Site", (Strict,), {"__annotations__": {"timezone": TimeZone}})
>>> Site(timezone="Asia/Shanghai").timezone
'Asia/Shanghai'
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict

from i18n import N_, TranslatableError


class Strict(BaseModel):
    """A config model that refuses unknown keys: a misspelt option is an error, never silently ignored."""

    model_config = ConfigDict(extra="forbid")


# From least to most severe. The alerts table checks the same four (storage/migrations/0001_core.sql;
# tests/common/test_model.py holds them equal).
Severity = Literal["info", "minor", "major", "critical"]
SEVERITY_ORDER: dict[str, int] = {s: rank for rank, s in enumerate(get_args(Severity))}
# What a person reads for each (translated by i18n).
SEVERITY_LABELS: dict[str, str] = {"info": N_("Notice"), "minor": N_("Minor"), "major": N_("Major"),
                                   "critical": N_("Critical")}


def severity_at_least(severity: str, floor: str) -> bool:
    """Whether `severity` reaches `floor` (a notifier's or route's minimum)."""
    return SEVERITY_ORDER[severity] >= SEVERITY_ORDER[floor]


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise TranslatableError(N_("unknown time zone {zone!r}"), zone=value) from None
    return value


# An IANA time zone name ("Asia/Shanghai"), checked against the zone database when the config is read.
TimeZone = Annotated[str, AfterValidator(_time_zone)]
