"""Where the database is: a DSN, or the embedded server in a data directory."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from storage.embedded import EmbeddedPostgres

DSN_ENV = "JIANGUAN_DSN"


class StorageConfig(BaseModel):
    """`dsn: null` (the default) means the embedded PostgreSQL in `data_dir`. The DSN may carry a password:
    prefer the JIANGUAN_DSN environment variable (or a `${ENV}` reference) to writing it in the YAML."""

    model_config = ConfigDict(extra="forbid")

    dsn: str | None = None
    data_dir: Path = Path("var/pg")
    port: int | None = None


def resolve_dsn(cfg: StorageConfig) -> tuple[str, EmbeddedPostgres | None]:
    """The DSN to use: $JIANGUAN_DSN, else `cfg.dsn`, else a started embedded server (returned too, so
    the caller can stop it)."""
    dsn = os.environ.get(DSN_ENV, "").strip() or cfg.dsn
    if dsn:
        return dsn, None
    embedded = EmbeddedPostgres(cfg.data_dir, cfg.port)
    return embedded.start(), embedded
