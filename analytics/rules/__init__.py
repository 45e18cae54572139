"""Rules turn observations (and external events) into incidents. Each rule type is registered by its config
`type`; docs/rules.md says what each one measures."""

from __future__ import annotations

from collections.abc import Mapping

from analytics.config import RuleConfig
from analytics.rule_config import (
    ExamCandidateAbsentConfig,
    ExamHeadTurnedConfig,
    ExamNoExaminerConfig,
    ExamPhoneConfig,
    ExamSeatCrowdedConfig,
    InspectionTooShortConfig,
    InspectionWithoutVehicleConfig,
    InspectorAbsentConfig,
    StaffPhoneConfig,
    VehicleLeftUninspectedConfig,
    WaitingOverLimitConfig,
    WalkaroundIncompleteConfig,
    ZoneUnattendedConfig,
)
from analytics.rules.base import EventRule, ExternalEvent, Incident, IncidentEvent, Observation, Rule
from analytics.rules.exam import (
    ExamCandidateAbsentRule,
    ExamHeadTurnedRule,
    ExamNoExaminerRule,
    ExamPhoneRule,
    ExamSeatCrowdedRule,
)
from analytics.rules.lane import (
    InspectionTooShortRule,
    InspectionWithoutVehicleRule,
    InspectorAbsentRule,
    VehicleLeftUninspectedRule,
    WalkaroundIncompleteRule,
)
from analytics.rules.unattended import ZoneUnattendedRule
from analytics.rules.window import StaffPhoneRule, WaitingOverLimitRule
from analytics.zones import Zone

RULES: dict[type, type] = {
    ZoneUnattendedConfig: ZoneUnattendedRule,
    InspectorAbsentConfig: InspectorAbsentRule,
    InspectionTooShortConfig: InspectionTooShortRule,
    WalkaroundIncompleteConfig: WalkaroundIncompleteRule,
    InspectionWithoutVehicleConfig: InspectionWithoutVehicleRule,
    VehicleLeftUninspectedConfig: VehicleLeftUninspectedRule,
    ExamPhoneConfig: ExamPhoneRule,
    ExamSeatCrowdedConfig: ExamSeatCrowdedRule,
    ExamCandidateAbsentConfig: ExamCandidateAbsentRule,
    ExamHeadTurnedConfig: ExamHeadTurnedRule,
    ExamNoExaminerConfig: ExamNoExaminerRule,
    StaffPhoneConfig: StaffPhoneRule,
    WaitingOverLimitConfig: WaitingOverLimitRule,
}


def build_rule(config: RuleConfig, fps: float, zones: Mapping[str, Zone] | None = None) -> Rule:
    """The rule for a config; `zones` (id -> Zone) gives rules the geometry of the zones they read."""
    return RULES[type(config)](config, fps, zones or {})


__all__ = [
    "RULES", "EventRule", "ExternalEvent", "Incident", "IncidentEvent", "Observation", "Rule", "build_rule",
    *(cls.__name__ for cls in RULES.values()),
]
