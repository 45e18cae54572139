"""Child processes that die with their parent.

A node starts an ffmpeg recorder per camera and a test or CLI may start the RTSP simulator. If the parent is
killed (kill -9, a native crash in a decoder or a runtime), those children used to live on with parent 1:
measured, six recorders kept writing into the camera folders, and a restarted node started six more on the
same files. `die_with_parent()` is a pre-exec hook that asks the kernel to SIGKILL the child when the thread
that started it ends (PR_SET_PDEATHSIG; Linux).
"""

from __future__ import annotations

import signal
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` for `subprocess.Popen`, or None where prctl is not available.

    libc is loaded here, before the fork: the hook itself only makes one C call (imports after a fork in a
    threaded parent can deadlock). The signal follows the *thread* that forks, so start a child from a thread
    that lives as long as the child should (the recorder's supervising thread does)."""
    try:
        import ctypes

        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
