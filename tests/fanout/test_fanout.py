"""End to end: the IMG simulator over SSH -> a direct client -> Redis -> consumers with the same book."""

from __future__ import annotations

from typing import Any, List

from imgfeed.fanout.redis import Publisher, StreamConsumer
from imgfeed.runtime.events import DisconnectReason, SuspendReason
from tests.fanout.redis_server import RedisServer
from tests.fanout.support import FAST_CONSUMER, FAST_PUBLISHER, WAIT, book_state, same_book
from tests.integration.conftest import Sim
from tests.reliability.support import Recorder


def published(sim: Sim, redis: RedisServer, closing: List[Any], **options: Any) -> Any:
    """A direct client tapped by a publisher from its first byte, subscribed to everything."""
    direct = Recorder()
    client = sim.client(direct, start=False)
    publisher = Publisher(client, redis.url, "golf", **{**FAST_PUBLISHER, **options}).start()
    closing.append(publisher)
    assert publisher.wait_until(lambda s: s.written >= 1, WAIT)  # the stream exists
    client.start()
    client.subscribe()
    markets = set(sim.scenario.market_ids(include_finished=False))
    assert client.book.wait_for(lambda: set(client.book.snapshot().images) >= markets, WAIT)
    return client, publisher, direct


def consumer(redis: RedisServer, closing: List[Any], *handlers: Any, **options: Any) -> StreamConsumer:
    c = StreamConsumer(redis.url, "golf", list(handlers), **{**FAST_CONSUMER, **options}).start()
    closing.append(c)
    return c


def test_two_consumers_end_with_the_direct_clients_book(sim: Sim, redis_server: RedisServer, closing: List[Any]) -> None:
    client, publisher, direct = published(sim, redis_server, closing)
    first, second = Recorder(), Recorder()
    a = consumer(redis_server, closing, first)
    b = consumer(redis_server, closing, second)
    for _ in range(5):
        sim.scenario.step()
    for c in (a, b):
        assert c.book.wait_for(lambda c=c: same_book(c.book, client.book), WAIT), (book_state(c.book), book_state(client.book))
    assert book_state(a.book)["tradable"]  # something is tradable, and the same as the direct client's
    for rec in (first, second):
        assert rec.wait_for(lambda r: r.count("on_connect") == 1, WAIT) and rec.count("on_disconnect") == 0
        session = rec.args("on_connect")[0]
        assert session.session_id == client.stats().session_id
    assert a.stats().session_id == client.stats().session_id


def test_a_consumer_joining_after_trimming_starts_from_a_checkpoint_and_converges(
    sim: Sim, make_redis: Any, closing: List[Any]
) -> None:
    redis = make_redis(config=["stream-node-max-entries 4"])  # MAXLEN ~ trims in nodes of 4 entries
    client, publisher, _ = published(sim, redis, closing, maxlen=30)
    r = redis_client(redis)
    closing.append(_Closer(r))
    for _ in range(20):
        sim.scenario.step()
    assert publisher.wait_until(lambda s: s.checkpoints >= 2 and s.written > 120, WAIT)
    first = r.xrange("golf", "-", "+", count=1)[0]
    assert b"m" not in first[1] or first[1][b"m"] != b"start"  # the stream's head is gone
    assert r.xlen("golf") < 60
    late = Recorder()
    c = consumer(redis, closing, late)
    for _ in range(3):
        sim.scenario.step()
    assert c.book.wait_for(lambda: same_book(c.book, client.book), WAIT), (book_state(c.book), book_state(client.book))
    assert c.stream_state.resyncs >= 1  # from a checkpoint, not from the (trimmed) start
    assert late.wait_for(lambda r: r.count("on_market_update") >= len(client.book.snapshot().images), WAIT)
    assert late.count("on_connect") == 1
    assert late.args("on_connect")[0].session_id == client.stats().session_id
    assert late.count("on_sport") == 1 and late.count("on_market") == len(client.book.snapshot().markets)


def test_the_upstream_feed_dropping_suspends_the_consumers_until_it_is_back(
    sim: Sim, redis_server: RedisServer, closing: List[Any]
) -> None:
    client, publisher, direct = published(sim, redis_server, closing)
    down = Recorder()
    c = consumer(redis_server, closing, down)
    assert c.book.wait_for(lambda: same_book(c.book, client.book) and bool(c.book.tradable_market_ids()), WAIT)
    sim.faults.close_all("internal disconnection requested")
    assert down.wait_for(lambda rec: rec.count("on_connect") == 2, WAIT)
    names = down.names()
    lost = names.index("on_disconnect")
    assert names.index("on_suspend_all") < lost < names.index("on_connect", lost)
    assert down.args("on_suspend_all")[0] is SuspendReason.DISCONNECTED
    note = down.args("on_disconnect")[0]
    assert note.reason is DisconnectReason.SERVER_CLOSING and note.code == "internal disconnection requested"
    assert down.args("on_server_closing")  # the upstream's error push, as the direct client saw it
    assert down.args("on_connect")[1].session_id == client.stats().session_id != down.args("on_connect")[0].session_id
    sim.scenario.step()
    assert c.book.wait_for(lambda: same_book(c.book, client.book) and bool(c.book.tradable_market_ids()), WAIT)


def test_heartbeats_late_upstream_suspend_the_consumers_and_their_return_resumes(
    sim: Sim, redis_server: RedisServer, closing: List[Any]
) -> None:
    client, publisher, direct = published(sim, redis_server, closing)
    rec = Recorder()
    c = consumer(redis_server, closing, rec)
    assert c.book.wait_for(lambda: same_book(c.book, client.book) and bool(c.book.tradable_market_ids()), WAIT)
    tradable = c.book.tradable_market_ids()
    sim.faults.stop_heartbeats()
    assert c.book.wait_for(lambda: c.book.suspended is SuspendReason.HEARTBEAT_LATE, WAIT)
    assert not c.book.tradable_market_ids() and client.book.suspended is SuspendReason.HEARTBEAT_LATE
    sim.faults.resume_heartbeats()
    assert c.book.wait_for(lambda: c.book.tradable_market_ids() == tradable, WAIT)
    assert rec.count("on_disconnect") == 0  # the connection was kept, as upstream


class _Closer:
    def __init__(self, r: Any) -> None:
        self.r = r

    def stop(self) -> None:
        self.r.close()


def redis_client(redis: RedisServer) -> Any:
    import redis as redis_py

    return redis_py.Redis.from_url(redis.url)


def test_with_no_usable_checkpoint_a_late_consumer_waits_for_the_next_one(
    sim: Sim, make_redis: Any, closing: List[Any]
) -> None:
    redis = make_redis(config=["stream-node-max-entries 4"])
    client, publisher, _ = published(sim, redis, closing, maxlen=30, checkpoint_interval=3600.0)
    r = redis_client(redis)
    closing.append(_Closer(r))
    assert publisher.wait_until(lambda s: s.checkpoints == 1, WAIT)
    for _ in range(20):
        sim.scenario.step()
    assert publisher.wait_until(lambda s: s.written > 150, WAIT)
    assert not any(f.get(b"m") == b"checkpoint" for _, f in r.xrange("golf"))  # its marker was trimmed
    r.delete("golf:checkpoint")  # and no pointer: no checkpoint to start from
    rec = Recorder()
    c = consumer(redis, closing, rec)
    assert not c.book.wait_for(lambda: bool(c.book.snapshot().markets), 0.05)  # nothing half-built
    before = publisher.stats().checkpoints
    publisher.checkpoint_now()
    assert publisher.wait_until(lambda s: s.checkpoints > before, WAIT)
    sim.scenario.step()
    assert c.book.wait_for(lambda: same_book(c.book, client.book), WAIT), (book_state(c.book), book_state(client.book))
    assert c.stream_state.resyncs == 1 and rec.wait_for(lambda r: r.count("on_connect") == 1, WAIT)
