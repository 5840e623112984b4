"""Requests: the documented shapes, encode/decode round trips, and what the server side rejects."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import attrs
import pytest
import ujson
from hypothesis import given
from hypothesis import strategies as st

from imgfeed.errors import ProtocolError
from imgfeed.feeds.img.protocol import (
    FILTER_KEYS,
    Request,
    decode_request,
    encode_message,
    init_request,
    subscribe_request,
    unsubscribe_request,
)
from tests.unit.strategies import json_values, property_settings, requests

# --- the documented requests (docs/protocol.md sections 4 and 6) -----------------------------------------


@pytest.mark.parametrize(
    "request_, documented",
    [
        (init_request(), '{"request": "init", "msg": {}}'),
        (init_request(include_finished=True), '{"request": "init", "msg": {"include_finished": true}}'),
        (
            subscribe_request(
                event_ids=["ev.golf_1100"],
                market_type_ids=["mt.winonly"],
                market_ids=["golf_1100_winonly"],
                request_id="7",
            ),  # noqa: E501
            '{"request": "subscribe", "request_id": "7", "msg": {"event_ids": ["ev.golf_1100"], "market_type_ids": ["mt.winonly"], "market_ids": ["golf_1100_winonly"]}}',  # noqa: E501
        ),
        (subscribe_request(), '{"request": "subscribe", "msg": {}}'),  # an empty msg subscribes to everything
        (
            unsubscribe_request(event_ids=["ev.golf_1100"], request_id="8"),
            '{"request": "unsubscribe", "request_id": "8", "msg": {"event_ids": ["ev.golf_1100"]}}',
        ),
    ],
)
def test_requests_encode_to_the_documented_json(request_: Request, documented: str) -> None:
    line = request_.to_bytes()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert ujson.loads(line) == ujson.loads(documented)
    # Key order as in the document: request, request_id, msg.
    assert list(ujson.loads(line)) == list(ujson.loads(documented))


def test_init_request_carries_a_request_id() -> None:
    assert init_request(request_id="1").to_dict() == {"request": "init", "request_id": "1", "msg": {}}


def test_filters_keep_order_and_accept_any_iterable() -> None:
    request = subscribe_request(market_ids=(m for m in ["b", "a"]), event_ids=("e",))
    assert request.msg == {"event_ids": ["e"], "market_ids": ["b", "a"]}
    assert list(request.msg) == [k for k in FILTER_KEYS if k in request.msg]


def test_an_empty_filter_list_is_sent_as_given() -> None:
    # "Every list is optional": an empty list is not the same as no list; send what the user said.
    assert subscribe_request(market_ids=[]).msg == {"market_ids": []}


@pytest.mark.parametrize("bad", ["ev.golf_1100", b"ev.golf_1100"])
def test_a_single_id_instead_of_a_list_is_refused(bad: Any) -> None:
    # A str is iterable: without this check "ev.1" would subscribe to events "e", "v", ".", "1".
    with pytest.raises(TypeError, match="event_ids must be a list of ids"):
        subscribe_request(event_ids=bad)


def test_ids_must_be_strings() -> None:
    with pytest.raises(TypeError, match="market_ids must contain only strings"):
        unsubscribe_request(market_ids=["m", 1])  # type: ignore[list-item]


def test_with_id_returns_a_copy() -> None:
    request = subscribe_request(event_ids=["e"])
    tagged = request.with_id("12")
    assert (request.request_id, tagged.request_id) == (None, "12")
    assert tagged.msg == request.msg
    assert tagged.with_id(None) == request


def test_requests_are_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        init_request().name = "subscribe"  # type: ignore[misc]


def test_raw_request_with_unicode_is_one_line_of_utf8() -> None:
    request = Request("note", {"text": "line one\nline two — ⛳", "path": "a/b"}, "x")
    line = request.to_bytes()
    assert line.count(b"\n") == 1
    assert "⛳".encode() in line  # sent as UTF-8, not \\u escapes
    assert b"a/b" in line  # no escaped forward slashes
    assert decode_request(line) == request


# --- decode_request: the server side ------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, expected",
    [
        (b'{"request": "init", "msg": {}}', Request("init", {}, None)),
        (b'{"request": "init"}', Request("init", {}, None)),  # msg may be absent
        (b'{"request": "init", "msg": null}', Request("init", {}, None)),
        (b'{"request": "subscribe", "request_id": 7, "msg": {}}', Request("subscribe", {}, "7")),
        # JSON whitespace around the object, a "\r" from a CRLF peer included, is fine.
        (
            b' {"request": "unsubscribe", "request_id": "7", "msg": {"event_ids": ["e"]}}\r',
            Request("unsubscribe", {"event_ids": ["e"]}, "7"),
        ),  # noqa: E501
    ],
)
def test_decode_request(line: bytes, expected: Request) -> None:
    assert decode_request(line) == expected


@pytest.mark.parametrize(
    "line, reason",
    [
        (b"not json", "invalid JSON"),
        (b'{"request": "init", "msg": {"a": "\xff"}}', "invalid JSON"),
        (b"[]", "expected a JSON object, got list"),
        (b'{"msg": {}}', 'missing or non-string "request"'),
        (b'{"request": 1, "msg": {}}', 'missing or non-string "request"'),
        (b'{"request": "init", "msg": []}', '"msg" must be an object, got list'),
        (b'{"request": "init", "msg": {}, "request_id": 1.5}', '"request_id" must be a string'),
        (b'{"request": "init", "msg": {}, "request_id": true}', '"request_id" must be a string'),
    ],
)
def test_decode_request_rejects_with_a_protocol_error(line: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_request(line)
    assert reason in info.value.reason
    assert info.value.raw == line


# --- properties -----------------------------------------------------------------------------------------


@property_settings
@given(requests)
def test_request_round_trips(fields: Tuple[str, Dict[str, Any], Optional[str]]) -> None:
    request = Request(*fields)
    line = request.to_bytes()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode_request(line) == request
    assert decode_request(line[:-1]) == request


@property_settings
@given(json_values)
def test_encode_message_is_one_line_that_decodes_to_the_same_value(value: Any) -> None:
    line = encode_message({"v": value})
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    assert ujson.loads(line) == {"v": value}


@property_settings
@given(
    st.one_of(
        st.binary(max_size=100),
        json_values.map(lambda v: encode_message(v)[:-1]),
        st.fixed_dictionaries(
            {"request": json_values}, optional={"msg": json_values, "request_id": json_values}
        ).map(lambda v: encode_message(v)[:-1]),
    )
)
def test_decode_request_raises_only_protocol_errors(line: bytes) -> None:
    """The simulator decodes what clients send: any bytes are a Request or a ProtocolError."""
    try:
        request = decode_request(line)
    except ProtocolError as exc:
        assert exc.raw == line
    else:
        assert type(request.name) is str and type(request.msg) is dict
        assert request.request_id is None or type(request.request_id) is str
