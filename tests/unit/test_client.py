"""FeedClient's runtime against a scripted in-memory feed: no network, short deadlines, no sleeps."""

from __future__ import annotations

import logging
import os
import threading
from typing import Iterator

import pytest

from imgfeed import (
    AuthenticationError,
    ClientClosedError,
    ClientState,
    DisconnectReason,
    FeedClient,
    Handler,
    HostKeyMismatchError,
    RateLimitedError,
    ReconnectPolicy,
    RequestError,
    RequestTimeoutError,
    SuspendReason,
)
from imgfeed.feeds.img.protocol.codec import encode_message
from imgfeed.runtime.events import Disconnected
from tests.unit.memory_feed import FakeFeed, Recorder, called, fast_config, market_update, push


@pytest.fixture(autouse=True)
def no_thread_survives() -> Iterator[None]:
    yield
    left = [t for t in threading.enumerate() if t.name.startswith("imgfeed-")]
    for t in left:
        t.join(5)
    assert [t.name for t in threading.enumerate() if t.name.startswith("imgfeed-")] == []


def started(feed: FakeFeed, *handlers: Handler, **overrides: object) -> FeedClient:
    return FeedClient(fast_config(**overrides), handlers=list(handlers), transport_factory=feed).start()


def test_snapshot_then_subscription_images_arrive_in_order() -> None:
    feed, rec = FakeFeed(), Recorder()
    with started(feed, rec) as client:
        response = client.subscribe()  # at once after start(): waits for the session
        assert response.is_ok
        rec.wait_for(called("on_market_status", 2))
        assert client.book.is_tradable("m1") and client.book.is_tradable("m2")
    names = rec.names()
    assert names[:6] == ["on_connect", "on_resume_all", "on_sport", "on_event", "on_market", "on_market"]
    assert names.index("on_heartbeat") < names.index("on_market_update")
    first_update = names.index("on_market_update")
    assert names[first_update : first_update + 2] == ["on_market_update", "on_market_status"]
    assert names[-2:] == ["on_suspend_all", "on_disconnect"]
    assert rec.of("on_disconnect")[-1][0].reason is DisconnectReason.USER_STOP
    assert client.state is ClientState.STOPPED
    assert not client.book.is_tradable("m1")  # stopped: everything suspended
    requests = [r["request"] for r in feed.requests]
    assert requests == ["init", "subscribe"]
    assert feed.requests[1]["request_id"] == "1"


def test_stats_count_what_happened() -> None:
    feed, rec = FakeFeed(), Recorder()
    with started(feed, rec) as client:
        client.subscribe()
        rec.wait_for(called("on_market_update", 2))
        stats = client.stats()
        assert stats.state is ClientState.RUNNING
        assert stats.session_id == "s1"
        assert stats.sessions == 1 and stats.reconnects == 0
        assert stats.messages >= 9 and stats.bytes > 0
        assert stats.heartbeat_age is not None and stats.heartbeat_age >= 0


def test_rate_limited_request_raises_and_is_not_remembered() -> None:
    feed = FakeFeed()
    with started(feed) as client:
        feed.rate_limit_next = 1
        with pytest.raises(RateLimitedError) as info:
            client.subscribe(event_ids=["ev.1"])
        assert info.value.response.request_id == "1"
        assert client.subscriptions == ()
        client.subscribe(event_ids=["ev.1"])
        assert in_force(client) == [("subscribe", {"event_ids": ["ev.1"]})]


def test_error_response_raises_request_error() -> None:
    with started(FakeFeed()) as client:
        with pytest.raises(RequestError, match="unknown request bogus"):
            client.request("bogus", {})


def test_no_response_is_a_timeout() -> None:
    feed = FakeFeed()
    feed.on_request = lambda t, req: req["request"] == "subscribe"  # swallowed
    with started(feed) as client:
        with pytest.raises(RequestTimeoutError):
            client.subscribe(timeout=0.2)


def test_requests_fail_fast_once_stopped() -> None:
    client = started(FakeFeed())
    client.stop()
    with pytest.raises(ClientClosedError):
        client.subscribe()


def test_a_handler_that_raises_stops_neither_the_dispatcher_nor_the_others() -> None:
    class Boom(Handler):
        def __init__(self) -> None:
            self.errors: list = []

        def on_market_update(self, record: object) -> None:
            raise ValueError("handler bug")

        def on_handler_error(self, exc: BaseException, record: object) -> None:
            self.errors.append((exc, record))

    boom, rec = Boom(), Recorder()
    with started(FakeFeed(), boom, rec) as client:
        client.subscribe()
        rec.wait_for(called("on_market_update", 2))
        assert client.stats().handler_errors == 2
        assert [type(e) for e, _ in boom.errors] == [ValueError, ValueError]
        assert {r.market_id for _, r in boom.errors} == {"m1", "m2"}
        assert client.state is ClientState.RUNNING


def test_error_policy_raise_stops_the_client_and_join_reraises() -> None:
    class Boom(Handler):
        def on_market_update(self, record: object) -> None:
            raise KeyError("strict test")

    client = started(FakeFeed(), Boom(), error_policy="raise")
    client.subscribe()
    with pytest.raises(KeyError, match="strict test"):
        client.join(timeout=10)
    with pytest.raises(KeyError):
        client.stop()


def test_heartbeat_loss_suspends_all_until_the_next_heartbeat() -> None:
    feed, rec = FakeFeed(), Recorder()
    with started(feed, rec, silence_timeout=30.0) as client:
        client.subscribe()
        rec.wait_for(called("on_market_status", 2))
        rec.wait_for(called("on_suspend_all"))  # no heartbeat for heartbeat_timeout
        assert rec.of("on_suspend_all") == [(SuspendReason.HEARTBEAT_LATE,)]
        assert not client.book.is_tradable("m1")
        assert client.book.suspended is SuspendReason.HEARTBEAT_LATE
        feed.connections[0].push_message(push("heartbeat", {}))
        rec.wait_for(called("on_resume_all", 2))
        assert client.book.is_tradable("m1")
        assert len(feed.connections) == 1  # late heartbeats alone do not reconnect


def test_silence_reconnects_reinits_resubscribes_and_waits_for_each_market() -> None:
    feed, rec = FakeFeed(), Recorder()
    with started(feed, rec) as client:
        client.subscribe(event_ids=["ev.1"])
        rec.wait_for(called("on_market_status", 2))
        # Connection 1 now goes silent. On connection 2 the re-subscription is answered but the
        # images are held back, so no market may be tradable yet.
        held = threading.Event()

        def hold(t: object, req: dict) -> bool:
            if req["request"] == "subscribe":
                t.push_message({"mode": "resp", "status": "ok", "request_id": req.get("request_id")})  # type: ignore[attr-defined]
                held.set()
                return True
            return False

        feed.on_request = hold
        second = feed.wait_connections(2)
        assert held.wait(5)
        gone = rec.wait_for(called("on_disconnect"))
        assert [a[0].reason for n, a in gone if n == "on_disconnect"] == [DisconnectReason.SILENCE]
        rec.wait_for(called("on_connect", 2))
        assert [r["request"] for r in feed.requests] == ["init", "subscribe", "init", "subscribe"]
        assert feed.requests[3]["msg"] == {"event_ids": ["ev.1"]}
        assert not client.book.is_tradable("m1") and not client.book.is_tradable("m2")
        second.push_message(market_update("m2"))
        rec.wait_for(called("on_market_status", 3))
        assert not client.book.is_tradable("m1") and client.book.is_tradable("m2")
        assert client.stats().reconnects == 1


def test_server_error_push_reconnects_at_once() -> None:
    feed, rec = FakeFeed(), Recorder()
    with started(feed, rec, reconnect=ReconnectPolicy(interval=60.0, first_delay=0.0)) as client:
        rec.wait_for(called("on_connect"))
        first = feed.connections[0]
        first.push_message({"mode": "push", "status": "error", "session_id": "s1", "reason": "service error"})
        first.eof()
        rec.wait_for(called("on_connect", 2))
        assert str(rec.of("on_server_closing")[0][0].reason) == "service error"
        (note,) = rec.of("on_disconnect")[0]
        assert note.reason is DisconnectReason.SERVER_CLOSING and note.detail == "service error"
        assert note.will_retry
        assert client.stats().last_disconnect == note


@pytest.mark.parametrize("reason", ["max connections hit", "connection rate limit hit"])
def test_refusals_that_ask_us_to_wait_are_never_retried_at_once(reason: str) -> None:
    feed, rec = FakeFeed(), Recorder()
    client = started(feed, rec, reconnect=ReconnectPolicy(interval=60.0, first_delay=0.0))
    rec.wait_for(called("on_connect"))
    feed.connections[0].push_message({"mode": "push", "status": "error", "reason": reason})
    rec.wait_for(called("on_disconnect"))
    assert client.wait_for_state(ClientState.RECONNECTING, timeout=5)
    assert len(feed.connections) == 1
    client.stop(timeout=5)  # returns promptly during the reconnect wait
    assert client.state is ClientState.STOPPED


def test_no_init_response_is_a_failed_connection() -> None:
    feed, rec = FakeFeed(answer_init=False), Recorder()
    with started(feed, rec):
        rec.wait_for(called("on_disconnect", 2))
        notes = [a[0] for a in rec.of("on_disconnect")]
        assert {n.reason for n in notes} == {DisconnectReason.INIT_TIMEOUT}
        assert "on_connect" not in rec.names()


def test_mustard_mode_the_first_push_proves_the_session() -> None:
    feed, rec = FakeFeed(mustard=True), Recorder()
    with started(feed, rec) as client:
        client.subscribe()
        rec.wait_for(called("on_market_status", 2))
        (session,) = rec.of("on_connect")[0]
        assert session.session_id is None and session.number == 1
        assert client.book.is_tradable("m1")


@pytest.mark.parametrize(
    "error, reason",
    [
        (AuthenticationError("key rejected"), DisconnectReason.AUTH_FAILED),
        (HostKeyMismatchError("changed", "[127.0.0.1]:2093", "SHA256:x"), DisconnectReason.HOST_KEY),
    ],
)
def test_auth_and_host_key_failures_stop_the_client_and_are_not_retried(
    error: Exception, reason: DisconnectReason
) -> None:
    feed, rec = FakeFeed(), Recorder()
    feed.connect_errors = [error]
    client = started(feed, rec)
    with pytest.raises(type(error)):
        client.join(timeout=10)
    (note,) = rec.of("on_disconnect")[0]
    assert note.reason is reason and not note.will_retry
    assert len(feed.connections) == 1
    assert client.state is ClientState.STOPPED


def test_auth_failures_are_retried_when_asked() -> None:
    feed, rec = FakeFeed(), Recorder()
    feed.connect_errors = [AuthenticationError("key not yet installed")]
    with started(feed, rec, retry_auth_failures=True):
        rec.wait_for(called("on_connect"))
        assert rec.of("on_disconnect")[0][0].will_retry


def test_max_attempts_gives_up() -> None:
    from imgfeed import ConnectError

    feed, rec = FakeFeed(), Recorder()
    feed.connect_errors = [ConnectError("refused")] * 3
    client = started(feed, rec, reconnect=ReconnectPolicy(interval=0.01, max_attempts=3, jitter=0.0))
    assert client.join(timeout=10)
    notes = [a[0] for a in rec.of("on_disconnect")]
    assert [n.reason for n in notes] == [DisconnectReason.CONNECT_FAILED] * 3
    assert [n.will_retry for n in notes] == [True, True, False]


def test_a_slow_handler_sees_every_market_end_on_its_latest_price_with_bounded_memory() -> None:
    release = threading.Event()

    class Slow(Recorder):
        def on_market_update(self, record: object) -> None:
            release.wait(10)
            super().on_market_update(record)  # type: ignore[misc]

    feed, slow = FakeFeed(markets=("m1", "m2", "m3")), Slow()
    with started(feed, slow, queue_size=50, conflate_threshold=5, silence_timeout=30.0) as client:
        client.subscribe()
        conn = feed.connections[0]
        for i in range(2000):
            conn.push_message(market_update(f"m{i % 3 + 1}", price=1.0 + i))
        conn.push_message(push("heartbeat", {}))
        release.set()
        slow.wait_for(lambda calls: any(n == "on_heartbeat" for n, _ in calls[-3:]) and len(slow.of("on_heartbeat")) >= 2)
        stats = client.stats()
        assert stats.conflated > 0
        assert stats.queue_high_water <= 50
        last = {}
        for (u,) in slow.of("on_market_update"):
            last[u.market_id] = u.selections[0].price
        assert last == {"m1": 1.0 + 1998, "m2": 1.0 + 1999, "m3": 1.0 + 1997}
        assert client.book.image("m2").selections[0].price == 1.0 + 1999


def test_stop_from_inside_a_handler() -> None:
    done = threading.Event()

    class Stopper(Handler):
        def __init__(self) -> None:
            self.client: FeedClient

        def on_market_update(self, record: object) -> None:
            self.client.stop(timeout=5)
            done.set()

    stopper = Stopper()
    client = started(FakeFeed(), stopper)
    stopper.client = client
    client.subscribe()
    assert done.wait(10)
    assert client.join(timeout=10)


def in_force(client: FeedClient) -> list:
    return [(s.action, s.msg()) for s in client.subscriptions]


def test_an_unsubscribe_narrows_what_is_in_force_and_only_that_is_resent() -> None:
    feed, rec = FakeFeed(), Recorder()
    with started(feed, rec) as client:
        client.subscribe(event_ids=["ev.1"])
        client.subscribe(event_ids=["ev.2"])
        rec.wait_for(called("on_market_status", 2))
        client.unsubscribe(event_ids=["ev.1"])
        assert in_force(client) == [("subscribe", {"event_ids": ["ev.2"]})]
        rec.wait_for(lambda calls: ("on_market_status", ("m1", False)) in calls)
        assert not client.book.is_tradable("m1")
        feed.connections[0].eof()
        rec.wait_for(called("on_connect", 2))
        feed.wait_requests(lambda reqs: len(reqs) >= 6)
        assert [r["request"] for r in feed.requests[4:]] == ["init", "subscribe"]
        assert feed.requests[-1]["msg"] == {"event_ids": ["ev.2"]}


def test_an_unsubscribe_that_may_overlap_a_subscribe_is_kept_in_order() -> None:
    feed, rec = FakeFeed(), Recorder()
    with started(feed, rec) as client:
        client.subscribe(market_ids=["m9"])
        client.unsubscribe(event_ids=["ev.1"])  # m9 may be in ev.1: the order matters
        assert in_force(client) == [("subscribe", {"market_ids": ["m9"]}), ("unsubscribe", {"event_ids": ["ev.1"]})]


def test_handlers_can_be_added_and_removed_while_running() -> None:
    feed, first, second = FakeFeed(), Recorder(), Recorder()
    with started(feed, first) as client:
        first.wait_for(called("on_heartbeat"))
        client.add_handler(second)
        client.remove_handler(first)
        feed.connections[0].push_message(push("heartbeat", {}))
        second.wait_for(called("on_heartbeat"))
        assert client.handlers == (second,)
    assert len(first.of("on_heartbeat")) == 1


def test_eof_reports_the_reason_and_reconnects() -> None:
    feed, rec = FakeFeed(), Recorder()
    with started(feed, rec):
        rec.wait_for(called("on_connect"))
        feed.connections[0].eof()
        rec.wait_for(called("on_connect", 2))
        (note,) = rec.of("on_disconnect")[0]
        assert isinstance(note, Disconnected) and note.reason is DisconnectReason.EOF


def test_protocol_errors_are_delivered_and_the_stream_goes_on() -> None:
    feed, rec = FakeFeed(), Recorder()
    with started(feed, rec) as client:
        rec.wait_for(called("on_heartbeat"))
        feed.connections[0].push(b"not json\n" + b'{"mode": "push", "type": "new_thing", "msg": {}}\n')
        rec.wait_for(called("on_unknown"))
        (error,) = rec.of("on_protocol_error")[0]
        assert error.raw == b"not json"
        assert client.stats().protocol_errors == 1


def test_max_attempts_one_never_reconnects_after_a_loss() -> None:
    feed, rec = FakeFeed(), Recorder()
    client = started(feed, rec, reconnect=ReconnectPolicy(interval=0.01, max_attempts=1))
    rec.wait_for(called("on_connect"))
    feed.connections[0].eof()
    assert client.join(timeout=10)
    (note,) = rec.of("on_disconnect")[0]
    assert note.reason is DisconnectReason.EOF and not note.will_retry
    assert len(feed.connections) == 1


class _LogWaiter(logging.Handler):
    """Collects log records and lets a test wait for one (no sleeping)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list = []
        self.cond = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self.cond:
            self.records.append(record)
            self.cond.notify_all()

    def wait_for(self, text: str, timeout: float = 5.0) -> str:
        def found() -> list:
            return [r.getMessage() for r in self.records if text in r.getMessage()]

        with self.cond:
            assert self.cond.wait_for(found, timeout), [r.getMessage() for r in self.records]
            return found()[0]


@pytest.fixture()
def client_log() -> Iterator[_LogWaiter]:
    waiter = _LogWaiter()
    logger = logging.getLogger("imgfeed.runtime")
    level, disabled = logger.level, logger.disabled
    logger.setLevel(logging.WARNING)  # whatever other tests did to logging (levels, dictConfig)
    logger.disabled = False
    logger.addHandler(waiter)
    try:
        yield waiter
    finally:
        logger.removeHandler(waiter)
        logger.setLevel(level)
        logger.disabled = disabled


def test_a_stalled_handler_is_named_in_a_warning(client_log: _LogWaiter) -> None:
    release = threading.Event()

    class Stuck(Handler):
        def on_market_update(self, record: object) -> None:
            release.wait(10)

    feed = FakeFeed()
    with started(feed, Stuck(), handler_stall_warning=0.1, silence_timeout=30.0, heartbeat_timeout=30.0) as client:
        try:
            client.subscribe()
            message = client_log.wait_for("has been handling")
            assert "Stuck" in message and "MarketUpdate" in message
        finally:
            release.set()


def test_overflow_policy_disconnect_drops_the_connection_and_reconnects() -> None:
    release = threading.Event()

    class Slow(Recorder):
        def on_heartbeat(self, record: object) -> None:
            release.wait(10)
            super().on_heartbeat(record)  # type: ignore[misc]

    feed, slow = FakeFeed(markets=()), Slow()
    with started(feed, slow, queue_size=20, overflow_policy="disconnect", silence_timeout=30.0):
        conn = feed.wait_connections(1)
        for _ in range(50):
            conn.push(b"".join(b'{"mode":"push","type":"event","msg":{"id":"ev.%d","name":"x"}}\n' % i for i in range(5)))
        feed.wait_connections(2)
        release.set()
        slow.wait_for(called("on_disconnect"))
        assert slow.of("on_disconnect")[0][0].reason is DisconnectReason.QUEUE_OVERFLOW


def test_a_missing_key_file_is_reported_and_stops_the_client(tmp_path: object) -> None:
    from imgfeed.feeds.img.client import ssh_transport_factory

    key = str(tmp_path) + "/no_such_key"  # type: ignore[operator]
    open(key, "w").close()  # FeedConfig checks that the file exists ...
    config = fast_config(pkey=None, key_filename=key)
    os.unlink(key)  # ... and it is gone by the time the client connects
    rec = Recorder()
    client = FeedClient(config, handlers=[rec], transport_factory=ssh_transport_factory(config)).start()
    with pytest.raises(AuthenticationError, match="not found"):
        client.join(timeout=10)
    assert rec.of("on_disconnect")[0][0].reason is DisconnectReason.AUTH_FAILED


def test_a_handler_error_on_an_old_connection_does_not_drop_the_new_one() -> None:
    feed = FakeFeed(markets=())
    client_box: list = []

    class Raiser(Recorder):
        def on_market_update(self, record: object) -> None:
            super().on_market_update(record)  # type: ignore[misc]
            if record.raw["msg"]["status"] == "closed":  # type: ignore[attr-defined]
                # The second failing record is handled only once connection 2 is up.
                client = client_box[0]
                assert client.book.wait_for(lambda: client.stats().sessions >= 2, 5)
            raise ValueError("bad record")

    rec = Raiser()
    client = started(feed, rec, error_policy="disconnect", silence_timeout=30.0, heartbeat_timeout=30.0)
    client_box.append(client)
    with client:
        first = feed.wait_connections(1)
        rec.wait_for(called("on_heartbeat"))
        first.push(b"".join(encode_message(m) for m in (market_update("m1"), market_update("m1", status="closed"))))
        second = feed.wait_connections(2)
        rec.wait_for(called("on_connect", 2))
        # Let the watchdog see the dispatcher's request (it consumes it within one tick) ...
        for beat in range(100):
            second.push_message(push("heartbeat", {}))
            rec.wait_for(called("on_heartbeat", 2 + beat))
            if client._watchdog.reconnect_request is None:
                break
        # ... and prove connection 2 still carries the feed afterwards.
        beats = len(rec.of("on_heartbeat"))
        second.push_message(push("heartbeat", {}))
        rec.wait_for(called("on_heartbeat", beats + 1))
        assert len(rec.of("on_handler_error")) == 2
        assert [a[0].reason for a in rec.of("on_disconnect")] == [DisconnectReason.HANDLER_ERROR]
        assert len(feed.connections) == 2


def test_a_transport_that_raises_a_foreign_error_is_a_failed_connect_and_retried() -> None:
    feed, rec = FakeFeed(), Recorder()
    feed.connect_errors = [OSError("network is unreachable")]
    with started(feed, rec):
        rec.wait_for(called("on_connect"))
        (note,) = rec.of("on_disconnect")[0]
        assert note.reason is DisconnectReason.CONNECT_FAILED and note.will_retry
        assert "unreachable" in note.detail and isinstance(note.exception, OSError)


def test_stopping_in_the_middle_of_a_line_is_not_a_protocol_error() -> None:
    feed, rec = FakeFeed(), Recorder()
    client = started(feed, rec)
    rec.wait_for(called("on_heartbeat"))
    conn = feed.connections[0]
    conn.push(b'{"mode": "push", "type": "heart')  # half a line ...
    assert conn.idle.wait(5)  # ... read: the reader waits in recv() again when we stop
    client.stop()
    assert rec.of("on_protocol_error") == [] and client.stats().protocol_errors == 0


def test_a_peer_that_ends_inside_a_line_is_a_protocol_error() -> None:
    feed, rec = FakeFeed(), Recorder()
    with started(feed, rec):
        rec.wait_for(called("on_heartbeat"))
        feed.connections[0].push(b'{"mode": "push", "type": "heart')
        feed.connections[0].eof()
        rec.wait_for(called("on_protocol_error"))
        assert "stream ended inside a line" in rec.of("on_protocol_error")[0][0].reason


def test_either_form_of_a_market_id_is_accepted(caplog: pytest.LogCaptureFixture) -> None:
    raw = "golf_6005_matchbet~7cgolfer_ids~3d9548~2c14689"
    decoded = "golf_6005_matchbet|golfer_ids=9548,14689"
    feed, rec = FakeFeed(markets=(raw,)), Recorder()
    with started(feed, rec) as client:
        client.subscribe(market_ids=[decoded])
        assert feed.requests[-1]["msg"] == {"market_ids": [raw]}  # the service knows the raw form
        rec.wait_for(called("on_market_status"))
        assert client.book.is_tradable(raw) and client.book.is_tradable(decoded)
        by_decoded, by_raw = client.book.image(decoded), client.book.image(raw)
        assert by_decoded is not None and by_decoded == by_raw and by_decoded.line is by_raw.line
        assert client.book.market(decoded) is not None
        assert not caplog.records  # it matched the offering: nothing to warn about


def test_a_subscription_that_matches_nothing_in_the_offering_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    with started(FakeFeed()) as client:
        with caplog.at_level(logging.WARNING, logger="imgfeed.feeds.img"):
            client.subscribe(event_ids=["ev.typo"])
    warnings = [r.getMessage() for r in caplog.records if r.name == "imgfeed.feeds.img"]
    assert len(warnings) == 1 and "matches none of the 2 markets" in warnings[0], warnings
