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

Why the lines are taken a file block at a time (:meth:`~imgfeed.recording.reader.Recording.batches`)
and handed over with the chunk and their times (:meth:`ReplayTransport.take_lines`): a replay's
reader thread did about a quarter of its work between the file and the decoder -- an object, a
generator step and a peek/take per line, then a split of the chunk it had just joined and a time
popped per line (issue 14). The chunk's bytes are still returned: the runtime counts them and shows
them to its taps.

Pacing uses ``time.monotonic`` and waits on an event that ``close`` sets, so ``close`` from another
thread wakes a waiting ``recv`` at once, and no wait is longer than ``read_timeout``.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from typing import Any, Callable, Iterable, Iterator, List, Optional, Tuple, Union

from imgfeed.errors import ConfigError, ReplayError
from imgfeed.recording.format import PathLike, RecordedLine
from imgfeed.recording.reader import LineBatch, open_recording
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
    """Where a replay is, shared by a transport and its successors (one reader thread at a time).

    The lines come as :class:`~imgfeed.recording.reader.LineBatch` es (a file's block at a time);
    ``batch`` is the one being played and ``index`` its next line.
    """

    def __init__(
        self, source: Source, speed: Optional[float], allow_truncated: bool, clock: Callable[[], float]
    ):
        self.source = source
        self.speed = speed
        self.allow_truncated = allow_truncated
        self.clock = clock
        self.batches: Optional[Iterator[LineBatch]] = None
        self.started = False
        self.batch: Optional[LineBatch] = None
        self.index = 0
        #: The last chunk returned, its lines and their times (see ReplayTransport.take_lines).
        self.last: Optional[Tuple[bytes, List[bytes], List[float]]] = None
        self.origin: Optional[float] = None  # monotonic time at which recorded time 0 plays
        self.error: Optional[ReplayError] = None
        self.lines_played = 0
        self.truncated = False
        self.finished = threading.Event()

    def start(self) -> None:
        if self.started:
            return
        self.started = True
        source: Any = self.source
        if _is_paths(source):
            self.batches = self._read_files(
                [source] if isinstance(source, (str, os.PathLike)) else list(source)
            )
        else:
            self.batches = _one_by_one(iter(source))

    def _read_files(self, paths: List[PathLike]) -> Iterator[LineBatch]:
        pending = False
        for path in paths:
            with open_recording(path, allow_truncated=self.allow_truncated) as recording:
                # A rotation may fall between a connection marker and the connection's first line.
                recording.connection_pending = pending
                yield from recording.batches()
                pending = recording.connection_pending
                self.truncated = self.truncated or recording.truncated

    def fill(self) -> Optional[LineBatch]:
        """The batch whose line ``index`` is the next to play, or ``None`` at the end."""
        batch = self.batch
        if batch is not None and self.index < len(batch.lines):
            return batch
        self.batch = None
        batches = self.batches
        if batches is None:
            return None
        try:
            batch = next(batches, None)
        except ReplayError as exc:
            # Raising here would look like a broken connection to the runtime; end the stream
            # and let the replay's driver report the error (module docstring).
            _log.error("%s", exc)
            self.error = exc
            batch = None
        if batch is None:
            self.batches = None
            return None
        self.batch = batch
        self.index = 0
        return batch

    def due_in(self, t: float) -> float:
        """Seconds until the line recorded at ``t`` is due; <= 0 when it is due now."""
        if self.speed is None:
            return 0.0
        now = self.clock()
        if self.origin is None:
            # The first line plays at once; the others keep their recorded spacing from it.
            self.origin = now - t / self.speed
            return 0.0
        return (self.origin + t / self.speed) - now

    def release(self) -> None:
        """Close the files (on the reader's thread, which owns the iterator)."""
        batches, self.batches = self.batches, None
        self.batch = None
        close = getattr(batches, "close", None)
        if close is not None:
            close()


def _one_by_one(lines: Iterator[RecordedLine]) -> Iterator[LineBatch]:
    """Batches of one line each, for a source of :class:`RecordedLine` (read no further ahead).

    A line given as an object may hold a newline: it is then the lines it holds, each with its time,
    as its chunk splits into them (the lines of a batch hold none)."""
    for line in lines:
        batch = LineBatch()
        data = line.data
        if 10 in data:  # b"\n", as an int: one memchr (a bytes needle is first tried as an int)
            pieces = data.split(b"\n")
            batch.lines += pieces
            batch.times += [line.t] * len(pieces)
            batch.numbers += [line.line_number] * len(pieces)
        else:
            batch.times.append(line.t)
            batch.lines.append(data)
            batch.numbers.append(line.line_number)
        if line.new_connection:
            batch.reconnects.append(0)
        yield batch


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

    def recv(self, max_bytes: int = DEFAULT_RECV_SIZE) -> Optional[bytes]:
        if not self._connected:
            raise ReplayError("ReplayTransport.recv() called before connect()")
        playback = self._playback
        playback.last = None
        if self._closed.is_set():
            return self._end()
        batch = playback.fill()
        if batch is None:
            playback.finished.set()
            if self.hold_open_at_end:
                return self._end() if self._closed.wait(self.read_timeout) else None
            return self._end()
        index = playback.index
        split = self.split_connections
        if split and self._played_here > 0 and index in batch.reconnects:
            # The recorder's client reconnected here: end this connection; successor() goes on.
            self.connection_ended = True
            return b""
        paced = playback.speed is not None
        if paced:
            wait = playback.due_in(batch.times[index])
            if wait > 0:
                # Wait on the close event: close() from another thread ends the wait at once.
                if self._closed.wait(min(wait, self.read_timeout)):
                    return self._end()
                if wait > self.read_timeout:
                    return None
        # Take the lines due now, up to max_bytes (the first line whatever its size) and up to a
        # recorded reconnection, from as many batches as that spans.
        lines: List[bytes] = []
        times: List[float] = []
        size = 0
        while True:
            data = batch.lines
            stop = len(data)
            if split:
                first = index + 1 if not lines else index  # the connection's first line is taken
                for r in batch.reconnects:
                    if r >= first:
                        stop = r
                        break
            end = index
            if not lines and end < stop:
                size = len(data[end]) + 1
                end += 1
            while end < stop:
                n = len(data[end])
                if size + n >= max_bytes or (paced and playback.due_in(batch.times[end]) > 0):
                    break
                size += n + 1
                end += 1
            lines += data[index:end]
            times += batch.times[index:end]
            playback.index = end
            if end < len(data):
                break  # stopped by max_bytes, a reconnection or the pace: the rest waits
            next_batch = playback.fill()
            if next_batch is None:
                break
            batch = next_batch
            index = 0
        count = len(lines)
        playback.lines_played += count
        self._played_here += count
        lines.append(b"")  # so that the join ends with a newline, without a copy to add it
        chunk = b"\n".join(lines)
        del lines[-1]
        playback.last = (chunk, lines, times)
        return chunk

    def take_lines(self, data: bytes) -> Optional[Tuple[List[bytes], List[float]]]:
        """The lines of ``data`` (without their ``\\n``) and their recorded times, if ``data`` is
        the chunk ``recv`` just returned; else ``None``. Each chunk is handed over once.

        For a decoder on the reader thread (see :func:`imgfeed.replay`): the transport has the
        lines already, so the decoder need not split the chunk again, and it stamps each record
        with the time its line was received when recorded.
        """
        last = self._playback.last
        if last is None or last[0] is not data:
            return None
        self._playback.last = None
        return last[1], last[2]

    def _end(self) -> bytes:
        """End of the replay (closed, finished or failed): release the files."""
        self._playback.release()
        return b""

    def close(self) -> None:
        self._closed.set()
