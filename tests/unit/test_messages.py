"""Records: frozen, slotted, comparable, keeping what they do not model; open enums; market ids."""

from __future__ import annotations

import copy
import doctest
import pickle
from datetime import datetime, timezone
from typing import Any, Type

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgfeed import framing
from imgfeed.feeds.img.protocol import (
    CloseReason,
    Competition,
    Event,
    EventMeta,
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
    enums,
    ids,
    messages,
)
from imgfeed.feeds.img.protocol.messages import raw_market_id
from tests.unit.strategies import SLUG, property_settings

UTC = timezone.utc

RECORD_TYPES = [
    Sport,
    Competition,
    Event,
    MarketType,
    Market,
    MarketUpdate,
    RemoveMarkets,
    Heartbeat,
    InitResponse,
    Response,
    RateLimited,
    ServerClosing,
    Unknown,
]
VALUE_TYPES = [EventMeta, Selection, Settlement]


def test_every_message_kind_of_the_design_has_a_record() -> None:
    # The list of issue 3: one record per message of docs/protocol.md, plus Unknown for anything else.
    assert [cls.__name__ for cls in RECORD_TYPES + VALUE_TYPES] == (
        "Sport Competition Event MarketType Market MarketUpdate RemoveMarkets Heartbeat InitResponse "
        "Response RateLimited ServerClosing Unknown EventMeta Selection Settlement"
    ).split()
    assert set(RECORD_TYPES) == {
        getattr(messages, name)
        for name in messages.__all__
        if isinstance(getattr(messages, name), type) and issubclass(getattr(messages, name), Record)
    } - {Record}


@pytest.mark.parametrize("cls", RECORD_TYPES + VALUE_TYPES + [Record])
def test_records_are_frozen_slotted_attrs_classes(cls: Type[Any]) -> None:
    assert attrs.has(cls)
    assert "__slots__" in cls.__dict__
    params = attrs.fields(cls)
    assert params  # every record has fields
    instance_fields = {a.name: None for a in params if a.default is attrs.NOTHING}
    instance = cls(**instance_fields)
    assert not hasattr(instance, "__dict__")  # slotted all the way down
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(instance, params[0].name, None)


def _sport(**kw: Any) -> Sport:
    fields = dict(
        id="sp.golf",
        name="Golf",
        raw={"mode": "push", "type": "sport", "msg": {"id": "sp.golf", "name": "Golf"}},
    )
    fields.update(kw)
    return Sport(**fields)


def test_records_are_immutable() -> None:
    record = _sport()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        record.name = "Tennis"  # type: ignore[misc]
    with pytest.raises((AttributeError, TypeError)):
        record.colour = "green"  # type: ignore[attr-defined]


def test_equality_ignores_received_at_but_not_raw() -> None:
    a = _sport(received_at=1.0)
    assert a == _sport(received_at=2.0)
    assert a != _sport(raw={"msg": {"id": "sp.golf", "name": "Golf", "icon": "x"}})
    assert a != _sport(name="Golf ")


def test_records_are_hashable_consistently_with_equality() -> None:
    # Records carry a dict (raw); they must still hash, e.g. to deduplicate in a set.
    a, b = _sport(received_at=1.0), _sport(received_at=2.0)
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    update = decode_line(
        b'{"mode": "push", "type": "market_update", '
        b'"msg": {"id": "m", "status": "open", "selections": [{"id": "g:1"}]}}'
    )
    assert hash(update) == hash(update)
    assert hash(update.selections[0]) == hash(update.selections[0])


def test_repr_shows_the_fields_but_not_raw() -> None:
    text = repr(_sport(publish_time=datetime(2025, 1, 1, tzinfo=UTC), received_at=5.0))
    assert text.startswith("Sport(publish_time=datetime.datetime(2025, 1, 1, 0, 0")
    assert "id='sp.golf'" in text and "name='Golf'" in text
    assert "raw=" not in text and "received_at" not in text


def test_evolve_makes_a_changed_copy() -> None:
    a = _sport()
    b = attrs.evolve(a, name="Golf (men)")
    assert (a.name, b.name) == ("Golf", "Golf (men)")


def test_records_pickle_and_copy() -> None:
    # Records cross process boundaries in users' code (multiprocessing, caches).
    record = decode_line(
        b'{"mode": "push", "type": "market_update", "publish_time": "2025-01-01 10:00:00", '
        b'"msg": {"id": "m", "status": "open", "selections": [{"id": "g:1", "price": 2.5}]}}'
    )
    for clone in (pickle.loads(pickle.dumps(record)), copy.copy(record), copy.deepcopy(record)):
        assert clone == record
        assert clone.selections == record.selections


def test_extra_is_the_unmodelled_keys_of_msg() -> None:
    line = b'{"mode": "push", "type": "market", "msg": {"id": "m", "name": "n", "numwinners": 2, "each_way": {"places": 5}, "rule4": null}}'  # noqa: E501
    record = decode_line(line)
    assert record.extra == {"each_way": {"places": 5}, "rule4": None}
    assert record.msg["numwinners"] == 2


def test_extra_of_a_record_whose_msg_is_not_an_object_is_empty() -> None:
    assert decode_line(b'{"mode": "push", "type": "remove_markets", "msg": ["a"]}').extra == {}
    assert decode_line(b'{"mode": "resp", "status": "ok", "msg": "done"}').extra == {}


def test_extra_of_responses_is_their_whole_msg() -> None:
    record = decode_line(b'{"mode": "resp", "status": "ok", "request_id": "1", "msg": {"subscribed": 3}}')
    assert type(record) is Response
    assert record.extra == {"subscribed": 3}


def test_selections_are_built_once() -> None:
    update = decode_line(
        b'{"mode": "push", "type": "market_update", "msg": {"id": "m", "status": "open", '
        b'"selections": [{"id": "g:1", "price": 2.5, "x": 1}, {"id": "g:2"}]}}'
    )
    first = update.selections
    assert update.selections is first
    assert [s.id for s in first] == ["g:1", "g:2"]
    assert first[0].raw == {"id": "g:1", "price": 2.5, "x": 1}
    assert first[1] == Selection(id="g:2", raw={"id": "g:2"})


def test_market_type_id_is_the_mt_tag() -> None:
    def market(tags: Any) -> Market:
        return Market(id="m", name="n", tags=tags)

    assert market(("sp.golf", "mt.winonly", "ev.golf_1100")).market_type_id == "mt.winonly"
    assert market(()).market_type_id is None


def test_response_error_text() -> None:
    assert Response(status="error", raw={"msg": "no such market"}).error_text == "no such market"
    assert Response(status="error", reason="bad filter").error_text == "bad filter"
    assert Response(status="weird").error_text == "status 'weird'"
    assert Response(status="ok").is_ok and not Response(status="error").is_ok


# --- open enums: documented values are members, others stay strings ------------------------------


@pytest.mark.parametrize("enum", [Stage, MarketStatus, CloseReason])
def test_open_enum_parses_known_values_to_members(enum: Any) -> None:
    for member in enum:
        assert enum.parse(member.value) is member
        assert str(member) == member.value
        assert member == member.value  # a str enum: compares equal to the wire value


@pytest.mark.parametrize("enum", [Stage, MarketStatus, CloseReason])
@property_settings
@given(value=st.text(max_size=20))
def test_open_enum_keeps_unknown_values_as_strings(enum: Any, value: str) -> None:
    parsed = enum.parse(value)
    if value in {m.value for m in enum}:
        assert isinstance(parsed, enum)
    else:
        assert parsed == value and type(parsed) is str


def test_enum_values_are_those_of_the_protocol() -> None:
    assert [m.value for m in Stage] == ["pre_play", "in_play", "ended"]
    assert [m.value for m in MarketStatus] == ["open", "suspended", "closed", "settled"]


# --- market ids --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "market_id, shown",
    [
        ("golf_1100_winonly", "golf_1100_winonly"),
        (
            "golf_14754_threeball_hole~7cgolfer_ids~3d24~2c1544~2c1548~7chole_num~3d1~7cround_num~3d1",
            "golf_14754_threeball_hole|golfer_ids=24,1544,1548|hole_num=1|round_num=1",
        ),
        ("a~7Cb", "a|b"),  # either case of hex digit
        ("caf~c3~a9", "café"),  # escaped UTF-8 bytes
        ("50%~7c", "50%|"),  # a literal "%" is not an escape
        ("~", "~"),  # "~" is itself in the slug alphabet: only "~" + two hex digits is an escape
        ("golf~x", "golf~x"),
        ("odd~7", "odd~7"),
        ("a~~7cb", "a~|b"),
        ("bad~ff", "bad\ufffd"),  # not UTF-8: shown with a replacement character, never an error
    ],
)
def test_decode_market_id(market_id: str, shown: str) -> None:
    assert decode_market_id(market_id) == shown


@property_settings
@given(st.text(SLUG, max_size=40))
def test_decode_market_id_never_raises_and_leaves_ids_without_escapes_alone(market_id: str) -> None:
    shown = decode_market_id(market_id)
    assert isinstance(shown, str)
    if "~" not in market_id:
        assert shown == market_id


@property_settings
@given(st.text(st.characters(codec="utf-8"), max_size=20))
def test_decode_market_id_inverts_the_escaping(text: str) -> None:
    """Escape every byte outside the slug alphabet (and "~") as docs/protocol.md describes; decode it back."""
    safe = set(SLUG) - {"~"}
    escaped = "".join(ch if ch in safe else "".join(f"~{b:02x}" for b in ch.encode()) for ch in text)
    assert decode_market_id(escaped) == text


def _escape_as_the_server_does(text: str) -> str:
    """Escape every byte outside the slug alphabet; "~" is in it (docs/protocol.md section 5)."""
    return "".join(ch if ch in SLUG else "".join(f"~{b:02x}" for b in ch.encode()) for ch in text)


@property_settings
@given(st.text(st.characters(codec="utf-8"), max_size=30))
def test_raw_market_id_inverts_decode_market_id_for_raw_ids(text: str) -> None:
    raw = _escape_as_the_server_does(text)
    shown = decode_market_id(raw)
    assert raw_market_id(raw) == raw  # a raw id is never altered
    if shown == text:  # a "~" before two hex digits in the text makes the raw form ambiguous
        assert raw_market_id(shown) == raw


@property_settings
@given(st.text(st.characters(codec="utf-8"), max_size=30))
def test_raw_market_id_always_gives_an_id_that_decodes_to_the_text(text: str) -> None:
    raw = raw_market_id(text)
    assert all(ch in SLUG for ch in raw)
    if any(ch not in SLUG for ch in text):
        assert decode_market_id(raw) == text


@pytest.mark.parametrize(
    "given_id, raw",
    [
        ("golf_6005_matchbet~7cgolfer_ids~3d9548~2c14689", "golf_6005_matchbet~7cgolfer_ids~3d9548~2c14689"),
        ("golf_6005_matchbet|golfer_ids=9548,14689", "golf_6005_matchbet~7cgolfer_ids~3d9548~2c14689"),
        ("golf_1100_winonly", "golf_1100_winonly"),
        ("a~7Cb", "a~7Cb"),  # raw, with upper-case hex: kept exactly as given
        ("a~|b", "a~~7cb"),  # a lone "~" stays a "~"
        ("x~7c|", "x~7e7c~7c"),  # a "~" that would read as an escape is escaped itself
        ("café|1", "caf~c3~a9~7c1"),
    ],
)
def test_raw_market_id(given_id: str, raw: str) -> None:
    assert raw_market_id(given_id) == raw


@pytest.mark.parametrize("module", [messages, enums, ids, framing], ids=lambda m: m.__name__)
def test_docstring_examples_run(module: Any) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
