"""The catalogue (issue 17): every rule, zone kind, measure, severity, status, verdict and timeline step has a
Chinese and an English name, and every text marked for translation in the code and the desk's templates is in
the zh_CN catalogue. English is the msgids themselves, so "has English" means "is named at all"."""

from __future__ import annotations

import ast
import string
import typing
from pathlib import Path

from babel.messages.extract import extract_from_dir

from alerts.review.texts import DETAIL_KEYS, EVENTS, RECTIFICATION, STATUSES, VERDICTS
from analytics.config import ZoneConfig
from analytics.rule_config import Severity
from analytics.texts import AREAS, MEASURES, SEVERITIES, UNITS, ZONE_KINDS, alert_title, measures_text, rule_texts
from i18n import gettext, missing, translations
from jianguan.config import Area

ROOT = Path(__file__).resolve().parents[2]


def test_every_rule_has_a_chinese_name_and_title():
    texts = rule_texts()
    assert {"zone_unattended", "video_loss", "exam_phone", "business_volume_anomaly",
            "camera_group_restarted"} <= set(texts)
    strings = [s for t in texts.values() for s in (t.label, t.title, t.resolved) if s]
    assert missing("zh_CN", strings) == []
    labels = [gettext(t.label, "zh_CN") for t in texts.values()]
    assert len(set(labels)) == len(labels), "two rules share a Chinese name"


def test_zone_kinds_severities_statuses_verdicts_and_steps_are_named():
    kinds = typing.get_args(ZoneConfig.model_fields["kind"].annotation)
    assert set(kinds) == set(ZONE_KINDS)
    assert set(typing.get_args(Area)) == set(AREAS)
    assert set(typing.get_args(Severity)) == set(SEVERITIES)
    named = [*ZONE_KINDS.values(), *AREAS.values(), *SEVERITIES.values(), *STATUSES.values(), *VERDICTS.values(),
             *RECTIFICATION.values(), *EVENTS.values(), *(v for v in DETAIL_KEYS.values() if v != "sha256")]
    assert missing("zh_CN", named) == []


def _written_measure_keys() -> set[str]:
    """Measure keys the code writes: `measures={...}` literals, `.measures["k"]` assignments, `duration_key=`,
    and the dicts handed to the health and timing steps (`.step(ts, bad, {...})`, `values={...}`)."""
    keys: set[str] = set()
    for package in ("analytics", "jianguan", "alerts"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                dicts = []
                if isinstance(node, ast.keyword) and node.arg in ("measures", "values"):
                    dicts.append(node.value)
                if isinstance(node, ast.keyword) and node.arg == "duration_key":
                    keys.add(node.value.value)  # type: ignore[attr-defined] - always a literal
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "step":
                    dicts += node.args
                if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
                        and node.value.attr == "measures" and isinstance(node.slice, ast.Constant)):
                    keys.add(node.slice.value)
                keys |= {k.value for d in dicts if isinstance(d, ast.Dict) for k in d.keys
                         if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    return keys


def test_every_measure_the_code_writes_has_a_name_and_a_unit():
    written = _written_measure_keys()
    assert {"empty_s", "threshold_s", "down_s", "silent_s", "z"} <= written
    assert sorted(written - set(MEASURES)) == []
    assert missing("zh_CN", [label for label, _ in MEASURES.values()] + [UNITS["s"]]) == []
    for rule, text in rule_texts().items():  # a title names only measures there are names for
        fields = {f for _, f, _, _ in string.Formatter().parse(text.title) if f}
        assert fields <= set(MEASURES) | {"zone", "seconds", "source", "label"}, (rule, fields)


def test_every_marked_text_is_in_the_chinese_catalogue():
    """What `pybabel extract -F babel.cfg` finds (N_() in the code, _() in the desk's templates)."""
    method_map = [("analytics/**.py", "python"), ("alerts/**.py", "python"), ("i18n/**.py", "python"),
                  ("jianguan/**.py", "python"), ("reports/**.py", "python"),
                  ("alerts/review/templates/**.html", "jinja2"), ("reports/templates/**.html", "jinja2")]
    keywords = {"N_": None, "_": None, "gettext": None}
    found = {msg for _, _, msg, _, _ in extract_from_dir(str(ROOT), method_map, keywords=keywords)
             if isinstance(msg, str)}
    assert len(found) > 150
    assert sorted(missing("zh_CN", sorted(found))) == []


def test_titles_and_measures_read_as_staff_write_them():
    assert alert_title("exam_candidate_absent", {"threshold_s": 30.0, "absent_s": 41.2}, "A12") == \
        "A12座位：考生离座 30 秒"
    assert alert_title("video_loss", {}, locale="zh_CN", resolved=True) == "视频已恢复"
    assert alert_title("business_volume_anomaly", {}, source="3号窗口") == "业务量明显偏离常态：3号窗口"
    assert measures_text({"absent_s": 41.25, "threshold_s": 30.0}) == "离开 41.2 秒，阈值 30 秒"
    assert alert_title("no_such_rule", {}) == "no_such_rule"  # an old row of a rule since removed
    assert translations("zh_CN").gettext("Major") == "重要"


def test_every_dashboard_title_panel_title_and_variable_label_is_in_chinese():
    """Read from the dashboards themselves (titles are built in code, not all as literals)."""
    from dashboards import all_dashboards

    english, chinese = all_dashboards("en"), all_dashboards("zh_CN")
    untranslated = []
    for uid, dash in english.items():
        pairs = [(dash["title"], chinese[uid]["title"])]
        pairs += [(p["title"], q["title"]) for p, q in zip(dash["panels"], chinese[uid]["panels"], strict=True)]
        pairs += [(v["label"], w["label"]) for v, w in zip(dash["templating"]["list"],
                                                           chinese[uid]["templating"]["list"], strict=True)]
        untranslated += [f"{uid}: {en}" for en, zh in pairs if en == zh]
    assert untranslated == []
