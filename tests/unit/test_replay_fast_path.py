"""The replay's fast path gives what the plain path gives, for any recording.

``imgfeed.replay`` reads a file a block at a time (``Recording.batches``), and its decoder takes
the lines of each chunk from the transport instead of splitting the chunk again
(``ReplayTransport.take_lines``). These tests compare what that path decodes -- records, errors,
receive times, the chunks' bytes, connection ends and the file's error -- with two references:

- the plain path: ``read_recording`` yields each line, a fresh ``LineBuffer`` per connection frames
  it, and ``decode_line`` decodes it with the line's recorded time;
- the object path: a ``ReplayTransport`` over the ``RecordedLine`` objects (a batch of one line
  each, where the file path reads a block at a time).

and the reader itself with the simplest reader there is: decompress the whole file, split it, and
``parse_entry`` every line (what ``read_recording`` did before it parsed blocks in place).

The recordings hold hostile lines, over-long lines, CRLF, blank lines, unknown and connection
markers (reconnections), and are written plain or gzip (one or two members), in one or two
files, cut short or with a corrupt entry; the reader's block size is made small so that lines
straddle blocks.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import imgfeed.recording.reader as reader_module
from imgfeed.errors import ReplayError
from imgfeed.feeds.img.protocol.codec import decode_line
from imgfeed.recording.format import (
    RecordedLine,
    encode_entry,
    is_connected_marker,
    parse_entry,
    parse_header,
)
from imgfeed.recording.reader import read_recording
from imgfeed.recording.replay import _RecordedTimeDecoder
from imgfeed.transport.replay import ReplayTransport
from tests.replay_oracle import Event, plain_events, played_events, recording_bodies
from tests.unit.strategies import feed_lines, junk_lines

#: Small enough for the drawn lines to exceed it now and then.
MAX_LINE = 120

HEADER = b'{"imgfeed_recording": 2, "created": "2025-03-14T08:50:11Z", "source": "simulator"}\n'

def _whole_file(path: Path) -> bytes:
    raw = path.read_bytes()
    if not raw.startswith(b"\x1f\x8b"):
        return raw
    out = b""
    while raw:
        inflater = zlib.decompressobj(wbits=31)
        out += inflater.decompress(raw)
        raw = inflater.unused_data
    return out


def _reference_lines(
    paths: Sequence[Path], allow_truncated: bool
) -> Tuple[List[Tuple[Any, ...]], Optional[str]]:
    """Every recorded line as (t, data, line number, new connection), and the error at the end."""
    out: List[Tuple[Any, ...]] = []
    pending = False
    for path in paths:
        lines = _whole_file(path).split(b"\n")
        rest = lines.pop()
        version = parse_header(lines[0], str(path)).version
        for number, raw in enumerate(lines[1:], start=2):
            if not raw.strip():
                continue
            try:
                entry = parse_entry(raw, str(path), number, version)
            except ReplayError as exc:
                return out, str(exc)
            if entry is None:
                pending = pending or is_connected_marker(raw)
                continue
            out.append((entry.t, entry.data, number, pending))
            pending = False
        if rest and not allow_truncated:
            return out, f"{path}: truncated at line {len(lines) + 1} "
    return out, None


def _chunks(lines: List[bytes], max_bytes: int) -> List[bytes]:
    """The lines of one connection as ``recv(max_bytes)`` returns them: as many as fit, at least one."""
    chunks: List[bytes] = []
    for line in lines:
        if chunks and len(chunks[-1]) + len(line) < max_bytes:
            chunks[-1] += line + b"\n"
        else:
            chunks.append(line + b"\n")
    return chunks


def _plain(paths: Sequence[Path], allow_truncated: bool, max_bytes: int) -> Tuple[List[Event], Optional[str]]:
    """read_recording -> LineBuffer (one per connection) -> decode_line, line by line."""
    return plain_events(
        read_recording(paths, allow_truncated=allow_truncated),
        decode_line,
        MAX_LINE,
        lambda lines: ("end", _chunks(lines, max_bytes)),
    )


def _played(source: Any, allow_truncated: bool, max_bytes: int) -> Tuple[List[Event], Optional[str]]:
    """A ReplayTransport over ``source`` and the replay's decoder, as the reader thread drives them."""
    return played_events(
        source,
        allow_truncated,
        max_bytes,
        lambda transport: _RecordedTimeDecoder(transport, MAX_LINE, decode_line),
        lambda chunks: ("end", chunks),
    )


def _objects(paths: Sequence[Path], allow_truncated: bool) -> List[Any]:
    lines: List[Any] = []
    try:
        lines.extend(read_recording(paths, allow_truncated=allow_truncated))
    except ReplayError:
        pass
    return lines


def _write(path: Path, body: bytes, gzipped: bool, member_split: int) -> None:
    content = HEADER + body
    if gzipped:
        cut = min(member_split, len(content))
        path.write_bytes(gzip.compress(content[:cut]) + gzip.compress(content[cut:]))
    else:
        path.write_bytes(content)


def _check(paths: Sequence[Path], allow_truncated: bool, max_bytes: int) -> None:
    lines, reference_error = _reference_lines(paths, allow_truncated)
    got = []
    try:
        got.extend(
            (r.t, r.data, r.line_number, r.new_connection) for r in read_recording(paths, allow_truncated)
        )
    except ReplayError as exc:
        assert reference_error is not None and str(exc).startswith(reference_error)
    else:
        assert reference_error is None
    assert got == lines
    expected, expected_error = _plain(paths, allow_truncated, max_bytes)
    events, error = _played(list(paths), allow_truncated, max_bytes)
    assert events == expected
    assert error == expected_error
    if expected_error is None:
        # The object path: the one the fast path replaced.
        assert _played(_objects(paths, allow_truncated), allow_truncated, max_bytes)[0] == expected


_long_lines = st.integers(MAX_LINE - 2, MAX_LINE + 3).flatmap(
    lambda n: st.sampled_from([b"x" * n, b"y" * (n - 1) + b"\r", b"{" * n])
)
_crlf = feed_lines().map(lambda lines: [line + b"\r" for line in lines])
_line_entries = st.one_of(
    feed_lines().flatmap(lambda lines: st.sampled_from(lines) if lines else junk_lines),
    junk_lines,
    _long_lines,
)
#: One entry of the file's body, as bytes: a line, a marker, or what a reader must skip.
_entries = st.one_of(
    _line_entries.map(lambda line: ("line", line)),
    _crlf.filter(bool).map(lambda lines: ("line", lines[0])),
    st.just(("connected", b"")),
    st.sampled_from([b"\n", b"  \n", b"\r\n", b'5.0 !{"event": "paused"}\n', b"6.0 !not json\n"]).map(
        lambda raw: ("raw", raw)
    ),
)
_corruptions = st.sampled_from([b"abc =x\n", b"nan =x\n", b"7.0 ?x\n", b"7.0\n", b" =x\n", b"=x\n"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    entries=st.lists(_entries, max_size=30),
    gzipped=st.booleans(),
    member_split=st.integers(0, 4000),
    rotate_at=st.one_of(st.none(), st.integers(0, 30)),
    read_size=st.sampled_from([2, 7, 64, 1000, 256 * 1024]),  # 2: the gzip magic fits
    max_bytes=st.sampled_from([1, 50, 300, 256 * 1024]),
    damage=st.one_of(
        st.none(),
        st.tuples(st.just("corrupt"), st.integers(0, 30), _corruptions),
        st.tuples(st.just("cut"), st.integers(1, 40), st.booleans()),
    ),
)
def test_fast_path_decodes_what_the_plain_path_decodes(
    tmp_path_factory: pytest.TempPathFactory,
    entries: List[Tuple[str, bytes]],
    gzipped: bool,
    member_split: int,
    rotate_at: Optional[int],
    read_size: int,
    max_bytes: int,
    damage: Optional[Tuple[Any, ...]],
) -> None:
    tmp = tmp_path_factory.mktemp("fast")
    bodies, allow_truncated = recording_bodies(entries, rotate_at, damage, "h:1")
    paths = []
    for i, body in enumerate(bodies):
        path = tmp / f"feed.{i}.jsonl{'.gz' if gzipped else ''}"
        _write(path, body, gzipped, member_split)
        paths.append(path)
    with mock.patch.object(reader_module, "_READ_SIZE", read_size):
        _check(paths, allow_truncated, max_bytes)


def test_format_1_files_take_the_same_path(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    path.write_bytes(
        b'{"imgfeed_recording": 1, "created": "x", "source": "s"}\n'
        b'{"t": 1.0, "event": "connected"}\n'
        b'{"t": 1.5, "line": "{\\"mode\\": \\"push\\", \\"type\\": \\"heartbeat\\"}"}\n'
        b'{"t": 2.0, "b64": "/w=="}\n'
        b"\n"
        b'{"t": 2.5, "event": "connected"}\n'
        b'{"t": 3.0, "line": "' + b"z" * (MAX_LINE + 1) + b'"}\n'
        b'{"t": 3.5, "line": "not json\\r"}\n'
    )
    events, error = _played([path], False, 256 * 1024)
    assert error is None
    assert [e[0] for e in events] == [
        "record",
        "ProtocolError",
        "end",
        "LineTooLongError",
        "ProtocolError",
        "end",
    ]
    assert events[0][3] == 1.5  # the recorded receive time
    _check([path], False, 256 * 1024)


def test_a_corrupt_entry_ends_the_replay_after_the_lines_before_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        HEADER + encode_entry(b"{}", 1.0) + encode_entry(b"null", 2.0) + b"oops\n" + encode_entry(b"{}", 3.0)
    )
    events, error = _played([path], False, 256 * 1024)
    assert error is not None and "line 4" in error and "bad.jsonl" in error
    assert [e[0] for e in events] == [
        "ProtocolError",
        "ProtocolError",
        "end",
    ]  # {} and null: no mode / not an object
    _check([path], False, 256 * 1024)


def test_chunks_hold_as_many_lines_as_fit_in_max_bytes(tmp_path: Path) -> None:
    path = tmp_path / "even.jsonl"
    lines = [b"x" * 9, b"", b"y" * 9, b"z" * 9, b"", b"", b"w" * 19]
    path.write_bytes(HEADER + b"".join(encode_entry(line, 1.0 + i) for i, line in enumerate(lines)))
    for max_bytes in range(1, 45):  # every boundary: a line that fits exactly, or by one byte too few
        _check([path], False, max_bytes)


class _ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("from_file", [True, False])
def test_pacing_holds_back_the_lines_not_yet_due_within_a_block(tmp_path: Path, from_file: bool) -> None:
    path = tmp_path / "paced.jsonl"
    path.write_bytes(
        HEADER
        + b"".join(encode_entry(d, t) for t, d in [(10.0, b"a"), (15.0, b"b"), (15.0, b"c"), (16.0, b"d")])
    )
    clock = _ManualClock()
    source: Any = [path] if from_file else list(read_recording(path))
    transport = ReplayTransport(source, speed=2.0, read_timeout=0.001, clock=clock)
    transport.connect(1.0)
    assert transport.recv() == b"a\n"
    clock.now += 2.4
    assert transport.recv() is None  # b is due 2.5 s after a at speed 2
    clock.now += 0.1
    assert transport.recv() == b"b\nc\n"
    clock.now += 0.5
    assert transport.recv() == b"d\n"
    assert transport.recv() == b""
    assert transport.lines_played == 4


def test_take_lines_hands_over_the_last_chunk_once(tmp_path: Path) -> None:
    path = tmp_path / "take.jsonl"
    path.write_bytes(HEADER + encode_entry(b"one", 1.0) + encode_entry(b"two\r", 2.0))
    transport = ReplayTransport(path, speed=None)
    transport.connect(1.0)
    chunk = transport.recv()
    assert chunk == b"one\ntwo\r\n"
    assert transport.take_lines(b"one\ntwo\r\n") is None  # equal bytes, but not the chunk returned
    assert transport.take_lines(chunk) == ([b"one", b"two\r"], [1.0, 2.0])
    assert transport.take_lines(chunk) is None  # once
    assert transport.recv() == b""
    assert transport.take_lines(b"") is None  # the end of the stream: the decoder's buffer has it


def test_a_line_given_as_an_object_is_handed_over_as_the_lines_it_holds() -> None:
    beat = b'{"mode": "push", "type": "heartbeat"}'
    source = [RecordedLine(1.0, beat + b"\n" + beat + b"\r\n", 2), RecordedLine(2.0, beat, 3)]
    objects = ReplayTransport(source, speed=None)
    objects.connect(1.0)
    chunk = objects.recv()
    assert chunk == beat + b"\n" + beat + b"\r\n\n" + beat + b"\n"  # the bytes as given ...
    # ... and the lines the chunk splits into, each with the time of the object that held it.
    assert objects.take_lines(chunk or b"") == ([beat, beat + b"\r", b"", beat], [1.0, 1.0, 1.0, 2.0])
    transport = ReplayTransport(source, speed=None)
    transport.connect(1.0)
    decoder = _RecordedTimeDecoder(transport, MAX_LINE, decode_line)
    records = decoder.feed(transport.recv() or b"", -1.0)
    assert [(type(r).__name__, getattr(r, "received_at", None)) for r in records] == [
        ("Heartbeat", 1.0),
        ("Heartbeat", 1.0),
        ("Heartbeat", 2.0),
    ]
