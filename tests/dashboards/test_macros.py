"""expand_macros against hand-written expectations (Grafana's own formats, from its macros.go)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from dashboards import ALL, expand_macros
from dashboards.macros import format_interval, go_float

FROM = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
TO = datetime(2024, 5, 1, 14, 30, 15, 250000, tzinfo=UTC)


def x(sql, interval_s=60, variables=None, all_values=None, **kw):
    return expand_macros(sql, time_from=FROM, time_to=TO, interval_s=interval_s, variables=variables or {},
                         all_values=all_values, **kw)


def test_time_filter_from_to():
    assert x("WHERE $__timeFilter(a.started_at)") == \
        "WHERE a.started_at BETWEEN '2024-05-01T08:00:00Z' AND '2024-05-01T14:30:15.25Z'"
    assert x("$__timeFrom() .. $__timeTo()") == "'2024-05-01T08:00:00Z' .. '2024-05-01T14:30:15.25Z'"


def test_time_range_is_written_in_utc():
    beijing = timezone(timedelta(hours=8))
    sql = expand_macros("$__timeFrom()", time_from=datetime(2024, 5, 1, 16, 0, tzinfo=beijing), time_to=TO,
                        interval_s=60, variables={})
    assert sql == "'2024-05-01T08:00:00Z'"


def test_time_group():
    assert x("$__timeGroup(ts, 5m)") == "floor(extract(epoch from ts)/300)*300"
    assert x("$__timeGroup(ts, '1h', NULL)") == "floor(extract(epoch from ts)/3600)*3600"
    assert x("$__timeGroupAlias(ts, 500ms)") == 'floor(extract(epoch from ts)/0.5)*0.5 AS "time"'
    assert x("$__timeGroupAlias(ts, 30d)") == 'floor(extract(epoch from ts)/2.592e+06)*2.592e+06 AS "time"'
    # Grafana's pre-5.3 compatibility: a $__timeGroup directly followed by a comma gets the alias.
    assert x("SELECT $__timeGroup(ts, 1m), v") == 'SELECT floor(extract(epoch from ts)/60)*60 AS "time", v'
    assert x("$__timeGroupAlias(ts, 1m)", timescaledb=True) == "time_bucket('60.000s',ts) AS \"time\""


def test_interval_variables():
    assert x("$__timeGroupAlias(started_at, $__interval)", interval_s=300) == \
        'floor(extract(epoch from started_at)/300)*300 AS "time"'
    assert x("$__interval $__interval_ms ${__interval}", interval_s=0.5) == "500ms 500 500ms"
    assert x("$__interval_ms", interval_s=7200) == "7200000"
    assert [format_interval(s) for s in (1, 59, 60, 90, 3600, 86400 * 2)] == ["1s", "59s", "1m", "1m", "1h", "2d"]
    assert [go_float(v) for v in (60, 0.5, 1e6, 1234567, 0.00001)] == ["60", "0.5", "1e+06", "1.234567e+06", "1e-05"]


def test_epoch_macros():
    assert x("$__unixEpochFilter(t)") == "t >= 1714550400 AND t <= 1714573815"
    assert x("$__unixEpochFrom() $__unixEpochTo()") == "1714550400 1714573815"
    assert x("$__unixEpochGroupAlias(t, 1h)") == 'floor((t)/3600)*3600 AS "time"'
    assert x("$__time(ts), $__timeEpoch(ts)") == 'ts AS "time", extract(epoch from ts) as "time"'


def test_template_variables_quoted_like_grafana():
    v = {"site": ["s1", "O'Hare"], "camera": ["w1"]}
    assert x("site_id IN ($site) AND camera_id IN (${camera})", variables=v) == \
        "site_id IN ('s1','O''Hare') AND camera_id IN ('w1')"
    assert x("${site:sqlstring}|${site:csv}|${site:raw}|[[camera]]", variables=v) == \
        "'s1','O''Hare'|s1,O'Hare|s1,O'Hare|'w1'"


def test_all_substitutes_every_option():
    sql = x("site_id IN ($site)", variables={"site": [ALL]}, all_values={"site": ["s1", "s2", "s'3"]})
    assert sql == "site_id IN ('s1','s2','s''3')"
    with pytest.raises(ValueError, match="All"):
        x("$site", variables={"site": [ALL]})
    with pytest.raises(ValueError, match="no value"):
        x("$site", variables={"site": []})


def test_injection_attempt_stays_a_literal():
    sql = x("WHERE site_id IN ($site)", variables={"site": ["x') OR true; DROP TABLE alerts; --"]})
    assert sql == "WHERE site_id IN ('x'') OR true; DROP TABLE alerts; --')"


def test_unknown_names():
    assert x("SELECT $1, $unknown") == "SELECT $1, $unknown"  # Grafana leaves unknown variables alone
    with pytest.raises(ValueError, match='unknown macro "__nope"'):
        x("$__nope(a)")
    with pytest.raises(ValueError, match="missing time column"):
        x("$__timeFilter()")
    with pytest.raises(ValueError, match="error parsing interval"):
        x("$__timeGroup(ts, soon)")
    with pytest.raises(ValueError, match="timezone-aware"):
        expand_macros("$__timeFrom()", time_from=datetime(2024, 1, 1), time_to=datetime(2024, 1, 2),
                      interval_s=60, variables={})
