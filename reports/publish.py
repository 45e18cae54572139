"""Render, archive (sha256 in `reports`) and push a report's link to the commanders through the outbox."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from alerts.enqueue import enqueue
from i18n import gettext
from reports import data, render
from reports.config import ReportsConfig
from reports.periods import period


@dataclass(frozen=True)
class Published:
    report_id: int
    html_path: Path
    pdf_path: Path | None
    html_sha256: str
    pdf_sha256: str | None
    pushed_to: tuple[str, ...]
    data: data.ReportData


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def commander_channels(conn: psycopg.Connection, cfg: ReportsConfig) -> list[str]:
    """Configured channels, else the contacts of the supervision centre and everyone with the commander role."""
    if cfg.commanders:
        return list(cfg.commanders)
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT c.channel FROM unit_contacts c JOIN units u ON u.id = c.unit_id"
        " WHERE u.kind = 'supervision_centre' OR c.role = 'commander' ORDER BY 1")]


def publish(conn: psycopg.Connection, site_id: str, kind: str, day: date, cfg: ReportsConfig,
            out_dir: Path | None = None, with_pdf: bool = True) -> Published:
    """Produce the report of the period containing `day`; archive it and queue its link for the commanders.

    Files go to `<archive>/<site>/<kind>/<label>/report.{html,pdf}`; a re-run for the same period writes a
    new archive row (the old files are replaced, their hashes stay in the older row)."""
    row = conn.execute("SELECT timezone, language FROM sites WHERE id = %s", (site_id,)).fetchone()
    if row is None:
        raise LookupError(f"no site {site_id!r} in the database")
    locale = row[1]  # the site's people read it: its charts, tables and the push of its link
    p = period(kind, day, ZoneInfo(row[0]))
    figures = data.load(conn, site_id, p)
    folder = (out_dir or cfg.archive_dir) / site_id / kind / p.label
    folder.mkdir(parents=True, exist_ok=True)
    html_path = folder / "report.html"
    html_path.write_text(render.html(figures, cfg, locale), encoding="utf-8")
    pdf_path = folder / "report.pdf" if with_pdf else None
    if pdf_path is not None:
        render.pdf(html_path, pdf_path, cfg)
    html_sha, pdf_sha = _sha256(html_path), _sha256(pdf_path) if pdf_path else None
    channels = commander_channels(conn, cfg)
    with conn.transaction():
        report_id = conn.execute(
            "INSERT INTO reports (kind, site_id, period_start, period_end, html_path, html_sha256, pdf_path,"
            " pdf_sha256, figures) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (kind, site_id, p.start, p.end, str(html_path.resolve()), html_sha,
             str(pdf_path.resolve()) if pdf_path else None, pdf_sha, Jsonb(figures.figures()))).fetchone()[0]
        link = f"{cfg.review_base_url.rstrip('/')}/reports/{report_id}"
        payload = {"event": "report.published", "report_id": report_id, "site_id": site_id, "rule": f"report_{kind}",
                   "severity": "info", "locale": locale, "rule_name": gettext(render.TITLES[kind], locale),
                   "title": f"{gettext(render.TITLES[kind], locale)} {render.period_label(kind, p.label, locale)}"
                            f" ({figures.site_name})",
                   "started_at": p.start.isoformat(), "review_url": link, "pdf_sha256": pdf_sha,
                   "measures": {"transactions": float(figures.totals["transactions"]),
                                "alerts": float(figures.totals["alerts"])}}
        for channel in channels:
            enqueue(conn, channel, f"report-{report_id}-{channel}", payload)
    conn.commit()
    return Published(report_id, html_path, pdf_path, html_sha, pdf_sha, tuple(channels), figures)
