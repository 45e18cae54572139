"""HTML (Jinja2, autoescaped, charts embedded as data: URIs) and PDF (Chromium headless --print-to-pdf)."""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from analytics.texts import area_label, rule_label
from i18n import DEFAULT_LOCALE, N_, gettext, normalise
from reports import charts
from reports.config import ReportsConfig
from reports.data import ReportData

_ENV = Environment(loader=PackageLoader("reports", "templates"), autoescape=select_autoescape(["html"]))
TITLES = {"daily": N_("Daily supervision report"), "weekly": N_("Weekly supervision report"),
          "monthly": N_("Monthly supervision report")}


NO_UNIT = N_("no unit")  # alerts or rectifications no unit answers for (reports/data.py: "(no unit)")


class ReportError(RuntimeError):
    pass


def period_label(kind: str, label: str, locale: str = DEFAULT_LOCALE) -> str:
    """The period as its readers name it: the day and the month as written (2024-04-12, 2024-04), the ISO week
    in words (2024-W15: 2024年第15周), not as the archive's folder names it.

    >>> period_label("weekly", "2024-W15", "zh_CN"), period_label("weekly", "2024-W15", "en")
    ('2024年第15周', 'week 15 of 2024')
    """
    if kind != "weekly":
        return label
    year, week = label.split("-W")
    return gettext(N_("week {week} of {year}"), locale).format(week=int(week), year=year)


def _fmt(value: object, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


_ENV.filters["num"] = _fmt
_ENV.filters["pct"] = lambda v: "-" if v is None else f"{100 * v:.1f}%"


def html(d: ReportData, cfg: ReportsConfig, locale: str = DEFAULT_LOCALE) -> str:
    """The report in `locale` (the site's language: commanders read it in Chinese), charts included."""
    def tr(message: str) -> str:
        return gettext(message, locale)

    pngs = {"volume": charts.volume(d, tr), "times": charts.times(d, cfg.targets, tr),
            "uptime": charts.uptime(d, cfg.targets, tr, lambda area: area_label(area, locale))}
    if d.alerts_by_rule:
        pngs["alerts"] = charts.alerts(d, tr, lambda rule: rule_label(rule, locale))
    images = {k: "data:image/png;base64," + base64.b64encode(v).decode() for k, v in pngs.items()}
    def unit_name(row: dict[str, object]) -> str:
        """A unit by its name; its id where it has none, and words where no unit answers."""
        return str(row.get("name") or (tr(NO_UNIT) if row["unit"] == "(no unit)" else row["unit"]))

    return _ENV.get_template("report.html").render(d=d, t=cfg.targets, images=images, title=TITLES[d.kind], _=tr,
                                                   lang=normalise(locale).replace("_", "-"),
                                                   period=period_label(d.kind, d.label, locale),
                                                   rule_label=lambda rule: rule_label(rule, locale),
                                                   unit_name=unit_name)


def pdf(html_path: Path, pdf_path: Path, cfg: ReportsConfig) -> None:
    """Print `html_path` with headless Chromium (a fresh profile each time, no network, no sandbox under root)."""
    exe = shutil.which(cfg.chromium)
    if exe is None:
        raise ReportError(f"{cfg.chromium!r} not found: install Debian's chromium (scripts/setup.sh does)")
    with tempfile.TemporaryDirectory(prefix="jianguan-chromium-") as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--no-pdf-header-footer", f"--print-to-pdf={pdf_path}",
               html_path.resolve().as_uri()]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=cfg.pdf_timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise ReportError(f"chromium did not print the PDF within {cfg.pdf_timeout_s:g} s") from None
    if done.returncode != 0 or not pdf_path.is_file() or pdf_path.stat().st_size == 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
        raise ReportError(f"chromium failed to print the PDF (exit {done.returncode}): {last}")
