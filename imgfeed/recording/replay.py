"""``imgfeed.replay``: run a recording through your handlers, exactly as the live feed would.

Contract: :func:`replay` builds a :class:`~imgfeed.FeedClient` whose connections are
:class:`~imgfeed.transport.replay.ReplayTransport` s over the recording, so every recorded line goes
through the same framing, decoding, market book and dispatcher as on a live connection, and each
handler sees the same records in the same order as it would have seen live. It returns when every
record has been dispatched, and raises :class:`~imgfeed.errors.ReplayError` (naming the file and the
line) if the recording is missing or corrupt -- after dispatching the lines before the bad one.

How the live runtime is adapted to a file, and why:

- **Reconnections as recorded.** Where the recording marks that the recorder's client reconnected,
  the replay's connection ends and the client reconnects at once to the next part of the file: the
  handlers see ``on_disconnect``, the suspension of every market, ``on_connect`` for the new session,
  and each market waiting for its own update -- as they did live. The recorded gap is kept (at
  ``speed``).
- **An end, not a disconnection.** After the last line the connection stays open; the replay then
  stops the client, which delivers everything queued first. The handlers' last notification is
  ``on_disconnect`` with reason ``user stop``.
- **No conflation.** A live client may conflate market updates when handlers fall behind (only the
  newest image of a market matters to a trader). A batch job wants every record, so the queue
  *blocks* the reader instead (``overflow_policy="block"``): a replay never drops an update.
- **No silence timeout.** A recording may hold a gap (the recorder was disconnected); live, the
  client would drop such a quiet connection. Replayed, the gap is simply waited out (at ``speed``).
- **Recorded receive times.** Each record's ``received_at`` is the time its line was received when
  it was recorded, not the time of the replay, so handlers that look at it behave as they did live.
  (The client's adapter is given a decoder that takes each line's time from the replay transport;
  the framing and decoding are still :class:`~imgfeed.framing.LineBuffer` and
  :func:`~imgfeed.feeds.img.protocol.codec.decode_line`.)
- **Liveness in recorded time.** The client runs on a
  :class:`~imgfeed.runtime.clock.RecordedClock`: the heartbeat rule is measured between the
  recorded receive times, so a 12 s heartbeat gap in the recording suspends every market there,
  at any ``speed`` -- and a slow handler, which holds the reader back in wall time, invents no
  suspension that did not happen live.

Known limit: a recording made without connection markers (by hand, or from a raw capture) is one
connection.
"""

from __future__ import annotations

import itertools
import os
import threading
from typing import Callable, Iterable, List, Optional, Sequence, Union

import attrs

from imgfeed.errors import ReplayError
from imgfeed.feeds.img.adapter import ImgAdapter, init_answered
from imgfeed.feeds.img.book import MarketBook
from imgfeed.feeds.img.client import FeedClient
from imgfeed.feeds.img.config import (
    ErrorPolicy,
    FeedConfig,
    OverflowPolicy,
    ReconnectPolicy,
)
from imgfeed.feeds.img.handler import Handler
from imgfeed.feeds.img.protocol.codec import Decoded
from imgfeed.framing import Line, LineBuffer
from imgfeed.recording.format import PathLike
from imgfeed.recording.play import check_speed, connections, play_to_end
from imgfeed.recording.reader import open_recording
from imgfeed.runtime.clock import RecordedClock
from imgfeed.runtime.session import Await, Step
from imgfeed.runtime.stats import ClientStats
from imgfeed.transport.replay import ReplayTransport

__all__ = ["replay", "ReplayResult", "replay_client"]

#: The reconnect interval of a replay: a recorded reconnection is replayed at once (the smallest
#: interval the policy accepts; only the first attempt matters, and it is immediate).
_RECONNECT_AT_ONCE = 0.001

#: Effectively "never": a replay waits out gaps in the recording instead of reconnecting.
_NO_SILENCE_TIMEOUT = 10.0 * 365 * 24 * 3600


class _RecordedTimeDecoder:
    """A decoder that stamps each line with its recorded receive time (module docstring).

    The transport returns whole lines only, and hands over each chunk's lines with their recorded
    times (:meth:`ReplayTransport.take_lines`), so the chunk is not split again; the lines are
    then checked as :class:`~imgfeed.framing.LineBuffer` checks the lines of a chunk (too long, a
    trailing ``\\r``), and the records and errors are the same as through the buffer. Anything
    else (the end of the stream) goes through the buffer, at ``received_at``.
    """

    def __init__(
        self,
        transport: ReplayTransport,
        max_line_length: int,
        decode: Callable[[bytes, Optional[float]], Decoded],
    ) -> None:
        self._lines = LineBuffer(max_line_length)
        self._take_lines = transport.take_lines
        self._decode = decode

    def feed(self, data: bytes, received_at: float) -> List[Decoded]:
        taken = self._take_lines(data)
        if taken is None:
            return self._stamped(self._lines.feed(data), itertools.repeat(received_at))
        lines, stamps = taken
        # The buffer's own check of a chunk's complete lines (its feed() for a chunk of whole lines,
        # less the split): too long -> LineTooLongError, "\r" stripped; tests/unit/
        # test_replay_fast_path.py holds the records and errors equal to feed()'s.
        checked = self._lines.checked_lines(data, lines)
        if checked is not lines:
            return self._stamped(checked, stamps)
        decode = self._decode  # the common case: every line as it is
        return [decode(line, t) for line, t in zip(lines, stamps) if line]

    def _stamped(self, lines: Iterable[Line], stamps: Iterable[float]) -> List[Decoded]:
        """Each line decoded with its time; an error from the buffer passed on; blank lines skipped."""
        decode = self._decode
        out: List[Decoded] = []
        for line, t in zip(lines, stamps):
            if type(line) is bytes:
                if line:
                    out.append(decode(line, t))
            else:
                out.append(line)  # type: ignore[arg-type]
        return out


class _ReplayAdapter(ImgAdapter):
    """The IMG adapter for a recording: nothing is sent, and the recorded images are the truth.

    The handshake only waits for the recorded init response (or, in Mustard mode, the first push):
    sending ``init`` to a file means nothing, and the file's first line may be read before any
    send could happen. The book follows no subscriptions: the replay makes none, and the recorded
    images are what the server sent for the markets the recorder had subscribed.
    """

    def __init__(self, config: FeedConfig) -> None:
        super().__init__(config, follow_subscriptions=False)

    def handshake(self) -> Sequence[Step]:
        return (Await("init response", init_answered),)


@attrs.frozen
class ReplayResult:
    """What a replay did.

    Attributes:
        lines: recorded lines played.
        truncated: the (last) file ended without its end marker or inside a line (accepted).
        stats: the client's counters at the end (``messages``, ``protocol_errors``,
            ``handler_errors`` ...).
        book: the market book as the recording left it (every market is suspended, since the
            "connection" has ended, but the offering and last images are there).
    """

    lines: int
    truncated: bool
    stats: ClientStats
    book: MarketBook = attrs.field(repr=False)


def _paths(path: Union[PathLike, Sequence[PathLike]]) -> List[str]:
    if isinstance(path, (str, os.PathLike)):
        return [os.fspath(path)]
    paths = [os.fspath(p) for p in path]
    if not paths:
        raise ReplayError("no recording given")
    return paths


def replay_client(
    transport: ReplayTransport,
    handlers: Iterable[Handler] = (),
    speed: Optional[float] = None,
    error_policy: Union[ErrorPolicy, str] = ErrorPolicy.LOG,
    heartbeat_timeout: float = 10.0,
    parser: str = "auto",
) -> FeedClient:
    """A (not yet started) client whose connections are ``transport`` and its successors.

    See the module docstring; ``transport`` should be made with ``split_connections=True`` and
    ``hold_open_at_end=True``, and its ``done`` event tells when to stop the client.
    """
    config = FeedConfig(
        host="replay",
        username="replay",
        key_filename=os.devnull,  # never read: a replay authenticates with no one
        known_hosts=None,
        host_key_policy="insecure-accept-any",  # nothing is verified: no host is contacted
        # Reconnect at once where the recording does; its recorded gap is paced by the transport.
        reconnect=ReconnectPolicy(interval=_RECONNECT_AT_ONCE, first_delay=0.0, jitter=0.0, min_delay=0.0),
        overflow_policy=OverflowPolicy.BLOCK,
        silence_timeout=_NO_SILENCE_TIMEOUT,
        init_timeout=_NO_SILENCE_TIMEOUT,
        heartbeat_timeout=heartbeat_timeout,  # in recorded seconds: the clock is the recording's
        error_policy=error_policy,
        handler_stall_warning=None,
        parser=parser,
    )
    adapter = _ReplayAdapter(config)
    return FeedClient(
        config,
        handlers=handlers,
        transport_factory=connections(transport),
        adapter=adapter,
        clock=RecordedClock(),
        decoder_factory=lambda: _RecordedTimeDecoder(transport, config.max_line_length, adapter.decode_line),
    )


def replay(
    path: Union[PathLike, Sequence[PathLike]],
    handlers: Iterable[Handler] = (),
    speed: Optional[float] = None,
    *,
    allow_truncated: bool = False,
    error_policy: Union[ErrorPolicy, str] = ErrorPolicy.LOG,
    heartbeat_timeout: float = 10.0,
    stop: Optional[threading.Event] = None,
    parser: str = "auto",
) -> ReplayResult:
    """Play a recording through ``handlers`` and return when every record has been dispatched.

    Args:
        path: a recording file, or the files of a rotated recording in order.
        handlers: your handlers, called as a live client would call them.
        speed: ``None`` (the default, for batch jobs): as fast as the handlers go; ``1.0``: at the
            recorded pace; ``10``: ten times faster.
        allow_truncated: accept a file cut off in the middle of its last line (a crashed recorder)
            and replay the complete lines before it.
        error_policy: what a raising handler does: ``"log"`` (log, count and go on) or ``"raise"``
            (stop the replay and raise it here).
        heartbeat_timeout: the live client's heartbeat rule, in recorded seconds.
        stop: set this event (from any thread) to end the replay early; the records already
            read are still dispatched.
        parser: as ``FeedConfig.parser`` (``"auto"``: msgspec when ``imgfeed[speed]`` is
            installed); the records are the same either way.

    Returns:
        a :class:`ReplayResult`.

    Raises:
        ReplayError: the recording is missing, not a recording, corrupt or truncated; the message
            names the file and the line.
        ConfigError: a bad ``speed``.
        the handler's exception, with ``error_policy="raise"``.
    """
    paths = _paths(path)
    for p in paths:
        # Check every header now: a wrong file fails before any handler runs.
        open_recording(p, allow_truncated=allow_truncated).close()
    check_speed(speed)
    transport = ReplayTransport(
        paths, speed=speed, allow_truncated=allow_truncated, split_connections=True, hold_open_at_end=True
    )
    client = replay_client(transport, handlers, speed, error_policy, heartbeat_timeout, parser)
    client.start()
    play_to_end(client, transport, stop, stop_timeout=_NO_SILENCE_TIMEOUT)
    return ReplayResult(
        lines=transport.lines_played,
        truncated=transport.truncated,
        stats=client.stats(),
        book=client.book,
    )
