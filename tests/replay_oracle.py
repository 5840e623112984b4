"""The two sides of the replay differential tests, for either feed.

``tests/unit/test_replay_fast_path.py`` (IMG) and ``tests/betfair_client/test_replay_lines.py``
(Betfair) hold what a replay decodes equal to what the plain way decodes:

- :func:`plain_events`: the recorded lines one by one, a fresh ``LineBuffer`` per connection
  framing each, blank lines skipped, and the feed's ``decode_line`` with the line's recorded time;
- :func:`played_events`: a ``ReplayTransport`` and the feed's replay decoder, driven as the reader
  thread drives them.

Both describe each record or error as an :data:`Event`, and close each connection with the
event ``end`` makes of what the connection played (the recorded lines, or the chunks returned),
so that a test can compare as much of that as it means to. :func:`recording_bodies` writes the
drawn entries of a recording, rotated and damaged as drawn.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, List, Optional, Tuple

from imgfeed.errors import ProtocolError, ReplayError
from imgfeed.framing import LineBuffer
from imgfeed.recording.format import RecordedLine, encode_entry, encode_marker
from imgfeed.transport.replay import ReplayTransport

__all__ = ["Event", "describe", "plain_events", "played_events", "recording_bodies"]

Event = Tuple[Any, ...]
Result = Tuple[List[Event], Optional[str]]


def recording_bodies(
    entries: List[Tuple[str, bytes]], rotate_at: Optional[int], damage: Optional[Tuple[Any, ...]], source: str
) -> Tuple[List[bytes], bool]:
    """The bodies of a recording's files, and whether a replay must allow a truncated end.

    ``rotate_at`` splits the entries into two files; ``damage`` is ``None``, ``("corrupt", at,
    raw)`` (the bytes ``raw`` inserted as an entry at ``at``) or ``("cut", n, allowed)`` (the last
    ``n`` bytes of the last file cut off, a truncated end ``allowed`` or not)."""
    allow_truncated = False
    if damage is not None and damage[0] == "corrupt":
        _, at, raw = damage
        entries = entries[:at] + [("raw", raw)] + entries[at:]
    parts = [entries] if rotate_at is None else [entries[:rotate_at], entries[rotate_at:]]
    bodies = [recording_body(part, source) for part in parts]
    if damage is not None and damage[0] == "cut":
        _, cut, allow_truncated = damage
        bodies[-1] = bodies[-1][:-cut]
    return bodies, allow_truncated


def recording_body(entries: List[Tuple[str, bytes]], source: str) -> bytes:
    """The body of a recording (format 2) of drawn entries, a quarter of a second apart: ``("line",
    data)`` a line as received, ``("connected", _)`` a connection marker naming ``source``,
    anything else its bytes as they are (what the reader skips, or a corrupt entry)."""
    out = []
    t = 1_741_942_211.0
    for kind, data in entries:
        t += 0.25
        if kind == "line":
            out.append(encode_entry(data, t))
        elif kind == "connected":
            out.append(encode_marker(t, {"event": "connected", "source": source}))
        else:
            out.append(data)
    return b"".join(out)


def describe(item: Any, t: Optional[float]) -> Event:
    """An error by its type, message and bytes; a record by its repr, its receive time and ``t``."""
    if isinstance(item, ProtocolError):
        return (type(item).__name__, str(item), item.raw)
    return ("record", repr(item), getattr(item, "received_at", None), t)


def plain_events(
    lines: Iterable[RecordedLine],
    decode: Callable[[bytes, float], Any],
    max_line: int,
    end: Callable[[List[bytes]], Event],
) -> Result:
    """Each line through a LineBuffer (a fresh one per connection), then ``decode`` at its time;
    each connection closed by ``end(its recorded lines)``; the error that ended ``lines``, if any."""
    events: List[Event] = []
    buffer = LineBuffer(max_line)
    played: List[bytes] = []
    error = None

    def close() -> None:
        events.extend(describe(item, None) for item in buffer.feed(b""))
        events.append(end(played))

    try:
        for recorded in lines:
            if recorded.new_connection and played:
                close()
                buffer, played = LineBuffer(max_line), []
            played.append(recorded.data)
            for item in buffer.feed(recorded.data + b"\n"):
                if type(item) is not bytes:
                    events.append(describe(item, None))
                elif item:
                    events.append(describe(decode(item, recorded.t), recorded.t))
    except ReplayError as exc:
        error = str(exc)
    close()
    return events, error


def played_events(
    source: Any,
    allow_truncated: bool,
    max_bytes: int,
    decoder: Callable[[ReplayTransport], Any],
    end: Callable[[List[bytes]], Event],
) -> Result:
    """A ReplayTransport over ``source`` and ``decoder(transport)``, as the reader thread drives
    them; each connection closed by ``end(the chunks it returned)``; the replay's error, if any."""
    transport = ReplayTransport(source, speed=None, allow_truncated=allow_truncated, split_connections=True)
    events: List[Event] = []
    while True:
        transport.connect(1.0)
        decode = decoder(transport)
        chunks: List[bytes] = []
        while True:
            chunk = transport.recv(max_bytes)
            assert chunk is not None  # speed=None and no hold_open_at_end: never a read timeout
            if not chunk:
                break
            chunks.append(chunk)
            # -1.0, the "live" receive time, must never be the one a record gets.
            decoded = decode.feed(chunk, -1.0)
            items = list(decoded)
            assert len(decoded) == len(items)  # the ingest counts the messages before it takes them
            events.extend(describe(item, getattr(item, "received_at", None)) for item in items)
        events.extend(describe(item, None) for item in decode.feed(b"", -1.0))
        events.append(end(chunks))
        if not transport.connection_ended:
            break
        transport = transport.successor()
    assert transport.finished
    return events, None if transport.error is None else str(transport.error)
