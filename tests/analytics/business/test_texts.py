"""A business finding reads in its reader's language (issue 17): the explanation, the evidence table's column
names and its cells that are words, in Chinese for zh_CN and English for en, from the finding and from the
evidence JSON alike (the desk in each user's language, a push in its site's). An explanation stored as a plain
English string before this (an old row) reads as it was."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest

from alerts.notifiers.render import plain
from alerts.review.texts import detail_text, page_context
from analytics.business import texts
from analytics.business.config import BusinessConfig, OpeningHours
from analytics.business.hours import outside_hours_findings
from analytics.business.inspections import no_vehicle_findings, short_inspection_findings
from analytics.business.model import Finding
from analytics.business.passrate import pass_rate_findings
from analytics.business.rows import BusinessEvent, Inspection, LineDay
from analytics.business.staff import WORK_INSPECTION, staff_findings
from analytics.business.texts import Text, columns, explain, render, rows, text
from analytics.business.volume import WEEK, volume_findings

CFG = BusinessConfig()
TZ = "Asia/Shanghai"
MON = datetime(2024, 3, 4, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
DAY = datetime(2024, 3, 3, 16, 0, tzinfo=UTC)  # Monday 00:00 in Shanghai
# Two ASCII letters in a row: an English word. Ids, plates and numbers here have none, so none may be left.
ENGLISH = re.compile(r"[A-Za-z]{2,}")


def _insp(i: int, start: datetime, minutes: float) -> Inspection:
    return Inspection(i, "s", "L1", f"苏A{i:05d}", "07", start, start + timedelta(minutes=minutes))


def _findings() -> dict[str, Finding]:
    """One finding of each business rule, over ids with no English in them."""
    series = {MON - k * WEEK: v for k, v in zip(range(1, 5), [10, 12, 9, 11], strict=True)} | {MON: 41}
    volume = volume_findings({("outlet", "o1"): series}, {("outlet", "o1"): MON - 4 * WEEK}, site_id="s", since=MON,
                             until=MON + timedelta(hours=1), timezone=TZ, cfg=CFG.volume)
    history = [_insp(i, MON - timedelta(days=1 + i % 20, minutes=i), 14 + (i % 5)) for i in range(60)]
    short = short_inspection_findings(history + [_insp(100, MON, 3.0)], site_id="s", since=MON,
                                      until=MON + timedelta(days=1), timezone=TZ, cfg=CFG.short_inspection)
    lane = [_insp(1, DAY + timedelta(hours=2), 15), _insp(2, DAY + timedelta(hours=3), 15),
            _insp(3, DAY + timedelta(hours=4), 15)]
    no_vehicle = no_vehicle_findings(lane, {1: (12, 0), 2: (12, 2), 3: (1, 0)}, [("L1", DAY + timedelta(hours=5), 77)],
                                     site_id="s", since=DAY, until=DAY + timedelta(days=1), timezone=TZ,
                                     cfg=CFG.no_vehicle)
    evening = datetime(2024, 3, 4, 12, 5, tzinfo=UTC)  # 20:05 local
    hours = outside_hours_findings(
        [BusinessEvent("window", "w1", f"m{k}", evening + timedelta(minutes=k), "c1", "") for k in range(3)],
        {"window": OpeningHours(days={"mon": "08:30-17:30", "sat": "08:30-12:00"})}, site_id="s",
        since=MON - timedelta(hours=2), until=MON + timedelta(days=1), timezone=TZ, cfg=CFG.outside_hours)
    counts = {"a": 20, "b": 22, "c": 19, "d": 21, "e": 60}  # staff member: inspections; each at a lane of their own
    events = [BusinessEvent("lane", f"L{i}", f"{p}{k}", DAY + timedelta(hours=2, minutes=k), p, "")
              for i, (p, n) in enumerate(counts.items()) for k in range(n)]
    staff = staff_findings(events, {f"L{i}": WORK_INSPECTION for i in range(len(counts))}, site_id="s", since=DAY,
                           until=DAY + timedelta(days=1), timezone=TZ, cfg=CFG.staff)
    days = [LineDay("L", (date(2024, 3, 1) + timedelta(days=k)).isoformat(), 50, 43 + k % 3) for k in range(28)]
    days += [LineDay("L", (date(2024, 3, 29) + timedelta(days=k)).isoformat(), 50, 50) for k in range(7)]
    drift = pass_rate_findings(days, site_id="s", since=datetime(2024, 4, 4, tzinfo=UTC),
                               until=datetime(2024, 4, 5, tzinfo=UTC), timezone="UTC", cfg=CFG.pass_rate)
    found = volume + short + no_vehicle + hours + staff + drift
    assert len(found) == 6
    return {f.rule: f for f in found}


@pytest.fixture(scope="module")
def findings() -> dict[str, Finding]:
    return _findings()


def _everything(f: Finding | dict, locale: str) -> str:
    """All a reader sees of a finding's evidence: why, the column names, the cells."""
    names = f.columns if isinstance(f, Finding) else f["columns"]
    table = f.rows if isinstance(f, Finding) else f["rows"]
    return "\n".join([explain(f, locale), *columns(names, locale), *(c for r in rows(table, locale) for c in r)])


def test_english_states_the_numbers_as_before(findings):
    short = findings["business_inspection_short"]
    assert explain(short, "en") == short.explanation == (
        "Inspection 100 of 苏A00100 by 07 at L1 on 2024-03-04 10:00 lasted 3.0 min; the lane's usual is 16.0 min "
        "(median of 60 inspections in the previous 28 days, MAD 1.0 min); abnormal below 8.0 min = "
        "min(median - 3.5 x 1.4826 x MAD, 0.5 x median)")
    assert columns(short.columns, "en") == ["Inspection no.", "Plate", "Inspector", "Started", "Finished", "Minutes"]
    staff = findings["business_staff_outlier"]
    assert staff.explanation == ("e recorded 60 inspections on 2024-03-04 (mostly at L4); the 4 peers doing the same "
                                 "work (vehicle inspection) recorded a median of 20.5 (MAD 1); 2.9x the median, "
                                 "robust z 8.7")
    drift = findings["business_pass_rate_drift"]
    assert drift.explanation.startswith("Testing line L: 100.0% of 350 vehicles passed in the 7 days "
                                        "2024-03-29..2024-04-04; its baseline is 88.0%")
    assert rows(drift.rows, "en")[0][-1] == "judged window" and rows(drift.rows, "en")[-1][-1] == "baseline period"
    for f in findings.values():
        assert "{" not in _everything(f, "en") and "?" not in f.explanation, f.rule


def test_chinese_leaves_no_english_but_ids_plates_and_numbers(findings):
    for f in findings.values():
        words = _everything(f, "zh_CN")
        assert ENGLISH.findall(words) == [] and "{" not in words, (f.rule, words)
    assert explain(findings["business_inspection_short"], "zh_CN") == (
        "查验记录 100（车牌 苏A00100，查验员 07，L1）于 2024-03-04 10:00 开始，用时 3.0 分钟；"
        "该查验道常态用时 16.0 分钟（前 28 天 60 次查验的中位数，中位绝对偏差 1.0 分钟）；"
        "低于 8.0 分钟即为异常（取“中位数 − 3.5 × 1.4826 × 中位绝对偏差”与“0.5 × 中位数”中的较小值）")
    volume = findings["business_volume_anomaly"]
    assert explain(volume, "zh_CN").startswith("o1 于 2024-03-04 10:00-11:00（周一）共办理业务 41 笔；"
                                               "前 4 周同一时段分别为 10，12，9，11（中位数 10.5")
    assert columns(volume.columns, "zh_CN") == ["时段（当地时间）", "周次", "业务量"]
    assert rows(volume.rows, "zh_CN")[:2] == [["2024-03-04 10:00", "本周", "41"], ["2024-02-26 10:00", "1 周前", "10"]]
    hours = explain(findings["business_outside_hours"], "zh_CN")
    assert "当天办公时间：08:30-17:30（容差 15 分钟；全周：周一08:30-17:30，周六08:30-12:00）" in hours
    no_vehicle = findings["business_inspection_without_vehicle"]
    assert [r[-1] for r in rows(no_vehicle.rows, "zh_CN")] == ["占用检测：查验道区域为空", "视频事件 77"]


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_the_evidence_json_reads_as_the_finding(findings, locale):
    for f in findings.values():
        stored = json.loads(json.dumps(f.evidence()))  # as incidents.evidence keeps it
        assert stored["explanation"][0]["msgid"] and stored["explanation"][0]["values"]
        assert _everything(stored, locale) == _everything(f, locale), f.rule


def test_an_old_plain_english_explanation_reads_as_it_was():
    old = {"kind": "business", "explanation": "inspection 5 of P5 by i at lane-1 lasted 3.0 min",
           "columns": ["inspection", "evidence"], "rows": [[5, "occupancy: lane zone empty"], [None, None]]}
    assert explain(old, "zh_CN") == explain(old["explanation"], "en") == old["explanation"]
    assert columns(old["columns"], "zh_CN") == ["inspection", "evidence"]
    assert rows(old["rows"], "zh_CN") == [["5", "occupancy: lane zone empty"], ["", ""]]
    assert explain({"explanation": None}, "zh_CN") == explain({"measures": {"empty_s": 9.0}}, "zh_CN") == ""


def test_a_push_reads_in_its_sites_language(findings):
    f = findings["business_inspection_short"]
    payload = {"title": "t", "rule": f.rule, "source_id": "L1", "explanation": f.evidence()["explanation"]}
    assert f"说明: {explain(f, 'zh_CN')}" in plain({**payload, "locale": "zh_CN"}, TZ)
    assert f"Why: {f.explanation}" in plain({**payload, "locale": "en"}, TZ)
    assert "说明: queued before: plain English" in plain({**payload, "explanation": "queued before: plain English"}, TZ)


def test_the_desk_reads_in_its_users_language(findings):
    f = findings["business_inspection_short"]
    evidence = json.loads(json.dumps(f.evidence()))
    zh, en = page_context("zh_CN", TZ), page_context("en", TZ)
    assert zh["explain"](evidence) == explain(f, "zh_CN") and en["explain"](evidence) == f.explanation
    assert zh["evidence_columns"](evidence["columns"])[:3] == ["查验编号", "车牌号", "查验员"]
    assert zh["evidence_rows"](evidence["rows"])[0][:3] == ["100", "苏A00100", "07"]
    alert = {"rule": f.rule, "title": "stored in another language", "evidence": evidence}
    assert zh["title_of"](alert) == "查验时长明显短于本查验道常态：L1"
    assert en["title_of"](alert) == "Inspection much shorter than the lane's usual: L1"
    # the timeline's "raised" step: the explanation in words, the finding's key (a rule code) left out
    step = {"incident_id": 9, "finding_key": f.key, "measures": f.measures, "explanation": evidence["explanation"]}
    assert detail_text(step, TZ, "zh_CN") == f"说明: {explain(f, 'zh_CN')}"


def test_a_broken_translation_or_a_lost_value_never_breaks_the_page(monkeypatch):
    broken = {"video incident {incident}": "视频事件 {0}", "{a} and {b}": "{a} 与 {b}"}
    monkeypatch.setattr(texts, "gettext",
                        lambda message, locale=None: broken.get(message, message) if locale == "zh_CN" else message)
    assert render(text("video incident {incident}", incident=7), "zh_CN") == "video incident 7"
    assert render({"msgid": "{a} and {b}", "values": {"a": 1}}, "zh_CN") == "1 与 ?"
    assert render(Text("{a} and {b}", {"a": [1, text("{a} and {b}", a=2, b=3)], "b": None}), "en") == "1, 2 and 3 and "
