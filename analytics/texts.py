"""The one catalogue of what a person reads about the analysis: rule names and alert titles, zone kinds,
measures with their units, severities. English msgids, translated by i18n (zh_CN by default).

Each rule's texts are owned by its definition: the vision rules' configs (`label`, `title` in
analytics/rule_config.py, found through the rule registry, so a rule registered later has its texts too),
the camera-health rules (`HEALTH_TEXTS` in analytics/health.py), the business rules (`RULES` in
analytics/business/model.py); only the incidents the node raises about itself are named here, as their code
(jianguan/) sits above this package. tests/i18n/test_catalogue.py fails when any of them, or a
measure key the code writes, has no Chinese.

    >>> alert_title("zone_unattended", {"threshold_s": 8.0}, "1号窗口")
    '1号窗口：岗位无人 8 秒'
    >>> measures_text({"empty_s": 10.4, "threshold_s": 8.0})
    '离岗 10.4 秒，阈值 8 秒'
    >>> measures_text({"empty_s": 10.4, "threshold_s": 8.0}, "en")
    'Time unattended 10.4 s, Threshold 8 s'
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from analytics.business.model import RULES as BUSINESS_RULES
from analytics.health import HEALTH_TEXTS
from analytics.rule_config import RULE_KINDS
from common.model import SEVERITY_LABELS
from i18n import N_, gettext


@dataclass(frozen=True)
class RuleText:
    label: str  # the rule's short name
    title: str  # an alert's title: {zone} the zone's name, {seconds} the threshold, measures by key
    resolved: str | None = None  # the title of the push saying it is over (camera health and recording)


# Incidents the node raises about itself (jianguan/recording_watch.py, jianguan/node.py, jianguan/cluster.py).
NODE_RULES = {
    "recording_stopped": RuleText(N_("Recording stopped"), N_("Recording stopped: no footage for {stalled_s:.0f} s"),
                                  N_("Recording again")),
    "storage_failing": RuleText(N_("Disk failing"), N_("Disk full or failing: spools refused {refused_writes:.0f} "
                                                       "writes"), N_("Spools writable again")),
    "node_overloaded": RuleText(N_("Node overloaded"), N_("Node overloaded: {cameras:.0f} cameras analysed at "
                                                          "{fps:.1f} of {need:.1f} frames/s")),
    "camera_group_restarted": RuleText(N_("Analysis moved to another machine"), N_(
        "Camera analysed again on another machine after {down_s:.0f} s without analysis")),
}


def rule_texts() -> dict[str, RuleText]:
    """Every rule a person may read about, by its code."""
    return _rule_texts(RULE_KINDS.generation)


@functools.cache
def _rule_texts(generation: int) -> dict[str, RuleText]:
    # Keyed by the registry's generation: a rule registered after the first call is read about too.
    out: dict[str, RuleText] = {}
    for code, kind in RULE_KINDS.entries().items():
        out[code] = RuleText(kind.config.label, kind.config.title)  # type: ignore[attr-defined]
    for code, (label, title, resolved) in HEALTH_TEXTS.items():
        out[code] = RuleText(label, title, resolved)
    out |= NODE_RULES
    for code, label in BUSINESS_RULES.items():
        out[code] = RuleText(label, N_("{label}: {source}"))
    return out


ZONE_KINDS = {"staff": N_("Staff post"), "waiting": N_("Waiting area"), "lane": N_("Inspection lane"),
              "seat": N_("Exam seat"), "room": N_("Exam room"), "patrol": N_("Examiner's walkway"),
              "custom": N_("Zone")}
SEVERITIES = SEVERITY_LABELS  # common/model.py: the severities and their names, written once
# Where a camera looks (cameras.area; jianguan.config.Area, which tests/i18n checks against this).
AREAS = {"window": N_("Service windows"), "inspection_lane": N_("Inspection lanes"), "exam_room": N_("Exam rooms"),
         "outlet": N_("Partner outlets"), "hall": N_("Service hall"), "self_service": N_("Self-service area")}

# How a measure reads: its name and its unit (UNITS). Keys are what the rules write into an incident's measures.
MEASURES: dict[str, tuple[str, str]] = {
    "absent_s": (N_("Time away"), "s"), "crowded_s": (N_("Time crowded"), "s"),
    "empty_s": (N_("Time unattended"), "s"), "over_s": (N_("Time over the limit"), "s"),
    "phone_s": (N_("Time with a phone"), "s"), "turned_s": (N_("Time turned"), "s"),
    "threshold_s": (N_("Threshold"), "s"), "visit_s": (N_("Visit length"), "s"),
    "recorded_s": (N_("Recorded length"), "s"), "lead_s": (N_("Lead time"), "s"),
    "lookback_s": (N_("Look-back"), "s"), "down_s": (N_("Time unanalysed"), "s"),
    "silent_s": (N_("Time without pictures"), "s"), "stalled_s": (N_("Time without footage"), "s"),
    "duration_s": (N_("Duration"), "s"), "limit_s": (N_("Limit"), "s"), "median_s": (N_("Median"), "s"),
    "mad_s": (N_("Median absolute deviation"), "s"),
    "limit": (N_("Limit"), "n"), "people": (N_("People"), "n"), "phones": (N_("Phones"), "n"),
    "count": (N_("Count"), "n"), "records": (N_("Records"), "n"), "tests": (N_("Tests"), "n"),
    "peers": (N_("Peers"), "n"), "judged": (N_("Judged"), "n"), "unjudged": (N_("Not judged"), "n"),
    "without_vehicle": (N_("Without a vehicle"), "n"), "vision_incidents": (N_("Video incidents"), "n"),
    "history": (N_("Earlier values"), "n"), "cameras": (N_("Cameras"), "n"),
    "refused_writes": (N_("Refused writes"), "n"), "vehicle_seen": (N_("Vehicle seen"), "yes"),
    "closed_by_end_of_observation": (N_("Closed at the end of the video"), "yes"),
    "fps": (N_("Analysed frames/s"), "x"), "need": (N_("Needed frames/s"), "x"),
    "value": (N_("Value"), "x"), "baseline": (N_("Baseline"), "x"), "median": (N_("Median"), "x"),
    "mad": (N_("Median absolute deviation"), "x"), "peer_median": (N_("Peers' median"), "x"),
    "peer_mad": (N_("Peers' median absolute deviation"), "x"), "z": (N_("Robust z-score"), "x"),
    "scale": (N_("Scale"), "x"), "sd_estimate": (N_("Standard deviation (estimate)"), "x"),
    "se": (N_("Standard error"), "x"), "pass_rate": (N_("Pass rate"), "%"),
    "direction": (N_("Direction (+1: to the right)"), "x"),
    "changed": (N_("Share of the picture changed"), "%"), "luma_mean": (N_("Mean brightness"), "x"),
    "luma_std": (N_("Brightness spread"), "x"), "sharpness": (N_("Sharpness"), "x"),
    "sharpness_ratio": (N_("Sharpness against normal"), "%"), "ratio": (N_("Ratio to normal"), "%"),
    "shift": (N_("Scene shift"), "x"), "dx": (N_("Shift right"), "x"), "dy": (N_("Shift down"), "x"),
    "response": (N_("Match strength"), "x"),
    # A published report's push (reports/publish.py): the period's totals.
    "transactions": (N_("Transactions"), "n"), "alerts": (N_("Alerts"), "n"),
}
# How a unit reads around its number ({value}: the number as NUMBERS formats it; "8 秒", "130.4 秒").
UNITS = {"s": N_("{value} s"), "n": "{value}", "%": "{value}", "x": "{value}", "yes": "{value}"}
NUMBERS = {"s": lambda v: f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}", "n": lambda v: f"{v:.0f}",
           "%": lambda v: f"{v:.1%}", "x": lambda v: f"{v:.4g}", "yes": lambda v: f"{v:.0f}"}
SEPARATOR = N_(", ")  # between measures ("，" in Chinese)


def rule_label(rule: str, locale: str | None = None) -> str:
    text = rule_texts().get(rule)
    return gettext(text.label, locale) if text else rule


def zone_kind_label(kind: str, locale: str | None = None) -> str:
    return gettext(ZONE_KINDS.get(kind, kind), locale)


def area_label(area: str, locale: str | None = None) -> str:
    return gettext(AREAS.get(area, area), locale)


def severity_label(severity: str, locale: str | None = None) -> str:
    return gettext(SEVERITIES.get(severity, severity), locale)


def alert_title(rule: str, measures: Mapping[str, Any], zone: str | None = None, locale: str | None = None,
                resolved: bool = False, **extra: Any) -> str:
    """An alert's title in `locale`: the rule's title with the zone's name, the threshold and the measures. A
    measure the title names but the incident lacks reads as 0, never an error (an old row must still show)."""
    text = rule_texts().get(rule)
    if text is None:
        return rule
    template = text.resolved if resolved and text.resolved else text.title
    values = _Zeros({**measures, "zone": zone or "-", "seconds": measures.get("threshold_s", 0.0),
                     "label": gettext(text.label, locale), **extra})
    return gettext(template, locale).format_map(values)


def measure_text(key: str, value: Any, locale: str | None = None) -> str:
    label, unit = MEASURES.get(key, (key, "x"))
    if not isinstance(value, int | float):
        return f"{gettext(label, locale)} {value}"
    if unit == "yes":
        return gettext(label, locale) if value else ""
    return f"{gettext(label, locale)} {gettext(UNITS[unit], locale).format(value=NUMBERS[unit](value))}"


def measures_text(measures: Mapping[str, Any], locale: str | None = None) -> str:
    """The measures a person reads, the rule's own duration first, the threshold after it."""
    order = sorted(measures, key=lambda k: (k == "threshold_s", k not in MEASURES, k))
    parts = [measure_text(k, measures[k], locale) for k in order]
    return gettext(SEPARATOR, locale).join(p for p in parts if p)


class _Zeros(dict):
    def __missing__(self, key: str) -> float:
        return 0.0
