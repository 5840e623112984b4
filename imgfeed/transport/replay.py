"""A transport that plays a recording back, so the client runtime can run on yesterday's feed.

Contract: ``recv`` returns the recorded lines, each re-joined with its ``\\n``, in file order, at the
recorded pace divided by ``speed`` (or as fast as the reader takes them when ``speed`` is ``None``),
then ``b""``. Lines that are due together are returned in one chunk (up to ``max_bytes``), as a
real socket would. ``send`` accepts the client's requests and drops them: the recording already
holds the server's answers. Because the bytes go through the client's ordinary reader, a replayed
feed is framed, decoded, dispatched and applied to the market book exactly as a live one.

Reconnections: a recording marks where the recorder's client started a new connection. With
``split_connections=True`` the transport ends its stream (``b""``) just before such a line, and
:meth:`ReplayTransport.successor` gives the transport for the next connection, which goes on from
there -- so a client that reconnects through a factory of successors lives through the recorded
disconnections and new sessions as it did live. The position, the pace and the counters are shared
by a transport and its successors.

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
from typing import Any, Callable, Deque, Iterable, Iterator, List, Optional, Union

from imgfeed.errors import ConfigError, ReplayError
from imgfeed.recording.format import PathLike, RecordedLine
from imgfeed.recording.reader import open_recording
from imgfeed.transport.base import DEFAULT_RECV_SIZE, Transport

__all__ = ["ReplayTransport"]

_log = logging.getLogger(__name__)

#: Longest single wait inside ``recv``: the reader thread checks whether it was asked to stop at
#: least this often.
DEFAULT_READ_TIMEOUT = 0.2

Source = Union[PathLike, Iterable[PathLike], Iterable[RecordedLine]]


def _is_paths(source: Source) -> bool:
    return isinstance(source, (str, os.PathLike)) or (
        isinstance(source, (list, tuple)) and all(isinstance(s, (str, os.PathLike)) for s in source)
    )


class _Playback:
    """Where a replay is, shared by a transport and its successors (one reader thread at a time)."""

    def __init__(
        self, source: Source, speed: Optional[float], allow_truncated: bool, clock: Callable[[], float]
    ):
        self.source = source
        self.speed = speed
        self.allow_truncated = allow_truncated
        self.clock = clock
        self.lines: Optional[Iterator[RecordedLine]] = None
        self.started = False
        self.pending: Optional[RecordedLine] = None
        self.origin: Optional[float] = None  # monotonic time at which recorded time 0 plays
        self.error: Optional[ReplayError] = None
        self.lines_played = 0
        self.truncated = False
        self.finished = threading.Event()
        self.line_times: Deque[float] = collections.deque()

    def start(self) -> None:
        if self.started:
            return
        self.started = True
        source: Any = self.source
        if _is_paths(source):
            self.lines = self._read_files(
                [source] if isinstance(source, (str, os.PathLike)) else list(source)
            )
        else:
            self.lines = iter(source)

    def _read_files(self, paths: List[PathLike]) -> Iterator[RecordedLine]:
        pending = False
        for path in paths:
            with open_recording(path, allow_truncated=self.allow_truncated) as recording:
                # A rotation may fall between a connection marker and the connection's first line.
                recording.connection_pending = pending
                yield from recording
                pending = recording.connection_pending
                self.truncated = self.truncated or recording.truncated

    def peek(self) -> Optional[RecordedLine]:
        """The next recorded line (kept as pending until taken), or ``None`` at the end."""
        lines = self.lines
        if self.pending is None and lines is not None:
            try:
                self.pending = next(lines, None)
            except ReplayError as exc:
                # Raising here would look like a broken connection to the runtime; end the stream
                # and let the replay's driver report the error (module docstring).
                _log.error("%s", exc)
                self.error = exc
                self.pending = None
            if self.pending is None:
                self.lines = None
        return self.pending

    def take(self) -> None:
        line = self.pending
        assert line is not None
        self.pending = None
        self.line_times.append(line.t)
        self.lines_played += 1

    def due_in(self, line: RecordedLine) -> float:
        """Seconds until ``line`` is due; <= 0 when it is due now."""
        if self.speed is None:
            return 0.0
        now = self.clock()
        if self.origin is None:
            # The first line plays at once; the others keep their recorded spacing from it.
            self.origin = now - line.t / self.speed
            return 0.0
        return (self.origin + line.t / self.speed) - now

    def release(self) -> None:
        """Close the files (on the reader's thread, which owns the iterator)."""
        lines, self.lines = self.lines, None
        close = getattr(lines, "close", None)
        if close is not None:
            close()


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
        split_connections: end the stream where the recording marks a new connection (see the
            module docstring); ``successor()`` goes on from there.
        hold_open_at_end: after the last line, keep the stream open (``recv`` returns ``None``)
            until ``close``, instead of ending it: the driver of a replay, not an end of stream,
            decides when the client stops (see :attr:`done`).

    Raises:
        ConfigError: ``speed`` is not a positive finite number or ``None``.
    """

    def __init__(
        self,
        source: Source,
        speed: Optional[float] = 1.0,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        allow_truncated: bool = False,
        clock: Callable[[], float] = time.monotonic,
        *,
        split_connections: bool = False,
        hold_open_at_end: bool = False,
        _playback: Optional[_Playback] = None,
    ) -> None:
        if speed is not None and not (isinstance(speed, (int, float)) and math.isfinite(speed) and speed > 0):
            raise ConfigError("speed", speed, "a positive number, or None for as fast as possible")
        if not (isinstance(read_timeout, (int, float)) and read_timeout > 0):
            raise ConfigError("read_timeout", read_timeout, "a positive number of seconds")
        self._source = source
        self.speed = speed
        self.read_timeout = float(read_timeout)
        self.allow_truncated = allow_truncated
        self.split_connections = split_connections
        self.hold_open_at_end = hold_open_at_end
        self._playback = _playback or _Playback(source, speed, allow_truncated, clock)
        self._closed = threading.Event()
        self._connected = False
        self._played_here = 0  # lines this transport (this connection) returned
        #: True once this transport ended its stream at a recorded reconnection.
        self.connection_ended = False
        #: The requests the client sent, as bytes (kept for tests and debugging; bounded).
        self.sent: List[bytes] = []

    def __repr__(self) -> str:
        return (
            f"ReplayTransport(source={self.describe()!r}, speed={self.speed}, "
            f"lines_played={self.lines_played}, finished={self.finished})"
        )

    def successor(self) -> "ReplayTransport":
        """The transport for the recording's next connection, going on where this one stopped."""
        return ReplayTransport(
            self._source,
            self.speed,
            self.read_timeout,
            self.allow_truncated,
            split_connections=self.split_connections,
            hold_open_at_end=self.hold_open_at_end,
            _playback=self._playback,
        )

    # --- shared progress (the same for a transport and its successors) ---------------------------

    @property
    def error(self) -> Optional[ReplayError]:
        """The error that ended the replay early, if any."""
        return self._playback.error

    @property
    def lines_played(self) -> int:
        """How many recorded lines have been returned."""
        return self._playback.lines_played

    @property
    def truncated(self) -> bool:
        """True when a file ended without its end marker or inside a line (see ``allow_truncated``)."""
        return self._playback.truncated

    @property
    def finished(self) -> bool:
        """True once every line has been returned."""
        return self._playback.finished.is_set()

    @property
    def done(self) -> threading.Event:
        """Set once every line has been returned (or the recording turned out to be bad)."""
        return self._playback.finished

    @property
    def line_times(self) -> Deque[float]:
        """The recorded receive time of each line returned and not yet claimed, in order.

        A decoder on the reader thread pops one per line to stamp records with the time they were
        received when recorded (see :func:`imgfeed.replay`).
        """
        return self._playback.line_times

    def describe(self) -> str:
        source = self._source
        if isinstance(source, (str, os.PathLike)):
            return f"replay of {os.fspath(source)}"
        if isinstance(source, (list, tuple)) and source and isinstance(source[0], (str, os.PathLike)):
            more = f" (+{len(source) - 1} files)" if len(source) > 1 else ""
            return f"replay of {os.fspath(source[0])}{more}"
        return "replay"

    # --- the transport ---------------------------------------------------------------------------

    def connect(self, timeout: float) -> None:
        """Start (or go on) reading the recording.

        A missing or bad file does not raise here (the runtime would retry a failed connect
        forever): the stream then ends at once and :attr:`error` says why.
        """
        self._playback.start()
        self._connected = True

    def send(self, data: bytes, timeout: float) -> None:
        """Accept a request and drop it: the recording holds the server's answers already."""
        if len(self.sent) < 1000:
            self.sent.append(data)

    def _starts_next_connection(self, line: RecordedLine) -> bool:
        return self.split_connections and line.new_connection and self._played_here > 0

    def recv(self, max_bytes: int = DEFAULT_RECV_SIZE) -> Optional[bytes]:
        if not self._connected:
            raise ReplayError("ReplayTransport.recv() called before connect()")
        playback = self._playback
        if self._closed.is_set():
            return self._end()
        line = playback.peek()
        if line is None:
            playback.finished.set()
            if self.hold_open_at_end:
                return self._end() if self._closed.wait(self.read_timeout) else None
            return self._end()
        if self._starts_next_connection(line):
            # The recorder's client reconnected here: end this connection; successor() goes on.
            self.connection_ended = True
            return b""
        wait = playback.due_in(line)
        if wait > 0:
            # Wait on the close event: close() from another thread ends the wait at once.
            if self._closed.wait(min(wait, self.read_timeout)):
                return self._end()
            if wait > self.read_timeout:
                return None
        chunks: List[bytes] = []
        size = 0
        while line is not None and (not chunks or size + len(line.data) < max_bytes):
            if chunks and (playback.due_in(line) > 0 or self._starts_next_connection(line)):
                break
            chunks.append(line.data)
            chunks.append(b"\n")
            size += len(line.data) + 1
            playback.take()
            self._played_here += 1
            line = playback.peek()
        return b"".join(chunks)

    def _end(self) -> bytes:
        """End of the replay (closed, finished or failed): release the files."""
        self._playback.release()
        return b""

    def close(self) -> None:
        self._closed.set()
