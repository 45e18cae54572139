"""Configuration of the event intake (the `events:` section of a site config; every field has a default).

Secrets (`http.token`, `mqtt.password`) are written as `${ENV_VAR}` references in the YAML; with no
`http.token` the HTTP API reads $JIANGUAN_INTAKE_TOKEN and refuses to start without one.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from common.model import Strict
from i18n import N_, TranslatableError

TOKEN_ENV = "JIANGUAN_INTAKE_TOKEN"


class MqttIntakeConfig(Strict):
    """Lane sensors publish to `topic` (QoS 1). In the filter, the first `+` is the site id and the second the
    lane id; a message may omit `site_id`/`lane_id` (taken from the topic) but must not contradict them."""

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    topic: str = "jianguan/+/lane/+/events"
    client_id: str = Field("jianguan-intake", min_length=1, max_length=64,
                           description="fixed, so the broker keeps the session (and unacknowledged messages)")
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: Path | None = None
    keepalive_s: int = Field(30, ge=5, le=600)
    max_batch: int = Field(200, ge=1, le=5000, description="messages stored per database transaction")

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        levels = value.split("/")
        if any(("+" in lvl and lvl != "+") or ("#" in lvl and lvl != "#") for lvl in levels) or "#" in levels[:-1]:
            raise TranslatableError(N_("not a valid MQTT topic filter"))
        return value


class LaneToken(Strict):
    """A bearer token that may report only `lanes` (one lane controller's, say): a leaked one cannot speak
    for the other lanes."""

    token: SecretStr
    lanes: list[str] = Field(min_length=1)


class HttpIntakeConfig(Strict):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8090, ge=1, le=65535)
    token: SecretStr | None = Field(None, description=f"bearer token for every lane of the site; default "
                                    f"${TOKEN_ENV}")
    lane_tokens: list[LaneToken] = Field(default_factory=list, description="further tokens, each for some "
                                         "lanes only")
    max_body_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    max_batch: int = Field(500, ge=1, le=10_000, description="messages per request")


class EventsConfig(Strict):
    lanes: list[str] | None = Field(None, description="the site's inspection-lane ids; events for any other "
                                    "lane go to dead_letters. Default: the lanes of the site's inspection-lane "
                                    "cameras (camera `lane-1-front` is on lane `lane-1`) and business.lane_cameras")
    mqtt: MqttIntakeConfig | None = Field(None, description="absent: no MQTT subscriber")
    http: HttpIntakeConfig = Field(default_factory=HttpIntakeConfig)
    spool_dir: Path | None = Field(None, description="default: <paths.data_dir>/events-spool")
    max_spool_bytes: int = Field(1024**3, ge=1024 * 1024)
    max_message_bytes: int = Field(16 * 1024, ge=512, le=1024 * 1024)
    max_future_s: float = Field(300.0, ge=0, description="clock skew allowed for times ahead of the receiver")
    max_inspection_s: float = Field(6 * 3600.0, gt=0, description="an end further than this from its start "
                                                                   "does not close it")
    seen_days: float = Field(30.0, ge=1, description="message ids are remembered this long against redelivery "
                             "(intake_seen); older ones are dropped hourly, so the table does not grow forever")
