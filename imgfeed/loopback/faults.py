"""The fault switches every loopback test server has, whatever its protocol.

Contract: :class:`FaultSwitches` is the base of a server's ``server.faults``. It holds the
switches both servers share (output stalled, heartbeats stopped, write chunk sizes) and the
faults that act the same way on any session (stall, resume, stop or resume heartbeats, raw
bytes). The server it controls provides ``_for_each_session(action)`` (``action`` applied to each
live session under its connection's lock, the connection woken after) and ``_wake_all()``.
A switch also holds for connections made later, until switched back. What the faults look like
on the wire is the subclass's to describe.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional, Protocol, Sequence, Tuple

__all__ = ["FaultSwitches", "FaultTarget", "check_chunk_sizes"]


class FaultTarget(Protocol):
    """What the fault switches need of their server."""

    def _for_each_session(self, action: Callable[[Any], None]) -> None: ...

    def _wake_all(self) -> None: ...


def check_chunk_sizes(sizes: Optional[Sequence[int]]) -> Optional[Tuple[int, ...]]:
    """``sizes`` as a tuple of ints, or None; raises ValueError unless each is ``>= 1``."""
    if sizes is None:
        return None
    checked = tuple(int(size) for size in sizes)
    if not checked or min(checked) < 1:
        raise ValueError(f"chunk sizes must be integers >= 1, got {checked!r}")
    return checked


class FaultSwitches:
    """The shared switches of one server's fault controller. Every method is thread-safe."""

    def __init__(self, server: FaultTarget) -> None:
        self._server = server
        self._lock = threading.Lock()
        self.stalled = False
        self.heartbeats_stopped = False
        self.chunk_sizes: Optional[Tuple[int, ...]] = None

    def stall(self) -> None:
        """Stop writing to every client, sockets kept open; output queues up meanwhile."""
        self.stalled = True

    def resume(self) -> None:
        """End a :meth:`stall`: everything queued meanwhile is written, in order."""
        self.stalled = False
        self._server._wake_all()

    def stop_heartbeats(self) -> None:
        """No more heartbeats on any session (other output goes on) until :meth:`resume_heartbeats`."""
        self.heartbeats_stopped = True
        self._server._for_each_session(lambda s: setattr(s, "heartbeats_enabled", False))

    def resume_heartbeats(self) -> None:
        """Heartbeats again, the next one at once on sessions where one is overdue."""
        self.heartbeats_stopped = False
        self._server._for_each_session(lambda s: setattr(s, "heartbeats_enabled", True))

    def send_raw(self, data: bytes) -> None:
        """Write ``data`` as-is to every live session, in order with the rest of its output."""
        self._server._for_each_session(lambda s: s.send_raw(data))
