"""SIGTERM and Ctrl-C as a request to stop the orderly way, for every long-running command."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

import click

from jianguan.messages import _


def stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """SIGINT (Ctrl-C) and SIGTERM (systemd, docker stop, `jianguan serve`) set `stop`, so the command stops
    the orderly way (a node: open incidents closed, the last rows written, clips cut, pushes drained). A
    second signal stops at once (KeyboardInterrupt). Returns a function that puts the previous handlers
    back."""

    def handler(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        click.echo(_("{signal}: stopping the orderly way; again to stop at once", signal=signal.Signals(signum).name),
                   err=True)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
