"""Chat group robots: WeCom (企业微信群机器人) and DingTalk (钉钉自定义机器人), markdown messages.

Both answer HTTP 200 with `{"errcode": 0, "errmsg": "ok"}` on success and a non-zero errcode otherwise
(rate limit, bad key, bad signature, keyword missing). Neither knows idempotency keys: the outbox sends a
message again only when no success was recorded, so a repeat needs a crash between the robot's reply and
the database commit (see docs/design.md, "Outbox").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import quote_plus

import httpx

from alerts.config import NOTIFIER_KINDS, DingTalkNotifierConfig, WeComNotifierConfig
from alerts.notifiers import render
from alerts.notifiers.webhook import DeliveryError

WECOM_MAX_BYTES = 4096  # markdown.content limit of the WeCom robot
DINGTALK_MAX_BYTES = 18000  # stays under DingTalk's 20000-byte message limit


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk 加签: base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")), UTF-8 throughout.
    Returned *not* URL-encoded; `signed_url` encodes it for the query string."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    """The robot URL with `timestamp` and `sign` appended (keeping its access_token)."""
    sign = quote_plus(dingtalk_sign(secret, timestamp_ms))
    return f"{url}{'&' if '?' in url else '?'}timestamp={timestamp_ms}&sign={sign}"


class _Robot:
    kind = "robot"

    def __init__(self, notifier_id: str, url: str, timeout_s: float) -> None:
        self.id = notifier_id
        self._url = url
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def _post(self, url: str, message: dict[str, Any]) -> None:
        body = json.dumps(message, ensure_ascii=False).encode()
        try:
            response = self._client.post(url, content=body,
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        except httpx.HTTPError as exc:
            # httpx messages can embed the URL, and the URL holds the robot's key: name the kind of failure only.
            raise DeliveryError(f"{self.kind} {self.id}: {type(exc).__name__}") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"{self.kind} {self.id}: HTTP {response.status_code}")
        try:
            reply = response.json()
            errcode = int(reply.get("errcode", -1))
        except (ValueError, TypeError, AttributeError):
            raise DeliveryError(f"{self.kind} {self.id}: reply is not the robot's JSON") from None
        if errcode != 0:
            # errmsg is left out on purpose: some robots echo request details (hints, keys) into it.
            raise DeliveryError(f"{self.kind} {self.id}: errcode {errcode}")


@NOTIFIER_KINDS.register(WeComNotifierConfig)
class WeComNotifier(_Robot):
    kind = "wecom"

    def __init__(self, config: WeComNotifierConfig) -> None:
        super().__init__(config.id, config.url.get_secret_value(), config.timeout_s)
        self.min_severity = config.min_severity
        self.timezone = config.timezone

    def message(self, payload: dict[str, Any]) -> dict[str, Any]:
        content = render.truncate_utf8(render.markdown(payload, self.timezone), WECOM_MAX_BYTES)
        return {"msgtype": "markdown", "markdown": {"content": content}}

    def send(self, payload: dict[str, Any], idempotency_key: str) -> None:
        self._post(self._url, self.message(payload))


@NOTIFIER_KINDS.register(DingTalkNotifierConfig)
class DingTalkNotifier(_Robot):
    kind = "dingtalk"

    def __init__(self, config: DingTalkNotifierConfig) -> None:
        super().__init__(config.id, config.url.get_secret_value(), config.timeout_s)
        self.min_severity = config.min_severity
        self.timezone = config.timezone
        self.title_prefix = config.title_prefix
        self._secret = config.secret.get_secret_value() if config.secret else None

    def message(self, payload: dict[str, Any]) -> dict[str, Any]:
        text = render.truncate_utf8(render.markdown(payload, self.timezone, self.title_prefix), DINGTALK_MAX_BYTES)
        title = f"{self.title_prefix} {render.title(payload)}".strip()
        return {"msgtype": "markdown", "markdown": {"title": title, "text": text}}

    def send(self, payload: dict[str, Any], idempotency_key: str) -> None:
        url = self._url
        if self._secret:
            # Signed per request: the robot refuses a timestamp more than an hour off, so never reuse one.
            url = signed_url(url, self._secret, int(time.time() * 1000))
        self._post(url, self.message(payload))
