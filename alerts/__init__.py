"""Alerts: incidents become alerts with evidence (snapshot, clip), pushed through a durable outbox."""

from alerts.config import AlertsConfig, NotifierConfig, RetryConfig, WebhookNotifierConfig
from alerts.manager import AlertManager, AlertStats, ClipSource
from alerts.notifiers import DeliveryError, Notifier, WebhookNotifier, build_notifier
from alerts.outbox import OutboxWorker, backoff_s
from alerts.store import AlertRef, AlertStore

__all__ = [
    "AlertManager",
    "AlertRef",
    "AlertStats",
    "AlertStore",
    "AlertsConfig",
    "ClipSource",
    "DeliveryError",
    "Notifier",
    "NotifierConfig",
    "OutboxWorker",
    "RetryConfig",
    "WebhookNotifier",
    "WebhookNotifierConfig",
    "backoff_s",
    "build_notifier",
]
