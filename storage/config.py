"""Where the database is: a DSN, or the embedded server in a data directory; and which role each process uses.

Two kinds of DSN (issue 18, storage/roles.py):

- the owner's, which runs the migrations and owns every table: $JIANGUAN_DSN, else `storage.dsn`, else the
  embedded server's superuser;
- a process kind's (desk, node, intake, business, reports), which is all a running process works with:
  $JIANGUAN_DSN_<KIND> on an external server, the kind's own login on the embedded server.

A process given only its kind's DSN never sees the owner's: it migrates nothing and refuses to run on a schema
that is behind. One given only the owner's DSN on an external server (a site not yet set up for the roles)
works with the owner's rights, as before, and says so once at start.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from common.model import Strict
from storage.embedded import EmbeddedPostgres
from storage.roles import dsn_env, dsn_from_env

DSN_ENV = "JIANGUAN_DSN"

log = logging.getLogger(__name__)


class StorageConfig(Strict):
    """`dsn: null` (the default) means the embedded PostgreSQL in `data_dir`. The DSN may carry a password:
    prefer the JIANGUAN_DSN environment variable (or a `${ENV}` reference) to writing it in the YAML. It is
    the owner's (migrations); each process kind's DSN comes from $JIANGUAN_DSN_<KIND> (docs/security.md)."""

    dsn: str | None = None
    data_dir: Path = Path("var/pg")
    port: int | None = None


@dataclass
class Store:
    """The database of one process: `dsn` is what it works with (its kind's role, or the owner's for the
    owner's own tools), `owner_dsn` what migrates (None: not given to this process), `embedded` the server
    started or found for it (None on an external server)."""

    dsn: str
    owner_dsn: str | None
    embedded: EmbeddedPostgres | None = None

    def migrate(self) -> list[str]:
        """Apply pending migrations as the owner; without the owner's DSN, check that none is pending."""
        from storage.migrate import migrate, require_current

        if self.owner_dsn is None:
            require_current(self.dsn)
            return []
        return migrate(self.owner_dsn)

    def dsn_for(self, kind: str) -> str:
        """The DSN of process kind `kind` on this store's server (for a process started on its behalf)."""
        given = dsn_from_env(kind)
        if given:
            return given
        if self.embedded is not None:
            return self.embedded.role_dsn(kind)
        if self.owner_dsn is None:
            return self.dsn
        log.warning("%s is not set: the %s connects with the owner's rights of %s (docs/security.md says how to "
                    "give it a role of its own)", dsn_env(kind), kind, DSN_ENV)
        return self.owner_dsn

    def close(self) -> None:
        """Stop the embedded server if this store started it."""
        if self.embedded is not None and self.embedded.started_here:
            self.embedded.stop()


def open_store(cfg: StorageConfig, kind: str | None = None) -> Store:
    """The database of a process of `kind` (storage.roles.KINDS), or of the owner's own tools (None: `db
    migrate`, `seed`, `users`). The embedded server is started (and its logins made) when no DSN is given."""
    given = dsn_from_env(kind) if kind else None
    owner = os.environ.get(DSN_ENV, "").strip() or cfg.dsn
    if given:
        return Store(given, owner or None)
    embedded = None
    if not owner:
        embedded = EmbeddedPostgres(cfg.data_dir, cfg.port)
        owner = embedded.start()
    store = Store(owner, owner, embedded)
    if kind is not None:
        store.dsn = store.dsn_for(kind)
    return store


def resolve_dsn(cfg: StorageConfig, role: str | None = None) -> tuple[str, EmbeddedPostgres | None]:
    """The DSN to use and the embedded server (returned too, so the caller can stop it; None on an external
    server): the owner's with no `role`, else that process kind's (see `open_store`)."""
    store = open_store(cfg, role)
    return store.dsn, store.embedded
