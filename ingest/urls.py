"""Source URLs: credential redaction and live/file classification."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SECRET_PARAMS = frozenset({"token", "password", "passwd", "pass", "key", "secret", "access_token", "auth"})
# Schemes whose data arrives in real time and can drop: they reconnect instead of ending at EOF.
LIVE_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "rtp", "srt", "hls"})

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]*)@")
_SECRET_ALT = "|".join(sorted(SECRET_PARAMS))
_QUERY_SECRET = re.compile(rf"(?P<k>[?&](?:{_SECRET_ALT})=)[^&\s'\"]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """`rtsp://user:pass@host/x` -> `rtsp://user:***@host/x`; secret query values become `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:  # malformed (e.g. a bad IPv6 literal): fall back to the text redactor
        return redact_text(url)
    if not parts.scheme or not parts.netloc:
        return redact_text(url)  # a plain path; still scrub anything that looks like a secret
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"{userinfo}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in SECRET_PARAMS for k, _ in pairs):
            query = urlencode([(k, "***" if k.lower() in SECRET_PARAMS else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """Scrub credentials from free text (ffmpeg's stderr echoes the input URL verbatim)."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _QUERY_SECRET.sub(lambda m: f"{m['k']}***", text)


def scheme_of(url: str) -> str:
    if "://" not in url:
        return "file"
    return url.split("://", 1)[0].lower()


def is_live_url(url: str) -> bool:
    return scheme_of(url) in LIVE_SCHEMES


def file_path(url: str) -> str:
    """A path PyAV/ffmpeg can open for `file:` URLs and plain paths alike."""
    return url[len("file://"):] if url.startswith("file://") else url
