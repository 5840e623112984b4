"""Two pieces every loopback server session has: its queue of output, and its window of requests.

Contract: both are plain, IO-free and not thread-safe (a session is used under its connection's
lock). :class:`OutputQueue` keeps bytes in the order they were queued and counts them, so that a
connection can tell a slow reader by how much is waiting. :class:`RequestWindow` remembers when
the recent requests (or connections) arrived; what counts as "too many" is the caller's rule.
"""

from __future__ import annotations

import collections
from typing import Deque, List

__all__ = ["OutputQueue", "RequestWindow"]


class OutputQueue:
    """Bytes waiting to be written to one client, in order."""

    def __init__(self) -> None:
        self._parts: List[bytes] = []
        self.size = 0

    def __repr__(self) -> str:
        return f"<OutputQueue {self.size}B>"

    def append(self, data: bytes) -> None:
        """Queue ``data`` after everything queued so far."""
        self._parts.append(data)
        self.size += len(data)

    def take(self) -> bytes:
        """Everything queued since the last call (possibly ``b""``), and empty the queue."""
        if not self._parts:
            return b""
        data = b"".join(self._parts)
        self.discard()
        return data

    def discard(self) -> int:
        """Drop everything queued; returns how many bytes were dropped."""
        dropped = self.size
        self._parts.clear()
        self.size = 0
        return dropped


class RequestWindow:
    """When the requests of the last ``seconds`` arrived: a sliding window for rate limits."""

    def __init__(self) -> None:
        self._times: Deque[float] = collections.deque()

    def __repr__(self) -> str:
        return f"<RequestWindow {len(self._times)} recent>"

    def recent(self, now: float, seconds: float) -> int:
        """How many arrivals fall within the ``seconds`` before ``now`` (older ones are forgotten)."""
        times = self._times
        while times and times[0] <= now - seconds:
            times.popleft()
        return len(times)

    def add(self, now: float) -> None:
        """Count an arrival at ``now``."""
        self._times.append(now)
