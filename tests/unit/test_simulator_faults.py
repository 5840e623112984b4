"""The pure parts of fault injection: chunking output at arbitrary points."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from imgfeed.feeds.img.protocol import FeedDecoder
from imgfeed.feeds.img.simulator.faults import CLOSE_REASONS, chunked


def test_chunks_cycle_through_the_sizes_and_carry_the_position() -> None:
    pieces = list(chunked(b"abcdefghij", [1, 3]))
    assert [p for p, _ in pieces] == [b"a", b"bcd", b"e", b"fgh", b"i", b"j"]
    # The next batch continues the cycle where this one stopped.
    assert [i for _, i in pieces] == [1, 0, 1, 0, 1, 0]
    assert [p for p, _ in chunked(b"xyzw", [1, 3], 1)] == [b"xyz", b"w"]


def test_splitting_inside_utf8_and_crlf_still_decodes() -> None:
    line = '{"mode": "push", "type": "heartbeat", "msg": {"name": "Åberg 松山"}}\r\n'.encode()
    decoder = FeedDecoder()
    records = []
    for piece, _ in chunked(line * 3, [1, 2, 5]):
        records += decoder.feed(piece)
    assert len(records) == 3 and all(r.raw["msg"]["name"] == "Åberg 松山" for r in records)


@given(st.binary(max_size=200), st.lists(st.integers(1, 17), min_size=1, max_size=5), st.integers(0, 10))
def test_chunks_join_back(data: bytes, sizes: list, start: int) -> None:
    assert b"".join(p for p, _ in chunked(data, sizes, start)) == data


def test_documented_close_reasons() -> None:
    assert CLOSE_REASONS == (
        "no init sent", "max connections hit", "connection rate limit hit", "slow reader",
        "internal disconnection requested", "service error",
    )  # fmt: skip
