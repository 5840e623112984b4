"""The shortcuts decode exactly as the general path: the same records, the same errors.

Two paths skip parsing a ``market_update`` into a tree: the default one checks the documented form
with a regular expression (:mod:`imgfeed.feeds.img.protocol.compact`, inside ``decode_line``), the
optional one with a msgspec schema (``fast_decode_line``, ``imgfeed[speed]``). A differential
property test (issue 14) holds each equal to ``decode_json_line`` (ujson + the field checks) over
valid messages of every kind, market updates in the documented form with any value in any field,
byte-level mutations of such lines, hostile JSON (where the parsers disagree), random bytes and the
benchmark's realistic stream -- type, fields, ``raw``, the built selections, or the error's reason
and bytes. The regex's own tests also check that it takes the lines it is for: equality alone
would pass a pattern that never matches.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List

import attrs
import pytest
import ujson
from hypothesis import given
from hypothesis import strategies as st

from imgfeed.errors import ProtocolError
from imgfeed.feeds.img.protocol.codec import Decoded, decode_json_line, decode_line
from imgfeed.feeds.img.protocol.fast import AVAILABLE, fast_decode_line
from imgfeed.feeds.img.protocol.messages import MarketUpdate
from imgfeed.feeds.img.protocol.prices import parse_raw
from tests.unit.strategies import junk_lines, property_settings, server_messages
from tests.unit.test_codec import _hostile_objects

Decoder = Callable[[bytes, float], Decoded]

#: The shortcuts under test: the default path (regex) always, msgspec where it is installed.
DECODERS = [
    pytest.param(decode_line, id="regex"),
    pytest.param(
        fast_decode_line,
        id="msgspec",
        marks=pytest.mark.skipif(not AVAILABLE, reason="msgspec (imgfeed[speed]) is not installed"),
    ),
]
each_decoder = pytest.mark.parametrize("decode", DECODERS)


def assert_same(decode: Decoder, line: bytes) -> None:
    fast, default = decode(line, 1.5), decode_json_line(line, 1.5)
    assert type(fast) is type(default), (line, fast, default)
    if isinstance(default, MarketUpdate) and line.count(b"[") > 500:
        # A tree that deep cannot be compared by == without hitting Python's recursion limit; the
        # records hold the same line, from which each builds the same raw.
        assert (fast.market_id, fast.status, fast.line) == (default.market_id, default.status, default.line)
        return
    # repr, when == says no: a NaN the line carries is unequal to itself in the two trees.
    assert fast == default or repr(attrs.astuple(fast)) == repr(attrs.astuple(default)), line
    if isinstance(default, ProtocolError):
        assert (fast.reason, fast.raw) == (default.reason, default.raw)
    if isinstance(default, MarketUpdate):
        assert fast.received_at == default.received_at and fast.line == default.line
        assert fast.publish_time == default.publish_time
        assert fast.selections == default.selections
        # raw is parsed by msgspec where it is installed (prices.parse_raw): the tree ujson builds.
        assert same_tree(parse_raw(line), ujson.loads(line)), line


def same_tree(a: Any, b: Any) -> bool:
    """``a == b`` for JSON trees, but stricter (types, the keys' order, the sign of zero) and
    NaN-equal; iterative, for trees nested as deep as ujson allows."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if type(x) is not type(y):
            return False
        if type(x) is dict:
            if list(x) != list(y):
                return False
            stack.extend(zip(x.values(), y.values()))
        elif type(x) is list:
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y))
        elif type(x) is float:
            if not ((x == y and math.copysign(1.0, x) == math.copysign(1.0, y)) or (x != x and y != y)):
                return False
        elif x != y:
            return False
    return True


#: Where the two JSON parsers differ (ujson takes all of these; msgspec refuses them), and where
#: duplicate keys could pick different values.
TRICKY = [
    b'{"mode":"push","type":"market_update","msg":{"id":"m","status":"open","selections":[{"id":"g","price":NaN}]}}',
    b'{"mode":"push","type":"market_update","msg":{"id":"m","status":"open","selections":[{"id":"g","price":1e400}]}}',
    b'{"mode":"push","type":"market_update","msg":{"id":"m","status":"open","x":Infinity}}',
    b'{"mode":"push","type":"market_update","msg":{"id":"\\ud800","status":"open"}}',
    b'{"mode":"push","type":"market_update","msg":{"id":"\xed\xa0\x80","status":"open"}}',
    b'{"mode":"push","type":"market_update","msg":{"id":"a\tb","status":"open"}}',
    b'{"mode":"push","type":"market_update","msg":{"id":"m","status":"open","n":01}}',
    b'{"mode":"push","type":"market_update","msg":{"id":"m","status":"open","n":123456789012345678901234567890}}',
    b'{"mode":"push","type":"market_update","msg":{"id":"m","status":"open","selections":[{"id":"g","price":'
    + b"1" * 400
    + b"}]}}",
    b'{"mode":"push","type":"market_update","msg":{"id":"m","status":"open","selections":[{"id":"g","price":2,'
    b'"settlement":{"stake_returned":1e400,"payout_returned":0}}]}}',
    b'{"mode":"push","type":"market_update","msg":{"id":"a","status":"open"},"msg":{"id":"b","status":"closed"}}',
    b'{"mode":"push","type":"market_update","type":"heartbeat","msg":{"id":"a","status":"open"}}',
    b'{"mode":"push","type":"heartbeat","type":"market_update","msg":{"id":"a","status":"open"}}',
    b'{"mode":"push","type":"market_update","msg":{"id":"a","status":"open","id":7}}',
    b'{"mode":"push","type":"market_update","publish_time":"2025-03-14 08:50:11","msg":{"id":"a","status":"open"}}',
    b'{"mode":"push","type":"market_update","publish_time":"2025-03-14T08:50:11+02:00","msg":{"id":"a","status":"x"}}',
    b'{"mode":"push","type":"market_update","publish_time":"soon","msg":{"id":"a","status":"open"}}',
    b'{"mode":"push","type":"market_update","publish_time":7,"msg":{"id":"a","status":"open"}}',
    b'{"mode":"push","type":"market_update","msg":{"id":"a","status":"open","selections":[{"id":"g","price":true}]}}',
    b'{"mode":"push","type":"market_update","msg":{"id":"a","status":"open","selections":[["g",2.0]]}}',
    b'{"mode":"push","type":"market_update","msg":{"id":"a","status":"open","selections":{}}}',
    b'{"mode":"push","type":"market_update","msg":{"id":"a","status":"open","selections":null}}',
    b'{"mode":"push","type":"market_update","msg":{"id":"a","status":"open"}} ',
    b'  {"mode":"push","type":"market_update","msg":{"id":"a","status":"open"}}',
    b'{"mode":"push","type":"market_update","msg":{"id":"a","status":"open","deep":'
    + b"[" * 990
    + b"]" * 990
    + b"}}",
    b'{"mode":"push","type":"market_update","msg":{"id":"a","status":"open","deep":'
    + b"[" * 5000
    + b"]" * 5000
    + b"}}",
    # Just past ujson's 1,024 levels, inside a selection and at the top: msgspec skips unknown
    # fields at any depth on Python 3.12+ (its C recursion guard), so only a refused unknown field
    # keeps the two paths equal there.
    b'{"mode":"push","type":"market_update","msg":{"id":"a","status":"open","deep":'
    + b"[" * 1100
    + b"]" * 1100
    + b"}}",
    b'{"mode":"push","type":"market_update","msg":{"id":"a","status":"open","selections":[{"id":"g",'
    b'"price":2.0,"x":' + b"[" * 1100 + b"]" * 1100 + b"}]}}",
    b'{"mode":"push","type":"market_update","x":' + b'{"a":' * 1100 + b"1" + b"}" * 1100
    + b',"msg":{"id":"a","status":"open"}}',
    # A shallow field the schema does not know: the default path decides, and keeps it in raw.
    b'{"mode":"push","type":"market_update","msg":{"id":"a","status":"open","extra":[1,{"b":2}]}}',
]


@each_decoder
@pytest.mark.parametrize("line", TRICKY, ids=range(len(TRICKY)))
def test_lines_where_the_parsers_differ(decode: Decoder, line: bytes) -> None:
    assert_same(decode, line)


@each_decoder
@property_settings
@given(message=server_messages)
def test_valid_messages_of_every_kind(decode: Decoder, message: Any) -> None:
    obj, _kind = message
    assert_same(decode, ujson.dumps(obj, ensure_ascii=False).encode())


@each_decoder
@property_settings
@given(obj=_hostile_objects())
def test_any_value_in_any_field(decode: Decoder, obj: Dict[str, Any]) -> None:
    try:
        line = ujson.dumps(obj).encode()
    except (OverflowError, ValueError):
        line = repr(obj).encode()
    assert_same(decode, line)


@each_decoder
@property_settings
@given(line=st.one_of(junk_lines, st.binary(max_size=200)))
def test_junk_and_random_bytes(decode: Decoder, line: bytes) -> None:
    assert_same(decode, line.replace(b"\n", b""))


@each_decoder
def test_the_benchmark_stream(decode: Decoder) -> None:
    for line in _benchmark_lines():
        assert_same(decode, line)


def _benchmark_lines() -> List[bytes]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import _stream

    return [line for line in _stream.build_stream(2000, seed=3).split(b"\n") if line]
