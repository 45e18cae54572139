"""`jianguan serve`: the roles a site config asks for, each a child process, kept alive by one supervisor.

Frigate runs its roles as processes under a watchdog; so does this. Each role is a `jianguan` command (the
node is `run`, the intake `events serve`, business early warning `business run`, the desk `review serve`), so
a role under the supervisor behaves exactly as when an operator starts it by hand. The supervisor:

- starts every role with `PR_SET_PDEATHSIG` (ingest/children.py): if the supervisor itself is killed, no role
  lives on without it;
- restarts a role that exits, whatever the reason (a native crash in a decoder or a runtime, kill -9, an
  error), after a backoff (1 s doubling to 60 s; back to 1 s once a role ran `STABLE_S`), and logs why
  (exit code or signal);
- writes each role's state (pid, running or waiting, restarts, last exit) to `<data_dir>/serve-state.json`
  on every change (atomically), for an operator or a health check to read;
- stops on SIGTERM or Ctrl-C the orderly way: SIGTERM to every role (the node then closes its incidents and
  writes its last rows), SIGKILL to any still alive after `stop_timeout_s`.

One database for all roles: with no DSN configured the supervisor starts the embedded PostgreSQL once,
instead of each role starting its own. It migrates as the owner, then hands each role only the DSN of its
process kind's database role (JIANGUAN_DSN_<KIND>, storage/roles.py; ROLE_KINDS), never the owner's.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ingest.children import die_with_parent

log = logging.getLogger(__name__)

BACKOFF_S, MAX_BACKOFF_S = 1.0, 60.0
# The database role (storage/roles.py) each role of `serve.roles` connects as.
ROLE_KINDS = {"node": "node", "events": "intake", "business": "business", "review": "desk"}
STABLE_S = 60.0  # a role that ran this long before exiting is restarted quickly again: a fresh failure


@dataclass
class RoleState:
    argv: list[str]
    pid: int | None = None
    state: str = "starting"  # running, waiting (for its restart), stopped
    restarts: int = 0
    last_exit: str | None = None  # "exit code 1", "signal SIGKILL"
    started_at: float | None = None
    _backoff: float = field(default=BACKOFF_S, repr=False)
    _restart_at: float = field(default=0.0, repr=False)


def describe_exit(rc: int) -> str:
    if rc < 0:
        try:
            return f"signal {signal.Signals(-rc).name}"
        except ValueError:
            return f"signal {-rc}"
    return f"exit code {rc}"


class Supervisor:
    def __init__(self, roles: dict[str, list[str]], state_path: Path, env: dict[str, str] | None = None,
                 stop_timeout_s: float = 30.0, role_env: dict[str, dict[str, str]] | None = None) -> None:
        """`env`: every role's environment (None: this process's); `role_env`: a role's own, instead of it."""
        self.roles = {name: RoleState(argv) for name, argv in roles.items()}
        self.state_path = Path(state_path)
        self.env = env
        self.role_env = role_env or {}
        self.stop_timeout_s = stop_timeout_s
        self.stop_event = threading.Event()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    def run(self) -> None:
        """Start the roles and keep them running until `stop_event` is set; then stop them all."""
        try:
            for name in self.roles:
                self._start(name)
            self._write_state()
            while not self.stop_event.wait(0.2):
                self._watch()
        finally:
            self._stop_all()

    # -- internals -------------------------------------------------------------------------------------
    def _start(self, name: str) -> None:
        role = self.roles[name]
        try:
            proc = subprocess.Popen(role.argv, env=self.role_env.get(name, self.env), stdin=subprocess.DEVNULL,
                                    preexec_fn=die_with_parent())
        except OSError as exc:  # the program is missing or cannot start: wait and try again
            role.state, role.last_exit = "waiting", f"cannot start: {exc}"
            self._schedule(name)
            return
        self._procs[name] = proc
        role.pid, role.state, role.started_at = proc.pid, "running", time.time()
        log.info("serve: %s started (pid %d)", name, proc.pid)

    def _schedule(self, name: str) -> None:
        role = self.roles[name]
        role._restart_at = time.monotonic() + role._backoff
        log.warning("serve: %s %s; restarting in %.0f s", name, role.last_exit, role._backoff)
        role._backoff = min(MAX_BACKOFF_S, role._backoff * 2)

    def _watch(self) -> None:
        changed = False
        for name, role in self.roles.items():
            proc = self._procs.get(name)
            if role.state == "running" and proc is not None and (rc := proc.poll()) is not None:
                ran_s = time.time() - (role.started_at or time.time())
                role.state, role.pid, role.last_exit = "waiting", None, describe_exit(rc)
                if ran_s >= STABLE_S:
                    role._backoff = BACKOFF_S
                self._schedule(name)
                changed = True
            elif role.state == "waiting" and time.monotonic() >= role._restart_at:
                role.restarts += 1
                self._start(name)
                changed = True
        if changed:
            self._write_state()

    def _stop_all(self) -> None:
        for name, proc in self._procs.items():
            if proc.poll() is None:
                log.info("serve: stopping %s (pid %d)", name, proc.pid)
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        for name, proc in self._procs.items():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("serve: %s did not stop within %.0f s; killing it", name, self.stop_timeout_s)
                proc.kill()
                proc.wait()
        for role in self.roles.values():
            role.state, role.pid = "stopped", None
        self._write_state()

    def _write_state(self) -> None:
        state = {"supervisor_pid": os.getpid(), "updated_at": time.time(),
                 "roles": {name: {k: v for k, v in asdict(role).items() if not k.startswith("_")}
                           for name, role in self.roles.items()}}
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.replace(tmp, self.state_path)


def role_commands(config_path: Path, roles: list[str], data_dir: Path, review_port: int) -> dict[str, list[str]]:
    """The command of each role, run with this interpreter."""
    me = [sys.executable, "-m", "jianguan"]
    path = str(config_path)
    commands = {
        "node": [*me, "run", path],
        "events": [*me, "events", "serve", "--config", path],
        "business": [*me, "business", "run", "--config", path],
        "review": [*me, "review", "serve", "--config", path, "--data-dir", str(data_dir), "--port",
                   str(review_port)],
    }
    return {role: commands[role] for role in roles}
