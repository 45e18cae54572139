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

SEVERITY_LABELS = {"info": "提示 info", "minor": "一般 minor", "major": "重要 major", "critical": "紧急 critical"}


def _text(value: Any) -> str:
    if value is None or value == "":
        return "-"
    return " ".join(str(value).split())  # one line: no markdown structure can be injected by a newline


def local_time(value: Any, timezone: str) -> str:
    """ISO time from the payload shown in the site's zone, e.g. `2025-03-04 09:15:02 CST`."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return _text(value)
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def measures_text(measures: Any) -> str:
    if not isinstance(measures, dict) or not measures:
        return "-"
    parts = []
    for key, value in sorted(measures.items()):
        shown = f"{value:.1f}" if isinstance(value, float) else _text(value)
        parts.append(f"{_text(key)}={shown}")
    return ", ".join(parts)


def title(payload: dict[str, Any]) -> str:
    return _text(payload.get("title") or payload.get("rule") or "alert")


def fields(payload: dict[str, Any], timezone: str) -> list[tuple[str, str]]:
    """(label, value) rows in display order."""
    severity = payload.get("severity")
    return [
        ("站点 site", _text(payload.get("site_id"))),
        ("摄像头 camera", _text(payload.get("camera_id"))),
        ("规则 rule", _text(payload.get("rule"))),
        ("区域 zone", _text(payload.get("zone_id"))),
        ("级别 severity", SEVERITY_LABELS.get(str(severity), _text(severity))),
        ("时间 time", local_time(payload.get("raised_at") or payload.get("started_at"), timezone)),
        ("开始 started", local_time(payload.get("started_at"), timezone)),
        ("测量 measures", measures_text(payload.get("measures"))),
    ] + _business(payload)


def _business(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """Business alerts (alerts.business) name a source and a responsible unit, and say why."""
    rows = []
    if payload.get("source_id"):
        rows.append(("来源 source", _text(payload.get("source_id"))))
    if payload.get("unit_id"):
        rows.append(("责任单位 unit", _text(payload.get("unit_name") or payload.get("unit_id"))))
    if payload.get("explanation"):
        rows.append(("说明 why", _text(payload.get("explanation"))))
    return rows


def _links(payload: dict[str, Any]) -> list[tuple[str, str]]:
    links = []
    if payload.get("review_url"):
        links.append(("查看 review", str(payload["review_url"])))
    if payload.get("ack_url"):
        links.append(("确认 acknowledge", str(payload["ack_url"])))
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
    return (f"<!doctype html><html><body><h3>{esc(title(payload))}</h3>"
            f"<table>{rows}</table>{links}</body></html>")


def truncate_utf8(text: str, max_bytes: int) -> str:
    """Cut to a byte budget (the robots count UTF-8 bytes) without splitting a character."""
    raw = text.encode()
    if len(raw) <= max_bytes:
        return text
    return raw[: max_bytes - 3].decode(errors="ignore") + "..."
