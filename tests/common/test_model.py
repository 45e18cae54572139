"""The shared config blocks: severities agree with the database's CHECK, time zones are checked everywhere one
is written (the site's own included: a typo used to pass `config check`), unknown keys are refused."""

import re
import typing
from pathlib import Path

import pytest
from pydantic import ValidationError

from common.model import SEVERITY_LABELS, SEVERITY_ORDER, Severity, Strict, TimeZone
from jianguan.config import ConfigError, parse_config

MIGRATIONS = Path(__file__).resolve().parents[2] / "storage" / "migrations"


def test_severities_are_the_ones_the_alerts_table_accepts():
    check = re.search(r"severity\s+text NOT NULL CHECK \(severity IN \(([^)]*)\)\)",
                      (MIGRATIONS / "0001_core.sql").read_text())
    assert check, "the alerts table's severity CHECK moved: point this test at it"
    in_sql = [s.strip().strip("'") for s in check.group(1).split(",")]
    assert in_sql == list(typing.get_args(Severity)) == list(SEVERITY_ORDER) == list(SEVERITY_LABELS)


class _Zoned(Strict):
    timezone: TimeZone


def test_time_zones_are_checked_and_unknown_keys_refused():
    assert _Zoned(timezone="Asia/Urumqi").timezone == "Asia/Urumqi"
    for bad in ({"timezone": "Asia/Shangai"}, {"timezone": "UTC", "tz": "UTC"}):
        with pytest.raises(ValidationError):
            _Zoned.model_validate(bad)


def test_a_misspelt_site_time_zone_is_a_config_error():
    cam = {"id": "c1", "name": "Cam", "area": "hall", "streams": {"detect": "/tmp/x.mp4"}}
    with pytest.raises(ConfigError) as info:
        parse_config({"site": {"id": "s1", "name": "S", "timezone": "Asia/Shangai"}, "cameras": [cam]}, env={})
    assert info.value.problems == ["config：site.timezone：未知时区 'Asia/Shangai'"]
