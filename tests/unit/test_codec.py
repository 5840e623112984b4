"""The codec: every documented message decodes to its record, and bad input becomes a value.

The examples are copied verbatim from ``docs/protocol.md``. Where the document shows only
the ``msg`` of a push (the table of section 5), the test wraps that text, unchanged, in the envelope
of section 5. Where the document writes a placeholder (``"..."``, ``"<id>"``, ``"<reason>"``) the
test puts a concrete value of the documented form in its place; that is the only change.
"""

from __future__ import annotations

import ast
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List, Tuple, Type

import pytest
import ujson
from hypothesis import given
from hypothesis import strategies as st

from imgfeed.errors import LineTooLongError, ProtocolError
from imgfeed.feeds.img.protocol import (
    RATE_LIMIT_MESSAGE,
    CloseReason,
    Competition,
    Event,
    EventMeta,
    FeedDecoder,
    Heartbeat,
    InitResponse,
    Market,
    MarketStatus,
    MarketType,
    MarketUpdate,
    RateLimited,
    Record,
    RemoveMarkets,
    Response,
    Selection,
    ServerClosing,
    Settlement,
    Sport,
    Stage,
    Unknown,
    decode_line,
    decode_market_id,
    encode_message,
    format_timestamp,
    parse_timestamp,
)
from tests.unit.strategies import (
    aware_datetimes,
    chunkings,
    property_settings,
    server_messages,
    streams,
    timestamps,
    utc_datetimes,
)

UTC = timezone.utc
PT = "2025-03-14 08:50:11.331473"  # the timestamp of docs/protocol.md section 3
PT_DT = datetime(2025, 3, 14, 8, 50, 11, 331473, tzinfo=UTC)
LONG_ID = "golf_14754_threeball_hole~7cgolfer_ids~3d24~2c1544~2c1548~7chole_num~3d1~7cround_num~3d1"


def push(kind: str, msg_json: str, publish_time: str = PT) -> bytes:
    """The section 5 envelope around a ``msg`` copied verbatim from the document."""
    return (
        f'{{"mode": "push", "type": "{kind}", "publish_time": "{publish_time}", "msg": {msg_json}}}'.encode()
    )


def decoded(line: bytes, record_type: Type[Record]) -> Any:
    """Decode ``line``, check the type and the common fields, and return the record."""
    record = decode_line(line, received_at=1234.5)
    assert type(record) is record_type, record
    assert record.raw == ujson.loads(line)
    assert record.received_at == 1234.5
    return record


# --- section 4: session start ------------------------------------------------------------------


def test_init_response() -> None:
    line = b'{"mode": "resp", "status": "session initialized", "session_id": "66193235-937c-4591-a301-33d7251ce8b6", "publish_time": "2025-03-14 08:50:11.331473", "reason": null}'  # noqa: E501
    r = decoded(line, InitResponse)
    assert r.session_id == "66193235-937c-4591-a301-33d7251ce8b6"
    assert r.status == "session initialized"
    assert r.reason is None
    assert r.request_id is None
    assert r.publish_time == PT_DT
    assert r.publish_time.tzinfo is UTC
    assert r.msg is None and r.extra == {}
    assert r.is_recovery is False


def test_init_response_echoing_a_request_id() -> None:
    line = b'{"mode": "resp", "status": "session initialized", "session_id": "s-1", "request_id": "1", "publish_time": "2025-03-14 08:50:11"}'  # noqa: E501
    r = decoded(line, InitResponse)
    assert (r.session_id, r.request_id) == ("s-1", "1")
    assert r.publish_time == datetime(2025, 3, 14, 8, 50, 11, tzinfo=UTC)


# --- section 5: the offering, in snapshot order --------------------------------------------------


def test_sport() -> None:
    r = decoded(push("sport", '{"id": "sp.golf", "name": "Golf"}'), Sport)
    assert (r.id, r.name) == ("sp.golf", "Golf")
    assert r.publish_time == PT_DT
    assert r.msg == {"id": "sp.golf", "name": "Golf"}
    assert r.extra == {}


def test_competition() -> None:
    r = decoded(
        push(
            "competition", '{"id": "comp.golf_1", "name": "PGA Tour", "sport_id": "sp.golf", "arena_id": "1"}'
        ),
        Competition,
    )
    assert (r.id, r.name, r.sport_id, r.arena_id, r.start_time) == (
        "comp.golf_1",
        "PGA Tour",
        "sp.golf",
        "1",
        None,
    )
    assert r.extra == {}


@pytest.mark.parametrize(
    "start_json, expected",
    [
        ("null", None),
        ('"2025-01-16 00:00:00.000000"', datetime(2025, 1, 16, tzinfo=UTC)),
        ('"2025-01-16 00:00:00"', datetime(2025, 1, 16, tzinfo=UTC)),
    ],
)
def test_competition_start_time_may_be_null(start_json: str, expected: Any) -> None:
    # docs/protocol.md section 5: "may have a start time that may be null"
    msg = (
        '{"id": "comp.golf_1", "name": "PGA Tour", "sport_id": "sp.golf", "arena_id": "1", "start_time": %s}'
    )
    r = decoded(push("competition", msg % start_json), Competition)
    assert r.start_time == expected


def test_event() -> None:
    msg = '{"id": "ev.golf_1100", "name": "THE PLAYERS Championship", "competition_id": "comp.golf_1", "arena_competition_id": "1", "arena_id": "1100", "start_time": "2025-03-13 11:40:00.000000", "stage": "in_play", "meta": [{"event_id": "1100", "offering_levels": ["M1"]}]}'  # noqa: E501
    r = decoded(push("event", msg), Event)
    assert r.id == "ev.golf_1100"
    assert r.name == "THE PLAYERS Championship"
    assert r.competition_id == "comp.golf_1"
    assert r.arena_competition_id == "1"
    assert r.arena_id == "1100"
    assert r.start_time == datetime(2025, 3, 13, 11, 40, tzinfo=UTC)
    assert r.stage is Stage.IN_PLAY
    assert r.meta == (EventMeta(event_id="1100", offering_levels=("M1",)),)
    assert r.extra == {}


@pytest.mark.parametrize(
    "stage_json, expected",
    [('"pre_play"', Stage.PRE_PLAY), ('"in_play"', Stage.IN_PLAY), ('"ended"', Stage.ENDED), ("null", None)],
)
def test_event_nullable_fields(stage_json: str, expected: Any) -> None:
    # "competition_id, start_time and stage may be null; stage is pre_play, in_play, ended or null"
    msg = '{"id": "ev.golf_1100", "name": "X", "competition_id": null, "start_time": null, "stage": %s}'
    r = decoded(push("event", msg % stage_json), Event)
    assert (r.competition_id, r.start_time, r.stage) == (None, None, expected)
    assert r.meta == ()


def test_event_with_an_undocumented_stage_keeps_the_string() -> None:
    r = decoded(push("event", '{"id": "ev.1", "name": "X", "stage": "abandoned"}'), Event)
    assert r.stage == "abandoned" and not isinstance(r.stage, Stage)


def test_market_type() -> None:
    r = decoded(push("market_type", '{"id": "mt.winonly", "name": "Win Only (no each-way)"}'), MarketType)
    assert (r.id, r.name, r.extra) == ("mt.winonly", "Win Only (no each-way)", {})


def test_market() -> None:
    msg = '{"id": "golf_1100_winonly", "arena_id": "m-1", "name": "Win Only", "event_id": "ev.golf_1100", "arena_event_id": 1100, "tags": ["sp.golf", "mt.winonly", "ev.golf_1100", "comp.golf_1"], "start_time": "2025-03-13 11:40:00.000000", "stage": "pre_play", "numwinners": 1}'  # noqa: E501
    r = decoded(push("market", msg), Market)
    assert r.id == "golf_1100_winonly"
    assert r.arena_id == "m-1"
    assert r.name == "Win Only"
    assert r.event_id == "ev.golf_1100"
    assert r.arena_event_id == 1100  # an integer in the document; kept as sent
    assert r.tags == ("sp.golf", "mt.winonly", "ev.golf_1100", "comp.golf_1")
    assert r.market_type_id == "mt.winonly"
    assert r.start_time == datetime(2025, 3, 13, 11, 40, tzinfo=UTC)
    assert r.stage is Stage.PRE_PLAY
    assert r.numwinners == 1
    assert r.extra == {}


def test_long_market_id_is_kept_as_sent_and_decodes_for_display() -> None:
    msg = '{"id": "%s", "name": "3 Ball"}' % LONG_ID
    r = decoded(push("market", msg), Market)
    assert r.id == LONG_ID
    assert (
        decode_market_id(r.id) == "golf_14754_threeball_hole|golfer_ids=24,1544,1548|hole_num=1|round_num=1"
    )


def test_heartbeat() -> None:
    r = decoded(push("heartbeat", '{"timestamp": "2025-01-01 10:00:00.000000"}'), Heartbeat)
    assert r.timestamp == datetime(2025, 1, 1, 10, tzinfo=UTC)
    assert r.publish_time == PT_DT
    assert r.extra == {}


@pytest.mark.parametrize(
    "ids_json, expected",
    [
        ('["golf_14754_threeball_hole~7c..."]', ("golf_14754_threeball_hole~7c...",)),
        ('["%s", "golf_1100_winonly"]' % LONG_ID, (LONG_ID, "golf_1100_winonly")),
        ("[]", ()),
    ],
)
def test_remove_markets(ids_json: str, expected: Tuple[str, ...]) -> None:
    r = decoded(push("remove_markets", ids_json), RemoveMarkets)
    assert r.market_ids == expected
    assert r.extra == {}


@pytest.mark.parametrize("flag, expected", [("true", True), ("false", False)])
def test_is_recovery(flag: str, expected: bool) -> None:
    line = b'{"mode": "push", "type": "sport", "publish_time": "%s", "is_recovery": %s, "msg": {"id": "sp.golf", "name": "Golf"}}'  # noqa: E501
    r = decoded(line % (PT.encode(), flag.encode()), Sport)
    assert r.is_recovery is expected


# --- section 5 settlement and section 6 market_update -------------------------------------------


def test_market_update() -> None:
    msg = '{"id": "golf_1100_winonly", "status": "open", "selections": [{"id": "g:3715", "name": "Seamus Power", "price": 9.5, "status": "open", "settlement": null}]}'  # noqa: E501
    r = decoded(push("market_update", msg), MarketUpdate)
    assert r.market_id == "golf_1100_winonly"
    assert r.status is MarketStatus.OPEN
    assert not r.is_settled
    [s] = r.selections
    assert s == Selection(
        id="g:3715",
        name="Seamus Power",
        price=9.5,
        status=MarketStatus.OPEN,
        settlement=None,
        raw={"id": "g:3715", "name": "Seamus Power", "price": 9.5, "status": "open", "settlement": None},
    )
    assert r.selection("g:3715") is s
    assert r.selection("g:1") is None
    assert r.extra == {}


def test_settled_market_update_with_the_documented_settlement() -> None:
    msg = (
        '{"id": "golf_1100_winonly", "status": "settled", "selections": ['
        '{"id": "g:1", "price": null, "status": "settled", '
        '"settlement": {"stake_returned": 0.0, "payout_returned": 0.5}}, '
        '{"id": "g:2", "price": null, "status": "settled", '
        '"settlement": {"stake_returned": 0.0, "payout_returned": 1.0}}, '
        '{"id": "g:3", "price": null, "status": "settled", '
        '"settlement": {"stake_returned": 0.0, "payout_returned": 0.0}}, '
        '{"id": "g:4", "price": null, "status": "settled", '
        '"settlement": {"stake_returned": 1.0, "payout_returned": 0.0}}]}'
    )
    r = decoded(push("market_update", msg), MarketUpdate)
    assert r.status is MarketStatus.SETTLED and r.is_settled
    dead_heat, winner, loser, void = (s.settlement for s in r.selections)
    assert dead_heat == Settlement(stake_returned=0.0, payout_returned=0.5)
    assert (dead_heat.is_winner, dead_heat.is_void) == (True, False)
    assert (winner.is_winner, winner.is_void) == (True, False)
    assert (loser.is_winner, loser.is_void) == (False, False)
    assert (void.is_winner, void.is_void) == (False, True)
    assert all(s.price is None for s in r.selections)


@pytest.mark.parametrize("status", ["open", "suspended", "closed", "settled"])
def test_market_update_statuses(status: str) -> None:
    r = decoded(push("market_update", '{"id": "m", "status": "%s"}' % status), MarketUpdate)
    assert r.status is MarketStatus(status)
    assert r.selections == ()


def test_integer_prices_and_settlements_become_floats() -> None:
    msg = '{"id": "m", "status": "open", "selections": [{"id": "g:1", "price": 3, "settlement": {"stake_returned": 1, "payout_returned": 0}}]}'  # noqa: E501
    [s] = decoded(push("market_update", msg), MarketUpdate).selections
    assert s.price == 3.0 and type(s.price) is float
    assert s.settlement == Settlement(stake_returned=1.0, payout_returned=0.0)
    assert type(s.settlement.stake_returned) is float


def test_subscribe_response() -> None:
    line = (
        b'{"mode": "resp", "status": "ok", "request_id": "7", "publish_time": "2025-03-14 08:50:11.331473"}'
    )
    r = decoded(line, Response)
    assert (r.status, r.request_id, r.reason, r.is_ok) == ("ok", "7", None, True)
    assert r.publish_time == PT_DT


def test_error_response_that_is_not_a_rate_limit() -> None:
    line = (
        b'{"mode": "resp", "status": "error", "msg": "unknown request", "request_id": "8", "reason": "bad"}'
    )
    r = decoded(line, Response)
    assert not r.is_ok
    assert r.error_text == "unknown request; bad"
    assert r.publish_time is None


# --- section 7: errors and rate limits -----------------------------------------------------------


@pytest.mark.parametrize("reason", [r.value for r in CloseReason])
def test_error_push_with_every_documented_reason(reason: str) -> None:
    line = '{"mode": "push", "status": "error", "session_id": "66193235-937c-4591-a301-33d7251ce8b6", "reason": "%s", "publish_time": "2025-03-14 08:50:11.331473"}'  # noqa: E501
    r = decoded((line % reason).encode(), ServerClosing)
    assert r.reason is CloseReason(reason)
    assert r.session_id == "66193235-937c-4591-a301-33d7251ce8b6"
    assert r.publish_time == PT_DT


def test_documented_close_reasons_are_exactly_those_of_section_7() -> None:
    assert {r.value for r in CloseReason} == {
        "no init sent",
        "max connections hit",
        "connection rate limit hit",
        "slow reader",
        "internal disconnection requested",
        "service error",
    }


def test_error_push_with_an_unknown_reason_keeps_the_string() -> None:
    line = b'{"mode": "push", "status": "error", "session_id": "s", "reason": "maintenance", "publish_time": "2025-03-14 08:50:11"}'  # noqa: E501
    r = decoded(line, ServerClosing)
    assert r.reason == "maintenance" and not isinstance(r.reason, CloseReason)


@pytest.mark.parametrize("rid_json, expected", [(', "request_id": "42"', "42"), ("", None)])
def test_rate_limited(rid_json: str, expected: Any) -> None:
    line = '{"mode": "resp", "status": "error", "msg": "API limit breached"%s, "publish_time": "2025-03-14 08:50:11.331473"}'  # noqa: E501
    r = decoded((line % rid_json).encode(), RateLimited)
    assert r.request_id == expected
    assert r.publish_time == PT_DT
    assert RATE_LIMIT_MESSAGE == "API limit breached"


# --- section 9: the Mustard era --------------------------------------------------------------------


def test_mustard_heartbeat_without_publish_time() -> None:
    r = decoded(
        b'{"mode": "push", "type": "heartbeat", "msg": {"timestamp": "2025-01-01 10:00:00.000000"}}',
        Heartbeat,
    )
    assert r.publish_time is None
    assert r.timestamp == datetime(2025, 1, 1, 10, tzinfo=UTC)


def test_mustard_heartbeat_without_anything() -> None:
    r = decoded(b'{"mode": "push", "type": "heartbeat"}', Heartbeat)
    assert (r.publish_time, r.timestamp) == (None, None)


def test_mustard_event_and_market_without_arena_fields() -> None:
    ev = decoded(
        b'{"mode": "push", "type": "event", "msg": {"id": "ev.golf_1100", '
        b'"name": "THE PLAYERS Championship", '
        b'"competition_id": "comp.golf_1", "start_time": "2025-03-13 11:40:00.000000", "stage": "in_play"}}',
        Event,
    )
    assert (ev.arena_id, ev.arena_competition_id, ev.meta, ev.publish_time) == (None, None, (), None)
    mk = decoded(
        b'{"mode": "push", "type": "market", "msg": {"id": "golf_1100_winonly", "name": "Win Only", '
        b'"event_id": "ev.golf_1100", "tags": ["mt.winonly"], "numwinners": 1}}',
        Market,
    )
    assert (mk.arena_id, mk.arena_event_id, mk.start_time, mk.stage) == (None, None, None, None)


# --- tolerance: unknown keys and kinds are kept, never an error ----------------------------------


def test_unmodelled_keys_are_kept_in_extra_and_raw() -> None:
    line = b'{"mode": "push", "type": "sport", "publish_time": "2025-03-14 08:50:11", "sequence": 9, "msg": {"id": "sp.golf", "name": "Golf", "icon": "\xe2\x9b\xb3"}}'  # noqa: E501
    r = decoded(line, Sport)
    assert r.extra == {"icon": "⛳"}
    assert r.raw["sequence"] == 9


def test_unknown_push_type_is_delivered() -> None:
    r = decoded(b'{"mode": "push", "type": "golfer_scores", "msg": {"a": 1}}', Unknown)
    assert (r.mode, r.type, r.msg) == ("push", "golfer_scores", {"a": 1})


def test_push_without_type_that_is_not_an_error_is_unknown() -> None:
    r = decoded(b'{"mode": "push", "status": "ok"}', Unknown)
    assert (r.mode, r.type) == ("push", None)


def test_names_may_hold_any_unicode() -> None:
    name = "Ludvig Åberg 🏌️ — 松山英樹"
    r = decoded(
        encode_message({"mode": "push", "type": "sport", "msg": {"id": "sp.golf", "name": name}})[:-1], Sport
    )
    assert r.name == name


# --- item 4: bad input becomes a ProtocolError value ---------------------------------------------


def selection(text: bytes) -> bytes:
    """A market_update line with one selection, given as JSON text."""
    return (
        b'{"mode": "push", "type": "market_update", "msg": {"id": "m", "status": "open", "selections": [%s]}}'
        % text
    )


BAD_LINES: List[Tuple[bytes, str]] = [
    (b'{"mode": "push", "type": "sport", "msg": {"id": "sp.golf", "name": "Gol\xff"}}', "invalid JSON"),
    (b'{"mode": "push", "type": "sport", "msg": {"id": "sp.golf", "name": "Gol\xe2\x82"}}', "invalid JSON"),
    (b"\xff\xfe{}", "invalid JSON"),
    (b"not json", "invalid JSON"),
    (b'{"mode": "push"', "invalid JSON"),
    (b'{"mode": "push"} {"mode": "push"}', "invalid JSON"),
    (b"[" * 100_000, "invalid JSON"),  # nesting past ujson's depth limit, not a RecursionError
    (b"[1, 2]", "expected a JSON object, got list"),
    (b'"push"', "expected a JSON object, got str"),
    (b"42", "expected a JSON object, got int"),
    (b"null", "expected a JSON object, got NoneType"),
    (b"{}", 'no "mode"'),
    (b'{"type": "heartbeat"}', 'no "mode"'),
    (b'{"mode": "pull"}', "unknown mode 'pull'"),
    (b'{"mode": ["push"]}', "unknown mode ['push']"),
    (b'{"mode": "push", "type": ["sport"]}', "type must be a string"),
    (b'{"mode": "push", "type": {"a": 1}}', "type must be a string"),
    (b'{"mode": "push", "type": 7}', "type must be a string"),
    (b'{"mode": "push", "type": "sport", "msg": {"name": "Golf"}}', "missing id"),
    (b'{"mode": "push", "type": "sport", "msg": {"id": 1, "name": "Golf"}}', "id must be a string, got int"),
    (b'{"mode": "push", "type": "sport", "msg": "Golf"}', "msg must be an object, got str"),
    (b'{"mode": "push", "type": "sport"}', "msg must be an object, got NoneType"),
    (
        b'{"mode": "push", "type": "heartbeat", "publish_time": "yesterday"}',
        "publish_time is not a timestamp",
    ),
    (
        b'{"mode": "push", "type": "heartbeat", "publish_time": 1700000000}',
        "publish_time must be a timestamp string",
    ),
    (
        b'{"mode": "push", "type": "heartbeat", "msg": {"timestamp": "2025-13-01 00:00:00"}}',
        "timestamp is not a timestamp",
    ),
    (b'{"mode": "push", "type": "heartbeat", "msg": []}', "msg must be an object"),
    # An offset that moves the time before year 1 or after 9999 cannot be represented in UTC.
    (
        b'{"mode": "push", "type": "heartbeat", "publish_time": "0001-01-01 00:00:00+01:00"}',
        "publish_time is not a timestamp",
    ),
    (
        b'{"mode": "push", "type": "heartbeat", "publish_time": "9999-12-31 23:00:00-02:00"}',
        "publish_time is not a timestamp",
    ),
    (
        b'{"mode": "push", "type": "competition", "msg": {"id": "c", "name": "n", "arena_id": 1.5}}',
        "arena_id must be a string or integer",
    ),
    (
        b'{"mode": "push", "type": "event", "msg": {"id": "e", "name": "n", "stage": 3}}',
        "stage must be a string or null",
    ),
    (
        b'{"mode": "push", "type": "event", "msg": {"id": "e", "name": "n", "meta": {}}}',
        "meta must be a list",
    ),
    (
        b'{"mode": "push", "type": "event", "msg": {"id": "e", "name": "n", "meta": [1]}}',
        "meta items must be objects",
    ),
    (
        b'{"mode": "push", "type": "event", "msg": {"id": "e", "name": "n", '
        b'"meta": [{"offering_levels": "M1"}]}}',
        "offering_levels must be a list of strings",
    ),
    (
        b'{"mode": "push", "type": "market", "msg": {"id": "m", "name": "n", "numwinners": "1"}}',
        "numwinners must be an integer",
    ),
    (
        b'{"mode": "push", "type": "market", "msg": {"id": "m", "name": "n", "numwinners": true}}',
        "numwinners must be an integer",
    ),
    (
        b'{"mode": "push", "type": "market", "msg": {"id": "m", "name": "n", "tags": "mt.x"}}',
        "tags must be a list of strings",
    ),
    (
        b'{"mode": "push", "type": "market", "msg": {"id": "m", "name": "n", "arena_event_id": [1]}}',
        "arena_event_id must be an integer or string",
    ),
    (b'{"mode": "push", "type": "market_update", "msg": {"status": "open"}}', "missing id"),
    (b'{"mode": "push", "type": "market_update", "msg": {"id": "m"}}', "missing status"),
    (
        b'{"mode": "push", "type": "market_update", "msg": {"id": "m", "status": "open", "selections": {}}}',
        "selections must be a list",
    ),
    (selection(b'"g:1"'), "selections[0] must be an object"),
    (selection(b'{"price": 2.0}'), "selections[0].id must be a string"),
    (selection(b'{"id": "g:1", "price": "9.5"}'), "selections[0].price must be decimal odds"),
    (selection(b'{"id": "g:1", "price": 0.5}'), "selections[0].price must be decimal odds"),
    (selection(b'{"id": "g:1", "price": NaN}'), "selections[0].price must be decimal odds"),
    (selection(b'{"id": "g:1", "price": 1e400}'), "selections[0].price must be decimal odds"),
    (selection(b'{"id": "g:1", "price": true}'), "selections[0].price must be decimal odds"),
    (selection(b'{"id": "g:1", "price": 1' + b"0" * 400 + b"}"), "selections[0].price must be decimal odds"),
    (selection(b'{"id": "g:1", "name": 5}'), "selections[0].name must be a string"),
    (selection(b'{"id": "g:1", "status": 1}'), "selections[0].status must be a string"),
    (selection(b'{"id": "g:1", "settlement": 1}'), "selections[0].settlement must be an object or null"),
    (
        selection(b'{"id": "g:1", "settlement": {"stake_returned": 0.0}}'),
        "settlement.payout_returned must be a finite number",
    ),
    (
        selection(b'{"id": "g:1", "settlement": {"stake_returned": "1", "payout_returned": 0}}'),
        "settlement.stake_returned must be a finite number",
    ),
    (
        selection(
            b'{"id": "g:1", "settlement": {"stake_returned": 1' + b"0" * 400 + b', "payout_returned": 0}}'
        ),
        "settlement.stake_returned must be a finite number",
    ),
    (
        b'{"mode": "push", "type": "remove_markets", "msg": {"ids": ["m"]}}',
        "msg must be a list of market ids",
    ),
    (b'{"mode": "push", "type": "remove_markets", "msg": ["m", 1]}', "msg must be a list of market ids"),
    (b'{"mode": "push", "status": "error", "session_id": "s"}', "missing reason"),
    (b'{"mode": "push", "status": "error", "reason": 5}', "reason must be a string"),
    (b'{"mode": "resp", "status": 200}', "status must be a string or null"),
    (b'{"mode": "resp", "status": "ok", "request_id": [7]}', "request_id must be a string or integer"),
    (
        b'{"mode": "resp", "status": "session initialized", "session_id": 5}',
        "session_id must be a string or null",
    ),
]


@pytest.mark.parametrize("line, reason", BAD_LINES, ids=[r for _, r in BAD_LINES])
def test_bad_line_becomes_a_protocol_error_naming_the_problem(line: bytes, reason: str) -> None:
    error = decode_line(line)
    assert type(error) is ProtocolError
    assert reason in error.reason
    assert error.raw == line


@pytest.mark.parametrize("line, reason", BAD_LINES, ids=[r for _, r in BAD_LINES])
def test_decoding_goes_on_after_a_bad_line(line: bytes, reason: str) -> None:
    decoder = FeedDecoder()
    heartbeat = b'{"mode": "push", "type": "heartbeat", "publish_time": "2025-01-01 10:00:00"}'
    out = decoder.feed(heartbeat + b"\n" + line + b"\r\n" + heartbeat + b"\n") + decoder.feed(b"")
    assert [type(r) for r in out] == [Heartbeat, ProtocolError, Heartbeat]
    assert reason in out[1].reason and out[1].raw == line


def test_bad_field_error_names_the_message_kind() -> None:
    error = decode_line(b'{"mode": "push", "type": "sport", "msg": {"name": "Golf"}}')
    assert error.reason == "bad sport message: missing id"
    error = decode_line(b'{"mode": "resp", "status": 200}')
    assert error.reason.startswith("bad resp message: ")


def test_invalid_utf8_is_named_as_such() -> None:
    error = decode_line(b'{"mode": "push", "type": "sport", "msg": {"id": "sp.golf", "name": "\xc3"}}')
    assert "UTF-8" in error.reason


def test_over_long_line_through_the_decoder_goes_on_with_the_next_line() -> None:
    decoder = FeedDecoder(max_line_length=80)
    long_line = encode_message({"mode": "push", "type": "sport", "msg": {"id": "sp.golf", "name": "G" * 100}})
    ok = encode_message({"mode": "push", "type": "sport", "msg": {"id": "sp.golf", "name": "Golf"}})
    out = []
    for i in range(0, len(long_line), 7):
        out += decoder.feed(long_line[i : i + 7])
        assert decoder.buffered <= 81
    out += decoder.feed(ok) + decoder.feed(b"")
    assert type(out[0]) is LineTooLongError
    assert out[0].limit == 80 and out[0].length == len(long_line) - 1
    assert out[0].raw == long_line[:-1]
    assert "max_line_length=80" in out[0].reason
    assert type(out[1]) is Sport and out[1].name == "Golf"
    assert len(out) == 2


def test_decoder_skips_blank_lines_and_reports_a_cut_off_last_line() -> None:
    decoder = FeedDecoder()
    out = decoder.feed(b'\n\r\n{"mode": "push", "type": "heartbeat"}\n{"mode": "pu') + decoder.feed(b"")
    assert [type(r) for r in out] == [Heartbeat, ProtocolError]
    assert out[1].raw == b'{"mode": "pu' and "stream ended inside a line" in out[1].reason
    assert "buffered=0" in repr(decoder)


def test_decoder_stamps_received_at() -> None:
    decoder = FeedDecoder()
    [r] = decoder.feed(b'{"mode": "push", "type": "heartbeat"}\n', received_at=99.0)
    assert r.received_at == 99.0


# --- timestamps ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2025-03-14 08:50:11.331473", PT_DT),
        ("2025-03-14 08:50:11", datetime(2025, 3, 14, 8, 50, 11, tzinfo=UTC)),
        ("2025-03-14T08:50:11.331473", PT_DT),
        ("2025-03-14 08:50:11.331473+00:00", PT_DT),
        ("2025-03-14 10:50:11.331473+02:00", PT_DT),
        ("0001-01-01 00:00:00", datetime(1, 1, 1, tzinfo=UTC)),
    ],
)
def test_parse_timestamp(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0) and parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2025-02-30 00:00:00", "0001-01-01 00:00:00+00:01", "9999-12-31 23:59:59-00:01"]
)
def test_parse_timestamp_rejects_with_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)


@pytest.mark.parametrize(
    "dt, text",
    [
        (PT_DT, "2025-03-14 08:50:11.331473"),
        (datetime(2025, 1, 1, 10, tzinfo=UTC), "2025-01-01 10:00:00.000000"),
        (datetime(2025, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))), "2025-01-01 10:00:00.000000"),
        (datetime(2025, 1, 1, 10), "2025-01-01 10:00:00.000000"),  # naive means UTC
        (datetime(999, 1, 1, tzinfo=UTC), "0999-01-01 00:00:00.000000"),  # the year is padded
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01 00:00:00.000000"),
    ],
)
def test_format_timestamp(dt: datetime, text: str) -> None:
    assert format_timestamp(dt) == text


@property_settings
@given(utc_datetimes)
def test_timestamps_round_trip(dt: datetime) -> None:
    assert parse_timestamp(format_timestamp(dt)) == dt


@property_settings
@given(aware_datetimes)
def test_timestamps_in_any_offset_round_trip_to_the_same_instant(dt: datetime) -> None:
    back = parse_timestamp(format_timestamp(dt))
    assert back == dt and back.tzinfo is UTC


@property_settings
@given(timestamps)
def test_feed_timestamps_parse_and_format_back_to_the_feed_form(text: str) -> None:
    formatted = format_timestamp(parse_timestamp(text))
    assert formatted == text if "." in text else formatted == text + ".000000"


# --- properties over whole streams -----------------------------------------------------------------


def _comparable(items: List[Any]) -> List[Tuple[str, str, str]]:
    """Records compared by type, fields and raw dict, via repr (a NaN in raw is then equal to itself)."""
    out = []
    for item in items:
        if isinstance(item, ProtocolError):
            out.append((type(item).__name__, item.reason, repr(item.raw)))
        else:
            out.append((type(item).__name__, repr(item), repr(item.raw)))
    return out


def decode_all(chunks: List[bytes]) -> List[Any]:
    decoder = FeedDecoder(max_line_length=4096)
    out: List[Any] = []
    for chunk in chunks:
        if chunk:
            out += decoder.feed(chunk)
    return out + decoder.feed(b"")


@property_settings
@given(st.data())
def test_any_chunking_decodes_to_the_same_records(data: st.DataObject) -> None:
    stream = data.draw(streams())
    chunks = data.draw(chunkings(stream))
    whole = decode_all([stream])
    assert _comparable(decode_all(chunks)) == _comparable(whole)
    assert all(isinstance(item, (Record, ProtocolError)) for item in whole)


@property_settings
@given(server_messages)
def test_every_generated_message_decodes_to_its_record(pair: Tuple[Dict[str, Any], Type[Record]]) -> None:
    obj, record_type = pair
    line = encode_message(obj)
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    record = decode_line(line[:-1])
    assert type(record) is record_type, record
    assert record.raw == obj
    assert record.is_recovery is (obj.get("is_recovery") is True)
    if "publish_time" in obj:
        assert record.publish_time == parse_timestamp(obj["publish_time"])
    else:
        assert record.publish_time is None
    msg = obj.get("msg")
    if record_type in (Sport, Competition, Event, MarketType, Market):
        assert record.id == msg["id"] and record.name == msg["name"]
        assert all(record.extra[k] == msg[k] for k in ("x_new", "venue", "ordering", "ø") if k in msg)
    if record_type is MarketUpdate:
        assert record.market_id == msg["id"]
        assert [s.id for s in record.selections] == [s["id"] for s in msg.get("selections", [])]
        assert [s.price for s in record.selections] == [
            None if s.get("price") is None else float(s["price"]) for s in msg.get("selections", [])
        ]
    if record_type is RemoveMarkets:
        assert list(record.market_ids) == msg


@property_settings
@given(st.binary(max_size=200))
def test_random_bytes_never_raise(line: bytes) -> None:
    result = decode_line(line)
    assert isinstance(result, (Record, ProtocolError))
    if isinstance(result, ProtocolError):
        assert result.raw == line


@property_settings
@given(st.lists(st.binary(max_size=60), max_size=10), st.integers(min_value=1, max_value=100))
def test_random_streams_only_give_records_and_protocol_errors(chunks: List[bytes], limit: int) -> None:
    decoder = FeedDecoder(max_line_length=limit)
    out: List[Any] = []
    for chunk in chunks:
        if chunk:
            out += decoder.feed(chunk)
    out += decoder.feed(b"")
    assert all(isinstance(item, (Record, ProtocolError)) for item in out)


_json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=5),
    st.sampled_from(["open", "push", "resp"]),
)
_json = st.recursive(
    _json_leaves,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=8,
)
_envelope_keys = [
    "mode",
    "type",
    "msg",
    "publish_time",
    "status",
    "reason",
    "session_id",
    "request_id",
    "is_recovery",
]
_msg_keys = [
    "id",
    "name",
    "status",
    "selections",
    "price",
    "settlement",
    "stake_returned",
    "payout_returned",
    "start_time",
    "stage",
    "meta",
    "offering_levels",
    "tags",
    "numwinners",
    "arena_id",
    "timestamp",
]


@st.composite
def _hostile_objects(draw: st.DrawFn) -> Dict[str, Any]:
    """JSON objects shaped like messages with any value in any known field."""
    msg = draw(st.dictionaries(st.sampled_from(_msg_keys), _json, max_size=6))
    if draw(st.booleans()):
        msg["selections"] = draw(
            st.lists(st.dictionaries(st.sampled_from(_msg_keys), _json, max_size=5), max_size=3)
        )
    obj = draw(st.dictionaries(st.sampled_from(_envelope_keys), _json, max_size=5))
    obj["mode"] = draw(st.sampled_from(["push", "resp", None]))
    obj["type"] = draw(
        st.sampled_from(
            [
                "sport",
                "competition",
                "event",
                "market_type",
                "market",
                "market_update",
                "remove_markets",
                "heartbeat",
                None,
            ]
        )
    )
    obj["msg"] = draw(st.one_of(st.just(msg), _json))
    return obj


@property_settings
@given(_hostile_objects())
def test_known_fields_of_any_type_never_raise(obj: Dict[str, Any]) -> None:
    try:
        line = ujson.dumps(obj).encode()
    except (OverflowError, ValueError):  # e.g. NaN in a value or a huge integer
        line = repr(obj).encode()
    result = decode_line(line)
    assert isinstance(result, (Record, ProtocolError))
    if isinstance(result, MarketUpdate):
        # The codec checked every selection, so building them lazily later cannot fail.
        for s in result.selections:
            assert s.price is None or s.price >= 1.0


# --- the sans-IO contract (docs/contributing.md: "Protocol code does no IO") ------------------------------------

_PACKAGE = Path(__file__).resolve().parents[2] / "imgfeed"
PROTOCOL_DIR = _PACKAGE / "feeds" / "img" / "protocol"

#: Modules the protocol core must not import: no sockets, threads, queues, clocks, processes or logs.
#: Reporting (logging) and time stamping are the runtime's job; ``received_at`` is passed in.
FORBIDDEN_IMPORTS = {
    "socket", "ssl", "select", "selectors", "asyncio", "paramiko", "threading", "_thread", "queue",
    "time", "subprocess", "multiprocessing", "logging",
}  # fmt: skip


def _imported_modules(path: Path) -> List[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: List[str] = []
    for node in ast.walk(tree):  # walk: imports inside functions count too
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize(
    "path", [*sorted(PROTOCOL_DIR.glob("*.py")), _PACKAGE / "framing.py"], ids=lambda p: p.name
)
def test_protocol_modules_do_no_io(path: Path) -> None:
    used = {name.split(".")[0] for name in _imported_modules(path)}
    assert not used & FORBIDDEN_IMPORTS, f"{path.name} imports {sorted(used & FORBIDDEN_IMPORTS)}"
    assert "imgfeed" not in used or all(
        name.startswith(("imgfeed.feeds.img.protocol", "imgfeed.framing", "imgfeed.errors"))
        for name in _imported_modules(path)
        if name.split(".")[0] == "imgfeed"
    ), f"{path.name} depends on the runtime"


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_decoder_takes_any_bytes_like_chunk(kind: type) -> None:
    decoder = FeedDecoder()
    line = b'{"mode": "push", "type": "sport", "msg": {"id": "sp.golf", "name": "Golf"}}\n'
    out = decoder.feed(kind(line[:30])) + decoder.feed(kind(line[30:]))
    assert [type(r) for r in out] == [Sport]
    assert out[0].raw["msg"]["name"] == "Golf"
