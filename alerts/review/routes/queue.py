# FastAPI reads the annotations at run time: no `from __future__ import annotations`.
"""The auditor's queue: the alert list with its filters, and the order that next/previous on an alert's page and
"on to the next alert" after a verdict walk. The filters last listed are kept in the session."""

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from alerts.review.auth import User
from alerts.review.deps import ID_PATTERN, CurrentUser, Desk, DeskState, desk_router, render
from alerts.review.texts import DEFAULT_TIMEZONE, STATUSES
from analytics.texts import AREAS
from i18n import N_

router = desk_router()
STATUS_ORDER = tuple(STATUSES)
# The alert list's days: a wider range overflows datetime at the day's edges (a 500 before issue 18).
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)
# The queue's order: what still needs a verdict first (oldest first: it has waited longest), then the rest,
# newest first. The list, the count and next/previous on an alert's page all use it.
QUEUE_FROM = "FROM alerts a LEFT JOIN cameras c ON c.id = a.camera_id"
QUEUE_ORDER = ("ORDER BY (a.status IN ('open', 'acknowledged')) DESC,"
               " CASE WHEN a.status IN ('open', 'acknowledged') THEN a.started_at END ASC,"
               " a.started_at DESC, a.id")
LIST_SQL = ("SELECT a.id, a.started_at, a.ended_at, a.site_id, COALESCE(c.name, a.source_id), a.camera_id,"
            " a.rule, a.zone_id, a.severity, a.status, a.verdict, a.title, z.name, i.evidence, s.name"
            " FROM alerts a LEFT JOIN cameras c ON c.id = a.camera_id JOIN sites s ON s.id = a.site_id"
            " LEFT JOIN zones z ON z.camera_id = a.camera_id AND z.id = a.zone_id"
            " LEFT JOIN incidents i ON i.id = a.incident_id"
            " WHERE {where} " + QUEUE_ORDER + " LIMIT %s")
LIST_KEYS = ("id", "started_at", "ended_at", "site_id", "camera_name", "camera_id", "rule", "zone_id", "severity",
             "status", "verdict", "title", "zone_name", "evidence", "site_name")
Filter = Annotated[str | None, Query(pattern=ID_PATTERN)]


def desk_timezone(desk: DeskState, user: User) -> str:
    """The zone the alert list's days and times are in: the user's (first) site's."""
    with desk.pool.connection() as conn:
        row = conn.execute("SELECT timezone FROM sites WHERE %s OR id = ANY(%s) ORDER BY id LIMIT 1",
                           (user.all_sites, list(user.sites))).fetchone()
    return row[0] if row else DEFAULT_TIMEZONE


def queue_where(user: User, filters: dict[str, str], tz: ZoneInfo) -> tuple[str, list[Any]]:
    """The alert list's filters as SQL over `alerts a` joined to `cameras c` (the user's sites only)."""
    where, args = ["TRUE"], []
    if not user.all_sites:
        where.append("a.site_id = ANY(%s)")
        args.append(list(user.sites))
    for column, key in (("a.site_id", "site"), ("a.camera_id", "camera"), ("a.rule", "rule"),
                        ("a.status", "status"), ("c.area", "area")):
        if filters.get(key):
            where.append(f"{column} = %s")
            args.append(filters[key])
    if filters.get("since"):
        where.append("a.started_at >= %s")
        args.append(datetime.combine(date.fromisoformat(filters["since"]), time.min, tz))
    if filters.get("until"):
        where.append("a.started_at < %s")
        args.append(datetime.combine(date.fromisoformat(filters["until"]) + timedelta(days=1), time.min, tz))
    return " AND ".join(where), args


async def list_filters(site: Filter = None, camera: Filter = None, rule: Filter = None, area: Filter = None,
                 status: Annotated[str | None, Query(pattern="^(open|acknowledged|reviewed|closed)$")] = None,
                 since: date | None = None, until: date | None = None) -> dict[str, str]:
    """The alert list's query as the filters the session keeps ("" for none)."""
    if any(day is not None and not FIRST_DAY <= day <= LAST_DAY for day in (since, until)):
        raise HTTPException(422, N_("Dates on the alert list must lie between 1970-01-01 and 2999-12-31."))
    return {"site": site or "", "camera": camera or "", "rule": rule or "", "area": area or "",
            "status": status or "", "since": since.isoformat() if since else "",
            "until": until.isoformat() if until else ""}


@router.get("/")
def root():
    return RedirectResponse("/alerts", status_code=303)


@router.get("/alerts", response_class=HTMLResponse)
def alert_list(request: Request, desk: Desk, user: CurrentUser,
               filters: Annotated[dict[str, str], Depends(list_filters)],
               limit: Annotated[int, Query(ge=1, le=500)] = 100):
    request.session["queue"] = filters  # next/previous on an alert's page walk this list
    tz = ZoneInfo(desk_timezone(desk, user))  # days start at the site's midnight, not the server's
    where, args = queue_where(user, filters, tz)
    with desk.pool.connection() as conn:
        rows = conn.execute(LIST_SQL.format(where=where), (*args, limit)).fetchall()
        (left,) = conn.execute(f"SELECT count(*) {QUEUE_FROM} WHERE {where}"
                               " AND a.status IN ('open', 'acknowledged')", args).fetchone()
        mine, mine_args = queue_where(user, {}, tz)  # the rules of every alert the user may see
        rules = [r for (r,) in conn.execute(f"SELECT DISTINCT a.rule {QUEUE_FROM} WHERE {mine} ORDER BY 1",
                                             mine_args)]
    alerts = [dict(zip(LIST_KEYS, r, strict=True)) for r in rows]
    return render(request, "list.html", {"alerts": alerts, "filters": filters, "statuses": STATUS_ORDER,
                                         "left": left, "rules": rules, "areas": tuple(AREAS)}, user, tz.key)


def neighbours(request: Request, desk: DeskState, user: User, alert_id: int) -> tuple[int | None, int | None]:
    """The alerts before and after `alert_id` in the queue the user last listed (its filters)."""
    filters = request.session.get("queue") or {}
    where, args = queue_where(user, filters, ZoneInfo(desk_timezone(desk, user)))
    with desk.pool.connection() as conn:
        ids = [i for (i,) in conn.execute(f"SELECT a.id {QUEUE_FROM} WHERE {where} {QUEUE_ORDER} LIMIT 1000", args)]
    if alert_id not in ids:
        return None, (ids[0] if ids else None)
    at = ids.index(alert_id)
    return (ids[at - 1] if at > 0 else None), (ids[at + 1] if at + 1 < len(ids) else None)


def next_unreviewed(request: Request, desk: DeskState, user: User) -> int | None:
    """The first alert of the user's queue that still needs a verdict."""
    filters = {**(request.session.get("queue") or {}), "status": ""}
    where, args = queue_where(user, filters, ZoneInfo(desk_timezone(desk, user)))
    with desk.pool.connection() as conn:
        row = conn.execute(f"SELECT a.id {QUEUE_FROM} WHERE {where} AND a.status IN ('open', 'acknowledged')"
                           f" {QUEUE_ORDER} LIMIT 1", args).fetchone()
    return row[0] if row else None
