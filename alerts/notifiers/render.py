"""One alert push as human text: markdown for the chat robots, plain text and HTML for e-mail.

The payload is the one `AlertManager._push` queues (title, site, camera, rule, zone, severity, times,
measures, review_url and, with signed links, ack_url). Missing fields are shown as "-", never an error:
an old row in the outbox must still go out.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from analytics.business.texts import explain
from analytics.texts import measures_text, rule_label, severity_label
from i18n import gettext as _
from i18n import local_datetime


def _text(value: Any) -> str:
    if value is None or value == "":
        return "-"
    return " ".join(str(value).split())  # one line: no markdown structure can be injected by a newline


def local_time(value: Any, timezone: str) -> str:
    """ISO time from the payload in the site's zone with its offset (a push is read on phones anywhere),
    e.g. `2025-03-04 09:15:02 +08:00`."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return _text(value)
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return local_datetime(moment, ZoneInfo(timezone), offset=True)


def title(payload: dict[str, Any]) -> str:
    return _text(payload.get("title") or payload.get("rule") or "alert")


def fields(payload: dict[str, Any], timezone: str) -> list[tuple[str, str]]:
    """(label, value) rows in display order, in the payload's language (the site's, `locale`; zh_CN for rows
    queued before it was written). Names where the payload has them, codes where an old row has only those."""
    loc = payload.get("locale")
    measures = payload.get("measures")
    return [
        (_("Site", loc), _text(payload.get("site_name") or payload.get("site_id"))),
        (_("Camera", loc), _text(payload.get("camera_name") or payload.get("camera_id"))),
        (_("Rule", loc), _text(payload.get("rule_name") or (rule_label(payload["rule"], loc) if payload.get("rule")
                                                            else None))),
        (_("Zone", loc), _text(payload.get("zone_name") or payload.get("zone_id"))),
        (_("Severity", loc), _text(severity_label(str(payload["severity"]), loc) if payload.get("severity")
                                   else None)),
        (_("Time", loc), local_time(payload.get("raised_at") or payload.get("started_at"), timezone)),
        (_("Started", loc), local_time(payload.get("started_at"), timezone)),
        (_("Measured", loc), _text(measures_text(measures, loc) if isinstance(measures, dict) and measures
                                   else None)),
    ] + _business(payload, loc)


def _business(payload: dict[str, Any], loc: str | None) -> list[tuple[str, str]]:
    """Business alerts (alerts.business) name a source and a responsible unit, and say why."""
    rows = []
    if payload.get("source_id"):
        rows.append((_("Source", loc), _text(payload.get("source_id"))))
    if payload.get("unit_id"):
        rows.append((_("Unit", loc), _text(payload.get("unit_name") or payload.get("unit_id"))))
    if payload.get("explanation"):  # msgids and values (a plain string in rows queued before them)
        rows.append((_("Why", loc), _text(explain(payload, loc))))
    return rows


def _links(payload: dict[str, Any]) -> list[tuple[str, str]]:
    loc = payload.get("locale")
    links = []
    if payload.get("review_url"):
        links.append((_("Review", loc), str(payload["review_url"])))
    if payload.get("ack_url"):
        links.append((_("Acknowledge", loc), str(payload["ack_url"])))
    return links


def markdown(payload: dict[str, Any], timezone: str, prefix: str = "") -> str:
    head = f"{prefix} {title(payload)}".strip()
    lines = [f"### {head}"]
    lines += [f"> **{label}**: {value}" for label, value in fields(payload, timezone)]
    lines += [f"[{label}]({url})" for label, url in _links(payload)]
    return "\n".join(lines)


def plain(payload: dict[str, Any], timezone: str) -> str:
    lines = [title(payload), ""]
    lines += [f"{label}: {value}" for label, value in fields(payload, timezone)]
    lines += [""] + [f"{label}: {url}" for label, url in _links(payload)]
    return "\n".join(lines) + "\n"


def html_body(payload: dict[str, Any], timezone: str) -> str:
    esc = html.escape
    rows = "".join(f"<tr><th align=\"left\">{esc(label)}</th><td>{esc(value)}</td></tr>"
                   for label, value in fields(payload, timezone))
    links = "".join(f"<p><a href=\"{esc(url, quote=True)}\">{esc(label)}</a></p>" for label, url in _links(payload))
    return (f"<!doctype html><html lang=\"{esc(str(payload.get('locale') or 'zh_CN')).replace('_', '-')}\"><body>"
            f"<h3>{esc(title(payload))}</h3><table>{rows}</table>{links}</body></html>")


def truncate_utf8(text: str, max_bytes: int) -> str:
    """Cut to a byte budget (the robots count UTF-8 bytes) without splitting a character."""
    raw = text.encode()
    if len(raw) <= max_bytes:
        return text
    return raw[: max_bytes - 3].decode(errors="ignore") + "..."
