"""The client's life: its state (a table of allowed moves), the stop flag, and who waits for what.

Contract: :class:`Lifecycle` holds the :class:`~imgfeed.runtime.stats.ClientState` under the
runtime lock (the adapter's), refuses any move not in
:data:`~imgfeed.runtime.stats.TRANSITIONS` (a bug, logged, never raised on a thread), wakes the
callers waiting for a live session whenever it moves, and records why the client failed, if it
did: the first fatal error wins and is what ``join()`` raises.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Optional, Set

from imgfeed.runtime.stats import TRANSITIONS, ClientState

__all__ = ["Lifecycle"]

log = logging.getLogger("imgfeed.runtime")


class Lifecycle:
    """State, stop flag and failure of one client (module docstring)."""

    def __init__(self, lock: "threading.RLock") -> None:
        self.lock = lock
        #: Waiters for a live session (requests) and for a state change.
        self.changed = threading.Condition(lock)
        self.state = ClientState.NEW
        #: Set by stop() (or a fatal error): every loop ends, every wait is cut short.
        self.stopping = threading.Event()
        #: Wakes the watchdog early (a session came up or ended, a request to reconnect ...).
        self.wake = threading.Event()
        #: Why the client stopped by itself, raised by ``join()``.
        self.fatal: Optional[BaseException] = None
        #: The handler exception to re-raise under ``error_policy="raise"``.
        self.handler_exc: Optional[BaseException] = None
        #: When stop() must have returned (monotonic), so the watchdog bounds its own joins.
        self.stop_deadline: Optional[float] = None
        self._ended: Set[str] = set()

    def __repr__(self) -> str:
        return f"<Lifecycle {self.state.value}{' stopping' if self.stopping.is_set() else ''}>"

    def move(self, state: ClientState) -> None:
        with self.lock:
            current = self.state
            if (current, state) not in TRANSITIONS:
                # Late moves after a stop began (the watchdog finishing an attempt) are expected and
                # ignored; anything else is a runtime bug, logged rather than raised on a thread.
                if current not in (ClientState.STOPPING, ClientState.STOPPED):
                    log.error("refused client state transition %s -> %s", current.value, state.value)
                return
            self.state = state
            self.changed.notify_all()

    def fail(self, exc: BaseException) -> None:
        """Record why the client stops by itself (the first reason wins), and stop."""
        with self.lock:
            if self.fatal is None:
                self.fatal = exc
        self.request_stop()

    def request_stop(self, timeout: Optional[float] = None) -> None:
        if timeout is not None:
            deadline = time.monotonic() + timeout
            if self.stop_deadline is None or deadline < self.stop_deadline:
                self.stop_deadline = deadline
        self.stopping.set()
        self.wake.set()
        with self.lock:
            self.changed.notify_all()

    def thread_ended(self, name: str) -> None:
        """The watchdog or the dispatcher has finished; once both have, the client is STOPPED."""
        with self.lock:
            self._ended.add(name)
            if {"watchdog", "dispatcher"} <= self._ended:
                self.move(ClientState.STOPPING)
                self.move(ClientState.STOPPED)

    def time_left(self, default: float) -> float:
        """Seconds a join may take: ``default``, or less if stop() must return before."""
        if self.stop_deadline is None:
            return default
        return max(0.0, min(default, self.stop_deadline - time.monotonic()))
