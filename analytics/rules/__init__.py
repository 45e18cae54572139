"""Rules turn observations (and external events) into incidents. Each rule class registers itself with its
config class (`analytics.rule_config.register_rule`); importing this package registers the built-in ones.
docs/rules.md says what each one measures."""

from __future__ import annotations

from collections.abc import Mapping

from analytics.rule_config import RULE_KINDS, RuleBase

# The rule modules register their rules on import (the registry's `builtins` names this package).
from analytics.rules import exam, lane, unattended, window  # noqa: F401
from analytics.rules.base import EventRule, ExternalEvent, Incident, IncidentEvent, Observation, Rule
from analytics.zones import Zone


def build_rule(config: RuleBase, fps: float, zones: Mapping[str, Zone] | None = None) -> Rule:
    """The rule for a config; `zones` (id -> Zone) gives rules the geometry of the zones they read."""
    rule: Rule = RULE_KINDS.build(config, fps, zones or {})
    return rule


__all__ = ["EventRule", "ExternalEvent", "Incident", "IncidentEvent", "Observation", "Rule", "build_rule"]
