"""Labelled scenarios for judging the vision rules: real people cut out of real photos, composited into a
real empty scene, moved by a script whose ground truth is known. `jianguan evaluate` runs the real
pipeline on them and prints precision, recall and alert delay per rule."""

from devkit.scenarios.media import MediaError, media_path
from devkit.scenarios.render import render
from devkit.scenarios.spec import Actor, ExternalEventSpec, Prop, Scenario, Segment, Truth
from devkit.scenarios.sprites import CATALOGUE, SpriteBank

__all__ = ["CATALOGUE", "Actor", "ExternalEventSpec", "MediaError", "Prop", "Scenario", "Segment", "SpriteBank",
           "Truth", "media_path", "render"]
