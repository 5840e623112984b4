"""End to end for Betfair: the emulator over TLS -> a BetfairClient -> Redis -> consumers with the same caches.

Each test steps the emulator's scenario by hand, waits until the direct client applied everything
the emulator wrote (its ``clk`` is the emulator's last), takes the direct client's books, and
waits until the consumer's books are the same: runner status, ltp, tv, spn/spf and every ladder
(tests/betfair_client/support.py ``book_shape``), the definition, the tradable markets and the
order books.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List

import attrs
import redis as redis_py

from imgfeed.betfair import BetfairClient, MarketBook, SuspendReason
from imgfeed.fanout.redis import Publisher, StreamConsumer
from imgfeed.feeds.betfair.emulator import ScenarioConfig
from imgfeed.runtime.events import DisconnectReason
from tests.betfair_client.conftest import ALL_FIELDS, FAST
from tests.betfair_client.support import Recorder, book_shape, called, caught_up
from tests.fanout.redis_server import RedisServer
from tests.fanout.support import FAST_CONSUMER, FAST_PUBLISHER, WAIT

Make = Callable[..., Any]
STREAM = "racing"
#: Markets and orders, long enough that nothing closes within a test.
SCENARIO = ScenarioConfig(
    seed=7, markets=6, order_markets=3, order_probability=1.0, pre_play_steps=30, in_play_steps=30,
    start_time=1.7e9,
)


def state(markets: Any, orders: Any) -> Dict[str, Any]:
    """What a trader sees: every market's book (and definition), what is tradable, the orders."""
    with markets._lock:
        ids = markets.market_ids()
        return {
            "markets": {m: (book_shape(markets.book(m)), markets.book(m).definition) for m in ids},
            "tradable": markets.tradable(),
            "suspended": markets.suspend_reason,
            "orders": {m: (orders.book(m).runners, orders.book(m).closed) for m in orders.market_ids()},
        }


def direct_state(client: BetfairClient) -> Dict[str, Any]:
    return state(client.markets, client.orders)


def consumer_state(c: StreamConsumer) -> Dict[str, Any]:
    return state(c.book, c.order_book)


def converges(c: StreamConsumer, expected: Dict[str, Any]) -> bool:
    return c.book.wait_until(lambda: consumer_state(c) == expected, WAIT)


def published(server: Any, make_client: Make, redis: RedisServer, closing: List[Any], **options: Any) -> Any:
    """A direct client tapped from its first byte, subscribed to every market and to its orders."""
    client: BetfairClient = make_client(server)
    publisher = Publisher(client, redis.url, STREAM, **{**FAST_PUBLISHER, **options}).start()
    closing.append(publisher)
    assert publisher.wait_until(lambda s: s.written >= 1, WAIT)  # the stream exists
    client.start()
    client.subscribe_orders()
    client.subscribe_markets({}, ALL_FIELDS)
    step(server, client, 3)
    return client, publisher


def step(server: Any, client: BetfairClient, n: int) -> Dict[str, Any]:
    """Step the scenario ``n`` times; the direct client's state once it applied all of it."""
    for _ in range(n):
        server.scenario.step()
    caught_up(server, client)
    caught_up(server, client, "ocm")
    return direct_state(client)


def consumer(redis: RedisServer, closing: List[Any], *handlers: Any, **options: Any) -> StreamConsumer:
    c = StreamConsumer(redis.url, STREAM, list(handlers), **{**FAST_CONSUMER, **options}).start()
    closing.append(c)
    return c


def test_the_stream_says_betfair_and_a_consumer_ends_with_the_direct_clients_caches(
    make_server: Make, make_client: Make, redis_server: RedisServer, closing: List[Any]
) -> None:
    server = make_server(FAST, SCENARIO)
    # No checkpoint during this test: the consumer must rebuild from the stream's start, and with
    # the fast 0.2 s first checkpoint a loaded machine let it find one and start there instead.
    client, publisher = published(
        server, make_client, redis_server, closing, first_checkpoint=600.0, checkpoint_interval=600.0
    )
    r = redis_py.Redis.from_url(redis_server.url)
    try:
        assert r.hgetall(f"{STREAM}:meta") == {b"format": b"1", b"feed": b"betfair"}
    finally:
        r.close()
    down = Recorder()
    # A longer silence deadline than the other tests': this one asserts that nothing was lost or
    # reconnected, and a loaded machine can stall a consumer for a second.
    c = consumer(redis_server, closing, down, silence_timeout=5.0)
    assert c.feed == "betfair"
    expected = step(server, client, 8)
    assert expected["tradable"] and expected["orders"]  # there is something to get right
    assert converges(c, expected), (consumer_state(c), expected)
    # the handlers saw what a direct client's would: the upstream's session, books, tradability
    calls = down.wait_for(called("on_market_status", len(expected["tradable"]), lambda m, t: t))
    assert [a[0].session_id for n, a in calls if n == "on_connect"] == [client.stats().session_id]
    booked = {a[0].market_id for n, a in calls if n == "on_market_book"}
    assert booked == set(expected["markets"]) and all(isinstance(a[0], MarketBook) for n, a in calls if n == "on_market_book")
    assert down.wait_for(called("on_order_book"))  # delivered after the caches converged, maybe later
    assert not down.of("on_disconnect") and not down.of("on_protocol_error")
    assert c.stream_state.resyncs == 0  # from the stream's start, not a checkpoint
    # and it goes on following the deltas
    expected = step(server, client, 6)
    assert converges(c, expected), (consumer_state(c), expected)


def test_a_late_joiner_after_trimming_loads_a_checkpoint_and_converges(
    make_server: Make, make_client: Make, make_redis: Any, closing: List[Any]
) -> None:
    redis = make_redis(config=["stream-node-max-entries 4"])  # MAXLEN ~ trims in nodes of 4 entries
    server = make_server(FAST, SCENARIO)
    client, publisher = published(server, make_client, redis, closing, maxlen=20)
    for _ in range(6):
        step(server, client, 2)
    assert publisher.wait_until(lambda s: s.checkpoints >= 2 and s.written > 60, WAIT)
    late = Recorder()
    c = consumer(redis, closing, late)
    expected = step(server, client, 2)
    assert converges(c, expected), (consumer_state(c), expected)
    assert c.stream_state.resyncs >= 1  # from a checkpoint: the stream's start was trimmed
    late.wait_for(called("on_connect"))
    assert [a[0].session_id for a in late.of("on_connect")] == [client.stats().session_id]
    expected = step(server, client, 3)
    assert converges(c, expected), (consumer_state(c), expected)


def test_the_upstream_dropping_suspends_the_consumer_until_the_resubscription_is_whole(
    make_server: Make, make_client: Make, redis_server: RedisServer, closing: List[Any]
) -> None:
    server = make_server(FAST, SCENARIO)
    client, publisher = published(server, make_client, redis_server, closing)
    down = Recorder()
    c = consumer(redis_server, closing, down)
    expected = step(server, client, 2)
    assert converges(c, expected) and expected["tradable"]
    server.faults.drop("rst")
    down.wait_for(called("on_suspend_all", where=lambda reason: reason is SuspendReason.DISCONNECTED))
    assert not c.book.tradable()
    down.wait_for(called("on_connect", 2))
    assert server.wait_for_subscriptions(1, WAIT) and server.wait_for_subscriptions(1, WAIT, kind="ocm")
    expected = step(server, client, 3)  # the RESUB_DELTA with clocks, then deltas
    assert converges(c, expected), (consumer_state(c), expected)
    assert expected["tradable"] and c.book.tradable() == expected["tradable"]
    names = down.names()
    lost = names.index("on_disconnect")
    assert names.index("on_suspend_all") < lost < names.index("on_connect", lost)
    assert down.of("on_disconnect")[0][0].reason is not DisconnectReason.USER_STOP
    sessions = [a[0].session_id for a in down.of("on_connect")]
    assert sessions[1] == client.stats().session_id != sessions[0]


def test_heartbeats_late_upstream_suspend_the_consumer_and_their_return_resumes_it(
    make_server: Make, make_client: Make, redis_server: RedisServer, closing: List[Any]
) -> None:
    server = make_server(FAST, SCENARIO)
    client, publisher = published(server, make_client, redis_server, closing)
    c = consumer(redis_server, closing)
    expected = step(server, client, 2)
    assert converges(c, expected) and expected["tradable"]
    server.faults.stop_heartbeats()
    assert c.book.wait_until(lambda: c.book.suspend_reason is SuspendReason.HEARTBEAT_LATE, WAIT)
    assert not c.book.tradable()
    server.faults.resume_heartbeats()
    assert c.book.wait_until(lambda: c.book.tradable() == expected["tradable"], WAIT)


def test_the_consumers_own_reconnect_resumes_the_books_without_a_new_image(
    make_server: Make, make_client: Make, make_redis: Any, closing: List[Any]
) -> None:
    """Redis restarts under the consumer: it resumes after its last entry, tradable again at once
    (Betfair sends no new image while the upstream connection stands)."""
    redis = make_redis()
    server = make_server(FAST, SCENARIO)
    client, publisher = published(server, make_client, redis, closing)
    down = Recorder()
    c = consumer(redis, closing, down)
    expected = step(server, client, 2)
    assert converges(c, expected) and expected["tradable"]
    c_transport = c._current[0]
    c_transport.close()  # the consumer's own connection to Redis breaks; the upstream stands
    down.wait_for(called("on_connect", 2))
    # no scenario step: only heartbeats arrive, so nothing but the resume itself reopens the markets
    assert converges(c, expected), (consumer_state(c), expected)
    names = down.names()
    lost = names.index("on_disconnect")
    assert names.index("on_suspend_all") < lost < names.index("on_connect", lost)
    expected = step(server, client, 2)
    assert converges(c, expected), (consumer_state(c), expected)
    assert c.stream_state.resyncs == 0 and len(server.sessions()) == 1  # resumed, not re-imaged


def test_segmented_images_arrive_whole_downstream_and_a_late_joiner_starts_from_a_checkpoint(
    make_server: Make, make_client: Make, redis_server: RedisServer, closing: List[Any]
) -> None:
    server = make_server(attrs.evolve(FAST, segment_size=1024), SCENARIO)  # every image in many segments
    # Checkpoints only when asked: the early consumer must start from the stream's start (with the
    # fast 0.2 s first checkpoint a loaded machine could let it find one), the late one from ours.
    client, publisher = published(
        server, make_client, redis_server, closing, first_checkpoint=600.0, checkpoint_interval=600.0
    )
    assert client.markets.stream_stats()["images"] >= 1
    early = consumer(redis_server, closing)
    expected = step(server, client, 2)
    assert converges(early, expected), (consumer_state(early), expected)
    before = publisher.stats().checkpoints
    publisher.checkpoint_now()
    assert publisher.wait_until(lambda s: s.checkpoints > before, WAIT)
    late = consumer(redis_server, closing)
    expected = step(server, client, 3)
    for c in (early, late):
        assert converges(c, expected), (consumer_state(c), expected)
    assert late.stream_state.resyncs == 1 and early.stream_state.resyncs == 0
    again = Recorder()
    client.add_handler(again)
    server.faults.drop("fin")  # the RESUB_DELTA, segmented too
    again.wait_for(called("on_connect"))
    assert server.wait_for_subscriptions(1, WAIT) and server.wait_for_subscriptions(1, WAIT, kind="ocm")
    expected = step(server, client, 2)
    for c in (early, late):
        assert converges(c, expected), (consumer_state(c), expected)
        assert c.book.stream_stats()["segment_errors"] == 0 and c.stats().protocol_errors == 0
    r = redis_py.Redis.from_url(redis_server.url)
    try:
        segments = [f[b"l"] for _, f in r.xrange(STREAM) if b'"SEG_START"' in f.get(b"l", b"")]
    finally:
        r.close()
    assert len(segments) >= 2  # the image and the RESUB_DELTA were segmented upstream


def test_a_group_member_gets_the_betfair_records_once_acknowledged(
    make_server: Make, make_client: Make, redis_server: RedisServer, closing: List[Any]
) -> None:
    """Work done once (a settlement writer on order books): one member of a group gets every entry."""
    server = make_server(FAST, SCENARIO)
    client, publisher = published(server, make_client, redis_server, closing)
    member = Recorder()
    c = consumer(redis_server, closing, member, group="settle", consumer="a", start_id="0")
    expected = step(server, client, 3)
    member.wait_for(lambda calls: {a[0].market_id for n, a in calls if n == "on_order_book"} >= set(expected["orders"]))
    member.wait_for(lambda calls: {a[0].market_id for n, a in calls if n == "on_market_book"} >= set(expected["markets"]))
    assert not member.of("on_protocol_error") and not member.of("on_handler_error")
    written = publisher.stats().written
    assert c.acks.wait_until(lambda: c.acks.acked >= written, WAIT), (c.acks.acked, written)


def test_a_stale_stream_upstream_suspends_the_consumer_from_the_lines(
    make_server: Make, make_client: Make, redis_server: RedisServer, closing: List[Any]
) -> None:
    server = make_server(FAST, SCENARIO)
    client, publisher = published(server, make_client, redis_server, closing)
    c = consumer(redis_server, closing)
    expected = step(server, client, 2)
    assert converges(c, expected) and expected["tradable"]
    server.faults.start_503(("mcm",))
    assert c.book.wait_until(lambda: c.book.suspend_reason is SuspendReason.STALE, WAIT)
    assert not c.book.tradable() and client.markets.suspend_reason is SuspendReason.STALE
    server.faults.end_503()
    assert c.book.wait_until(lambda: c.book.tradable() == expected["tradable"], WAIT)


def test_deltas_lost_in_a_redis_outage_end_the_consumers_session_and_a_checkpoint_resynchronises_it(
    make_server: Make, make_client: Make, redis_server: RedisServer, closing: List[Any]
) -> None:
    """After a gap no market is tradable downstream until its next image: here the checkpoint's."""
    server = make_server(FAST, SCENARIO)
    client, publisher = published(server, make_client, redis_server, closing, buffer_limit=5)
    down = Recorder()
    c = consumer(redis_server, closing, down)
    expected = step(server, client, 2)
    assert converges(c, expected) and expected["tradable"]
    redis_server.kill()
    down.wait_for(called("on_suspend_all", where=lambda reason: reason is SuspendReason.DISCONNECTED))
    # Waited for, not read at once: on a loaded machine the publisher's five-entry buffer can
    # overflow before the kill, and the consumer then ends a session for that gap and resyncs from
    # a checkpoint while Redis is still up; the suspension seen above may be that one.
    assert c.book.wait_until(lambda: not c.book.tradable(), WAIT)
    step(server, client, 6)  # deltas the buffer cannot hold: dropped, counted
    assert publisher.wait_until(lambda s: not s.connected and s.dropped > 0, WAIT)
    redis_server.restart()
    assert publisher.wait_until(lambda s: s.connected and s.gaps >= 1 and s.buffered == 0, WAIT)
    expected = step(server, client, 2)
    assert converges(c, expected), (consumer_state(c), expected)
    assert c.stream_state.resyncs >= 1  # from the checkpoint written after the gap
    assert down.of("on_disconnect")[0][0].reason is DisconnectReason.TRANSPORT_ERROR
