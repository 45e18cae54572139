"""Notifiers deliver one outbox message to one channel. A failure raises DeliveryError; the outbox retries."""

from __future__ import annotations

from typing import Any, Protocol

from alerts.config import NotifierConfig, WebhookNotifierConfig
from alerts.notifiers.webhook import DeliveryError, WebhookNotifier


class Notifier(Protocol):
    id: str
    min_severity: str

    def send(self, payload: dict[str, Any], idempotency_key: str) -> None: ...


def build_notifier(config: NotifierConfig) -> Notifier:
    if isinstance(config, WebhookNotifierConfig):
        return WebhookNotifier(config)
    raise ValueError(f"unknown notifier type {config.type!r}")


__all__ = ["DeliveryError", "Notifier", "WebhookNotifier", "build_notifier"]
