"""Notifiers deliver one outbox message to one channel. A failure raises DeliveryError; the outbox retries.

Types: generic signed webhook, WeCom and DingTalk group robots (markdown), MQTT (QoS 1) and e-mail (SMTP).
A DeliveryError's text goes into logs and the outbox table, so it never holds a URL, token or password.
"""

from __future__ import annotations

from typing import Any, Protocol

from alerts.config import (
    DingTalkNotifierConfig,
    EmailNotifierConfig,
    MqttNotifierConfig,
    NotifierConfig,
    WebhookNotifierConfig,
    WeComNotifierConfig,
)
from alerts.notifiers.mail import EmailNotifier
from alerts.notifiers.mqtt import MqttNotifier
from alerts.notifiers.robots import DingTalkNotifier, WeComNotifier
from alerts.notifiers.webhook import DeliveryError, WebhookNotifier


class Notifier(Protocol):
    id: str
    min_severity: str

    def send(self, payload: dict[str, Any], idempotency_key: str) -> None: ...


def build_notifier(config: NotifierConfig) -> Notifier:
    if isinstance(config, WebhookNotifierConfig):
        return WebhookNotifier(config)
    if isinstance(config, WeComNotifierConfig):
        return WeComNotifier(config)
    if isinstance(config, DingTalkNotifierConfig):
        return DingTalkNotifier(config)
    if isinstance(config, MqttNotifierConfig):
        return MqttNotifier(config)
    if isinstance(config, EmailNotifierConfig):
        return EmailNotifier(config)
    raise ValueError(f"unknown notifier type {config.type!r}")


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
