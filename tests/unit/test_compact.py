"""The default path's regex for ``market_update`` lines in the documented form (``compact.py``).

Two things must hold. It takes the lines it is for -- the documented example, the benchmark's
stream, Python's spaced ``json.dumps`` form, escaped names -- or it would be dead weight that every
equality test passes. And whatever it takes, it decodes exactly as ``decode_json_line`` does
(``assert_same``): here over lines drawn in the documented form with any value in any field, and
over byte-level mutations of such lines, which probe the edges of the form (a digit more, a quote
less, a stray byte of invalid UTF-8) where a regex goes wrong.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest
import ujson
from hypothesis import given
from hypothesis import strategies as st

from imgfeed.feeds.img.protocol.codec import decode_line
from imgfeed.feeds.img.protocol.compact import match_market_update
from imgfeed.feeds.img.protocol.messages import MarketStatus, MarketUpdate
from tests.unit.strategies import ids, market_ids, names, property_settings, timestamps
from tests.unit.test_fast import _benchmark_lines, assert_same

#: docs/protocol.md section 6, verbatim.
DOCUMENTED = (
    b'{"mode":"push","type":"market_update","publish_time":"2025-03-14 08:50:14.531473","msg":{"id":'
    b'"golf_6005_matchbet~7cgolfer_ids~3d9548~2c4573","status":"open","selections":[{"id":"g:9548","name":'
    b'"Brooks Gustafsson","price":1.56,"status":"open","settlement":null},{"id":"g:4573","name":'
    b'"Min Woo Boutier","price":2.4,"status":"open","settlement":null}]}}'
)


def _update(publish_time: Any, msg: Dict[str, Any]) -> Dict[str, Any]:
    obj: Dict[str, Any] = {"mode": "push", "type": "market_update"}
    if publish_time is not ...:
        obj["publish_time"] = publish_time
    obj["msg"] = msg
    return obj


def _encode(obj: Dict[str, Any], spaced: bool, ascii_only: bool) -> bytes:
    separators = (", ", ": ") if spaced else (",", ":")
    return json.dumps(obj, separators=separators, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


any_text = st.text(st.characters(codec="utf-8") | st.sampled_from('"\\\x00\x1f\x7f\u2028\ud800'), max_size=12)
any_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**20), 10**400),
    st.sampled_from([1.0, 0.99, 1.5, 1e16, 1e17, 1.7e308, 5e-324, -0.0, 0, 1]),
)
any_value = st.one_of(st.none(), any_text, any_number, st.booleans(), st.just([]), st.just({}))


def _selection(sid: Any, name: Any, price: Any, status: Any, settlement: Any) -> Dict[str, Any]:
    return {"id": sid, "name": name, "price": price, "status": status, "settlement": settlement}


def _settlement(stake: Any, payout: Any) -> Dict[str, Any]:
    return {"stake_returned": stake, "payout_returned": payout}


def _msg(market_id: Any, status: Any, selections: Any) -> Dict[str, Any]:
    msg = {"id": market_id, "status": status}
    if selections is not ...:
        msg["selections"] = selections
    return msg


def documented(anything: bool) -> st.SearchStrategy[bytes]:
    """Lines in the documented key order, compact or spaced, raw UTF-8 or escaped. With
    ``anything``, a field holds any value one time in four (so most lines are still near the
    form's edge); without, every value is one the form takes (so every line tests what it takes)."""

    def field(valid: st.SearchStrategy, other: st.SearchStrategy = any_value) -> st.SearchStrategy:
        return st.one_of(valid, valid, valid, other) if anything else valid

    factors = st.sampled_from([0.0, 1.0, 0.5, 1 / 3, 0])
    selection = st.builds(
        _selection,
        field(ids.map("g:".__add__), any_text),
        field(st.one_of(names, st.none())),
        field(st.one_of(st.floats(1.0, 1e6), st.none()), any_number),
        field(st.sampled_from(["open", "suspended", "settled", None])),
        field(
            st.one_of(st.none(), st.builds(_settlement, factors, factors)),
            st.one_of(any_value, st.builds(_settlement, any_number, any_number)),
        ),
    )
    form = st.builds(
        _update,
        field(st.one_of(st.just(...), st.none(), timestamps), any_text),
        st.builds(
            _msg,
            field(market_ids, any_text),
            field(st.sampled_from(["open", "settled", "x"]), any_text),
            field(st.one_of(st.just(...), st.none(), st.lists(selection, max_size=4))),
        ),
    )
    return st.builds(_encode, form, st.booleans(), st.booleans())


documented_lines = documented(anything=True)
taken_lines = documented(anything=False)


@property_settings
@given(taken_lines)
def test_lines_it_takes(line: bytes) -> None:
    assert match_market_update(line) is not None, line
    assert_same(decode_line, line)


@property_settings
@given(documented_lines)
def test_any_value_in_any_field_of_the_documented_form(line: bytes) -> None:
    assert_same(decode_line, line)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A line the form takes, with a byte or two replaced, inserted or deleted."""
    line = bytearray(draw(taken_lines))
    for _ in range(draw(st.integers(1, 2))):
        at = draw(st.integers(0, len(line)))
        byte = draw(
            st.sampled_from(b'"\\,:{}[]0123456789.-+eEnul \t\x00\x80\xc3\xed\xff') | st.integers(0, 255)
        )
        op = draw(st.sampled_from(["replace", "insert", "delete"]))
        if op == "insert" or at == len(line):
            line.insert(at, byte)
        elif op == "replace":
            line[at] = byte
        else:
            del line[at]
    return bytes(line)


@property_settings
@given(mutated())
def test_mutations_of_the_documented_form(line: bytes) -> None:
    assert_same(decode_line, line)


#: Number literals at the edges of the price check and of what the form takes.
PRICES = [
    b"1.0", b"1.00000000000000000001", b"0.99", b"01.5", b"1.", b".5", b"1", b"-1.5", b"1e5", b"1.5e2",
    b"9999999999999999.5", b"99999999999999999.5", b"1." + b"5" * 21, b"1" * 400 + b".0", b"NaN",
    b"Infinity", b"-Infinity", b"true", b'"2.0"', b"null", b"[]",
]  # fmt: skip


@pytest.mark.parametrize("price", PRICES)
@pytest.mark.parametrize(
    "factor", [b"0", b"1.0", b"-0.5", b"1e400", b"00", b"NaN", b"0.333333333333333333333"]
)
def test_numbers_at_the_edges(price: bytes, factor: bytes) -> None:
    for selection in (
        b'{"id":"g","name":"n","price":' + price + b',"status":"open","settlement":null}',
        b'{"id":"g","name":null,"price":'
        + price
        + b',"status":null,"settlement":{"stake_returned":'
        + factor
        + b',"payout_returned":'
        + factor
        + b"}}",
    ):
        assert_same(decode_line, b'{"mode":"push","type":"market_update","msg":{"id":"m","status":"open",'
                    b'"selections":[' + selection + b"]}}")  # fmt: skip


def test_it_takes_the_documented_example() -> None:
    record = match_market_update(DOCUMENTED, 2.5)
    assert isinstance(record, MarketUpdate)
    assert (record.market_id, record.status, record.received_at) == (
        "golf_6005_matchbet~7cgolfer_ids~3d9548~2c4573",
        MarketStatus.OPEN,
        2.5,
    )
    assert record.publish_time is not None and record.publish_time.microsecond == 531473
    assert [s.price for s in record.selections] == [1.56, 2.4]
    assert_same(decode_line, DOCUMENTED)


def test_it_takes_the_spaced_and_escaped_forms() -> None:
    obj = ujson.loads(DOCUMENTED)
    obj["msg"]["selections"][0]["name"] = 'Séamus "Shay" Power\\'
    for spaced in (False, True):
        for ascii_only in (False, True):
            line = _encode(obj, spaced, ascii_only)
            assert match_market_update(line) is not None, line
            assert_same(decode_line, line)


def test_it_takes_every_market_update_of_the_benchmark_stream() -> None:
    updates: List[bytes] = [line for line in _benchmark_lines() if b'"market_update"' in line]
    assert len(updates) > 1000
    taken = [line for line in updates if match_market_update(line) is not None]
    assert taken == updates  # open, suspended (unpriced) and settled markets alike


@pytest.mark.parametrize(
    "line",
    [
        DOCUMENTED.replace(b'"mode":"push","type":"market_update"', b'"type":"market_update","mode":"push"'),
        DOCUMENTED.replace(b'"id":"g:9548"', b'"id":"g:9548","extra":1'),
        DOCUMENTED.replace(b'"status":"open","selections"', b'"status":"op\\u0065n","selections"'),
        DOCUMENTED.replace(b'"2025-03-14 08:50:14.531473"', b'"yesterday"'),
        DOCUMENTED.replace(b"Brooks", b"Br\xffoks"),
        DOCUMENTED + b" ",
    ],
    ids=[
        "key order",
        "unknown field",
        "escaped status",
        "bad publish_time",
        "invalid UTF-8",
        "trailing space",
    ],
)
def test_it_steps_aside_from_lines_out_of_the_form(line: bytes) -> None:
    assert match_market_update(line) is None
    assert_same(decode_line, line)
