"""The rule registry is the one place a rule is declared: a rule added by one registration (here a tiny rule in a
module of the test's own) is accepted by the site config with errors naming its fields, has its titles, is
built by the camera's analytics and tells the evaluation what it needs; every built-in rule is registered."""

import importlib.util
import inspect
import sys
import textwrap

import numpy as np
import pytest
import supervision as sv

import analytics.rule_config as rule_config
from analytics import CameraAnalytics
from analytics.rule_config import RULE_KINDS, RuleBase
from analytics.texts import alert_title, rule_label
from jianguan.config import ConfigError, parse_config

TINY = '''
from typing import ClassVar, Literal

from pydantic import Field

from analytics.rule_config import RuleBase, register_rule
from analytics.rules.common import EpisodeRule


class TinyConfig(RuleBase):
    """Somebody stands in `zone` for `seconds`: one registration is all a rule needs."""

    label: ClassVar[str] = "Tiny rule"
    title: ClassVar[str] = "{zone}: somebody there for {seconds:.0f} s"
    needs_objects: ClassVar[bool] = True
    type: Literal["tiny_test_rule"]
    zone: str
    seconds: float = Field(5.0, gt=0)


@register_rule(TinyConfig)
class TinyRule(EpisodeRule):
    def step(self, obs):
        return []
'''

ZONE = {"id": "desk", "kind": "staff", "polygon": [[0, 0], [1, 0], [1, 1]]}


def site(rules):
    cam = {"id": "c1", "name": "Cam", "area": "hall", "streams": {"detect": "/tmp/x.mp4"}, "zones": [ZONE],
           "rules": rules}
    return {"site": {"id": "s1", "name": "Site"}, "cameras": [cam]}


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny_rule_module.py"
    path.write_text(textwrap.dedent(TINY))
    spec = importlib.util.spec_from_file_location("tiny_rule_module", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    RULE_KINDS.remove("tiny_test_rule")
    del sys.modules[spec.name]


def test_a_rule_registered_once_is_configured_titled_and_built(tiny):
    cfg = parse_config(site([{"type": "tiny_test_rule", "zone": "desk", "seconds": 7}]), env={})
    (rule,) = cfg.cameras[0].rules
    assert type(rule) is tiny.TinyConfig and rule.seconds == 7 and type(rule).needs_objects
    assert rule_label("tiny_test_rule", "en") == "Tiny rule"
    # No Chinese for the test's own msgid: the English title, filled, in both languages.
    for locale in ("en", "zh_CN"):
        assert alert_title("tiny_test_rule", {"threshold_s": 7.0}, "Desk", locale) == "Desk: somebody there for 7 s"
    analytics = CameraAnalytics("c1", 5, cfg.cameras[0].zones, cfg.cameras[0].rules)
    assert [type(r) for r in analytics.rules] == [tiny.TinyRule] and analytics.rules[0].name == "tiny_test_rule"
    analytics.process(0.0, (100, 100), sv.Detections(xyxy=np.zeros((0, 4)), class_id=np.zeros(0, int)))


def test_errors_in_a_registered_rule_name_the_field_not_the_type(tiny):
    with pytest.raises(ConfigError) as info:
        parse_config(site([{"type": "tiny_test_rule", "zone": "desk", "seconds": -1}]), env={})
    (problem,) = info.value.problems
    assert "cameras[0].rules[0].seconds：" in problem and "tiny_test_rule" not in problem


def test_errors_in_builtin_rules_name_the_field():
    """Before the registry only zone_unattended's tag was dropped from error paths (issue 19)."""
    with pytest.raises(ConfigError) as info:
        parse_config(site([{"type": "zone_unattended", "zone": "desk"},
                           {"type": "waiting_over_limit", "zone": "desk", "limit": 3, "seconds": "soon"}]), env={})
    (problem,) = info.value.problems
    assert problem.startswith("config：cameras[0].rules[1].seconds：")


def test_an_unknown_or_missing_type_lists_the_known_ones():
    for rule, needle in (({"type": "tiny_test_rule", "zone": "desk"}, "tiny_test_rule"), ({"zone": "desk"}, "type")):
        with pytest.raises(ConfigError) as info:
            parse_config(site([rule]), env={})
        (problem,) = info.value.problems
        assert "cameras[0].rules[0]：" in problem and needle in problem and "zone_unattended" in problem


def test_every_rule_config_class_is_registered_with_texts():
    """A rule config written but never registered would be refused by every site config: caught here."""
    configs = [c for _, c in inspect.getmembers(rule_config, inspect.isclass)
               if issubclass(c, RuleBase) and "type" in c.model_fields
               and c.model_fields["type"].annotation is not str]
    registered = {e.config for e in RULE_KINDS.entries().values()}
    assert configs and set(configs) <= registered
    for code, entry in RULE_KINDS.entries().items():
        assert entry.impl.name == code
        assert entry.config.label and entry.config.title and entry.config.__doc__, code
