"""A transport wrapper that records every line it receives, for ``imgfeed record`` and bug reports.

Contract: :class:`RecordingTransport` behaves exactly like the transport it wraps -- same bytes, same
timeouts, same errors -- and, as a side effect, writes each complete line it has received to a
:class:`~imgfeed.recording.RecordingWriter`, stamped with the time the chunk holding its end arrived.
It splits lines with the same :class:`~imgfeed.framing.LineBuffer` the client uses, so
the recording holds exactly the lines the client decoded; and it marks the start of each connection,
so that a replay reconnects where the live client did.

Why a wrapper and not a hook in the client: it needs nothing from the runtime, works with any
transport (SSH, a test's own), and keeps recording out of the hot path of users who do not record.

What is not recorded (each is logged as a warning): a line longer than the maximum line length,
and an unterminated last line when a connection ends (neither was a line the client could decode).
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Optional

from imgfeed.errors import ProtocolError
from imgfeed.framing import DEFAULT_MAX_LINE_LENGTH, LineBuffer
from imgfeed.recording.writer import RecordingWriter
from imgfeed.transport.base import DEFAULT_RECV_SIZE, Transport

__all__ = ["RecordingTransport", "recording_factory"]

_log = logging.getLogger(__name__)


class RecordingTransport(Transport):
    """Wrap ``inner`` and record the lines it receives into ``writer``.

    Args:
        inner: the transport that talks to the server.
        writer: where the lines go. It is shared by the connections of one client (one transport
            per connection) and is not closed by this class: its owner closes it.
        clock: the receive-time source (seconds since the epoch).
        max_line_length: the longest line recorded, as in the client's configuration.
    """

    def __init__(
        self,
        inner: Transport,
        writer: RecordingWriter,
        clock: Callable[[], float] = time.time,
        max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
    ) -> None:
        self.inner = inner
        self.writer = writer
        self._clock = clock
        self._lines = LineBuffer(max_line_length)

    def __repr__(self) -> str:
        return f"RecordingTransport(inner={self.inner!r}, writer={self.writer!r})"

    def describe(self) -> str:
        return self.inner.describe()

    def connect(self, timeout: float) -> None:
        self.inner.connect(timeout)
        # A marker, so that a replay starts a new session here as the live client did.
        if not self.writer.closed:
            self.writer.mark_connected(self._clock(), self.inner.describe())

    def send(self, data: bytes, timeout: float) -> None:
        self.inner.send(data, timeout)

    def recv(self, max_bytes: int = DEFAULT_RECV_SIZE) -> Optional[bytes]:
        data = self.inner.recv(max_bytes)
        if data is None:
            return None
        t = self._clock()
        try:
            lines = self._lines.feed(data)
        except RuntimeError:
            return data  # recv after the end of the stream: nothing more to record
        for line in lines:
            if isinstance(line, ProtocolError):
                _log.warning("not recorded: %s", line.reason)
            elif not self.writer.closed:
                self.writer.write(line, t)
        return data

    def close(self) -> None:
        self.inner.close()


def recording_factory(
    factory: Callable[[], Transport], writer: RecordingWriter, max_line_length: int = DEFAULT_MAX_LINE_LENGTH
) -> Callable[[], Transport]:
    """Wrap a transport factory so that every connection it makes is recorded into ``writer``."""

    def make() -> Transport:
        return RecordingTransport(factory(), writer, max_line_length=max_line_length)

    return make
