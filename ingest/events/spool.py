"""A durable on-disk queue of batches that could not be stored while the database was away.

One JSON file per batch, written to a temporary name, fsync'd and renamed into place (then the directory
fsync'd): a file either exists whole or not at all, so there is no torn-record case to repair. Files are
replayed in name order (a zero-padded sequence number) and removed once their batch is committed. A batch
committed whose removal was lost to a crash is replayed harmlessly: the store is idempotent.

The spool holds validated messages as JSON (no pickle): it can be read, and repaired, by a person.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class Spool:
    def __init__(self, directory: Path | str, max_bytes: int = 1024**3) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        for tmp in self.dir.glob("*.tmp"):  # a crash mid-write: the batch was never acknowledged
            tmp.unlink(missing_ok=True)
        files = self.files()
        # Past every numbered file, set-aside ones (.bad, .failed) included: a new batch never takes their name.
        self._next = max((int(p.stem) for p in self.dir.iterdir() if p.stem.isdigit()), default=0) + 1
        self.size = sum(f.stat().st_size for f in files)
        self.count = len(files)  # batches waiting: kept here so the hot path never lists the directory

    def files(self) -> list[Path]:
        return sorted(p for p in self.dir.glob("*.json") if p.stem.isdigit())

    def has_backlog(self) -> bool:
        return self.count > 0

    def append(self, batch: dict[str, Any]) -> bool:
        """Write one batch durably; False when the spool is full."""
        data = json.dumps(batch, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
        if self.size + len(data) > self.max_bytes:
            return False
        path = self.dir / f"{self._next:012d}.json"
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(self.dir)
        self._next += 1
        self.size += len(data)
        self.count += 1
        return True

    def read(self, path: Path) -> dict[str, Any] | None:
        """A batch, or None for a file that cannot be read back (set aside as `.bad` for a person)."""
        try:
            return json.loads(path.read_bytes().decode("utf-8", "surrogatepass"))
        except (OSError, ValueError) as exc:
            bad = self.set_aside(path, ".bad")
            log.error("spool file %s is unreadable (%s); moved to %s", path, type(exc).__name__, bad.name)
            return None

    def set_aside(self, path: Path, suffix: str) -> Path:
        """Take a batch out of the queue, kept beside it under another suffix for a person (renamed back to
        `.json`, it is replayed again); returns the new path."""
        aside = path.with_suffix(suffix)
        with contextlib.suppress(OSError):
            size = path.stat().st_size
            os.replace(path, aside)
            self.size = max(0, self.size - size)
        _fsync_dir(self.dir)
        self.count = len(self.files())
        return aside

    def remove(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            size = path.stat().st_size
            path.unlink()
            self.size = max(0, self.size - size)
            self.count = max(0, self.count - 1)
        _fsync_dir(self.dir)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
