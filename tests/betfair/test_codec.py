"""decode_line never raises and names what is wrong; the encoders write the schema's requests."""

import json
import logging
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgfeed.errors import ProtocolError
from imgfeed.feeds.betfair.protocol import codec
from imgfeed.feeds.betfair.protocol.codec import decode_line
from imgfeed.feeds.betfair.protocol.messages import (
    ConnectionMessage,
    MarketChangeMessage,
    OrderChangeMessage,
    StatusMessage,
    Unknown,
)

from .helpers import DATA


def _line(obj) -> bytes:
    return json.dumps(obj).encode()


def test_connection():
    record = decode_line((DATA / "streaming_connection.json").read_bytes(), 12.5)
    assert record == ConnectionMessage(
        connection_id="002-051134157842-432409", received_at=0.0, raw=record.raw
    )
    assert record.received_at == 12.5


def test_status_with_every_field():
    raw = {
        "op": "status",
        "id": 3,
        "statusCode": "FAILURE",
        "errorCode": "SUBSCRIPTION_LIMIT_EXCEEDED",
        "errorMessage": "too many",
        "connectionClosed": False,
        "connectionId": "abc",
        "connectionsAvailable": 9,
    }
    record = decode_line(_line(raw), 1.0)
    assert isinstance(record, StatusMessage)
    assert (record.id, record.status_code, record.error_code, record.error_message) == (
        3,
        "FAILURE",
        "SUBSCRIPTION_LIMIT_EXCEEDED",
        "too many",
    )
    assert (record.connection_closed, record.connection_id, record.connections_available) == (False, "abc", 9)
    assert record.raw == raw


def test_status_defaults():
    record = decode_line((DATA / "streaming_status.json").read_bytes(), 0.0)
    assert isinstance(record, StatusMessage) and record.is_success
    assert record.error_code is None and record.connection_closed is False


def test_mcm_envelope_and_changes_are_kept_as_decoded():
    raw = (DATA / "streaming_mcm_SUB_IMAGE.json").read_bytes()
    record = decode_line(raw + b"\r\n", 7.0)
    assert isinstance(record, MarketChangeMessage)
    assert (record.id, record.ct, record.clk, record.initial_clk) == (2, "SUB_IMAGE", "AAAAAAAA", "ab34r43r")
    assert (record.pt, record.heartbeat_ms, record.conflate_ms) == (1471370159007, 5000, 0)
    assert record.segment_type is None and record.status is None
    assert record.mc is record.raw["mc"]
    assert record.mc[0]["id"] == "1.126235656"


def test_heartbeat_and_503_have_no_changes():
    heartbeat = decode_line((DATA / "streaming_mcm_HEARTBEAT.json").read_bytes(), 0.0)
    assert heartbeat.is_heartbeat and heartbeat.mc == []
    stale = decode_line((DATA / "streaming_503.json").read_bytes(), 0.0)
    assert stale.is_stale and stale.mc == []


def test_ocm():
    record = decode_line((DATA / "streaming_ocm_FULL_IMAGE.json").read_bytes(), 0.0)
    assert isinstance(record, OrderChangeMessage)
    assert record.oc[0]["id"] == "1.161613698" and record.id == 3


@pytest.mark.parametrize("op", ["rcm", "ccm", "somethingNew"])
def test_an_op_we_do_not_model_is_delivered_as_unknown(op):
    record = decode_line(_line({"op": op, "id": 1, "rc": [{"mid": "1.2"}]}), 3.0)
    assert isinstance(record, Unknown)
    assert record.op == op and record.raw["rc"] == [{"mid": "1.2"}] and record.received_at == 3.0


@pytest.mark.parametrize(
    "line, reason",
    [
        (b"", "not JSON"),
        (b"{", "not JSON"),
        (b'{"op":"mcm"} trailing', "not JSON"),
        (b'{"op":"connection","connectionId":"caf\xe9"}', "not JSON"),  # Latin-1, not UTF-8
        (b"[1,2]", "not a JSON object but list"),
        (b'"mcm"', "not a JSON object but str"),
        (b'{"id":1}', "no 'op' in message"),
        (b'{"op":null}', "no 'op' in message"),
        (b'{"op":5}', "op: expected a string, got int"),
        (
            b'{"op":"connection","connectionId":5}',
            "bad connection: connectionId: expected a string, got int 5",
        ),
        (b'{"op":"status","id":"2"}', "bad status: id: expected an integer, got str '2'"),
        (b'{"op":"status","connectionClosed":"yes"}', "bad status: connectionClosed: expected true or false"),
        (
            b'{"op":"status","connectionsAvailable":1.5}',
            "bad status: connectionsAvailable: expected an integer",
        ),
        (b'{"op":"mcm","id":true}', "bad mcm: id: expected an integer, got bool True"),
        (b'{"op":"mcm","ct":1}', "bad mcm: ct: expected a string, got int 1"),
        (b'{"op":"mcm","clk":1}', "bad mcm: clk: expected a string"),
        (b'{"op":"mcm","initialClk":[]}', "bad mcm: initialClk: expected a string"),
        (b'{"op":"mcm","pt":"1"}', "bad mcm: pt: expected epoch milliseconds, got str '1'"),
        (b'{"op":"mcm","pt":1e300}', "bad mcm: pt: expected epoch milliseconds"),
        (b'{"op":"mcm","pt":99999999999999999999}', "bad mcm: pt: expected epoch milliseconds"),
        (b'{"op":"mcm","heartbeatMs":"5"}', "bad mcm: heartbeatMs: expected an integer"),
        (b'{"op":"mcm","conflateMs":0.5}', "bad mcm: conflateMs: expected an integer"),
        (b'{"op":"mcm","segmentType":3}', "bad mcm: segmentType: expected a string"),
        (b'{"op":"mcm","status":"503"}', "bad mcm: status: expected an integer"),
        (b'{"op":"mcm","mc":{}}', "bad mcm: mc: expected a list"),
        (
            b'{"op":"mcm","mc":[{"id":"1.1","rc":[{"id":1,"atb":[[1.5,"x"]]}]}]}',
            "bad mcm: mc[0].rc[0].atb[0][1]: expected a finite size, got str 'x'",
        ),
        (
            b'{"op":"mcm","mc":[{"id":"1.1","rc":[{"id":1,"ltp":NaN}]}]}',
            "bad mcm: mc[0].rc[0].ltp: expected a finite number, got float nan",
        ),
        (
            b'{"op":"ocm","oc":[{"id":"1.1","orc":[{"id":1,"uo":[{"id":5}]}]}]}',
            "bad ocm: oc[0].orc[0].uo[0].id: expected a string, got int 5",
        ),
    ],
)
def test_bad_lines_become_protocol_errors_with_their_bytes(line, reason):
    error = decode_line(line, 0.0)
    assert isinstance(error, ProtocolError)
    assert error.reason.startswith(reason), error.reason
    assert error.raw == line


@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data):
    result = decode_line(data, 0.0)
    assert isinstance(
        result,
        (ProtocolError, ConnectionMessage, StatusMessage, MarketChangeMessage, OrderChangeMessage, Unknown),
    )


_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=10,
)
_keys = st.sampled_from(
    [
        "op",
        "id",
        "ct",
        "clk",
        "initialClk",
        "pt",
        "heartbeatMs",
        "conflateMs",
        "segmentType",
        "status",
        "mc",
        "oc",
        "statusCode",
        "errorCode",
        "connectionClosed",
        "connectionId",
        "connectionsAvailable",
    ]
)


@given(st.sampled_from(["mcm", "ocm", "status", "connection"]), st.dictionaries(_keys, _value, max_size=5))
def test_random_json_objects_never_raise(op, fields):
    fields["op"] = op
    try:
        line = json.dumps(fields).encode()
    except ValueError:
        return
    decode_line(line, 0.0)


# --- requests -------------------------------------------------------------------------------------


def test_requests_are_compact_json_with_crlf():
    assert codec.heartbeat(9) == b'{"op":"heartbeat","id":9}\r\n'
    line = codec.market_subscription(
        4,
        market_filter={"marketIds": ["1.2"], "eventTypeIds": ["7"]},
        market_data_filter={"fields": ["EX_BEST_OFFERS", "EX_MARKET_DEF"], "ladderLevels": 3},
        heartbeat_ms=500,
        conflate_ms=0,
        initial_clk="init/+=",
        clk="clk",
    )
    assert line.endswith(b"\r\n") and b"\n" not in line[:-2] and b" " not in line
    assert json.loads(line) == {
        "op": "marketSubscription",
        "id": 4,
        "marketFilter": {"marketIds": ["1.2"], "eventTypeIds": ["7"]},
        "marketDataFilter": {"fields": ["EX_BEST_OFFERS", "EX_MARKET_DEF"], "ladderLevels": 3},
        "segmentationEnabled": True,
        "heartbeatMs": 500,
        "conflateMs": 0,
        "initialClk": "init/+=",
        "clk": "clk",
    }
    assert b"init/+=" in line  # forward slashes are not escaped


def test_none_arguments_are_left_out():
    assert json.loads(codec.market_subscription(1, segmentation_enabled=None)) == {
        "op": "marketSubscription",
        "id": 1,
    }
    assert json.loads(codec.order_subscription(2)) == {
        "op": "orderSubscription",
        "id": 2,
        "segmentationEnabled": True,
    }


def test_order_subscription():
    line = codec.order_subscription(
        5,
        order_filter={"includeOverallPosition": False, "customerStrategyRefs": ["s1"]},
        segmentation_enabled=False,
        heartbeat_ms=1000,
        initial_clk="i",
        clk="c",
    )
    assert json.loads(line) == {
        "op": "orderSubscription",
        "id": 5,
        "orderFilter": {"includeOverallPosition": False, "customerStrategyRefs": ["s1"]},
        "segmentationEnabled": False,
        "heartbeatMs": 1000,
        "initialClk": "i",
        "clk": "c",
    }


def test_resubscribe_payload_fits_the_encoders():
    from imgfeed.feeds.betfair.protocol.stream import SubscriptionStream

    stream = SubscriptionStream()
    stream.initial_clk, stream.clk = "I", "C"
    assert json.loads(codec.market_subscription(1, **stream.resubscribe_payload()))["clk"] == "C"
    assert json.loads(codec.order_subscription(1, **stream.resubscribe_payload()))["initialClk"] == "I"


APP_KEY = "AbCdEfGhIjKlMnOp"
SESSION = "q9ZxT4vLmW2sPe8RkYb6NcJh3D=="


def test_authentication_bytes_carry_the_secrets():
    line = codec.authentication(1, APP_KEY, SESSION)
    assert json.loads(line) == {"op": "authentication", "id": 1, "appKey": APP_KEY, "session": SESSION}
    assert line.endswith(b"\r\n") and isinstance(line, bytes)


def test_authentication_never_shows_its_secrets(caplog):
    line = codec.authentication(1, APP_KEY, SESSION)
    shown = [
        repr(line),
        str(line),
        f"{line}",
        f"{line!r}",
        "%s %r" % (line, line),
        repr([line]),
        repr({"x": line}),
    ]
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("sent %s / %r", line, line)
    shown.append(caplog.text)
    session_fragments = {SESSION[i : i + 5] for i in range(len(SESSION) - 4)}
    for text in shown:
        assert APP_KEY not in text
        assert not any(fragment in text for fragment in session_fragments), text
    assert "AbCd" in repr(line) and f"{len(SESSION)} chars" in repr(line)


def test_authentication_refuses_pickling():
    with pytest.raises(TypeError, match="secrets"):
        pickle.dumps(codec.authentication(1, APP_KEY, SESSION))
