"""The catalogue (issue 17): every rule, zone kind, measure, severity, status, verdict and timeline step has a
Chinese and an English name, and every text marked for translation in the code and the desk's templates is in
the zh_CN catalogue. English is the msgids themselves, so "has English" means "is named at all"."""

from __future__ import annotations

import ast
import string
import typing
from pathlib import Path

from alerts.review.texts import DETAIL_KEYS, EVENTS, RECTIFICATION, STATUSES, VERDICTS
from analytics.config import ZoneConfig
from analytics.rule_config import Severity
from analytics.texts import AREAS, MEASURES, SEVERITIES, UNITS, ZONE_KINDS, alert_title, measures_text, rule_texts
from i18n import gettext, missing, translations
from i18n.extract import marked_msgids
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
    found = marked_msgids(ROOT)
    assert len(found) > 400
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
    """Read from the dashboards themselves (titles and descriptions are built in code, not all as literals).
    Descriptions too: the dashboard's and each panel's (Grafana's ⓘ tooltip), where there is one."""
    from dashboards import all_dashboards

    english, chinese = all_dashboards("en"), all_dashboards("zh_CN")
    untranslated, descriptions = [], []
    for uid, dash in english.items():
        pairs = [(dash["title"], chinese[uid]["title"])]
        pairs += [(p["title"], q["title"]) for p, q in zip(dash["panels"], chinese[uid]["panels"], strict=True)]
        pairs += [(v["label"], w["label"]) for v, w in zip(dash["templating"]["list"],
                                                           chinese[uid]["templating"]["list"], strict=True)]
        described = [(dash["description"], chinese[uid]["description"])]
        described += [(p["description"], q["description"])
                      for p, q in zip(dash["panels"], chinese[uid]["panels"], strict=True)]
        assert all(bool(en) == bool(zh) for en, zh in described), uid  # "" stays "" (not the catalogue header)
        descriptions += [zh for en, zh in described if en]
        untranslated += [f"{uid}: {en}" for en, zh in pairs + described if en and en == zh]
    assert untranslated == []
    assert len(descriptions) > 40  # the dashboards' and panels' ⓘ texts are checked too


def _fields(text: str) -> list[tuple[str, str]]:
    return sorted((name, spec) for _, name, spec, _ in string.Formatter().parse(text) if name is not None)


def test_every_translation_keeps_the_placeholders_of_its_source():
    """A msgstr that drops, renames or reformats a {placeholder} would raise or mislead at run time."""
    from babel.messages.pofile import read_po

    from i18n import LOCALE_DIR

    with (LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "jianguan.po").open("rb") as f:
        catalog = read_po(f)
    wrong = [m.id for m in catalog if m.id and m.string and "{" in m.id + m.string
             and _fields(m.id) != _fields(m.string)]
    assert wrong == []


def test_the_command_speaks_the_operators_language():
    from i18n import cli_locale

    assert cli_locale({}) == cli_locale({"LANG": "C.UTF-8"}) == "zh_CN"  # a bare server: Chinese
    assert cli_locale({"LANG": "en_US.UTF-8"}) == "en"
    assert cli_locale({"LANG": "en_US.UTF-8", "JIANGUAN_LANG": "zh_CN"}) == "zh_CN"
    assert cli_locale({"LANGUAGE": "en:zh", "LANG": "zh_CN.UTF-8"}) == "en"  # gettext's order


def test_every_role_has_a_name():
    from alerts.review.auth import ROLES
    from alerts.review.texts import ROLE_NAMES

    assert set(ROLE_NAMES) == set(ROLES)
    assert missing("zh_CN", list(ROLE_NAMES.values())) == []


def test_every_help_text_of_the_command_is_in_chinese():
    """`jianguan ... --help`: commands' docstrings and options' help, read from the command tree."""
    from jianguan.cli import help_texts

    texts = help_texts()
    assert len(texts) > 80
    assert missing("zh_CN", sorted(texts)) == []
