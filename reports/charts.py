"""The report's charts: matplotlib on the Agg backend (no display), PNG bytes."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # before pyplot: render to memory, never to a window
from collections.abc import Callable  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from i18n import N_  # noqa: E402
from reports.config import Targets  # noqa: E402
from reports.data import ReportData  # noqa: E402

# Chinese labels need a CJK font (Debian's fonts-noto-cjk, installed by scripts/setup.sh); DejaVu for the rest.
plt.rcParams["font.sans-serif"] = ["Noto Sans CJK SC", "DejaVu Sans"]
plt.rcParams["axes.unicode_minus"] = False  # the CJK font has no U+2212 minus
Tr = Callable[[str], str]  # gettext in the report's language

COLOURS = {"window": "#1f6fb2", "outlet": "#e08a1e", "self_service": "#6aa84f", "confirmed": "#c0392b",
           "false_alarm": "#95a5a6", "needs_follow_up": "#f39c12", "pending": "#34495e"}


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def volume(d: ReportData, tr: Tr = str) -> bytes:
    fig, ax = plt.subplots(figsize=(7.5, 2.8))
    if d.kind == "daily":
        hours = [h for h, _ in d.volume_by_hour]
        ax.bar(hours, [n for _, n in d.volume_by_hour], color=COLOURS["window"])
        ax.set_xlabel(tr(N_("local hour")))
        ax.set_xticks(range(0, 24, 2))
    else:
        labels = [day[5:] for day, *_ in d.volume_by_day]
        bottom = [0] * len(labels)
        for idx, (name, key) in enumerate(((N_("windows"), "window"), (N_("outlets"), "outlet"),
                                           (N_("kiosks"), "self_service"))):
            values = [row[1 + idx] for row in d.volume_by_day]
            ax.bar(labels, values, bottom=bottom, label=tr(name), color=COLOURS[key])
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.legend(loc="upper right", fontsize=8, ncols=3)
        ax.tick_params(axis="x", labelrotation=90 if len(labels) > 10 else 0, labelsize=7)
    ax.set_ylabel(tr(N_("transactions")))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no half transactions on a quiet day
    ax.set_title(tr(N_("Business volume")), fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def times(d: ReportData, targets: Targets, tr: Tr = str) -> bytes:
    fig, ax = plt.subplots(figsize=(7.5, 2.8))
    labels = [day[5:] for day, *_ in d.times_by_day]
    ax.plot(labels, [r[1] for r in d.times_by_day], marker="o", label=tr(N_("avg wait (min)")), color="#1f6fb2")
    ax.plot(labels, [r[2] for r in d.times_by_day], marker="s", label=tr(N_("avg handling (min)")), color="#e08a1e")
    wait_target, handle_target = tr(N_("wait target")), tr(N_("handling target"))
    ax.axhline(targets.avg_wait_min, color="#1f6fb2", ls="--", lw=1, label=f"{wait_target} {targets.avg_wait_min:g}")
    ax.axhline(targets.avg_handle_min, color="#e08a1e", ls="--", lw=1,
               label=f"{handle_target} {targets.avg_handle_min:g}")
    ax.set_ylabel(tr(N_("minutes")))
    ax.set_title(tr(N_("Waiting and handling times against targets")), fontsize=10)
    ax.legend(loc="upper right", fontsize=7, ncols=2)
    ax.tick_params(axis="x", labelrotation=90 if len(labels) > 10 else 0, labelsize=7)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


VERDICT_LEGEND = {"confirmed": N_("confirmed"), "needs_follow_up": N_("follow-up"), "false_alarm": N_("false alarm"),
                  "pending": N_("pending")}


def alerts(d: ReportData, tr: Tr = str, rule_name: Tr = str) -> bytes:
    rows = d.alerts_by_rule[:12][::-1]
    fig, ax = plt.subplots(figsize=(7.5, max(1.6, 0.3 * len(rows) + 0.8)))
    left = [0] * len(rows)
    for key in ("confirmed", "needs_follow_up", "false_alarm", "pending"):
        values = [r[key] for r in rows]
        ax.barh([rule_name(r["rule"]) for r in rows], values, left=left, label=tr(VERDICT_LEGEND[key]),
                color=COLOURS[key])
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_xlabel(tr(N_("alerts")))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(tr(N_("Alerts by rule and verdict")), fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)  # beside the bars, not on them
    ax.tick_params(axis="y", labelsize=7)
    return _png(fig)


def uptime(d: ReportData, targets: Targets, tr: Tr = str, area_name: Tr = str) -> bytes:
    fig, ax = plt.subplots(figsize=(7.5, 2.4))
    areas = [a for a, _, _ in d.uptime_by_area]
    ax.bar([area_name(a) for a in areas], [100 * u for _, _, u in d.uptime_by_area], color="#6aa84f")
    target = tr(N_("target"))
    ax.axhline(100 * targets.camera_uptime, color="#c0392b", ls="--", lw=1,
               label=f"{target} {100 * targets.camera_uptime:g}%")
    low = min([100 * u for _, _, u in d.uptime_by_area] + [100 * targets.camera_uptime])
    ax.set_ylim(max(0, low - 5), 100.5)
    ax.set_ylabel(tr(N_("online (percent)")))
    ax.set_title(tr(N_("Camera uptime by area")), fontsize=10)
    ax.legend(loc="lower right", fontsize=7)
    ax.tick_params(axis="x", labelsize=8)
    return _png(fig)
