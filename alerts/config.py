"""Configuration owned by the alerts package."""

from __future__ import annotations

from string import Formatter
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from alerts.routing import EscalationConfig, Route
from common.model import Severity, Strict, TimeZone
from common.registry import Registry
from i18n import N_, TranslatableError

# Every notifier type, by its config's `type`: alerts/notifiers/ registers the built-in ones, each with its
# config class below.
NOTIFIER_KINDS: Registry[type] = Registry("type", builtins="alerts.notifiers")


class NotifierBase(Strict):
    """What every notifier has: its type, an id (the outbox's channel) and the least severity it is sent."""

    type: str
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    min_severity: Severity = "info"


class WebhookNotifierConfig(NotifierBase):
    """Generic JSON webhook. The URL often carries a token, so it is a secret: write `${ENV_VAR}`."""

    type: Literal["webhook"]
    url: SecretStr
    hmac_secret: SecretStr | None = Field(None, description="signs the body: X-Jianguan-Signature")
    timeout_s: float = Field(5.0, gt=0, le=60)


# Fields a topic template may name: all plain values of an alert push.
TOPIC_FIELDS = frozenset({"event", "alert_id", "site_id", "camera_id", "rule", "zone_id", "severity"})


class WeComNotifierConfig(NotifierBase):
    """WeCom (企业微信) group robot: markdown to the robot's webhook URL (its `key` is the secret)."""

    type: Literal["wecom"]
    url: SecretStr = Field(description="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...: write ${ENV}")
    timeout_s: float = Field(5.0, gt=0, le=60)
    timezone: TimeZone = Field("Asia/Shanghai", description="times in the message are shown in this zone")


class DingTalkNotifierConfig(NotifierBase):
    """DingTalk (钉钉) custom robot: markdown; with `secret` (SEC...) every request is signed (加签)."""

    type: Literal["dingtalk"]
    url: SecretStr = Field(description="https://oapi.dingtalk.com/robot/send?access_token=...: write ${ENV}")
    secret: SecretStr | None = Field(None, description="the robot's signing secret (加签), SEC...")
    title_prefix: str = Field("[监管告警]", max_length=40, description="also satisfies a robot's keyword check")
    timeout_s: float = Field(5.0, gt=0, le=60)
    timezone: TimeZone = "Asia/Shanghai"


class MqttNotifierConfig(NotifierBase):
    """MQTT publish (QoS 1, waits for the broker's PUBACK): JSON payload with the idempotency key inside.

    With `tls: true` the broker's certificate is verified (against `ca_file`, else the system's CAs) and its
    name checked against `host`, before any credentials are sent; the port then defaults to 8883.
    """

    type: Literal["mqtt"]
    host: str = Field(min_length=1)
    port: int | None = Field(None, ge=1, le=65535, description="default: 8883 with tls, else 1883")
    tls: bool = Field(False, description="MQTT over TLS, the broker's certificate verified")
    ca_file: str | None = Field(None, description="PEM CA bundle for the broker's certificate; default: the system's")
    cert_file: str | None = Field(None, description="client certificate (PEM) for brokers that require one")
    key_file: str | None = Field(None, description="the client certificate's private key (PEM, unencrypted)")
    topic: str = Field("jianguan/alerts/{site_id}/{severity}",
                       description="template; fields: " + ", ".join(sorted(TOPIC_FIELDS)))
    username: str | None = None
    password: SecretStr | None = None
    client_id_prefix: str = Field("jianguan-", max_length=40)
    keepalive_s: int = Field(30, ge=5, le=3600)
    timeout_s: float = Field(5.0, gt=0, le=60, description="connect and PUBACK wait, each")

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        try:
            names = {name for _, name, _, _ in Formatter().parse(value) if name is not None}
        except ValueError as exc:
            raise TranslatableError(N_("bad topic template: {error}"), error=exc) from None
        unknown = sorted(names - TOPIC_FIELDS)
        if unknown:
            raise TranslatableError(N_("unknown topic fields {unknown}; known: {known}"), unknown=unknown,
                                    known=sorted(TOPIC_FIELDS))
        if not value or "+" in value or "#" in value:
            raise TranslatableError(N_("a publish topic must be non-empty and hold no wildcard (+, #)"))
        return value

    @model_validator(mode="after")
    def _tls(self) -> MqttNotifierConfig:
        if self.port is None:
            self.port = 8883 if self.tls else 1883
        if not self.tls and (self.ca_file or self.cert_file or self.key_file):
            raise TranslatableError(N_("ca_file, cert_file and key_file need tls: true"))
        if (self.cert_file is None) != (self.key_file is None):
            raise TranslatableError(N_("cert_file and key_file go together"))
        return self


class EmailNotifierConfig(NotifierBase):
    """E-mail over SMTP: plain text + HTML, Message-ID derived from the idempotency key."""

    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = Field(True, description="upgrade with STARTTLS (certificate verified) before anything else")
    ca_file: str | None = Field(None, description="CA bundle for STARTTLS; default: the system's")
    username: str | None = None
    password: SecretStr | None = None
    from_addr: str = Field(pattern=r"^[^@\s<>]+@[^@\s<>]+$")
    to: list[Annotated[str, Field(pattern=r"^[^@\s<>]+@[^@\s<>]+$")]] = Field(min_length=1)
    subject_prefix: str = Field("[监管告警]", max_length=40)
    message_id_domain: str = Field("jianguan.local", pattern=r"^[A-Za-z0-9.-]+$")
    timeout_s: float = Field(10.0, gt=0, le=120)
    timezone: TimeZone = "Asia/Shanghai"

    allow_plaintext_auth: bool = Field(False, description="log in without STARTTLS (a trusted local relay only)")

    @model_validator(mode="after")
    def _credentials(self) -> EmailNotifierConfig:
        if (self.username is None) != (self.password is None):
            raise TranslatableError(N_("username and password go together"))
        if self.password is not None and not self.starttls and not self.allow_plaintext_auth:
            raise TranslatableError(N_("a password would cross the network in clear: enable starttls "
                                       "(or allow_plaintext_auth for a trusted local relay)"))
        return self


# A notifier in the site config: validated by its `type` with the registered config class.
NotifierConfig = NOTIFIER_KINDS.field(NotifierBase)


class RetryConfig(Strict):
    initial_s: float = Field(2.0, gt=0)
    max_s: float = Field(300.0, gt=0)
    max_attempts: int = Field(8, ge=1, le=100)


class AlertsConfig(Strict):
    clip_pre_s: float = Field(5.0, ge=0, le=120, description="seconds of clip before the incident start")
    clip_post_s: float = Field(5.0, ge=0, le=120, description="seconds of clip after the alert was raised")
    max_clip_s: float = Field(60.0, gt=0, le=600)
    review_base_url: str = Field("http://127.0.0.1:8080", description="links in pushes point here")
    notifiers: list[NotifierConfig] = Field(default_factory=list)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    cooldown_s: float = Field(300.0, ge=0, description="after a review or close, the same camera/rule/zone"
                              " does not open a new alert for this long")
    routes: list[Route] = Field(default_factory=list, description="empty: every notifier by its min_severity")
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    link_secret: SecretStr | None = Field(None, description="signs acknowledge links in pushes (>= 32 chars)")
    link_ttl_h: float = Field(24.0, gt=0, le=24 * 30)
