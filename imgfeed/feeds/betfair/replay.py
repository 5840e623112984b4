"""``imgfeed.betfair.replay``: Betfair historical files and imgfeed recordings, through your handlers.

Contract: :func:`replay` runs the file through a :class:`~imgfeed.feeds.betfair.client.BetfairClient`
whose connections are :class:`~imgfeed.transport.replay.ReplayTransport` s, so every line goes
through the same framing, decoding, stream state (segments, clocks), caches and dispatcher as on
a live connection, and each handler sees the same books in the same order. It returns when every
book has been dispatched, and raises :class:`~imgfeed.errors.ReplayError` naming the file and line
for a missing or corrupt file (after dispatching what came before).

What it reads, told by content (:func:`~imgfeed.feeds.betfair.historical.sniff`), never by name:

- **Betfair historical files** (one ``mcm`` per line, plain, ``.gz`` or ``.bz2``): no ids and no
  ``ct``, so the stream is taken as whole from its first line; each line's time is its ``pt``.
- **imgfeed recordings of a Betfair stream** (header ``"feed": "betfair"``, from ``imgfeed record
  --feed betfair``): the lines as the live client received them, with their receive times, the
  connection message and statuses included; where the recorder reconnected, the replay does too.

As the IMG replay (:mod:`imgfeed.recording.replay`), and for the same reasons: the clock is a
:class:`~imgfeed.runtime.clock.RecordedClock` (retention and eviction happen in recorded time), the
queue blocks rather than conflates (a backtest wants every book), nothing is sent, and no silence
rule applies (gaps in a file are not a dead link).
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Union

import attrs
import ujson

from imgfeed.errors import ReplayError
from imgfeed.feeds.betfair.adapter import BetfairAdapter, BetfairDecoder, DecodedLines
from imgfeed.feeds.betfair.client import BetfairClient
from imgfeed.feeds.betfair.config import BetfairConfig
from imgfeed.feeds.betfair.handler import BetfairHandler
from imgfeed.feeds.betfair.historical import FileKind, iter_lines, sniff
from imgfeed.feeds.betfair.protocol.codec import Decoded
from imgfeed.feeds.betfair.protocol.messages import ConnectionMessage, StatusMessage
from imgfeed.feeds.betfair.views import MarketsView, OrdersView
from imgfeed.recording.format import PathLike, RecordedLine
from imgfeed.recording.play import check_speed, connections, play_to_end
from imgfeed.recording.reader import open_recording
from imgfeed.runtime.clock import RecordedClock
from imgfeed.runtime.config import ErrorPolicy, OverflowPolicy, ReconnectPolicy
from imgfeed.runtime.session import DONE, Await, Liveness, Step, StepResult
from imgfeed.runtime.stats import ClientStats
from imgfeed.transport.replay import ReplayTransport

__all__ = ["replay", "BetfairReplayResult", "historical_lines", "is_betfair_file"]

#: Effectively "never": how long stop() may take to deliver the backlog of a long backtest.
_FOREVER = 10.0 * 365 * 24 * 3600


@attrs.frozen
class BetfairReplayResult:
    """What a replay did.

    Attributes:
        lines: lines played.
        truncated: the (last) recording ended without its end marker (accepted).
        stats: the client's counters at the end (``messages``, ``protocol_errors`` ...).
        markets, orders: the caches as the file left them (every market untradable: the
            "connection" has ended; the books are all there).
    """

    lines: int
    truncated: bool
    stats: ClientStats
    markets: MarketsView = attrs.field(repr=False)
    orders: OrdersView = attrs.field(repr=False)


def historical_lines(paths: Sequence[str]) -> Iterator[RecordedLine]:
    """The lines of Betfair historical files, each timed by its ``pt`` (or the previous line's)."""
    t = 0.0
    for path in paths:
        for data, number in iter_lines(path):
            try:
                pt = ujson.loads(data).get("pt")
            except (ValueError, AttributeError):
                pt = None  # the codec reports the line; its time is the last one
            if type(pt) is int:
                t = max(t, pt / 1000.0)
            yield RecordedLine(t, data, number)


def is_betfair_file(path: PathLike) -> bool:
    """A Betfair historical file, or an imgfeed recording of a Betfair stream?

    False for a file that cannot be read: whichever replay is then asked says why."""
    try:
        kind = sniff(path)
        if kind is FileKind.BETFAIR:
            return True
        if kind is FileKind.IMGFEED_RECORDING:
            with open_recording(path, allow_truncated=True) as recording:
                return recording.header.feed == "betfair"
    except ReplayError:
        return False
    return False


class _RecordedTimeDecoder(BetfairDecoder):
    """The live decoder, stamping each line with its recorded time, as the IMG replay's decoder does.

    The transport hands over each chunk's lines with their recorded times
    (:meth:`ReplayTransport.take_lines`), so the chunk is not split again; the lines are checked
    as the live decoder's buffer checks a chunk's lines (too long, the ``\\r`` of ``\\r\\n``) and
    blank lines are skipped, so the records and errors are the same as through the buffer
    (tests/betfair_client/test_replay_lines.py). Anything else (the end of the stream) goes
    through the live decoder itself, at ``received_at``.
    """

    def __init__(
        self, transport: ReplayTransport, max_line_length: int, decode: Callable[[bytes, float], Decoded]
    ) -> None:
        super().__init__(max_line_length, decode)
        self._take_lines = transport.take_lines

    def feed(self, data: bytes, received_at: float) -> DecodedLines:
        taken = self._take_lines(data)
        if taken is None:
            return super().feed(data, received_at)
        lines, times = taken
        checked: List[Any] = self._lines.checked_lines(data, lines)
        if b"" in checked:  # a blank line (or a lone "\r"), which the live decoder skips too
            kept = [i for i, line in enumerate(checked) if line]  # an error is kept (truthy)
            checked = [checked[i] for i in kept]
            times = [times[i] for i in kept]
        return DecodedLines(checked, times, self._decode)


def _first_message(record: Any, facts: Dict[str, Any]) -> StepResult:
    return DONE


def _recorded_status(record: Any, facts: Dict[str, Any]) -> StepResult:
    return DONE if type(record) is StatusMessage else None


def _recorded_connection(record: Any, facts: Dict[str, Any]) -> StepResult:
    if type(record) is ConnectionMessage:
        facts["session_id"] = record.connection_id
        return DONE
    return None



class _ReplayAdapter(BetfairAdapter):
    """Nothing is sent; a historical file is up from its first line, a recording at its status."""

    def handshake(self) -> Sequence[Step]:
        if self.markets.historical:
            return (Await("first message", _first_message),)
        return (Await("connection", _recorded_connection), Await("authentication status", _recorded_status))

    def liveness(self) -> Liveness:
        return Liveness(silence_timeout=None, heartbeat_timeout=None, handshake_timeout=None)

    def take_liveness(self) -> Optional[Liveness]:
        return None


def _paths(path: Union[PathLike, Sequence[PathLike]]) -> List[str]:
    if isinstance(path, (str, os.PathLike)):
        return [os.fspath(path)]
    paths = [os.fspath(p) for p in path]
    if not paths:
        raise ReplayError("no file given")
    return paths


def replay(
    path: Union[PathLike, Sequence[PathLike]],
    handlers: Iterable[BetfairHandler] = (),
    speed: Optional[float] = None,
    *,
    allow_truncated: bool = False,
    error_policy: Union[ErrorPolicy, str] = ErrorPolicy.LOG,
    closed_retention: Optional[float] = None,
    stop: Optional[threading.Event] = None,
) -> BetfairReplayResult:
    """Play Betfair historical files or an imgfeed recording of a Betfair stream through ``handlers``.

    Args:
        path: a file, or several in order (one market per historical file, or a rotated recording).
        handlers: your :class:`~imgfeed.feeds.betfair.handler.BetfairHandler` s.
        speed: ``None`` (default): as fast as the handlers go; ``1.0``: the recorded pace.
        allow_truncated: accept a recording cut off in its last line.
        error_policy: ``"log"`` (log a handler's exception and go on) or ``"raise"`` (stop, and
            raise it here).
        closed_retention: seconds (recorded time) a CLOSED market stays in the cache; default:
            kept to the end, so that the result holds every market's final book.
        stop: set it (from any thread) to end early; what was read is still dispatched.

    Returns:
        a :class:`BetfairReplayResult`.

    Raises:
        ReplayError: a file is missing, of another feed, or corrupt (naming the file and line).
        ConfigError: a bad ``speed``.
        the handler's exception, with ``error_policy="raise"``.
    """
    paths = _paths(path)
    check_speed(speed)
    kinds = {sniff(p) for p in paths}
    if kinds == {FileKind.BETFAIR}:
        historical = True
        source: Any = historical_lines(paths)
    elif kinds == {FileKind.IMGFEED_RECORDING}:
        for p in paths:
            with open_recording(p, allow_truncated=allow_truncated) as recording:
                if recording.header.feed != "betfair":
                    raise ReplayError(
                        f"{p} is a recording of another feed ({recording.header.feed}), "
                        "not of a Betfair stream",
                        p,
                    )
        historical = False
        source = paths
    else:
        raise ReplayError(
            f"not a Betfair historical file or a recording of a Betfair stream: {paths[0]}", paths[0]
        )
    config = BetfairConfig(
        app_key="replay",
        session_token="replay",  # never sent: a replay authenticates with no one
        host="replay",
        reconnect=ReconnectPolicy(interval=0.001, first_delay=0.0, jitter=0.0, min_delay=0.0),
        overflow_policy=OverflowPolicy.BLOCK,
        error_policy=error_policy,
        handler_stall_warning=None,
        closed_retention=_FOREVER if closed_retention is None else closed_retention,
        order_closed_retention=_FOREVER if closed_retention is None else closed_retention,
    )
    transport = ReplayTransport(
        source, speed=speed, allow_truncated=allow_truncated, split_connections=True, hold_open_at_end=True
    )
    adapter = _ReplayAdapter(config, historical=historical)
    client = BetfairClient(
        config,
        handlers=handlers,
        transport_factory=connections(transport),
        adapter=adapter,
        clock=RecordedClock(),
        decoder_factory=lambda: _RecordedTimeDecoder(transport, config.max_line_length, adapter.decode_line),
    )
    client.start()
    play_to_end(client, transport, stop, stop_timeout=_FOREVER)
    return BetfairReplayResult(
        lines=transport.lines_played,
        truncated=transport.truncated,
        stats=client.stats(),
        markets=client.markets,
        orders=client.orders,
    )

