"""The business rules as pure functions over hand-made rows: each states value, baseline and why."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from analytics.business.config import BusinessConfig, OpeningHours
from analytics.business.hours import outside_hours_findings
from analytics.business.inspections import no_vehicle_findings, short_inspection_findings
from analytics.business.passrate import pass_rate_findings
from analytics.business.rows import BusinessEvent, Inspection, LineDay
from analytics.business.staff import staff_findings
from analytics.business.stats import robust_z
from analytics.business.texts import text
from analytics.business.volume import WEEK, volume_findings

CFG = BusinessConfig()
TZ = "Asia/Shanghai"
MON = datetime(2024, 3, 4, 2, 0, tzinfo=UTC)   # Monday 10:00 in Shanghai


def test_robust_z_resists_an_outlier_in_the_history():
    assert abs(robust_z(10, [9, 10, 11, 10, 300])) < 1      # one wild week does not move the baseline
    assert robust_z(40, [9, 10, 11, 10]) > 6


def test_volume_flags_a_surge_against_the_same_hour_of_the_week():
    series = {MON - k * WEEK: v for k, v in zip(range(1, 5), [10, 12, 9, 11], strict=True)}
    series[MON] = 41
    series[MON + timedelta(hours=1)] = 12                    # the next hour: its history is empty -> zeros
    first = {("outlet", "o1"): MON - 4 * WEEK}
    found = volume_findings({("outlet", "o1"): series}, first, site_id="s", since=MON, until=MON + timedelta(hours=1),
                            timezone=TZ, cfg=CFG.volume)
    assert [(f.source_id, f.value, f.baseline) for f in found] == [("o1", 41.0, 10.5)]
    f = found[0]
    assert f.explanation.startswith("41 transactions at o1 on Mon 2024-03-04 10:00-11:00;")
    assert "had 10, 12, 9, 11 (median 10.5, MAD 1)" in f.explanation and "deviations above the median" in f.explanation
    assert f.rows[0] == ("2024-03-04 10:00", text("this week"), 41)
    # the same surge without enough history is not judged
    late = {("outlet", "o1"): MON - 2 * WEEK}
    assert volume_findings({("outlet", "o1"): series}, late, site_id="s", since=MON, until=MON + timedelta(hours=1),
                           timezone=TZ, cfg=CFG.volume) == []


def test_volume_keeps_quiet_on_ordinary_noise():
    series = {MON - k * WEEK: v for k, v in zip(range(1, 7), [10, 12, 9, 11, 14, 8], strict=True)}
    series[MON] = 17
    assert volume_findings({("window", "w"): series}, {("window", "w"): MON - 7 * WEEK}, site_id="s", since=MON,
                           until=MON + timedelta(hours=1), timezone=TZ, cfg=CFG.volume) == []


def _insp(i: int, start: datetime, minutes: float, lane: str = "lane-1") -> Inspection:
    return Inspection(i, "s", lane, f"P{i}", "insp", start, start + timedelta(minutes=minutes))


def test_short_inspection_against_the_lanes_rolling_median():
    rows = [_insp(i, MON - timedelta(days=1 + i % 20, minutes=i), 14 + (i % 5)) for i in range(60)]
    rows += [_insp(100, MON, 3.0), _insp(101, MON + timedelta(hours=1), 12.0)]
    found = short_inspection_findings(rows, site_id="s", since=MON, until=MON + timedelta(days=1), timezone=TZ,
                                      cfg=CFG.short_inspection)
    assert [f.rows[0][0] for f in found] == [100]
    assert found[0].value == 180.0 and found[0].baseline == 16 * 60
    assert "lasted 3.0 min" in found[0].explanation and "usual is 16.0 min" in found[0].explanation


def test_outside_hours_groups_per_source_and_hour():
    hours = {"window": OpeningHours(days={"mon": "08:30-17:30"}), "self_service": OpeningHours(always=True)}
    evening = datetime(2024, 3, 4, 12, 5, tzinfo=UTC)      # 20:05 local
    events = [BusinessEvent("window", "w1", f"m{k}", evening + timedelta(minutes=k), "c1", "x") for k in range(3)]
    events += [BusinessEvent("self_service", "k1", "m9", evening, None, "x"),           # kiosks never close
               BusinessEvent("window", "w1", "m8", MON, "c1", "x")]                     # 10:00: open
    found = outside_hours_findings(events, hours, site_id="s", since=MON - timedelta(hours=2),
                                   until=MON + timedelta(days=1), timezone=TZ, cfg=CFG.outside_hours)
    assert [(f.source_id, f.value) for f in found] == [("w1", 3.0)]
    assert found[0].explanation == ("3 record(s) at w1 between Mon 2024-03-04 20:00 and 20:59; opening hours that day: "
                                    "08:30-17:30 (tolerance 15 min; all week: Mon 08:30-17:30); expected: none")
    assert [r[0] for r in found[0].rows] == ["m0", "m1", "m2"]


def test_staff_outlier_compares_with_peers_doing_the_same_work():
    day = datetime(2024, 3, 3, 16, 0, tzinfo=UTC)             # Monday 00:00 local
    events = []
    counts = {"a": 20, "b": 22, "c": 19, "d": 21, "e": 60, "slow1": 5, "slow2": 6, "slow3": 4, "slow4": 5, "slow5": 6}
    for person, n in counts.items():
        source = f"w-{person}"
        events += [BusinessEvent("window", source, f"{person}{k}", day + timedelta(hours=2, minutes=k), person, "x")
                   for k in range(n)]
    work = {f"w-{p}": ("fast" if not p.startswith("slow") else "slow") for p in counts}
    found = staff_findings(events, work, site_id="s", since=day, until=day + timedelta(days=1), timezone=TZ,
                           cfg=CFG.staff)
    assert [(f.source_id, f.value, f.baseline) for f in found] == [("e", 60.0, 20.5)]
    assert found[0].unit_member == ("window", "w-e")
    # not judged before the day is over
    assert staff_findings(events, work, site_id="s", since=day, until=day + timedelta(hours=20), timezone=TZ,
                          cfg=CFG.staff) == []


def test_no_vehicle_needs_samples_and_a_complete_day():
    day = datetime(2024, 3, 3, 16, 0, tzinfo=UTC)
    rows = [_insp(1, day + timedelta(hours=2), 15), _insp(2, day + timedelta(hours=3), 15),
            _insp(3, day + timedelta(hours=4), 15)]
    coverage = {1: (12, 0), 2: (12, 2), 3: (1, 0)}           # 3: too few samples to judge
    found = no_vehicle_findings(rows, coverage, [], site_id="s", since=day, until=day + timedelta(days=1),
                                timezone=TZ, cfg=CFG.no_vehicle)
    assert len(found) == 1 and [r[0] for r in found[0].rows] == [1]
    assert found[0].measures == {"without_vehicle": 1.0, "judged": 2.0, "unjudged": 1.0, "vision_incidents": 0.0}
    assert no_vehicle_findings(rows, coverage, [], site_id="s", since=day, until=day + timedelta(hours=12),
                               timezone=TZ, cfg=CFG.no_vehicle) == []
    via_video = no_vehicle_findings([], {}, [("lane-1", day + timedelta(hours=5), 77)], site_id="s", since=day,
                                    until=day + timedelta(days=1), timezone=TZ, cfg=CFG.no_vehicle)
    assert via_video[0].rows[0][-1] == text("video incident {incident}", incident=77)
    assert via_video[0].explanation.endswith("1 'inspection with no vehicle' incidents from the video rules; "
                                             "expected: none")


def test_pass_rate_drift_against_the_lines_own_history():
    days = [LineDay("L", (date(2024, 3, 1) + timedelta(days=k)).isoformat(), 50, 43 + k % 3) for k in range(35)]
    steady = pass_rate_findings(days, site_id="s", since=datetime(2024, 3, 30, tzinfo=UTC),
                                until=datetime(2024, 4, 5, tzinfo=UTC), timezone="UTC", cfg=CFG.pass_rate)
    assert steady == []
    drift = days[:28] + [LineDay("L", (date(2024, 3, 29) + timedelta(days=k)).isoformat(), 50, 50) for k in range(7)]
    found = pass_rate_findings(drift, site_id="s", since=datetime(2024, 4, 4, tzinfo=UTC),
                               until=datetime(2024, 4, 5, tzinfo=UTC), timezone="UTC", cfg=CFG.pass_rate)
    assert len(found) == 1 and found[0].value == 1.0 and 0.86 <= found[0].baseline <= 0.9
    assert "100.0% of 350 vehicles passed" in found[0].explanation
