"""Configuration owned by the alerts package."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from alerts.routing import EscalationConfig, Route


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookNotifierConfig(_Strict):
    """Generic JSON webhook. The URL often carries a token, so it is a secret: write `${ENV_VAR}`."""

    type: Literal["webhook"]
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    url: SecretStr
    hmac_secret: SecretStr | None = Field(None, description="signs the body: X-Jianguan-Signature")
    timeout_s: float = Field(5.0, gt=0, le=60)
    min_severity: Literal["info", "minor", "major", "critical"] = "info"


NotifierConfig = Annotated[WebhookNotifierConfig, Field(discriminator="type")]


class RetryConfig(_Strict):
    initial_s: float = Field(2.0, gt=0)
    max_s: float = Field(300.0, gt=0)
    max_attempts: int = Field(8, ge=1, le=100)


class AlertsConfig(_Strict):
    clip_pre_s: float = Field(5.0, ge=0, le=120, description="seconds of clip before the incident start")
    clip_post_s: float = Field(5.0, ge=0, le=120, description="seconds of clip after the alert was raised")
    max_clip_s: float = Field(60.0, gt=0, le=600)
    review_base_url: str = Field("http://127.0.0.1:8080", description="links in pushes point here")
    notifiers: list[NotifierConfig] = Field(default_factory=list)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    routes: list[Route] = Field(default_factory=list, description="empty: every notifier by its min_severity")
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    link_secret: SecretStr | None = Field(None, description="signs acknowledge links in pushes (>= 32 chars)")
    link_ttl_h: float = Field(24.0, gt=0, le=24 * 30)
