"""The jsonl and pretty printers: the jsonl contract that scripts rely on."""

from __future__ import annotations

import io
from typing import Any, Dict, List

import ujson

from imgfeed.cli._output import JsonlHandler, LinePrinter, record_json
from imgfeed.cli._pretty import PrettyHandler
from imgfeed.errors import ProtocolError
from imgfeed.feeds.img.handler import dispatch
from imgfeed.feeds.img.protocol.codec import decode_line
from imgfeed.runtime.events import Disconnected, DisconnectReason, Session, SuspendReason

UPDATE = (
    '{"mode": "push", "type": "market_update", "publish_time": "2025-03-14 08:50:11.331473", '
    '"msg": {"id": "golf_1100_winonly", "status": "open", "new_key": [1], "selections": '
    '[{"id": "g:1", "name": "Åsa Ström", "price": 9.5, "status": "open", "settlement": null}]}}'
).encode()
HEARTBEAT = b'{"mode": "push", "type": "heartbeat", "msg": {"timestamp": "2025-01-01 10:00:00.000000"}}'
CLOSING = b'{"mode": "push", "status": "error", "session_id": "s-1", "reason": "slow reader"}'
RATE = b'{"mode": "resp", "status": "error", "msg": "API limit breached", "request_id": "7"}'
UNKNOWN = b'{"mode": "push", "type": "weather", "msg": {"wind": 12}}'
REMOVE = b'{"mode": "push", "type": "remove_markets", "msg": ["a~7cb"]}'


def _lines(items: List[Any]) -> List[Dict[str, Any]]:
    out = io.StringIO()
    handler = JsonlHandler(LinePrinter(out))
    for item in items:
        dispatch(handler, item)
    return [ujson.loads(line) for line in out.getvalue().splitlines()]


def test_records_keep_msg_exactly_as_received() -> None:
    update = decode_line(UPDATE, received_at=1741942211.5)
    (line,) = _lines([update])
    assert line["kind"] == "market_update"
    assert line["received_at"] == "2025-03-14T08:50:11.500000+00:00"
    assert line["msg"] == ujson.loads(UPDATE)["msg"]


def test_every_record_kind_is_one_json_object() -> None:
    records = [decode_line(raw, received_at=1.0) for raw in (HEARTBEAT, REMOVE, UNKNOWN)]
    kinds = [line["kind"] for line in _lines(records)]
    assert kinds == ["heartbeat", "remove_markets", "unknown"]


def test_lifecycle_events_use_the_documented_kinds() -> None:
    session = Session(session_id="abc", address="127.0.0.1:2093", connected_at=1.0, number=1)
    items = [
        session,
        Disconnected(DisconnectReason.EOF, "peer closed", will_retry=True),
        decode_line(CLOSING, 2.0),
        decode_line(RATE, 3.0),
        ProtocolError("invalid JSON", b"{oops"),
    ]
    out = io.StringIO()
    handler = JsonlHandler(LinePrinter(out))
    handler.on_connect(items[0])  # type: ignore[arg-type]
    for item in items[1:]:
        dispatch(handler, item)
    handler.on_suspend_all(SuspendReason.HEARTBEAT_LATE)
    handler.on_resume_all()
    lines = [ujson.loads(line) for line in out.getvalue().splitlines()]
    assert [line["kind"] for line in lines] == [
        "connected",
        "disconnected",
        "server_closing",
        "rate_limited",
        "protocol_error",
        "suspended_all",
        "resumed_all",
    ]
    assert lines[0]["session_id"] == "abc"
    assert lines[1]["reason"] == "eof" and lines[1]["will_retry"] is True
    assert lines[2]["reason"] == "slow reader"
    assert lines[3]["request_id"] == "7"
    assert lines[4]["raw"] == "{oops"
    assert lines[5]["reason"] == "heartbeat late"
    assert all(isinstance(line["received_at"], str) for line in lines)


def test_record_json_of_a_response_keeps_status() -> None:
    response = decode_line(b'{"mode": "resp", "status": "ok", "request_id": "3"}', 1.0)
    assert record_json(response)["status"] == "ok"  # type: ignore[arg-type]


def test_pretty_prints_one_line_per_item() -> None:
    out = io.StringIO()
    handler = PrettyHandler(LinePrinter(out))
    for raw in (UPDATE, HEARTBEAT, CLOSING, REMOVE):
        dispatch(handler, decode_line(raw, received_at=1.0))
    handler.on_suspend_all(SuspendReason.DISCONNECTED)
    text = out.getvalue().splitlines()
    assert len(text) == 5
    assert "Åsa Ström 9.5" in text[0] and "[open]" in text[0]
    assert "slow reader" in text[2]
    assert "a|b" in text[3]
    assert "SUSPENDED" in text[4]


def test_broken_pipe_stops_printing_quietly() -> None:
    class Broken(io.StringIO):
        def write(self, s: str) -> int:
            raise BrokenPipeError

    printer = LinePrinter(Broken())
    printer.line("x")
    printer.line("y")
    assert printer.broken


def test_subscription_filters() -> None:
    import argparse

    import pytest

    from imgfeed.cli._common import subscription_filters
    from imgfeed.errors import ImgFeedError

    def ns(**kw: Any) -> argparse.Namespace:
        base = dict(subscribe_all=False, event_ids=None, market_type_ids=None, market_ids=None)
        base.update(kw)
        return argparse.Namespace(**base)

    assert subscription_filters(ns()) is None
    assert subscription_filters(ns(subscribe_all=True)) == {}
    assert subscription_filters(ns(event_ids=["ev.1"], market_ids=["m"])) == {
        "event_ids": ["ev.1"],
        "market_ids": ["m"],
    }
    with pytest.raises(ImgFeedError):
        subscription_filters(ns(subscribe_all=True, market_type_ids=["mt.x"]))
