"""Handler dispatch: every record kind and notification reaches its own method, nothing else."""

from __future__ import annotations

import logging

import pytest

from imgfeed import (
    Competition,
    Disconnected,
    DisconnectReason,
    Event,
    Handler,
    Heartbeat,
    LoggingHandler,
    Market,
    MarketStatus,
    MarketType,
    MarketUpdate,
    ProtocolError,
    RateLimited,
    RemoveMarkets,
    Response,
    ServerClosing,
    Session,
    Sport,
    SuspendReason,
    Unknown,
)
from imgfeed.feeds.img.handler import dispatch
from imgfeed.runtime.events import Connected, MarketStatusChanged, ResumedAll, SuspendedAll
from tests.unit.memory_feed import Recorder

SESSION = Session("s1", "127.0.0.1:2093", 0.0, 1)

CASES = [
    (Sport(id="sp.golf", name="Golf"), "on_sport"),
    (Competition(id="comp.golf_1", name="PGA Tour"), "on_competition"),
    (Event(id="ev.1", name="The Players"), "on_event"),
    (MarketType(id="mt.winonly", name="Win Only"), "on_market_type"),
    (Market(id="m1", name="Win"), "on_market"),
    (MarketUpdate(market_id="m1", status=MarketStatus.OPEN), "on_market_update"),
    (RemoveMarkets(market_ids=("m1",)), "on_remove_markets"),
    (Heartbeat(), "on_heartbeat"),
    (Unknown(mode="push", type="new_thing"), "on_unknown"),
    (ServerClosing(reason="service error"), "on_server_closing"),
    (RateLimited(request_id="1"), "on_rate_limited"),
    (ProtocolError("invalid JSON", b"{"), "on_protocol_error"),
    (Connected(SESSION), "on_connect"),
    (Disconnected(DisconnectReason.EOF), "on_disconnect"),
    (SuspendedAll(SuspendReason.HEARTBEAT_LATE), "on_suspend_all"),
    (ResumedAll(), "on_resume_all"),
    (MarketStatusChanged("m1", True), "on_market_status"),
]


@pytest.mark.parametrize("item, method", CASES, ids=[m for _, m in CASES])
def test_each_item_reaches_its_method(item: object, method: str) -> None:
    rec = Recorder()
    dispatch(rec, item)
    assert rec.names() == [method]


def test_lifecycle_arguments() -> None:
    rec = Recorder()
    for item in (Connected(SESSION), SuspendedAll(SuspendReason.DISCONNECTED), MarketStatusChanged("m1", False)):
        dispatch(rec, item)
    assert rec.calls == [
        ("on_connect", (SESSION,)),
        ("on_suspend_all", (SuspendReason.DISCONNECTED,)),
        ("on_market_status", ("m1", False)),
    ]


def test_responses_go_to_the_requester_not_to_handlers() -> None:
    rec = Recorder()
    dispatch(rec, Response(status="ok", request_id="1"))
    assert rec.calls == []


def test_the_base_class_ignores_everything() -> None:
    for item, _ in CASES:
        dispatch(Handler(), item)


def test_logging_handler_says_why(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="imgfeed.feed")
    h = LoggingHandler()
    dispatch(h, Disconnected(DisconnectReason.SERVER_CLOSING, "slow reader"))
    dispatch(h, SuspendedAll(SuspendReason.HEARTBEAT_LATE))
    assert "disconnected: server closing: slow reader" in caplog.text
    assert "heartbeat late" in caplog.text


def test_logging_handler_logs_a_normal_stop_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="imgfeed.feed")
    h = LoggingHandler()
    dispatch(h, SuspendedAll(SuspendReason.DISCONNECTED))
    dispatch(h, Disconnected(DisconnectReason.USER_STOP, will_retry=False))
    assert [r.levelno for r in caplog.records] == [logging.INFO, logging.INFO]
    caplog.clear()
    dispatch(h, Disconnected(DisconnectReason.EOF))
    dispatch(h, SuspendedAll(SuspendReason.HEARTBEAT_LATE))
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.WARNING]
