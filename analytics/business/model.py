"""What the business rules produce: a `Finding` that states its value, its baseline and why it is abnormal,
in words translated when read (analytics/business/texts.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from analytics.business.texts import Text, explain, to_json
from i18n import N_

RULES = {
    "business_volume_anomaly": N_("Business volume far from its usual level"),
    "business_inspection_short": N_("Inspection much shorter than the lane's usual"),
    "business_outside_hours": N_("Business recorded outside opening hours"),
    "business_staff_outlier": N_("One clerk or inspector far above peers"),
    "business_inspection_without_vehicle": N_("Inspection recorded with no vehicle in the lane video"),
    "business_pass_rate_drift": N_("Testing line pass rate drifted"),
}


@dataclass(frozen=True)
class Finding:
    """One abnormal thing at one business source. `source_kind`/`source_id` say where (window, outlet, lane,
    testing_line, staff); `unit_member` is the (member_kind, member_id) whose unit answers for it. `why` is the
    explanation's clauses; `columns` are N_-marked names and a cell may be a `Text`: all read in the reader's
    language (texts.explain, texts.columns, texts.rows)."""

    rule: str
    site_id: str
    source_kind: str
    source_id: str
    started_at: datetime
    ended_at: datetime
    severity: str
    value: float
    baseline: float
    why: tuple[Text, ...]
    unit_member: tuple[str, str]
    measures: dict[str, float] = field(default_factory=dict)
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()

    @property
    def key(self) -> str:
        """Stable identity: the same finding from a repeated check is recognised and recorded once."""
        return f"{self.rule}:{self.site_id}:{self.source_kind}:{self.source_id}:{self.started_at.isoformat()}"

    @property
    def explanation(self) -> str:
        """The explanation in English (logs, benchmarks; people read `texts.explain(finding, locale)`)."""
        return explain(self, "en")

    @property
    def title(self) -> str:
        return f"{RULES.get(self.rule, self.rule)}: {self.source_id}"

    def evidence(self, max_rows: int = 50) -> dict[str, Any]:
        """JSON for incidents.evidence: the explanation, the numbers and the evidence rows."""
        return {
            "kind": "business",
            "finding_key": self.key,
            "source_kind": self.source_kind,
            "source_id": self.source_id,
            "value": self.value,
            "baseline": self.baseline,
            "explanation": to_json(self.why),
            "measures": self.measures,
            "columns": list(self.columns),
            "rows": [[_json(v) for v in r] for r in self.rows[:max_rows]],
            "rows_total": len(self.rows),
        }


def _json(value: Any) -> Any:
    if isinstance(value, Text):
        return value.json()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 3)
    return value
