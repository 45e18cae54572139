"""Configuration of the supervision reports (composed into the site config as `reports:`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from common.model import Strict


class Targets(Strict):
    """Service targets the report measures against (the offices' own figures)."""

    avg_wait_min: float = Field(10.0, gt=0, description="average wait from ticket to call")
    avg_handle_min: float = Field(12.0, gt=0, description="average handling at the window")
    within_30_min_share: float = Field(0.9, gt=0, le=1, description="tickets finished within 30 min of the ticket")
    camera_uptime: float = Field(0.98, gt=0, le=1)


class ReportsConfig(Strict):
    archive_dir: Path = Field(Path("var/reports"), description="reports are archived here (sha256 in the database)")
    commanders: list[str] = Field(default_factory=list, description="notifier ids that receive each report's link;"
                                  " empty: the supervision centre's and commanders' unit contacts")
    review_base_url: str = Field("http://127.0.0.1:8080", description="links in pushes point here")
    chromium: str = Field("chromium", description="the browser that prints the PDF (Debian's chromium)")
    pdf_timeout_s: float = Field(120.0, gt=0, le=900)
    targets: Targets = Field(default_factory=Targets)
