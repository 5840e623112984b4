"""The transport interface: the only IO surface the client runtime sees.

A transport moves bytes to and from one server connection. It knows nothing of JSON, records,
heartbeats or reconnection; the runtime drives it from its threads. Keeping it this small (compare
httpcore's ``_backends/base.py``) is what lets the same runtime run over paramiko, over a recorded
file, or over anything a test builds, without monkeypatching.

Threading contract: ``recv`` is called only from the reader thread; ``send`` from any thread, but
the runtime serialises calls; ``close`` may be called from any thread, at any time, any number of
times, and must make a blocked ``recv`` return promptly.
"""

from __future__ import annotations

import abc
from typing import Optional

__all__ = ["Transport", "DEFAULT_RECV_SIZE"]

#: How much ``recv`` asks for at once. paramiko's maximum packet is 32 KiB; asking for more lets one
#: call drain several packets already in the channel buffer, which cuts per-call overhead.
DEFAULT_RECV_SIZE = 256 * 1024


class Transport(abc.ABC):
    """One connection's byte stream. See the module docstring for the threading contract."""

    @abc.abstractmethod
    def connect(self, timeout: float) -> None:
        """Open the connection and make it ready to carry the feed.

        Raises:
            ConnectError: (or a subclass such as ``AuthenticationError`` / ``HostKeyError``) when
                the connection cannot be made within ``timeout`` seconds.
        """

    @abc.abstractmethod
    def send(self, data: bytes, timeout: float) -> None:
        """Send all of ``data`` within ``timeout`` seconds.

        Raises:
            TransportError: the connection is broken or the send timed out.
        """

    @abc.abstractmethod
    def recv(self, max_bytes: int = DEFAULT_RECV_SIZE) -> Optional[bytes]:
        """Wait a short, bounded time for data.

        Returns:
            The bytes that arrived; ``b""`` at end of stream (the peer closed, or ``close`` was
            called); ``None`` when nothing arrived within the transport's read timeout, so that the
            caller can check whether it was asked to stop.

        Raises:
            TransportError: the connection broke (with the underlying cause chained).
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection. Idempotent, thread-safe, never raises, returns promptly."""

    def describe(self) -> str:
        """A short description of the peer for logs and stats (never includes secrets)."""
        return type(self).__name__

    def failure_cause(self) -> Optional[BaseException]:
        """Why the connection died, when the transport knows better than the error it raised.

        paramiko, for one, ends its own thread on a failure and stores the exception; a blocked
        ``recv`` then only sees the end of the stream (see ``imgfeed.transport.ssh``).
        """
        return None
