# FastAPI reads the annotations at run time: no `from __future__ import annotations`.
"""Archived supervision reports (the links pushed to commanders), for users of the report's site."""

from typing import Annotated

from fastapi import HTTPException, Query
from fastapi.responses import HTMLResponse

from alerts.review.deps import CurrentUser, DbId, Desk, audit, desk_router, served_file
from i18n import N_

router = desk_router()


@router.get("/reports/{report_id}", response_class=HTMLResponse)
def report_page(desk: Desk, user: CurrentUser, report_id: DbId,
                format: Annotated[str, Query(pattern="^(html|pdf)$")] = "html"):  # noqa: A002
    with desk.pool.connection() as conn:
        row = conn.execute("SELECT site_id, html_path, pdf_path FROM reports WHERE id = %s", (report_id,)).fetchone()
    if row is None or not user.may_see(row[0]):
        if row is not None:
            audit(desk, user.username, "denied", f"report:{report_id}", {"site_id": row[0]})
        raise HTTPException(404, N_("report not found"))
    html = format == "html"
    response = served_file(row[1] if html else row[2], desk.reports_root, "text/html" if html else "application/pdf",
                           N_("report file not archived here"))
    audit(desk, user.username, "view", f"report:{report_id}", {"format": format})
    return response
