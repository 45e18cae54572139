"""The JSON Schema files of the intake messages (docs/schemas/*.json), generated from the pydantic models.

>>> sorted(json_schemas())
['batch-result', 'lane-event', 'transaction']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ingest.events.http_api import BatchResult
from ingest.events.models import LaneEvent, Transaction

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schemas() -> dict[str, dict[str, Any]]:
    out = {}
    for name, model in (("lane-event", LaneEvent), ("transaction", Transaction), ("batch-result", BatchResult)):
        schema = model.model_json_schema(mode="serialization" if model is BatchResult else "validation")
        out[name] = {"$schema": DIALECT, "$id": f"https://jianguan.invalid/schemas/{name}.json", **schema}
    return out


def write_schemas(out_dir: Path | str) -> list[Path]:
    """Write one `<name>.json` per schema (stable key order, so a diff shows real changes)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, schema in json_schemas().items():
        path = out_dir / f"{name}.json"
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        paths.append(path)
    return paths
