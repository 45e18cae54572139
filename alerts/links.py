"""Signed, expiring links carried by pushes: a commander acknowledges from the phone without logging in.

The link is a capability for one action on one alert, from one channel, until it expires; the
acknowledgement is recorded with the channel as the actor.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

_SALT = "jianguan.alert-link.v1"


@dataclass(frozen=True)
class LinkClaim:
    alert_id: int
    action: str
    channel: str


class LinkSigner:
    """
    >>> s = LinkSigner("k" * 32)
    >>> s.verify(s.sign(7, "acknowledge", "wecom"))
    LinkClaim(alert_id=7, action='acknowledge', channel='wecom')
    >>> s.verify(s.sign(7, "acknowledge", "wecom")[:-2] + "xx") is None
    True
    """

    def __init__(self, secret: str, max_age_s: int = 24 * 3600) -> None:
        if len(secret) < 32:
            raise ValueError("the link secret needs at least 32 characters")
        self._s = URLSafeTimedSerializer(secret, salt=_SALT)
        self.max_age_s = max_age_s

    def sign(self, alert_id: int, action: str, channel: str) -> str:
        return self._s.dumps({"a": alert_id, "x": action, "c": channel})

    def verify(self, token: str, max_age_s: int | None = None) -> LinkClaim | None:
        """The claim, or None for a forged, altered or expired token."""
        try:
            data = self._s.loads(token, max_age=self.max_age_s if max_age_s is None else max_age_s)
        except (BadSignature, SignatureExpired):
            return None
        try:
            return LinkClaim(int(data["a"]), str(data["x"]), str(data["c"]))
        except (KeyError, TypeError, ValueError):
            return None
