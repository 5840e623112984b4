"""A transport that plays a recording back, so the client runtime can run on yesterday's feed.

Contract: ``recv`` returns the recorded lines, each re-joined with its ``\\n``, in file order, at the
recorded pace divided by ``speed`` (or as fast as the reader takes them when ``speed`` is ``None``),
then ``b""``. Lines that are due together are returned in one chunk (up to ``max_bytes``), as a
real socket would. ``send`` accepts the client's requests and drops them: the recording already
holds the server's answers. Because the bytes go through the client's ordinary reader, a replayed
feed is framed, decoded, dispatched and applied to the market book exactly as a live one.

A recording that turns out to be corrupt part-way is not raised from ``recv`` (the runtime would take
it for a broken connection and reconnect): the transport ends the stream with ``b""`` and keeps the
error in :attr:`ReplayTransport.error` for whoever drives the replay (see :func:`imgfeed.replay`).

Pacing uses ``time.monotonic`` and waits on an event that ``close`` sets, so ``close`` from another
thread wakes a waiting ``recv`` at once, and no wait is longer than ``read_timeout``.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import threading
import time
from typing import Callable, Deque, Iterable, Iterator, List, Optional, Union

from imgfeed.errors import ConfigError, ReplayError
from imgfeed.recording import PathLike, RecordedLine, open_recording
from imgfeed.transport.base import DEFAULT_RECV_SIZE, Transport

__all__ = ["ReplayTransport"]

_log = logging.getLogger(__name__)

#: Longest single wait inside ``recv``: the reader thread checks whether it was asked to stop at
#: least this often.
DEFAULT_READ_TIMEOUT = 0.2


class ReplayTransport(Transport):
    """Play recorded lines as if a server sent them.

    Args:
        source: a recording file, a list of files (e.g. the parts of a rotated recording), or any
            iterable of :class:`~imgfeed.recording.RecordedLine`.
        speed: how many times faster than recorded to play (2.0: twice as fast); ``None`` for as
            fast as possible.
        read_timeout: the longest ``recv`` waits before returning ``None``.
        allow_truncated: accept a file cut off in the middle of its last line (see
            :func:`~imgfeed.recording.read_recording`).
        clock: a monotonic clock, in seconds.

    Raises:
        ConfigError: ``speed`` is not a positive finite number or ``None``.
    """

    def __init__(
        self,
        source: Union[PathLike, Iterable[PathLike], Iterable[RecordedLine]],
        speed: Optional[float] = 1.0,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        allow_truncated: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed is not None and not (isinstance(speed, (int, float)) and math.isfinite(speed) and speed > 0):
            raise ConfigError("speed", speed, "a positive number, or None for as fast as possible")
        if not (isinstance(read_timeout, (int, float)) and read_timeout > 0):
            raise ConfigError("read_timeout", read_timeout, "a positive number of seconds")
        self._source = source
        self.speed = speed
        self.read_timeout = float(read_timeout)
        self.allow_truncated = allow_truncated
        self._clock = clock
        self._closed = threading.Event()
        self._lines: Optional[Iterator[RecordedLine]] = None
        self._pending: Optional[RecordedLine] = None
        self._connected = False
        self._origin: Optional[float] = None  # (first line's t) - its monotonic play time * speed
        #: The error that ended the replay early, if any.
        self.error: Optional[ReplayError] = None
        #: How many recorded lines ``recv`` has returned.
        self.lines_played = 0
        #: True when a file ended without its end marker or inside a line (see ``allow_truncated``).
        self.truncated = False
        #: True once every line has been returned (``recv`` then returns ``b""``).
        self.finished = False
        #: The recorded receive time of each line returned by ``recv`` and not yet claimed, in
        #: order: a decoder on the reader thread pops one per line to stamp records with the time
        #: they were received when recorded (see :func:`imgfeed.replay`).
        self.line_times: Deque[float] = collections.deque()
        #: The requests the client sent, as bytes (kept for tests and debugging; bounded).
        self.sent: List[bytes] = []

    def __repr__(self) -> str:
        return (
            f"ReplayTransport(source={self.describe()!r}, speed={self.speed}, "
            f"lines_played={self.lines_played}, finished={self.finished})"
        )

    def describe(self) -> str:
        source = self._source
        if isinstance(source, (str, os.PathLike)):
            return f"replay of {os.fspath(source)}"
        if isinstance(source, (list, tuple)) and source and isinstance(source[0], (str, os.PathLike)):
            more = f" (+{len(source) - 1} files)" if len(source) > 1 else ""
            return f"replay of {os.fspath(source[0])}{more}"
        return "replay"

    def connect(self, timeout: float) -> None:
        """Start reading the recording.

        A missing or bad file does not raise here (the runtime would retry a failed connect
        forever): the stream then ends at once and :attr:`error` says why.
        """
        source = self._source
        if isinstance(source, (str, os.PathLike)) or (
            isinstance(source, (list, tuple)) and all(isinstance(s, (str, os.PathLike)) for s in source)
        ):
            paths = [source] if isinstance(source, (str, os.PathLike)) else list(source)
            lines: Iterator[RecordedLine] = self._read_files(paths)
        else:
            lines = iter(source)  # type: ignore[arg-type]
        self._lines = lines
        self._connected = True

    def _read_files(self, paths: List[PathLike]) -> Iterator[RecordedLine]:
        for path in paths:
            with open_recording(path, allow_truncated=self.allow_truncated) as recording:
                yield from recording
                self.truncated = self.truncated or recording.truncated

    def send(self, data: bytes, timeout: float) -> None:
        """Accept a request and drop it: the recording holds the server's answers already."""
        if len(self.sent) < 1000:
            self.sent.append(data)

    def _next(self) -> Optional[RecordedLine]:
        """The next recorded line (kept as pending until returned), or ``None`` at the end."""
        lines = self._lines
        if self._pending is None and lines is not None:
            try:
                self._pending = next(lines, None)
            except ReplayError as exc:
                # Raising here would look like a broken connection to the runtime; end the stream
                # and let the replay's driver report the error (module docstring).
                _log.error("%s", exc)
                self.error = exc
                self._pending = None
            if self._pending is None:
                self._lines = None
        return self._pending

    def _due_in(self, line: RecordedLine) -> float:
        """Seconds until ``line`` is due; <= 0 when it is due now."""
        if self.speed is None:
            return 0.0
        now = self._clock()
        if self._origin is None:
            # The first line plays at once; the others keep their recorded spacing from it.
            self._origin = now - line.t / self.speed
            return 0.0
        return (self._origin + line.t / self.speed) - now

    def recv(self, max_bytes: int = DEFAULT_RECV_SIZE) -> Optional[bytes]:
        if not self._connected:
            raise ReplayError("ReplayTransport.recv() called before connect()")
        if self._closed.is_set():
            return self._end()
        line = self._next()
        if line is None:
            self.finished = True
            return self._end()
        wait = self._due_in(line)
        if wait > 0:
            # Wait on the close event: close() from another thread ends the wait at once.
            if self._closed.wait(min(wait, self.read_timeout)):
                return self._end()
            if wait > self.read_timeout:
                return None
        chunks: List[bytes] = []
        size = 0
        while line is not None and (not chunks or size + len(line.data) < max_bytes):
            if chunks and self._due_in(line) > 0:
                break
            chunks.append(line.data)
            chunks.append(b"\n")
            self.line_times.append(line.t)
            size += len(line.data) + 1
            self._pending = None
            self.lines_played += 1
            line = self._next()
        return b"".join(chunks)

    def _end(self) -> bytes:
        """End of stream: release the file (on the reader's thread, which owns the iterator)."""
        lines, self._lines = self._lines, None
        close = getattr(lines, "close", None)
        if close is not None:
            close()
        return b""

    def close(self) -> None:
        self._closed.set()
