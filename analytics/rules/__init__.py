"""Rules turn observations into incidents. Each rule type is registered by its config `type`."""

from __future__ import annotations

from analytics.config import ZoneUnattendedConfig
from analytics.rules.base import Incident, IncidentEvent, Observation, Rule
from analytics.rules.unattended import ZoneUnattendedRule

RULES: dict[type, type] = {ZoneUnattendedConfig: ZoneUnattendedRule}


def build_rule(config: ZoneUnattendedConfig, fps: float) -> Rule:
    return RULES[type(config)](config, fps)


__all__ = ["Incident", "IncidentEvent", "Observation", "Rule", "ZoneUnattendedRule", "build_rule"]
