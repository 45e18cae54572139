"""Notifiers deliver one outbox message to one channel. A failure raises DeliveryError; the outbox retries.

Types: generic signed webhook, WeCom and DingTalk group robots (markdown), MQTT (QoS 1) and e-mail (SMTP); each
notifier class registers itself with its config class (`NOTIFIER_KINDS.register`), which importing this package
does for the built-in ones.
A DeliveryError's text goes into logs and the outbox table, so it never holds a URL, token or password.
"""

from __future__ import annotations

from typing import Any, Protocol

from alerts.config import NOTIFIER_KINDS, NotifierBase
from alerts.notifiers.mail import EmailNotifier
from alerts.notifiers.mqtt import MqttNotifier
from alerts.notifiers.robots import DingTalkNotifier, WeComNotifier
from alerts.notifiers.webhook import DeliveryError, WebhookNotifier


class Notifier(Protocol):
    id: str
    min_severity: str

    def send(self, payload: dict[str, Any], idempotency_key: str) -> None: ...


def build_notifier(config: NotifierBase) -> Notifier:
    """The notifier for a config, through the registry (each notifier module registers its class)."""
    notifier: Notifier = NOTIFIER_KINDS.build(config)
    return notifier


__all__ = [
    "DeliveryError",
    "DingTalkNotifier",
    "EmailNotifier",
    "MqttNotifier",
    "Notifier",
    "WeComNotifier",
    "WebhookNotifier",
    "build_notifier",
]
