"""ImgAdapter: what the runtime learns from the IMG protocol (handshake, roles, responses, closes)."""

from __future__ import annotations

import os
from typing import Any, Dict

import pytest
import ujson

from imgfeed import (
    FeedConfig,
    RateLimitedError,
    RequestError,
)
from imgfeed.feeds.img.adapter import ImgAdapter
from imgfeed.feeds.img.protocol.codec import decode_line
from imgfeed.feeds.img.protocol.messages import MarketUpdate
from imgfeed.runtime.adapter import Role
from imgfeed.runtime.events import DisconnectReason
from imgfeed.runtime.session import DONE, Await, CloseKind, End, Send


def rec(obj: dict) -> Any:
    return decode_line(ujson.dumps(obj).encode())


def adapter(**overrides: Any) -> ImgAdapter:
    values: Dict[str, Any] = dict(
        host="h", username="u", key_filename=os.devnull, known_hosts=None, host_key_policy="insecure-accept-any"
    )
    values.update(overrides)
    return ImgAdapter(FeedConfig(**values))


def test_handshake_is_init_then_its_answer() -> None:
    send, answer = adapter().handshake()
    assert isinstance(send, Send) and isinstance(answer, Await)
    assert ujson.loads(send.build({})) == {"request": "init", "msg": {}}
    (send, _) = adapter(include_finished=True).handshake()
    assert ujson.loads(send.build({}))["msg"] == {"include_finished": True}


def test_the_init_response_or_any_push_proves_the_session() -> None:
    (_, answer) = adapter().handshake()
    assert isinstance(answer, Await)
    facts: Dict[str, Any] = {}
    init = rec({"mode": "resp", "status": "session initialized", "session_id": "abc", "reason": None})
    assert answer.accept(init, facts) == DONE and facts["session_id"] == "abc"
    sport = rec({"mode": "push", "type": "sport", "msg": {"id": "sp.golf", "name": "Golf"}})
    assert answer.accept(sport, {}) == DONE  # Mustard mode
    closing = rec({"mode": "push", "status": "error", "reason": "max connections hit"})
    assert answer.accept(closing, {}) is None  # a refusal is not a session
    limited = rec({"mode": "resp", "status": "error", "msg": "API limit breached"})
    refused = answer.accept(limited, {})
    assert isinstance(refused, End) and refused.kind is CloseKind.WAIT  # never a tight loop


def test_roles() -> None:
    a = adapter()
    assert a.roles[type(rec({"mode": "push", "type": "heartbeat", "msg": {}}))] is Role.HEARTBEAT
    assert a.roles[type(rec({"mode": "push", "status": "error", "reason": "slow reader"}))] is Role.CLOSING
    assert a.roles[type(rec({"mode": "resp", "status": "ok"}))] is Role.RESPONSE
    assert a.role_of(rec({"mode": "push", "type": "sport", "msg": {"id": "sp.golf", "name": "Golf"}})) is Role.DATA


def test_responses_and_their_errors() -> None:
    a = adapter()
    ok = rec({"mode": "resp", "status": "ok", "request_id": "7"})
    limited = rec({"mode": "resp", "status": "error", "msg": "API limit breached", "request_id": "8"})
    failed = rec({"mode": "resp", "status": "error", "msg": "bad filter"})
    assert a.response_of(ok) == ("7", None)
    request_id, error = a.response_of(limited)
    assert request_id == "8" and isinstance(error, RateLimitedError)
    _, error = a.response_of(failed)
    assert type(error) is RequestError and "bad filter" in str(error)


@pytest.mark.parametrize(
    "reason, kind",
    [
        ("slow reader", CloseKind.RETRY),
        ("service error", CloseKind.RETRY),
        ("max connections hit", CloseKind.WAIT),
        ("connection rate limit hit", CloseKind.WAIT),
    ],
)
def test_closing_reasons_are_typed_and_say_which_must_wait(reason: str, kind: CloseKind) -> None:
    end = adapter().closing_of(rec({"mode": "push", "status": "error", "reason": reason}))
    assert end == End(DisconnectReason.SERVER_CLOSING, reason, kind=kind, code=reason)
    assert adapter().closing_of(rec({"mode": "resp", "status": "ok"})) is None


def test_liveness_comes_from_the_config() -> None:
    live = adapter(heartbeat_timeout=1.5, silence_timeout=2.5, init_timeout=3.5).liveness()
    assert (live.heartbeat_timeout, live.silence_timeout, live.handshake_timeout) == (1.5, 2.5, 3.5)


def test_a_checkpoint_rebuilds_the_offering_and_the_images_in_a_fresh_book() -> None:
    source = adapter()
    lines = [
        {"mode": "push", "type": "sport", "msg": {"id": "sp.golf", "name": "Golf"}},
        {"mode": "push", "type": "competition", "msg": {"id": "comp.1", "name": "PGA Tour", "sport_id": "sp.golf"}},
        {"mode": "push", "type": "event", "msg": {"id": "ev.1", "name": "The Players", "competition_id": "comp.1"}},
        {"mode": "push", "type": "market_type", "msg": {"id": "mt.winonly", "name": "Win Only"}},
        {"mode": "push", "type": "market", "msg": {"id": "m1", "name": "Win", "event_id": "ev.1", "tags": ["mt.winonly"]}},
    ]
    image = {"mode": "push", "type": "market_update", "msg": {"id": "m1", "status": "open", "selections": []}}
    out: list = []
    with source.lock:
        source.session_up({}, out)
        for obj in lines:
            source.apply(rec(obj), out)
        assert source.checkpoint() is None  # mid-snapshot: the offering is not whole yet
        source.apply(rec(image), out)
        source.apply(rec({**image, "msg": {**image["msg"], "status": "suspended", "extra": "ünï"}}), out)
        checkpoint = source.checkpoint()
    assert checkpoint is not None and all(line.endswith(b"\n") for line in checkpoint)
    fresh = adapter()
    with fresh.lock:
        fresh.session_up({}, [])
        for line in checkpoint:
            fresh.apply(decode_line(line.rstrip(b"\n")), [])
    before, after = source.book.snapshot(), fresh.book.snapshot()
    for part in ("sports", "competitions", "events", "market_types", "markets", "images"):
        assert dict(getattr(after, part)) == dict(getattr(before, part)), part
    assert after.images["m1"].raw["msg"]["extra"] == "ünï"


def _parsed(record: Any) -> bool:
    """Whether the record has built its ``raw`` tree (read through the slot, which does not parse)."""
    try:
        MarketUpdate.raw.__get__(record, MarketUpdate)
    except AttributeError:
        return False
    return True


def test_a_checkpoint_sends_each_image_as_received_and_leaves_the_books_records_unparsed() -> None:
    source = adapter()
    image = {"mode": "push", "type": "market_update", "msg": {"id": "m1", "status": "open", "selections": []}}
    with source.lock:
        source.session_up({}, [])
        source.apply(rec(image), [])
        checkpoint = source.checkpoint()
        held = [r for r in source.book.state_records_locked() or [] if isinstance(r, MarketUpdate)]
    assert checkpoint is not None and len(held) == 1
    assert held[0].line + b"\n" in checkpoint  # the line as it came, not re-encoded
    assert not _parsed(held[0])  # so the book holds bytes, not a tree, after every checkpoint


def test_what_a_handler_parses_of_its_record_stays_out_of_the_book() -> None:
    """The book holds each image's fields, not the record handlers get (imgfeed/feeds/img/images.py):
    a handler reading the prices parses its own record, and the book's images stay bytes."""
    source = adapter()
    image = {
        "mode": "push",
        "type": "market_update",
        "msg": {"id": "m1", "status": "open", "selections": [{"id": "g1", "name": "A", "price": 2.5}]},
    }
    out: list = []
    with source.lock:
        source.session_up({}, [])
        source.apply(rec(image), out)
    delivered = next(r for r in out if isinstance(r, MarketUpdate))
    assert delivered.selections[0].price == 2.5 and _parsed(delivered)
    first, second = source.book.image("m1"), source.book.image("m1")
    assert first is not None and second is not None
    assert not _parsed(first) and not _parsed(second)
    assert first is not delivered and first is not second
    assert first.line is delivered.line  # the same bytes, not a copy of them
    assert first == delivered  # (comparing parses: records compare by raw)
    snapshot = source.book.snapshot()
    assert snapshot.images["m1"] is snapshot.images["m1"] and not _parsed(snapshot.images["m1"])
    assert source.book.is_tradable("m1")  # the held status decides, without building a record
