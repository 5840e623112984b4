"""LineBuffer: any chunking gives the same lines; over-long lines are bounded and resynchronised.

docs/protocol.md section 2: every object ends with ``\\n``; a reader copes with any chunking, with UTF-8
characters split across reads and with ``\\r\\n``; a line longer than the maximum (16 MiB by
default, configurable) is reported with an error naming the limit, and reading resynchronises at
the next ``\\n``.
"""

from __future__ import annotations

import tracemalloc
from typing import List

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgfeed.errors import ConfigError, LineTooLongError, ProtocolError
from imgfeed.framing import DEFAULT_MAX_LINE_LENGTH, LONG_LINE, Line, LineBuffer, split_lines
from tests.unit.strategies import chunkings, property_settings, split_at, streams

#: framing keeps this much of an over-long line for the report (``_TOO_LONG_HEAD``).
HEAD = 1024


def feed_all(chunks: List[bytes], max_line_length: int = DEFAULT_MAX_LINE_LENGTH) -> List[Line]:
    """Feed ``chunks`` then the end of stream; return every item, checking the buffer bound."""
    buf = LineBuffer(max_line_length)
    out: List[Line] = []
    for chunk in chunks:
        if not chunk:
            continue  # b"" would mean the end of the stream
        out += buf.feed(chunk)
        # One byte of slack for a trailing "\r" that is stripped and not counted.
        assert buf.buffered <= max_line_length + 1
    out += buf.feed(b"")
    assert buf.buffered == 0
    return out


def reference_lines(data: bytes, limit: int) -> List[Line]:
    """What framing must produce for a whole stream, written as plainly as possible."""
    *lines, tail = data.split(b"\n")
    out: List[Line] = []
    for line in lines:
        stripped = line[:-1] if line.endswith(b"\r") else line
        if len(stripped) <= limit:
            out.append(stripped)
        else:
            out.append(LineTooLongError(limit, len(line), line[:HEAD]))
    if len(tail) > limit + 1:
        out.append(LineTooLongError(limit, len(tail), tail[:HEAD]))
    elif tail:
        out.append(ProtocolError(f"stream ended inside a line ({len(tail)} bytes without a newline)", tail))
    return out


# --- the basic contract --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "chunks, expected",
    [
        ([b'{"a": 1}\n'], [b'{"a": 1}']),
        ([b'{"a": 1}\n{"b": 2}\n'], [b'{"a": 1}', b'{"b": 2}']),
        ([b'{"a"', b": 1}", b"\n"], [b'{"a": 1}']),
        ([b"one\r\n", b"two\r", b"\n"], [b"one", b"two"]),
        ([b"\n", b"\r\n"], [b"", b""]),  # blank lines are lines; the codec skips them
        ([b"a\rb\n"], [b"a\rb"]),  # only a *trailing* \r is stripped
        ([b"a\r\r\n"], [b"a\r"]),  # and only one of them
        # "é" is C3 A9 and "€" E2 82 AC: a character split across reads is still one line.
        ([b"caf\xc3", b"\xa9\n", b"\xe2", b"\x82", b"\xac\n"], ["café".encode(), "€".encode()]),
    ],
)
def test_lines_come_out_whole(chunks: List[bytes], expected: List[bytes]) -> None:
    assert feed_all(chunks) == expected


def test_feed_returns_only_completed_lines_and_buffers_the_rest() -> None:
    buf = LineBuffer()
    assert buf.feed(b'{"a": 1}\n{"b"') == [b'{"a": 1}']
    assert buf.buffered == len(b'{"b"')
    assert buf.feed(b": 2}") == []
    assert buf.buffered == len(b'{"b": 2}')
    assert buf.feed(b"\r\n") == [b'{"b": 2}']
    assert buf.buffered == 0


def test_end_of_stream_inside_a_line_is_reported_with_its_bytes() -> None:
    buf = LineBuffer()
    assert buf.feed(b'{"a": 1}\n{"mode": "pu') == [b'{"a": 1}']
    [error] = buf.feed(b"")
    assert type(error) is ProtocolError
    assert error.raw == b'{"mode": "pu'
    assert "stream ended inside a line" in error.reason and "12 bytes" in error.reason


def test_clean_end_of_stream_reports_nothing() -> None:
    buf = LineBuffer()
    assert buf.feed(b"x\n") == [b"x"]
    assert buf.feed(b"") == []


def test_feeding_after_the_end_of_the_stream_is_a_programming_error() -> None:
    buf = LineBuffer()
    buf.feed(b"")
    with pytest.raises(RuntimeError, match="after the end of the stream"):
        buf.feed(b"x\n")


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_bytes_like_chunks_give_bytes_lines(kind: type) -> None:
    # A transport may hand over a bytearray or memoryview (e.g. from recv_into); lines are bytes.
    buf = LineBuffer()
    lines = buf.feed(kind(b"a\nb")) + buf.feed(kind(b"c\n"))
    assert lines == [b"a", b"bc"]
    assert all(type(line) is bytes for line in lines)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "16", None, True])
def test_max_line_length_must_be_a_positive_int(bad: object) -> None:
    with pytest.raises(ConfigError) as info:
        LineBuffer(bad)  # type: ignore[arg-type]
    assert info.value.field == "max_line_length"
    assert isinstance(info.value, ValueError)


def test_default_limit_is_16_mib() -> None:
    assert DEFAULT_MAX_LINE_LENGTH == 16 * 1024 * 1024
    assert LineBuffer().max_line_length == DEFAULT_MAX_LINE_LENGTH


def test_repr_shows_the_state() -> None:
    buf = LineBuffer(10)
    buf.feed(b"abc")
    assert repr(buf) == "LineBuffer(max_line_length=10, buffered=3, skipping=0)"


# --- over-long lines -----------------------------------------------------------------------------


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
@pytest.mark.parametrize("chunk", [1, 3, 10, 100])
def test_a_line_of_exactly_the_limit_is_accepted(ending: bytes, chunk: int) -> None:
    data = b"x" * 10 + ending + b"ok\n"
    assert feed_all(split_at(data, range(chunk, len(data), chunk)), 10) == [b"x" * 10, b"ok"]


@pytest.mark.parametrize("chunk", [1, 3, 11, 100])
def test_one_byte_over_the_limit_is_rejected_with_the_limit_named(chunk: int) -> None:
    data = b"x" * 11 + b"\nok\n"
    out = feed_all(split_at(data, range(chunk, len(data), chunk)), 10)
    assert out == [LineTooLongError(10, 11, b"x" * 11), b"ok"]
    error = out[0]
    assert isinstance(error, LineTooLongError) and isinstance(error, ProtocolError)
    assert (error.limit, error.length, error.raw) == (10, 11, b"x" * 11)
    assert "max_line_length=10" in error.reason


def test_limit_plus_carriage_return_is_still_too_long_without_it() -> None:
    # 11 bytes + "\r": stripped it is 11 > 10; the reported length counts the "\r".
    assert feed_all([b"x" * 11 + b"\r\n"], 10) == [LineTooLongError(10, 12, b"x" * 11 + b"\r")]


def test_long_line_is_skipped_without_buffering_it_and_reading_resynchronises() -> None:
    limit = 100
    buf = LineBuffer(limit)
    assert buf.feed(b'{"first": 1}\n' + b"y" * 60) == [b'{"first": 1}']
    assert buf.buffered == 60
    for _ in range(1000):  # 100 KB of one line, 1000 times the limit
        assert buf.feed(b"z" * 100) == []
        assert buf.buffered == 0  # skipping: nothing of the long line is held
    out = buf.feed(b'zzz\n{"next": 2}\n')
    assert out == [
        LineTooLongError(limit, 60 + 100_000 + 3, (b"y" * 60 + b"z" * 100_000)[:HEAD]),
        b'{"next": 2}',
    ]
    assert out[0].length == 100_063
    assert len(out[0].raw) == HEAD
    assert buf.feed(b"") == []


def test_long_line_in_a_single_chunk_is_reported_once() -> None:
    out = feed_all([b"a\n" + b"b" * 5000 + b"\nc\n"], 100)
    assert out == [b"a", LineTooLongError(100, 5000, b"b" * HEAD), b"c"]


def test_end_of_stream_inside_a_long_line() -> None:
    buf = LineBuffer(10)
    assert buf.feed(b"ok\n" + b"q" * 50) == [b"ok"]
    assert buf.buffered == 0
    assert buf.feed(b"q" * 50) == []
    assert buf.feed(b"") == [LineTooLongError(10, 100, b"q" * 100)]


def test_several_long_lines_in_a_row() -> None:
    data = (b"L" * 30 + b"\n") * 3 + b"s\n"
    for chunks in ([data], [data[i : i + 1] for i in range(len(data))], split_at(data, [5, 31, 40, 70])):
        assert feed_all(chunks, 20) == [LineTooLongError(20, 30, b"L" * 30)] * 3 + [b"s"]


def test_buffered_grows_exactly_by_what_is_fed() -> None:
    n = 20_000
    buf = LineBuffer()
    for i in range(1, n + 1):
        assert buf.feed(b"a") == []
        assert buf.buffered == i
    assert buf.feed(b"\n") == [b"a" * n]


def _feeds_that_allocate_more_than(buf: LineBuffer, threshold: int, feeds: int) -> int:
    """Feed ``feeds`` one-byte chunks; count those whose peak allocation exceeded ``threshold``."""
    tracemalloc.start()
    try:
        count = 0
        for _ in range(feeds):
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            assert buf.feed(b"y") == []
            if tracemalloc.get_traced_memory()[1] - before > threshold:
                count += 1
    finally:
        tracemalloc.stop()
    return count


@pytest.mark.parametrize("limit", [DEFAULT_MAX_LINE_LENGTH, 1024])
def test_a_chunk_costs_its_own_size_not_the_size_of_the_buffered_line(limit: int) -> None:
    """Linearity, measured in bytes allocated rather than in time.

    The classic quadratic framing bug re-joins the buffered part of a line with each new chunk
    (``buf = buf + data``): every read then costs the whole partial line. Here 256 KiB of one line
    are buffered (or, with the 1 KiB limit, being skipped) and then 2000 one-byte chunks are fed;
    a feed may allocate no more than 16 KiB. The bytearray that holds the partial line may grow
    (reallocate) once or twice on the way, hence the small allowance. A re-joining implementation
    allocates 256 KiB on every one of the 2000 feeds.
    """
    buf = LineBuffer(limit)
    assert buf.feed(b"x" * 256 * 1024) == []
    assert _feeds_that_allocate_more_than(buf, 16 * 1024, feeds=2000) <= 3
    whole = b"x" * 256 * 1024 + b"y" * 2000
    expected = whole if limit > len(whole) else LineTooLongError(limit, len(whole), whole[:HEAD])
    assert buf.feed(b"\n") == [expected]


# --- properties ----------------------------------------------------------------------------------


@property_settings
@given(st.data(), st.integers(min_value=1, max_value=64))
def test_any_chunking_gives_the_same_lines_as_the_whole_stream(data: st.DataObject, limit: int) -> None:
    stream = data.draw(streams())
    chunks = data.draw(chunkings(stream))
    assert b"".join(chunks) == stream
    expected = reference_lines(stream, limit)
    assert feed_all([stream], limit) == expected
    assert feed_all(chunks, limit) == expected


@property_settings
@given(st.data())
def test_realistic_streams_split_anywhere_with_the_default_limit(data: st.DataObject) -> None:
    stream = data.draw(streams())
    chunks = data.draw(chunkings(stream))
    assert feed_all(chunks) == feed_all([stream]) == reference_lines(stream, DEFAULT_MAX_LINE_LENGTH)


@property_settings
@given(st.lists(st.binary(max_size=50), max_size=20), st.integers(min_value=1, max_value=40))
def test_arbitrary_bytes_only_give_lines_and_protocol_errors(chunks: List[bytes], limit: int) -> None:
    out = feed_all(chunks, limit)
    assert all(type(item) is bytes or isinstance(item, ProtocolError) for item in out)
    assert out == reference_lines(b"".join(chunks), limit)


@property_settings
@given(st.binary(max_size=300).map(lambda b: b.replace(b"x", b"\n")))
def test_split_lines_is_bytes_split(data: bytes) -> None:
    assert split_lines(data) == data.split(b"\n")


@property_settings
@given(st.data())
def test_streams_of_long_and_short_lines_give_the_same_lines_either_way_they_are_split(data: st.DataObject) -> None:
    """Chunks of long lines are split with ``split_lines``, the next chunk after short ones with
    ``bytes.split``: mixing both, under any chunking, gives the whole stream's lines."""
    lengths = data.draw(st.lists(st.sampled_from([0, 1, 40, LONG_LINE, 3 * LONG_LINE]), min_size=1, max_size=12))
    stream = b"".join(bytes([65 + i % 26]) * n + (b"\r\n" if i % 3 == 0 else b"\n") for i, n in enumerate(lengths))
    chunks = data.draw(chunkings(stream))
    expected = reference_lines(stream, 2 * LONG_LINE)
    assert feed_all(chunks, 2 * LONG_LINE) == expected


def test_a_buffer_switches_to_split_lines_after_long_lines_and_back() -> None:
    buf = LineBuffer()
    long_line = b"L" * (2 * LONG_LINE)
    assert buf.feed(long_line + b"\n" + long_line + b"\n") == [long_line, long_line]
    assert buf._long_lines
    assert buf.feed(b"a\nb\nc\n" + long_line[:5]) == [b"a", b"b", b"c"]
    assert not buf._long_lines
    assert buf.feed(long_line[5:] + b"\n") == [long_line]


def test_every_single_cut_of_a_mixed_stream_gives_the_same_lines() -> None:
    """Exhaustive over one stream: cut once at every position, and cut everywhere at once.

    The stream holds 2-, 3- and 4-byte UTF-8 characters, CRLF and LF endings, an empty line and a
    line over the limit, so cuts fall inside characters, between ``\\r`` and ``\\n``, and inside the
    skipped line.
    """
    data = "é€🏌\r\n\nplain\n".encode() + b"L" * 40 + "\r\nafter ⛳\r\n".encode()
    expected = reference_lines(data, 30)
    assert expected == [
        "é€🏌".encode(),
        b"",
        b"plain",
        LineTooLongError(30, 41, b"L" * 40 + b"\r"),
        "after ⛳".encode(),
    ]
    for i in range(1, len(data)):
        assert feed_all([data[:i], data[i:]], 30) == expected, i
    assert feed_all([data[i : i + 1] for i in range(len(data))], 30) == expected
