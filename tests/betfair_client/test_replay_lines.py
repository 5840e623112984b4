"""The Betfair replay's decoder gives what the line buffer gives, for any file.

``imgfeed.betfair.replay`` takes each chunk's lines and their recorded times from the transport
(``ReplayTransport.take_lines``) and checks them as the line buffer checks a chunk's lines, instead
of splitting the chunk again with the live decoder's ``LineBuffer`` and popping a time per line.
These tests compare what that path decodes -- records, errors, receive times, connection ends and
the file's error -- with the plain way: the file's lines one by one (``read_recording`` for an
imgfeed recording of a Betfair stream, ``historical_lines`` for a Betfair historical file), a
fresh ``LineBuffer`` per connection framing each, blank lines skipped, and the ESA ``decode_line``
with the line's recorded time.

The files hold real ESA lines (tests/betfair/data), hostile and over-long lines, lines ended by
``\\r`` (CRLF as received) or not, a lone ``\\r``, blank lines, connection markers (reconnections)
and other markers, and are plain or gzip, in one or two files, cut short or with a corrupt entry.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgfeed.feeds.betfair.protocol.codec import decode_line
from imgfeed.feeds.betfair.replay import _RecordedTimeDecoder, historical_lines
from imgfeed.recording.format import RecordedLine, encode_entry, encode_marker
from imgfeed.recording.reader import read_recording
from tests.betfair.helpers import DATA, data_lines
from tests.replay_oracle import Event, plain_events, played_events, recording_bodies
from tests.unit.strategies import junk_lines

#: Longer than most of the data's lines, shorter than the largest (a real too-long line).
MAX_LINE = 2000

HEADER = (
    b'{"imgfeed_recording": 2, "created": "2026-03-14T08:50:11Z", "source": "stream-api.betfair.com:443",'
    b' "feed": "betfair"}\n'
)

_DATA_LINES = sorted({line for path in DATA.glob("streaming_*.json") for line in data_lines(path.name)})
_ESA_LINES = _DATA_LINES + data_lines("BASIC-1.132153978")[:40] + [
    b'{"op":"mcm","id":2,"clk":"AAA","pt":1471370165625,"ct":"HEARTBEAT"}',
    b'{"op":"status","id":1,"statusCode":"FAILURE","errorCode":"TIMEOUT","connectionClosed":true}',
    b'{"op":"mcm","pt":1,"mc":[{"id":"1.1","rc":[{"id":1,"batb":[[0,"x",1]]}]}]}',  # a bad ladder
    b'{"op":"mcm","pt":1e400}',
    b'{"op":"ocm","pt":1471370165625,"oc":"not a list"}',
    '{"op":"connection","connectionId":"002-\u00e9t\u00e9"}'.encode("utf-8"),
]


def _plain(lines: Iterable[RecordedLine]) -> Tuple[List[Event], Optional[str]]:
    """Each line through a LineBuffer (a fresh one per connection), then ``decode_line`` at its time."""
    return plain_events(lines, decode_line, MAX_LINE, lambda lines: ("end",))


def _played(source: Any, allow_truncated: bool, max_bytes: int) -> Tuple[List[Event], Optional[str]]:
    """A ReplayTransport over ``source`` and the Betfair replay's decoder, as the reader drives them."""
    return played_events(
        source,
        allow_truncated,
        max_bytes,
        lambda transport: _RecordedTimeDecoder(transport, MAX_LINE, decode_line),
        lambda chunks: ("end",),
    )


def _write(path: Path, content: bytes, gzipped: bool, member_split: int) -> None:
    if gzipped:
        cut = min(member_split, len(content))
        path.write_bytes(gzip.compress(content[:cut]) + gzip.compress(content[cut:]))
    else:
        path.write_bytes(content)


_long_lines = st.integers(MAX_LINE - 2, MAX_LINE + 3).flatmap(
    lambda n: st.sampled_from([b"x" * n, b"y" * (n - 1) + b"\r", b"{" * n, b"\r" * n])
)
_line = st.one_of(st.sampled_from(_ESA_LINES), st.sampled_from(_ESA_LINES), junk_lines, _long_lines)
#: A line as received: ended by "\r\n" (its "\r" kept) or by "\n" alone, or a blank one.
_received = st.one_of(
    _line,
    _line.map(lambda line: line + b"\r"),
    st.sampled_from([b"", b"\r", b" ", b"\r\r", b"a\rb"]),
)
#: One entry of a recording's body: a line, a connection marker, or what the reader skips.
_entries = st.one_of(
    _received.map(lambda line: ("line", line)),
    st.just(("connected", b"")),
    st.sampled_from([b"\n", b"  \n", b"\r\n", b'5.0 !{"event": "paused"}\n']).map(lambda raw: ("raw", raw)),
)
_corruptions = st.sampled_from([b"abc =x\n", b"nan =x\n", b"7.0 ?x\n", b"7.0\n", b"=x\n"])
_damage = st.one_of(
    st.none(),
    st.tuples(st.just("corrupt"), st.integers(0, 30), _corruptions),
    st.tuples(st.just("cut"), st.integers(1, 40), st.booleans()),
)
_settings = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _parts(entries: List[Any], rotate_at: Optional[int]) -> List[List[Any]]:
    return [entries] if rotate_at is None else [entries[:rotate_at], entries[rotate_at:]]


def _files(
    tmp: Path, bodies: List[bytes], gzipped: bool, member_split: int, prefix: bytes, name: str
) -> List[Path]:
    paths = []
    for i, body in enumerate(bodies):
        path = tmp / f"{name}.{i}{'.gz' if gzipped else ''}"
        _write(path, prefix + body, gzipped, member_split)
        paths.append(path)
    return paths


def _same(reference: Callable[[], Tuple[List[Event], Optional[str]]], source: Any, allow_truncated: bool,
          max_bytes: int) -> None:
    expected, expected_error = reference()
    events, error = _played(source, allow_truncated, max_bytes)
    assert events == expected
    assert error == expected_error


@_settings
@given(
    entries=st.lists(_entries, max_size=30),
    gzipped=st.booleans(),
    member_split=st.integers(0, 4000),
    rotate_at=st.one_of(st.none(), st.integers(0, 30)),
    max_bytes=st.sampled_from([1, 100, 3000, 256 * 1024]),
    damage=_damage,
)
def test_a_recording_decodes_as_through_the_line_buffer(
    tmp_path_factory: pytest.TempPathFactory,
    entries: List[Tuple[str, bytes]],
    gzipped: bool,
    member_split: int,
    rotate_at: Optional[int],
    max_bytes: int,
    damage: Optional[Tuple[Any, ...]],
) -> None:
    tmp = tmp_path_factory.mktemp("recording")
    bodies, allow_truncated = recording_bodies(entries, rotate_at, damage, "stream-api.betfair.com:443")
    paths = _files(tmp, bodies, gzipped, member_split, HEADER, "feed.jsonl")
    _same(lambda: _plain(read_recording(paths, allow_truncated=allow_truncated)), paths, allow_truncated,
          max_bytes)


@_settings
@given(
    lines=st.lists(_received, max_size=30),
    crlf=st.booleans(),
    gzipped=st.booleans(),
    member_split=st.integers(0, 4000),
    rotate_at=st.one_of(st.none(), st.integers(0, 30)),
    max_bytes=st.sampled_from([1, 100, 3000, 256 * 1024]),
    cut=st.one_of(st.none(), st.integers(1, 40)),
)
def test_a_historical_file_decodes_as_through_the_line_buffer(
    tmp_path_factory: pytest.TempPathFactory,
    lines: List[bytes],
    crlf: bool,
    gzipped: bool,
    member_split: int,
    rotate_at: Optional[int],
    max_bytes: int,
    cut: Optional[int],
) -> None:
    tmp = tmp_path_factory.mktemp("historical")
    end = b"\r\n" if crlf else b"\n"
    bodies = [b"".join(line + end for line in part) for part in _parts(lines, rotate_at)]
    if cut is not None:
        # A plain file cut short ends in a partial line; a gzip one is corrupt there.
        bodies[-1] = bodies[-1][:-cut]
    paths = [str(p) for p in _files(tmp, bodies, gzipped, member_split, b"", "BASIC-1.1")]
    _same(lambda: _plain(historical_lines(paths)), historical_lines(paths), False, max_bytes)


def _describe_all(paths: Sequence[Path]) -> List[Event]:
    return _played(list(paths), False, 256 * 1024)[0]


def test_crlf_blank_and_too_long_lines_and_a_reconnection(tmp_path: Path) -> None:
    status = b'{"op":"status","id":1,"statusCode":"SUCCESS","connectionClosed":false}'
    beat = b'{"op":"mcm","id":2,"clk":"AAA","pt":1471370165625,"ct":"HEARTBEAT"}'
    path = tmp_path / "betfair.jsonl"
    path.write_bytes(
        HEADER
        + encode_entry(status + b"\r", 1.0)
        + encode_entry(b"", 1.5)
        + encode_entry(b"\r", 1.75)
        + encode_entry(beat, 2.0)
        + encode_marker(2.5, {"event": "connected", "source": "h:443"})
        + encode_entry(b"z" * (MAX_LINE + 1), 3.0)
        + encode_entry(b"z" * MAX_LINE + b"\r", 3.5)  # its "\r" is not counted
        + encode_entry(beat + b"\r", 4.0)
    )
    events = _describe_all([path])
    assert [(e[0], e[2] if e[0] == "record" else None) for e in events] == [
        ("record", 1.0),
        ("record", 2.0),
        ("end", None),
        ("LineTooLongError", None),
        ("ProtocolError", None),  # z...z: not JSON, but not too long
        ("record", 4.0),
        ("end", None),
    ]
    _same(lambda: _plain(read_recording([path])), [path], False, 256 * 1024)
