"""CSV import of queue-system transactions (`jianguan events import-csv FILE --site S`).

The header names the columns: `window_id`, `business_type`, `queued_at` are required; `message_id`,
`site_id`, `ticket`, `staff_id`, `called_at`, `finished_at` are optional (`window`, `staff`, `site` are
accepted for the `_id` forms); other columns are ignored and listed in the summary. Times are ISO 8601
(`2024-05-01 09:00:00`, `2024/05/01 09:00`, with or without an offset); a time without an offset is local
time in `tz` (the office's zone). Without a `message_id` column each row gets a stable id derived from
site, window, ticket and queued_at, so importing the same file again changes nothing.

Each row is validated like any other message: a bad row (wrong time, finished before called, bytes that
are not the file's encoding...) is counted with its reason and kept in dead_letters; the rest is stored.
Only a file that cannot be read at all (missing, not a CSV with the required columns) is an error.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ingest.events.intake import Intake
from ingest.events.validate import Accepted, DeadLetter, one_line, validate_message

REQUIRED = ("window_id", "business_type", "queued_at")
OPTIONAL = ("message_id", "site_id", "ticket", "staff_id", "called_at", "finished_at")
ALIASES = {"window": "window_id", "staff": "staff_id", "site": "site_id"}
TIME_COLUMNS = ("queued_at", "called_at", "finished_at")
_SURROGATE_ESCAPE = re.compile(r"[\udc80-\udcff]")


class CsvFileError(Exception):
    """The file cannot be imported at all (one line, names the file)."""


@dataclass
class ImportSummary:
    rows: int = 0
    accepted: int = 0
    updated: int = 0
    duplicate: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    ignored_columns: list[str] = field(default_factory=list)


Progress = Callable[[ImportSummary, int, int], None]  # summary so far, bytes read, file size


def import_csv(path: Path | str, intake: Intake, site_id: str, *, tz: str = "Asia/Shanghai",
               encoding: str = "utf-8-sig", batch_size: int = 500, progress: Progress | None = None,
               now: datetime | None = None) -> ImportSummary:
    """Import one file; raises CsvFileError for an unreadable file, StoreUnavailable if the database goes
    away (the import can then simply be run again: rows already stored become duplicates)."""
    path = Path(path)
    zone = ZoneInfo(tz)
    try:
        size = path.stat().st_size
        binary = path.open("rb")
    except OSError as exc:
        raise CsvFileError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    summary = ImportSummary()
    source = f"csv:{path.name}"[:200]
    with binary, io.TextIOWrapper(binary, encoding=encoding, errors="surrogateescape", newline="") as text:
        reader = csv.reader(text)
        columns = _header(path, reader)
        summary.ignored_columns = [c for c in columns if c and c not in (*REQUIRED, *OPTIONAL)]
        pending: list[tuple[int, Accepted | DeadLetter]] = []
        for line, cells in _rows(path, reader):
            summary.rows += 1
            pending.append((line, _row(cells, columns, line, site_id, zone, source, encoding, now)))
            if len(pending) >= batch_size:
                _flush(intake, pending, summary)
                if progress:
                    progress(summary, binary.tell(), size)
        _flush(intake, pending, summary)
        if progress:
            progress(summary, size, size)
    return summary


def _header(path: Path, reader: Any) -> list[str]:
    try:
        header = next(reader)
    except StopIteration:
        raise CsvFileError(f"{path}: empty file (a header line is needed)") from None
    except (csv.Error, UnicodeError) as exc:
        raise CsvFileError(f"{path}: not a readable CSV ({exc})") from None
    if any(_SURROGATE_ESCAPE.search(h) for h in header):
        raise CsvFileError(f"{path}: the header is not valid text in this encoding (try --encoding gb18030)")
    columns = [ALIASES.get(h.strip().lower(), h.strip().lower()) for h in header]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise CsvFileError(f"{path}: missing column(s) {', '.join(missing)} "
                           f"(header: {one_line(','.join(header), 200)})")
    return columns


def _rows(path: Path, reader: Any) -> Iterator[tuple[int, list[str]]]:
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a NUL byte: the csv module gives up on the rest of the file
            raise CsvFileError(f"{path}: line {reader.line_num}: {exc}") from None
        if cells and any(c.strip() for c in cells):
            yield reader.line_num, cells


def _row(cells: list[str], columns: list[str], line: int, site_id: str, zone: tzinfo, source: str,
         encoding: str, now: datetime | None) -> Accepted | DeadLetter:
    raw = ",".join(cells)
    if any(_SURROGATE_ESCAPE.search(c) for c in cells):
        return DeadLetter.of(source, f"line {line}: not valid {encoding} text", raw.encode("utf-8", "surrogateescape"))
    if len(cells) != len(columns):
        return DeadLetter.of(source, f"line {line}: {len(cells)} cells, the header has {len(columns)}", raw)
    obj: dict[str, Any] = {}
    for name, cell in zip(columns, cells, strict=True):
        cell = cell.strip()
        if name in (*REQUIRED, *OPTIONAL) and cell:
            obj[name] = _time(cell, zone) if name in TIME_COLUMNS else cell
    obj.setdefault("site_id", site_id)
    if obj["site_id"] != site_id:
        return DeadLetter.of(source, f"line {line}: site_id {obj['site_id']!r} is not the imported site {site_id!r}",
                             raw)
    if "message_id" not in obj:
        key = "\x1f".join(str(obj.get(k, "")) for k in ("site_id", "window_id", "ticket", "queued_at"))
        obj["message_id"] = "csv-" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    result = validate_message(obj, "transactions", source=source, now=now)
    if isinstance(result, DeadLetter):
        return DeadLetter(result.source, one_line(f"line {line}: {result.reason}", 500), raw, result.message_id)
    return result


def _time(cell: str, zone: tzinfo) -> datetime | str:
    """An ISO-like time; naive ones are local to `zone`. Unparseable text is passed on for the schema to refuse."""
    try:
        value = datetime.fromisoformat(cell.replace("/", "-"))
    except ValueError:
        return cell
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


def _flush(intake: Intake, pending: list[tuple[int, Accepted | DeadLetter]], summary: ImportSummary) -> None:
    if not pending:
        return
    outcomes = intake.submit([r for _, r in pending])
    for outcome in outcomes:
        if outcome.status == "rejected":
            summary.rejected += 1
            summary.reasons[_reason_kind(outcome.reason or "")] += 1
        else:
            status = "accepted" if outcome.status == "queued" else outcome.status
            setattr(summary, status, getattr(summary, status) + 1)
    pending.clear()


def _reason_kind(reason: str) -> str:
    """'line 7: called_at: ...' -> 'called_at: ...' so the summary groups rows by what was wrong."""
    return re.sub(r"^line \d+: ", "", reason)
