"""What the review desk shows people, in their language and their site's local time: the names of statuses,
verdicts and timeline steps (owned here, where the desk defines them), and the helpers every template gets
(`page_context`). Rule, zone-kind, severity and measure names come from analytics/texts.py, a business finding's
explanation and evidence table from analytics/business/texts.py."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from analytics.business.model import RULES as BUSINESS_RULES
from analytics.business.texts import columns, explain, rows
from analytics.texts import alert_title, area_label, measures_text, rule_label, severity_label, zone_kind_label
from i18n import DEFAULT_LOCALE, N_, gettext, local_datetime, normalise

DEFAULT_TIMEZONE = "Asia/Shanghai"

VERDICTS = {"confirmed": N_("Violation confirmed"), "false_alarm": N_("False alarm"),
            "needs_follow_up": N_("Needs follow-up")}
STATUSES = {"open": N_("Open"), "acknowledged": N_("Acknowledged"), "reviewed": N_("Reviewed"),
            "closed": N_("Closed")}
RECTIFICATION = {"open": N_("To be rectified"), "rectified": N_("Rectified"), "verified": N_("Verified"),
                 "rejected": N_("Sent back")}
# Translated by value, so marked here for extraction: a user's role as the header shows it (alerts/review/auth.py
# ROLES) and the reason phrases of the errors the desk turns into pages.
ROLE_NAMES = {"auditor": N_("Auditor"), "supervisor": N_("Supervisor"), "commander": N_("Commander"),
              "admin": N_("Admin")}
HTTP_REASONS = (N_("Not Found"), N_("Method Not Allowed"))
# The steps of an alert's timeline (alert_events.action), written by alerts/store.py, the desk, escalation,
# retention and business rectification.
EVENTS = {"opened": N_("Raised"), "reopened": N_("Raised again"), "incident_merged": N_("Same incident again"),
          "incident_during_cooldown": N_("Incident during the quiet period"), "incident_ended": N_("Incident ended"),
          "clip_attached": N_("Clip saved"), "clip_failed": N_("Clip failed"), "clip_deleted": N_("Clip deleted"),
          "acknowledged": N_("Acknowledged"), "verdict": N_("Verdict"), "closed": N_("Closed"),
          "case_reopened": N_("Reopened by a supervisor"),  # alerts/workflow.py: a closed alert reopened
          "escalated": N_("Escalated"), "rectified": N_("Rectified"), "verified": N_("Verified"),
          "rejected": N_("Sent back"), "demo": N_("Demo")}
# Keys of a timeline step's detail, as the desk names them.
DETAIL_KEYS = {"verdict": N_("Verdict"), "note": N_("Note"), "previous": N_("Previous verdict"), "via": N_("Via"),
               "ended_at": N_("Ended"), "reason": N_("Reason"), "level": N_("Level"), "to": N_("To"),
               "sha256": "sha256", "clip_id": N_("Clip"), "started_at": N_("Started"), "explanation": N_("Why")}
# Internal ids (a business finding's key starts with its rule's code) and what the page shows better elsewhere.
HIDDEN_DETAIL = {"measures", "incident_uid", "uid", "incident_id", "finding_key"}


def local(moment: datetime | float | None, timezone: str, seconds: bool = True) -> str:
    return "-" if moment is None else local_datetime(moment, timezone, seconds=seconds)


def detail_text(detail: Mapping[str, Any] | None, timezone: str, locale: str) -> str:
    """A timeline step's detail as words: known keys named, times (`*_at`, epoch or ISO) at local time,
    verdicts by name; internal ids left out."""
    if not detail:
        return ""
    parts = []
    for key, value in detail.items():
        if key in HIDDEN_DETAIL or value in (None, ""):
            continue
        if key.endswith("_at"):
            value = _moment(value, timezone)
        elif key == "explanation":  # a business finding's, merged into the alert
            value = explain(value, locale)
        elif key in ("verdict", "previous") and value in VERDICTS:
            value = gettext(VERDICTS[value], locale)
        parts.append(f"{gettext(DETAIL_KEYS.get(key, key), locale)}: {value}")
    return gettext(N_("; "), locale).join(parts)


def _moment(value: Any, timezone: str) -> str:
    if isinstance(value, int | float):
        return local_datetime(float(value), timezone)
    try:
        return local_datetime(datetime.fromisoformat(str(value)), timezone)
    except ValueError:
        return str(value)


def page_context(locale: str | None, timezone: str | None) -> dict[str, Callable[..., Any] | str]:
    """What every desk template gets: `_` (gettext), names of rules, zones, severities, statuses, verdicts
    and timeline steps, measures as words, and `when` (a time at the site's local time)."""
    loc = normalise(locale or DEFAULT_LOCALE)
    tz = timezone or DEFAULT_TIMEZONE

    def title_of(alert: Mapping[str, Any]) -> str:
        """The alert's title in the reader's language when its rule is known, else as stored."""
        evidence = alert.get("evidence") or {}
        if evidence.get("kind") == "business":  # the rule's name and the source (window, lane, staff member)
            if alert.get("rule") in BUSINESS_RULES and evidence.get("source_id"):
                return alert_title(alert["rule"], {}, locale=loc, source=evidence["source_id"])
            return str(alert.get("title") or "")
        measures = evidence.get("measures") or alert.get("measures")
        if not measures:
            return str(alert.get("title") or "")
        return alert_title(alert["rule"], measures, alert.get("zone_name") or alert.get("zone_id"), loc)

    return {
        "locale": loc, "lang": loc.replace("_", "-"), "timezone": tz,
        "_": lambda message: gettext(message, loc),
        "when": lambda moment, seconds=True: local(moment, tz, seconds),
        "rule_label": lambda rule: rule_label(rule, loc),
        "severity_label": lambda severity: severity_label(severity, loc),
        "zone_kind_label": lambda kind: zone_kind_label(kind, loc),
        "area_label": lambda area: area_label(area, loc),
        "status_label": lambda status: gettext(STATUSES.get(status, status), loc),
        "verdict_label": lambda verdict: gettext(VERDICTS[verdict], loc) if verdict in VERDICTS else "",
        "rect_label": lambda status: gettext(RECTIFICATION.get(status, status), loc),
        "event_label": lambda action: gettext(EVENTS.get(action, action), loc),
        "detail_text": lambda detail: detail_text(detail, tz, loc),
        "measures_text": lambda measures: measures_text(measures or {}, loc),
        "title_of": title_of,
        # A business finding's evidence (analytics/business/texts.py): why, the table's columns and rows.
        "explain": lambda evidence: explain(evidence, loc),
        "evidence_columns": lambda names: columns(names or [], loc),
        "evidence_rows": lambda table: rows(table or [], loc),
    }
