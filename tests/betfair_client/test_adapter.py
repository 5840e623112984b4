"""BetfairAdapter without a network: the decoder, the handshake steps, responses and closes."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

from imgfeed.betfair import BetfairConfig, StatusMessage
from imgfeed.errors import ProtocolError
from imgfeed.feeds.betfair.adapter import BetfairAdapter, BetfairDecoder
from imgfeed.feeds.betfair.protocol.codec import decode_line
from imgfeed.runtime.session import DONE, Await, CloseKind, End, Send

LINES = (
    '{"op":"connection","connectionId":"001-1"}\r\n'
    '{"op":"mcm","id":1,"clk":"A","pt":1,"mc":[{"id":"1.1","marketDefinition":{"status":"OPEN","venue":"Åsgårdstrand"}}]}\r\n'
).encode()


def adapter(**overrides: Any) -> BetfairAdapter:
    values: Dict[str, Any] = dict(app_key="key-1234", session_token="token-5678")
    values.update(overrides)
    return BetfairAdapter(BetfairConfig(**values))


@pytest.mark.parametrize("cut", range(1, len(LINES)))
def test_a_cut_anywhere_inside_crlf_or_a_character_changes_nothing(cut: int) -> None:
    decoder = BetfairDecoder(1 << 20)
    records = list(decoder.feed(LINES[:cut], 1.0)) + list(decoder.feed(LINES[cut:], 2.0))
    assert [type(r).__name__ for r in records] == ["ConnectionMessage", "MarketChangeMessage"]
    assert records[1].mc[0]["marketDefinition"]["venue"] == "Åsgårdstrand"


def test_lines_are_decoded_as_they_are_reached() -> None:
    decoded = BetfairDecoder(1 << 20).feed(LINES + b"not json\r\n", 1.0)
    assert len(decoded) == 3
    records = list(decoded)
    assert isinstance(records[2], ProtocolError) and records[2].raw == b"not json"


def test_the_handshake_reads_connection_sends_authentication_then_awaits_its_status() -> None:
    a = adapter()
    connection, auth, status = a.handshake()
    assert isinstance(connection, Await) and isinstance(auth, Send) and isinstance(status, Await)
    facts: Dict[str, Any] = {}
    assert connection.accept(decode_line(b'{"op":"connection","connectionId":"001-9"}', 1.0), facts) == DONE
    assert facts["session_id"] == "001-9"
    line = auth.build(facts)
    assert b'"op":"authentication"' in line and b'"id":0' in line and line.endswith(b"\r\n")
    assert "token-5678" not in repr(line) and "key-" in repr(line)
    ok = decode_line(b'{"op":"status","id":0,"statusCode":"SUCCESS","connectionsAvailable":4}', 1.0)
    assert status.accept(ok, facts) == DONE and facts["connections_available"] == 4
    refused = decode_line(b'{"op":"status","id":0,"statusCode":"FAILURE","errorCode":"NOT_AUTHORIZED"}', 1.0)
    end = status.accept(refused, {})
    assert isinstance(end, End) and end.kind is CloseKind.FATAL and end.code == "NOT_AUTHORIZED"


@pytest.mark.parametrize(
    "code, kind",
    [
        ("NO_APP_KEY", CloseKind.FATAL),
        ("INVALID_APP_KEY", CloseKind.FATAL),
        ("NOT_AUTHORIZED", CloseKind.FATAL),
        ("NO_SESSION", CloseKind.REFRESH),
        ("INVALID_SESSION_INFORMATION", CloseKind.REFRESH),
        ("MAX_CONNECTION_LIMIT_EXCEEDED", CloseKind.WAIT),
        ("TOO_MANY_REQUESTS", CloseKind.WAIT),
        ("TIMEOUT", CloseKind.RETRY),
        ("UNEXPECTED_ERROR", CloseKind.RETRY),
        ("CONNECTION_FAILED", CloseKind.RETRY),
        ("INVALID_CLOCK", CloseKind.RETRY),
        ("INVALID_INPUT", CloseKind.RETRY),
        ("INVALID_REQUEST", CloseKind.RETRY),
        ("SOMETHING_NEW", CloseKind.RETRY),
    ],
)
def test_every_code_is_a_typed_close(code: str, kind: CloseKind) -> None:
    status = decode_line(
        b'{"op":"status","id":3,"statusCode":"FAILURE","errorCode":"%s","connectionClosed":true}' % code.encode(), 1.0
    )
    end = adapter().closing_of(status)
    assert end is not None and end.kind is kind and end.code == code


def test_the_subscription_limit_is_an_error_of_the_request_not_a_close() -> None:
    status = decode_line(
        b'{"op":"status","id":3,"statusCode":"FAILURE","errorCode":"SUBSCRIPTION_LIMIT_EXCEEDED",'
        b'"connectionClosed":false}', 1.0
    )
    a = adapter()
    assert a.closing_of(status) is None
    request_id, error = a.response_of(status)
    assert request_id == 3 and error is not None and error.code == "SUBSCRIPTION_LIMIT_EXCEEDED"


def test_refresh_asks_the_provider_and_says_so_without_one() -> None:
    tokens: List[str] = ["new-token"]
    a = adapter(session_token=None, session_provider=tokens.pop)
    a.refresh_credentials()
    assert a._token == "new-token"
    from imgfeed.errors import AuthenticationError

    with pytest.raises(AuthenticationError, match="no session_provider"):
        adapter().refresh_credentials()
    assert isinstance(decode_line(b'{"op":"status","id":1,"statusCode":"SUCCESS"}', 1.0), StatusMessage)
