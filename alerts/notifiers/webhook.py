"""Generic JSON webhook: POST with an idempotency key and an optional HMAC-SHA256 signature."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from alerts.config import NOTIFIER_KINDS, WebhookNotifierConfig


class DeliveryError(Exception):
    """The receiver did not take the message; safe to show (never contains the URL)."""


@NOTIFIER_KINDS.register(WebhookNotifierConfig)
class WebhookNotifier:
    def __init__(self, config: WebhookNotifierConfig) -> None:
        self.id = config.id
        self.min_severity = config.min_severity
        self._url = config.url.get_secret_value()
        self._secret = config.hmac_secret.get_secret_value().encode() if config.hmac_secret else None
        self._client = httpx.Client(timeout=config.timeout_s, follow_redirects=False)

    def send(self, payload: dict[str, Any], idempotency_key: str) -> None:
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
        if self._secret:
            digest = hmac.new(self._secret, body, hashlib.sha256).hexdigest()
            headers["X-Jianguan-Signature"] = f"sha256={digest}"
        try:
            response = self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            # httpx messages can embed the URL (and its token): report only the kind of failure.
            raise DeliveryError(f"webhook {self.id}: {type(exc).__name__}") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"webhook {self.id}: HTTP {response.status_code}")
