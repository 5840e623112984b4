"""Issue 11, defect 2: unsubscribe is not honoured across a reconnect.

Covers, against the simulator's own server logic (:mod:`tests.regressions.simfeed`):

- 2a ``subscribe()`` then ``unsubscribe(event_ids=[E1])``: after a reconnect E1 is tradable again.
- 2b ``subscribe(event_ids=[E1, E2])`` then ``unsubscribe(event_ids=[E1])``: the same, and
  ``client.subscriptions`` still lists E1.
- 2c filters are compared as ordered lists: ``[b, a]`` does not cancel ``[a, b]``.
- 2d an unmatched unsubscribe is kept forever, and re-sent on every reconnect.
- 2e a rate-limited re-subscription re-sends every request, not the one that failed.
- 2f the subscription state is updated on the caller's thread after the response: a reconnect in
  that window drops a subscription that ``subscribe()`` reported as done.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from types import FrameType
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

from imgfeed import FeedClient
from tests.regressions.simfeed import (
    WAIT,
    Request,
    SimFeed,
    SimTransport,
    fence,
    filter_key,
    sim_config,
    strings_in,
)
from tests.reliability.support import Recorder


@pytest.fixture
def feed() -> SimFeed:
    return SimFeed()


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def client(feed: SimFeed, rec: Recorder) -> Iterator[FeedClient]:
    c = FeedClient(sim_config(), handlers=[rec], transport_factory=feed).start()
    try:
        yield c
    finally:
        c.stop()


#: How long a test gives the client to do what today's client never does (seconds).
SETTLE = 1.0


def reconnect(feed: SimFeed, rec: Recorder) -> SimTransport:
    """Drop the current connection as the server would, and return the next one once it is up."""
    sessions = rec.count("on_connect")
    feed.current.drop()
    assert rec.wait_for(lambda r: r.count("on_connect") > sessions), "no new session after the drop"
    return feed.current


def resent(transport: SimTransport) -> List[Request]:
    """The subscribe/unsubscribe requests a connection received (init and fences left out)."""
    return transport.subscription_requests()


def wait_tradable(client: FeedClient, market_ids: List[str]) -> None:
    book = client.book
    ok = book.wait_for(lambda: all(book.is_tradable(m) for m in market_ids), WAIT)
    assert ok, f"expected tradable: {market_ids}; tradable: {sorted(book.tradable_market_ids())}"


def test_an_unsubscribed_event_stays_untradable_after_a_reconnect(
    client: FeedClient, feed: SimFeed, rec: Recorder
) -> None:
    # Observed before the runtime rewrite (commit 09e6303): after the reconnect the client re-sends subscribe {} and then
    # unsubscribe {E1}; the server's images for E1 (sent for the subscribe) make E1's markets
    # tradable on session 2, and they stay so with no update since:
    # "AssertionError: E1 tradable on session 2: ['golf_..._top3', 'golf_..._winonly']".
    e1, e2 = feed.event_ids()
    client.subscribe()
    client.unsubscribe(event_ids=[e1])
    fence(client)
    assert client.book.tradable_market_ids() == set(feed.market_ids(e2))  # session 1 is right

    reconnect(feed, rec)
    wait_tradable(client, feed.market_ids(e2))
    fence(client)
    stale = sorted(set(feed.market_ids(e1)) & client.book.tradable_market_ids())
    assert stale == [], f"E1 tradable on session 2: {stale}"
    assert [s for s in rec.statuses_since_connect(2) if s[0] in feed.market_ids(e1) and s[1]] == []


def test_a_partly_unsubscribed_filter_keeps_the_rest_only(
    client: FeedClient, feed: SimFeed, rec: Recorder
) -> None:
    # Observed before the runtime rewrite (commit 09e6303): "AssertionError: client.subscriptions still names E1: [{'event_ids':
    # [E1, E2]}]"; and both requests are re-sent on the reconnect, so E1's markets are tradable on
    # session 2 as in 2a (the assertion after this one fails the same way when the first is fixed).
    e1, e2 = feed.event_ids()
    client.subscribe(event_ids=[e1, e2])
    client.unsubscribe(event_ids=[e1])
    fence(client)
    assert client.book.tradable_market_ids() == set(feed.market_ids(e2))

    reconnect(feed, rec)
    wait_tradable(client, feed.market_ids(e2))
    fence(client)
    subscriptions = client.subscriptions
    assert e1 not in set(strings_in(subscriptions)), f"client.subscriptions still names E1: {subscriptions!r}"
    stale = sorted(set(feed.market_ids(e1)) & client.book.tradable_market_ids())
    assert stale == [], f"E1 tradable on session 2: {stale}"
    assert [s for s in rec.statuses_since_connect(2) if s[0] in feed.market_ids(e1) and s[1]] == []


def test_a_filter_in_another_order_cancels_the_subscription(
    client: FeedClient, feed: SimFeed, rec: Recorder
) -> None:
    # Observed before the runtime rewrite (commit 09e6303): "AssertionError: still subscribed: [{'event_ids': [a, b]}]" -- the
    # unsubscribe of [b, a] is kept beside the subscribe of [a, b] (and both are re-sent on every
    # reconnect).
    a, b = feed.event_ids()
    client.subscribe(event_ids=[a, b])
    client.unsubscribe(event_ids=[b, a])
    fence(client)
    assert client.book.tradable_market_ids() == frozenset()
    assert not client.subscriptions, f"still subscribed: {client.subscriptions!r}"

    second = reconnect(feed, rec)
    fence(client)
    assert resent(second) == [], f"re-sent on reconnect: {resent(second)}"
    assert client.book.tradable_market_ids() == frozenset()


def _toggle_every_market(client: FeedClient, ids: List[str]) -> None:
    """subscribe() everything, then turn each of 50 markets off and on again: everything is in force."""
    client.subscribe()
    for x in ids:
        client.unsubscribe(market_ids=[x])
        client.subscribe(market_ids=[x])


def _stray_unsubscribes(client: FeedClient, ids: List[str]) -> None:
    """Unsubscribe 50 markets never subscribed, then subscribe and unsubscribe each: nothing in force."""
    for x in ids:
        client.unsubscribe(market_ids=[x])
    for x in ids:
        client.subscribe(market_ids=[x])
        client.unsubscribe(market_ids=[x])


@pytest.mark.parametrize(
    "history, in_force_requests",
    [(_toggle_every_market, 1), (_stray_unsubscribes, 0)],
    ids=["toggled-back-on", "never-subscribed"],
)
def test_the_resubscription_is_bounded_by_what_is_in_force(
    client: FeedClient,
    feed: SimFeed,
    rec: Recorder,
    history: Callable[[FeedClient, List[str]], None],
    in_force_requests: int,
) -> None:
    # Observed before the runtime rewrite (commit 09e6303): toggled-back-on re-sends 101 requests on the reconnect (subscribe {} and
    # every unsubscribe/subscribe pair): "AssertionError: 101 requests re-sent for 1 filter(s) in
    # force"; never-subscribed re-sends the 50 stray unsubscribes: "50 requests re-sent for 0".
    ids = [f"x{i}" for i in range(50)]
    history(client, ids)
    fence(client)

    second = reconnect(feed, rec)
    fence(client)
    requests = resent(second)
    # The fewest requests that reproduce the state, give or take one.
    assert len(requests) <= in_force_requests + 1, (
        f"{len(requests)} requests re-sent for {in_force_requests} filter(s) in force: "
        f"{[(r.name, r.msg) for r in requests[:6]]} ..."
    )
    expected = set(feed.market_ids()) if in_force_requests else set()
    if expected:
        wait_tradable(client, sorted(expected))
    assert client.book.tradable_market_ids() == expected


def test_only_the_rate_limited_resubscription_is_sent_again(
    client: FeedClient, feed: SimFeed, rec: Recorder
) -> None:
    # Observed before the runtime rewrite (commit 09e6303): the server rate-limits the third re-sent request; a second later the client
    # re-sends all three: "AssertionError: sent again although it succeeded: {"event_ids: [E1]": 2,
    # "market_type_ids: ['mt.winonly']": 2}".
    e1, _ = feed.event_ids()
    _, t2 = feed.market_type_ids()
    lone = feed.market_ids()[0]
    # Three subscriptions no single filter can express: one request each, whatever the order.
    client.subscribe(event_ids=[e1])
    client.subscribe(market_type_ids=[t2])
    client.subscribe(market_ids=[lone])
    fence(client)
    in_force = {filter_key({"event_ids": [e1]}), filter_key({"market_type_ids": [t2]})}
    in_force.add(filter_key({"market_ids": [lone]}))

    limited: Dict[str, Any] = {}

    def limit_the_third(transport: SimTransport, request: Request) -> None:
        if transport.index == 1 and request.name == "subscribe" and "filter" not in limited:
            if len(transport.subscription_requests()) == 3:
                limited["filter"] = filter_key(request.msg)
                assert transport.session is not None
                transport.session.rate_limit_next(1)

    feed.on_request = limit_the_third
    second = reconnect(feed, rec)

    def count() -> Counter:
        return Counter(filter_key(r.msg) for r in resent(second) if r.name == "subscribe")

    # Assumes the runtime retries a rate-limited re-subscription within WAIT (today: after 1 s).
    assert feed.wait_requests(lambda: "filter" in limited and count()[limited["filter"]] >= 2), (
        f"the rate-limited re-subscription was never sent again: {count()}"
    )
    fence(client)
    counts = count()
    assert set(counts) == in_force
    again = {_show(k): n for k, n in counts.items() if k != limited["filter"] and n != 1}
    assert again == {}, f"sent again although it succeeded: {again}"
    wait_tradable(client, sorted(feed.market_ids(e1)))


def _show(key: Any) -> str:
    return ", ".join(f"{k}: {sorted(v)}" for k, v in sorted(key))


class _ParkCallerAfterWake:
    """Park one thread right after its response woke it, before it can act on that response.

    A request's caller sleeps in ``threading.Condition.wait`` (under ``Event.wait``,
    ``Future.result`` or a queue) until its response is in. This trace function, installed on the
    caller's thread, counts the ``Condition.wait`` calls the thread is inside (:meth:`wait_inside`
    lets the test thread wait for one); once :meth:`response_released` was called, the next such
    wait that returns parks the thread (:attr:`parked`) until :meth:`release`.
    """

    def __init__(self) -> None:
        self.parked = threading.Event()
        self._released = threading.Event()
        self._unpark = threading.Event()
        self._changed = threading.Condition()
        self._inside = 0
        self._wait_code = threading.Condition.wait.__code__

    def install(self) -> None:
        sys.settrace(self._global)

    def wait_inside(self, timeout: float) -> bool:
        """Wait until the traced thread sleeps in a ``Condition.wait``."""
        with self._changed:
            return self._changed.wait_for(lambda: self._inside > 0, timeout)

    def response_released(self) -> None:
        self._released.set()

    def release(self) -> None:
        self._unpark.set()

    def _global(self, frame: FrameType, event: str, arg: Any) -> Optional[Callable[..., Any]]:
        if event == "call" and frame.f_code is self._wait_code and not self.parked.is_set():
            with self._changed:
                self._inside += 1
                self._changed.notify_all()
            return self._local
        return None

    def _local(self, frame: FrameType, event: str, arg: Any) -> Optional[Callable[..., Any]]:
        if event == "return":
            with self._changed:
                self._inside -= 1
            if self._released.is_set() and not self.parked.is_set():
                sys.settrace(None)
                self.parked.set()
                self._unpark.wait(WAIT * 2)
        return self._local


def test_a_subscription_answered_just_before_a_drop_is_in_force_on_the_next_session(
    client: FeedClient, feed: SimFeed, rec: Recorder
) -> None:
    # Observed before the runtime rewrite (commit 09e6303): the caller is parked right after "ok" woke it; meanwhile the client reads
    # the end of the stream, reconnects and re-subscribes without it (the log is written by the
    # caller, later), so subscribe() returns ok for a subscription session 2 never got:
    # "AssertionError: session 2 does not have the subscription subscribe() reported done:
    # session 2 received []" (10 of 10 runs). Without the parking, main loses the same race on its
    # own in about 2 runs of 5, and the test passes when it wins: the window is real.
    e1, _ = feed.event_ids()
    fence(client)
    first = feed.current
    park = _ParkCallerAfterWake()

    got_it = threading.Event()

    def answer_then_close(transport: SimTransport, request: Request) -> None:
        # The server has answered the subscribe; it now ends the connection. Its answer and the
        # end of the stream reach the client together, once the caller sleeps waiting for it.
        if transport is first and request.name == "subscribe":
            transport.hold_output()
            transport.drop()
            got_it.set()

    feed.after_request = answer_then_close
    result: Dict[str, Any] = {}

    def caller() -> None:
        park.install()
        try:
            result["response"] = client.subscribe(event_ids=[e1])
        except BaseException as exc:  # reported by the test thread
            result["error"] = exc
        finally:
            sys.settrace(None)

    thread = threading.Thread(target=caller, name="imgfeed-test-subscriber")
    thread.start()
    try:
        assert got_it.wait(WAIT), "the server never received the subscribe"
        assert park.wait_inside(WAIT), "the caller never waited for its response"
        park.response_released()
        first.release_output()
        assert park.parked.wait(WAIT), "the caller was never woken by its response"
        # While the caller is parked: the client sees the end, reconnects and re-subscribes.
        assert rec.wait_for(lambda r: r.count("on_connect") >= 2), "no second session"
        fence(client)
    finally:
        park.release()
        first.release_output()
        thread.join(WAIT)
    assert "error" not in result, result
    assert result["response"].is_ok
    second = feed.current
    assert second.index == 1
    # Give the runtime a moment in case it re-subscribes after answering the caller.
    feed.wait_requests(lambda: set(feed.market_ids(e1)) <= second.subscribed_market_ids(), SETTLE)
    assert set(feed.market_ids(e1)) <= second.subscribed_market_ids(), (
        "session 2 does not have the subscription subscribe() reported done: "
        f"session 2 received {[(r.name, r.msg) for r in resent(second)]}"
    )
    wait_tradable(client, feed.market_ids(e1))
