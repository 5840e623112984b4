"""Issue 11, defects 1, 3 and 8: what one session may say about the book, and when a session ends.

- 1 A reader that outlives its join delivers the old connection's data into the new session: a
  transport whose ``recv`` returns one ``market_update`` after ``close()`` (later than the
  client's reader join timeout) makes that market tradable on session 2 without any update there.
- 3 Silence before the session is up is not detected: a server that reads ``init`` and then says
  nothing is given up on after ``init_timeout``, not ``silence_timeout``.
- 8 ``MarketStatusChanged(tradable=True)`` is sent while the whole feed is suspended: a market's
  first image arriving while heartbeats are late is announced as tradable.
"""

from __future__ import annotations

import threading
from typing import Any, List, Optional

import ujson

from imgfeed import DisconnectReason, FeedClient, ReconnectPolicy, SuspendReason
from imgfeed.transport.base import DEFAULT_RECV_SIZE
from imgfeed.transport.memory import MemoryTransport
from tests.reliability import wire
from tests.reliability.support import Recorder
from tests.unit.memory_feed import FakeFeed, fast_config, market_update, push

#: The longest a test waits for something it expects (seconds); only reached when it fails.
WAIT = 5.0


def serve_init(transport: MemoryTransport, line: bytes, markets: List[str]) -> None:
    """Answer ``init`` as the service does (response, snapshot, first heartbeat), and a subscribe
    with "ok" only: the test pushes the images itself."""
    request = ujson.loads(line)
    if request["request"] == "subscribe":
        transport.push_message({"mode": "resp", "status": "ok", "request_id": request.get("request_id")})
        return
    if request["request"] != "init":
        return
    n = transport.describe()
    transport.push_message({"mode": "resp", "status": "session initialized", "session_id": n, "reason": None})
    transport.push_message(push("sport", {"id": "sp.golf", "name": "Golf"}))
    transport.push_message(push("event", {"id": "ev.1", "name": "The Players"}))
    for m in markets:
        transport.push_message(push("market", {"id": m, "name": m, "event_id": "ev.1", "tags": ["ev.1"]}))
    transport.push_message(push("heartbeat", {"timestamp": "2025-03-14 08:50:11.331473"}))


class LingeringTransport(MemoryTransport):
    """A connection whose last read outlives ``close()``: it returns one more chunk, late.

    After ``close()``, the first ``recv`` that would report the end waits for :attr:`release`
    (at most ``linger`` seconds) and returns ``stale`` instead: bytes the network delivered
    before the close that the reader only gets to now.
    """

    def __init__(self, markets: List[str], stale: bytes, linger: float = 3.0) -> None:
        super().__init__(lambda t, line: serve_init(t, line, markets), read_timeout=0.02)
        self.stale: Optional[bytes] = stale
        self.linger = linger
        self.release = threading.Event()
        self.returned = threading.Event()

    def describe(self) -> str:
        return "lingering"

    def recv(self, max_bytes: int = DEFAULT_RECV_SIZE) -> Optional[bytes]:
        data = super().recv(max_bytes)
        if data == b"" and self.closed and self.stale is not None:
            stale, self.stale = self.stale, None
            self.release.wait(self.linger)
            self.returned.set()
            return stale
        return data


class PlainTransport(MemoryTransport):
    def __init__(self, markets: List[str], name: str) -> None:
        super().__init__(lambda t, line: serve_init(t, line, markets), read_timeout=0.02)
        self.name = name

    def describe(self) -> str:
        return self.name


def test_a_late_read_of_a_closed_connection_never_reaches_the_next_session() -> None:
    # Observed before the runtime rewrite (commit 09e6303): the client gives the old reader 1 s (max(1.0, read_timeout * 4)), moves
    # on to session 2, and the old reader's late chunk is applied to the book and queued:
    # "AssertionError: the old connection's update made m1 tradable on session 2".
    markets = ["m1"]
    stale = wire.market_update("m1", "open", price=9.9)
    first = LingeringTransport(markets, stale)
    made: List[MemoryTransport] = []

    def factory() -> MemoryTransport:
        made.append(first if not made else PlainTransport(markets, f"plain-{len(made)}"))
        return made[-1]

    rec = Recorder()
    # Liveness far away: nothing in this test may depend on a heartbeat being on time.
    config = fast_config(heartbeat_timeout=5.0, silence_timeout=10.0, handler_stall_warning=None)
    client = FeedClient(config, handlers=[rec], transport_factory=factory).start()
    try:
        assert rec.wait_for(lambda r: r.count("on_connect") == 1, WAIT)
        assert client.subscribe().is_ok  # images of unsubscribed markets are never trusted
        first.push_message(market_update("m1", "open", price=2.5))
        assert client.book.wait_for(lambda: client.book.is_tradable("m1"), WAIT)
        # The server closes session 1 (its error push); the client closes the transport while the
        # reader sits in recv, and the reader's recv comes back with one more chunk after it.
        first.push_message(
            {"mode": "push", "status": "error", "session_id": "lingering", "reason": "service error"}
        )
        assert rec.wait_for(lambda r: r.count("on_connect") == 2, WAIT), "no second session"
        assert not client.book.is_tradable("m1")  # session 2 sent nothing for m1
        first.release.set()
        assert first.returned.wait(WAIT)
        # Give the late chunk every chance to land (it lands at once on main).
        landed = client.book.wait_for(lambda: client.book.is_tradable("m1"), 1.0)
        assert not landed, "the old connection's update made m1 tradable on session 2"
        late = [
            args[0]
            for name, args in rec.since("on_connect", 2)
            if name == "on_market_update" and args[0].market_id == "m1"
        ]
        assert late == [], f"session 2 delivered the old connection's update: {late}"
    finally:
        first.release.set()
        client.stop()


def test_a_server_that_says_nothing_after_init_is_dropped_for_silence() -> None:
    # Observed before the runtime rewrite (commit 09e6303): the only deadline before the init response is init_timeout, so the
    # connection ends 3 s later with "AssertionError: [<DisconnectReason.INIT_TIMEOUT: 'init
    # timeout'>]" instead of SILENCE after 0.3 s.
    feed, rec = FakeFeed(answer_init=False), Recorder()
    config = fast_config(
        silence_timeout=0.3,
        init_timeout=3.0,
        reconnect=ReconnectPolicy(interval=0.05, first_delay=0.0, jitter=0.0, min_delay=0.05, max_attempts=1),
    )
    client = FeedClient(config, handlers=[rec], transport_factory=feed).start()
    try:
        assert feed.wait_connections(1).connected.wait(WAIT)
        feed.wait_requests(lambda requests: [r["request"] for r in requests] == ["init"])
        assert rec.wait_for(lambda r: r.count("on_disconnect") >= 1, WAIT)
        # The first reason wins: SILENCE here means it fired before init_timeout could have.
        assert rec.disconnect_reasons()[:1] == [DisconnectReason.SILENCE], rec.disconnect_reasons()
    finally:
        client.stop()


def test_no_market_is_announced_tradable_while_heartbeats_are_late() -> None:
    # Observed before the runtime rewrite (commit 09e6303): m2's first image arrives while heartbeats are late; the book keeps it
    # untradable but announces it as tradable: "AssertionError: announced tradable while
    # suspended: [('m2', True)]" (book.is_tradable('m2') was False at that moment).
    feed, rec = FakeFeed(markets=("m1", "m2")), Recorder()
    config = fast_config(heartbeat_timeout=0.3, silence_timeout=WAIT * 2)
    client = FeedClient(config, handlers=[rec], transport_factory=feed).start()
    try:
        assert rec.wait_for(lambda r: r.count("on_connect") == 1, WAIT)
        t = feed.connections[0]
        feed.markets = []  # subscribe to everything, but let the test push the images itself
        assert client.subscribe().is_ok
        t.push_message(market_update("m1"))
        assert rec.wait_for(lambda r: ("m1", True) in r.statuses_since_connect(1), WAIT)
        # No heartbeat: after heartbeat_timeout every market is suspended.
        assert rec.wait_for(lambda r: SuspendReason.HEARTBEAT_LATE in r.args("on_suspend_all"), WAIT)
        assert client.book.suspended is SuspendReason.HEARTBEAT_LATE
        t.push_message(market_update("m2"))
        assert rec.wait_for(lambda r: "m2" in [u.market_id for u in r.args("on_market_update")], WAIT)
        tradable_then = client.book.is_tradable("m2")
        t.push_message(push("heartbeat", {"timestamp": "2025-03-14 08:50:12.331473"}))
        assert rec.wait_for(lambda r: r.count("on_resume_all") >= 2, WAIT)  # session start, then this
    finally:
        client.stop()
    assert not tradable_then
    announced = _announced_while_suspended(rec.calls)
    assert announced == [], f"announced tradable while suspended: {announced}"


def _announced_while_suspended(calls: List[Any]) -> List[Any]:
    """The ``on_market_status(m, True)`` calls between an ``on_suspend_all`` and the next resume."""
    suspended, out = False, []
    for name, args in calls:
        if name == "on_suspend_all":
            suspended = True
        elif name == "on_resume_all":
            suspended = False
        elif name == "on_market_status" and suspended and args[1]:
            out.append(args)
    return out
