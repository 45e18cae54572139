"""Alerts: incidents become alerts with evidence (snapshot, clip), pushed through a durable outbox."""

from alerts.config import (
    AlertsConfig,
    DingTalkNotifierConfig,
    EmailNotifierConfig,
    MqttNotifierConfig,
    NotifierConfig,
    RetryConfig,
    WebhookNotifierConfig,
    WeComNotifierConfig,
)
from alerts.evidence import ClipRetention
from alerts.manager import AlertManager, AlertStats, ClipSource
from alerts.notifiers import (
    DeliveryError,
    DingTalkNotifier,
    EmailNotifier,
    MqttNotifier,
    Notifier,
    WebhookNotifier,
    WeComNotifier,
    build_notifier,
)
from alerts.outbox import OutboxWorker, backoff_s
from alerts.store import AlertRef, AlertStore

__all__ = [
    "AlertManager",
    "AlertRef",
    "AlertStats",
    "AlertStore",
    "AlertsConfig",
    "ClipRetention",
    "ClipSource",
    "DeliveryError",
    "DingTalkNotifier",
    "DingTalkNotifierConfig",
    "EmailNotifier",
    "EmailNotifierConfig",
    "MqttNotifier",
    "MqttNotifierConfig",
    "Notifier",
    "NotifierConfig",
    "OutboxWorker",
    "RetryConfig",
    "WebhookNotifier",
    "WeComNotifier",
    "WeComNotifierConfig",
    "WebhookNotifierConfig",
    "backoff_s",
    "build_notifier",
]
