"""Rules turn observations (and external events) into incidents. Each rule class registers itself with its
config class (`analytics.rule_config.register_rule`); importing this package registers the built-in ones.
docs/rules.md says what each one measures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from analytics.rule_config import RULE_KINDS, RuleBase

# The rule modules register their rules on import (the registry's `builtins` names this package).
from analytics.rules import exam, lane, unattended, window  # noqa: F401
from analytics.rules.base import EventRule, ExternalEvent, Incident, IncidentEvent, Observation, Rule
from analytics.zones import Zone

if TYPE_CHECKING:
    from analytics.scene import Scene


def build_rule(config: RuleBase, fps: float, zones: Mapping[str, Zone] | None = None,
               scene: Scene | None = None) -> Rule:
    """The rule for a config; `zones` (id -> Zone) gives rules the geometry of the zones they read, `scene`
    the camera's shared lane trackers (analytics/scene.py)."""
    rule: Rule = RULE_KINDS.build(config, fps, zones or {}, scene)
    return rule


__all__ = ["EventRule", "ExternalEvent", "Incident", "IncidentEvent", "Observation", "Rule", "build_rule"]
