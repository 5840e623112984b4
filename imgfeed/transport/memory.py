"""An in-memory transport: the test plays the server, with no network (compare httpcore's mock).

The "server" side is the test: it pushes bytes with :meth:`MemoryTransport.push` (or whole
messages with :meth:`push_message`), ends the stream with :meth:`eof`, and sees what the client
sent in :attr:`MemoryTransport.sent` or through a ``responder`` called for every complete line.
"""

from __future__ import annotations

import collections
import threading
from typing import Any, Callable, Deque, Dict, List, Optional

from imgfeed.errors import ConnectError, TransportError
from imgfeed.framing import encode_line
from imgfeed.transport.base import DEFAULT_RECV_SIZE, Transport

__all__ = ["MemoryTransport"]


class MemoryTransport(Transport):
    """A scripted connection.

    Args:
        responder: called as ``responder(transport, line)`` (on the sending thread) for every
            complete line the client sends; use it to answer ``init`` and requests.
        connect_error: raised by :meth:`connect` instead of connecting.
        read_timeout: how long one :meth:`recv` waits before returning ``None``.
    """

    def __init__(
        self,
        responder: Optional[Callable[["MemoryTransport", bytes], None]] = None,
        connect_error: Optional[BaseException] = None,
        read_timeout: float = 0.05,
    ) -> None:
        self.responder = responder
        self.connect_error = connect_error
        self.read_timeout = read_timeout
        self.sent: List[bytes] = []
        self.connected = threading.Event()
        #: Set while a ``recv`` waits on an empty inbox: the client has read everything pushed.
        self.idle = threading.Event()
        self._inbox: Deque[bytes] = collections.deque()
        self._cond = threading.Condition()
        self._eof = False
        self._closed = False
        self._partial = b""

    def __repr__(self) -> str:
        return f"<MemoryTransport sent={len(self.sent)} closed={self._closed}>"

    # --- the client's side -----------------------------------------------------------------------

    def connect(self, timeout: float) -> None:
        if self.connect_error is not None:
            raise self.connect_error
        if self._closed:
            raise ConnectError("closed before connecting")
        self.connected.set()

    def send(self, data: bytes, timeout: float) -> None:
        if self._closed or self._eof:
            raise TransportError("connection closed")
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        self.sent.extend(lines)
        if self.responder is not None:
            for line in lines:
                self.responder(self, line)

    def recv(self, max_bytes: int = DEFAULT_RECV_SIZE) -> Optional[bytes]:
        with self._cond:
            if not self._inbox and not self._eof and not self._closed:
                self.idle.set()
                self._cond.wait(self.read_timeout)
                self.idle.clear()
            if self._inbox:
                data = self._inbox.popleft()
                if len(data) > max_bytes:
                    self._inbox.appendleft(data[max_bytes:])
                    data = data[:max_bytes]
                return data
            if self._eof or self._closed:
                return b""
            return None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def describe(self) -> str:
        return "memory"

    # --- the test's (server's) side --------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def push(self, data: bytes) -> None:
        """Deliver ``data`` to the client as one read."""
        with self._cond:
            self._inbox.append(data)
            self.idle.clear()
            self._cond.notify_all()

    def push_message(self, obj: Dict[str, Any]) -> None:
        """Deliver one JSON message as a line."""
        self.push(encode_line(obj))

    def eof(self) -> None:
        """End the stream, as a server closing the connection."""
        with self._cond:
            self._eof = True
            self._cond.notify_all()
