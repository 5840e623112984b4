"""What the suites' leak checks share: joining the threads a test left, and listing open descriptors.

A leak check joins, with one deadline, every thread started since the test began (so a clean
test pays nothing: nothing is slept for), then names those still alive; it compares the file
descriptors before and after. Each suite's autouse fixture says what a leak means to it.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Dict, Iterator, Set

__all__ = ["join_new_threads", "open_fds", "no_threads_left"]


def open_fds() -> Dict[int, str]:
    """This process's open file descriptors and what they point to."""
    fds: Dict[int, str] = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass  # the descriptor listdir itself used, closed already
    return fds


def join_new_threads(before: Set[threading.Thread], timeout: float) -> Set[threading.Thread]:
    """Join every thread started since ``before`` within ``timeout``; return those still alive."""
    deadline = time.monotonic() + timeout
    for thread in set(threading.enumerate()) - before:
        if thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
    return {t for t in set(threading.enumerate()) - before if t.is_alive()}


def no_threads_left(timeout: float) -> Iterator[None]:
    """The body of an autouse fixture: every thread the test started must be gone (joined within
    ``timeout``) when it ends."""
    before = set(threading.enumerate())
    yield
    leaked = [t.name for t in join_new_threads(before, timeout)]
    assert not leaked, f"threads left running: {leaked}"
