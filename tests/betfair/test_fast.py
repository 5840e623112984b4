"""The optional msgspec path decodes ESA lines exactly as the default path: same records, same errors.

A differential test: over the benchmark's emulator streams, Betfair's historical files, the test
data, the generated streams of :mod:`tests.betfair.streams`, the constructs where ujson and msgspec
disagree, random JSON and random bytes, ``fast_decode_line(line)`` must equal ``decode_line(line)``
-- type, fields, ``raw`` compared with the type of every number (``==`` alone would take ``2`` for
``2.0``), or the error's reason and bytes. Then end to end: the books a pipeline hands to its
handler are the same with either parser.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, List

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgfeed.errors import ConfigError, ProtocolError
from imgfeed.feeds.betfair.adapter import BetfairAdapter
from imgfeed.feeds.betfair.config import BetfairConfig
from imgfeed.feeds.betfair.protocol.codec import decode_line
from imgfeed.feeds.betfair.protocol.fast import AVAILABLE, fast_decode_line, line_decoder
from tests.betfair.helpers import DATA, data_lines
from tests.betfair.streams import MarketStreamGenerator
from tests.betfair.test_codec import _keys, _value

pytestmark = pytest.mark.skipif(not AVAILABLE, reason="msgspec (imgfeed[speed]) is not installed")

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def typed(value: Any) -> Any:
    """``value`` with the type of every leaf made part of it, NaN comparable, key order kept."""
    kind = type(value)
    if kind is dict:
        return ("dict", [(key, typed(item)) for key, item in value.items()])
    if kind is list:
        return ("list", [typed(item) for item in value])
    if kind is float and math.isnan(value):
        return ("float", "nan")
    return (kind.__name__, value)


def assert_same(line: bytes) -> None:
    fast, default = fast_decode_line(line, 1.5), decode_line(line, 1.5)
    assert type(fast) is type(default), (line, fast, default)
    if isinstance(default, ProtocolError):
        assert (fast.reason, fast.raw) == (default.reason, default.raw)
        return
    if line.count(b"[") > 500:
        # Too deep for == or typed() within Python's recursion limit; the records hold the same op.
        assert fast.raw.get("op") == default.raw.get("op")
        return
    # Field by field, through typed(): the records' own == would fail on a NaN in raw.
    fields = attrs.asdict(fast, recurse=False)
    assert {name: typed(value) for name, value in fields.items()} == {
        name: typed(value) for name, value in attrs.asdict(default, recurse=False).items()
    }, line
    assert set(fields) >= {"raw", "received_at"}


#: Where the two JSON parsers differ (ujson takes all of these; msgspec refuses them), and where
#: duplicate keys could pick different values.
_RC = b'{"op":"mcm","pt":1700000000000,"mc":[{"id":"1.1","rc":[{"id":1,'
TRICKY = [
    _RC + b'"ltp":NaN}]}]}',
    _RC + b'"ltp":Infinity}]}]}',
    _RC + b'"spn":NaN,"spf":-Infinity}]}]}',
    _RC + b'"atb":[[1.5,1e400]]}]}]}',
    _RC + b'"atb":[[1.5,-1e400]]}]}]}',
    _RC + b'"atb":[[1e-400,2]]}]}]}',
    _RC + b'"ltp":01}]}]}',
    _RC + b'"ltp":2.}]}]}',
    _RC + b'"tv":123456789012345678901234567890}]}]}',
    _RC + b'"tv":18446744073709551616}]}]}',
    _RC + b'"atb":[[2,3],[2.0,3.0],[1000,0]]}]}]}',
    _RC + b'"ltp":1.7976931348623157e308,"tv":5e-324}]}]}',
    _RC + b'"ltp":-0.0,"tv":-0}]}]}',
    _RC + b'"ltp":1E2,"tv":1e+2}]}]}',
    b'{"op":"connection","connectionId":"\\ud800"}',
    b'{"op":"connection","connectionId":"\xed\xa0\x80"}',
    b'{"op":"connection","connectionId":"\\ud83d\\ude00"}',
    b'{"op":"connection","connectionId":"a\tb"}',
    b'{"op":"connection","connectionId":"a\x00b"}',
    b'{"op":"connection","connectionId":"caf\xc3\xa9 \\u00e9 \\/"}',
    b'{"op":"connection","connectionId":"caf\xe9"}',
    b'{"op":"status","id":1,"id":"2"}',
    b'{"op":"mcm","op":"ocm","oc":[]}',
    b'{"op":"mcm","mc":[{"id":"1.1","rc":[{"id":1,"ltp":2}]}],"mc":[]}',
    b'{"op":"mcm","pt":1.0}',
    b'{"op":"mcm"} ',
    b'  {"op":"mcm"}\r',
    b'\xef\xbb\xbf{"op":"mcm"}',
    b'{"op":"mcm",}',
    b'{"op":"mcm","mc":[1,]}',
    b'{"op":"mcm","deep":' + b"[" * 990 + b"]" * 990 + b"}",
    pytest.param(
        b'{"op":"mcm","deep":' + b"[" * 5000 + b"]" * 5000 + b"}",
        marks=pytest.mark.xfail(
            sys.version_info >= (3, 12),
            reason="msgspec nests past ujson's 1,024 levels on 3.12+ (imgfeed/feeds/betfair/protocol/fast.py)",
            strict=True,
        ),
    ),
    b"",
    b"null",
    b"[]",
]


@pytest.mark.parametrize("line", TRICKY, ids=range(len(TRICKY)))
def test_lines_where_the_parsers_differ(line: bytes) -> None:
    assert_same(line)


def _benchmark_files(tmp_path: Path) -> List[Path]:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from _betfair_files import make_files
    finally:
        sys.path.remove(str(BENCHMARKS))
    return [Path(path) for _, path, _ in make_files(str(tmp_path), quick=True)]


def test_the_benchmark_streams_and_betfairs_files(tmp_path: Path) -> None:
    """The emulator's streams (full ladders, 200 markets with a segmented image) and every file of
    tests/betfair/data: Betfair's historical market and order files and the sample messages."""
    lines = [line for path in _benchmark_files(tmp_path) for line in path.read_bytes().splitlines()]
    for path in sorted(DATA.iterdir()):
        if not path.name.startswith(("LICENSE", "README")):
            lines += data_lines(path.name)
    assert len(lines) > 500
    for line in lines:
        assert_same(line)


def test_generated_streams() -> None:
    generator = MarketStreamGenerator(seed=7, markets=3, handicap=True)
    market_ids = list(generator.markets)
    lines = generator.image(segments=3)
    for step in range(200):
        lines.append(generator.delta(markets=2, conflated=step % 7 == 0))
        if step % 50 == 0:
            lines.append(generator.definition_change(market_ids[0], inPlay=True))
    lines += [generator.remove_runner(market_ids[2]), generator.clear_traded(market_ids[0])]
    lines += [generator.close(market_ids[1]), generator.heartbeat()]
    for line in lines:
        assert_same(line)


@given(st.sampled_from(["mcm", "ocm", "status", "connection", "rcm"]), st.dictionaries(_keys, _value, max_size=5))
def test_random_json_objects(op: str, fields: Any) -> None:
    fields["op"] = op
    try:
        line = json.dumps(fields).encode()  # NaN and Infinity as their literals: both parsers see them
    except ValueError:
        return
    assert_same(line)


@given(st.lists(st.tuples(st.floats(), st.floats() | st.integers()), max_size=5))
def test_any_number_in_a_ladder(rows: Any) -> None:
    line = json.dumps({"op": "mcm", "mc": [{"id": "1.1", "rc": [{"id": 1, "atb": rows, "trd": rows}]}]})
    assert_same(line.encode())


@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    assert_same(data)


def _books(path: Path, parser: str) -> List[Any]:
    config = BetfairConfig(app_key="test", session_token="test", parser=parser)
    adapter = BetfairAdapter(config, historical=True)
    decoder = adapter.new_decoder()
    out: List[Any] = []
    with adapter.lock:
        adapter.session_up({}, out)
        data = path.read_bytes()
        for start in range(0, len(data), 4096):
            for record in decoder.feed(data[start : start + 4096], 1.7e9):
                adapter.apply(record, out)
    return out


def test_the_books_are_the_same_with_either_parser(tmp_path: Path) -> None:
    for path in _benchmark_files(tmp_path):
        ujson_books, msgspec_books = _books(path, "ujson"), _books(path, "msgspec")
        assert len(ujson_books) > 10
        assert ujson_books == msgspec_books, path.name


def test_the_config_chooses_the_parser() -> None:
    assert line_decoder("auto") is fast_decode_line and line_decoder("msgspec") is fast_decode_line
    assert line_decoder("ujson") is decode_line
    config = BetfairConfig(app_key="test", session_token="test", parser="ujson")
    assert BetfairAdapter(config).decode_line is decode_line
    with pytest.raises(ConfigError, match="parser"):
        BetfairConfig(app_key="test", session_token="test", parser="orjson")
