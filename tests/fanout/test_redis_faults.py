"""Redis killed and restarted under a running fan-out: the publisher buffers, counts and marks the
gap; consumers suspend, reconnect, resynchronise from a checkpoint and converge."""

from __future__ import annotations

from typing import Any, Callable, List

from imgfeed.fanout.redis import Publisher
from imgfeed.runtime.events import DisconnectReason, SuspendReason
from tests.fanout.redis_server import RedisServer
from tests.fanout.support import WAIT, book_state, same_book
from tests.fanout.test_fanout import consumer, published
from tests.integration.conftest import Sim
from tests.reliability.support import Recorder


def test_redis_killed_and_restarted_mid_stream(sim: Sim, redis_server: RedisServer, closing: List[Any]) -> None:
    client, publisher, _ = published(sim, redis_server, closing, buffer_limit=30)
    rec = Recorder()
    c = consumer(redis_server, closing, rec)
    assert c.book.wait_for(lambda: same_book(c.book, client.book) and bool(c.book.tradable_market_ids()), WAIT)

    redis_server.kill()
    assert c.book.wait_for(lambda: c.book.suspended is SuspendReason.DISCONNECTED, WAIT)
    assert not c.book.tradable_market_ids()
    for _ in range(10):  # more than the buffer holds: some entries are dropped, and counted
        sim.scenario.step()
    assert publisher.wait_until(lambda s: not s.connected and s.dropped > 0, WAIT)
    stats = publisher.stats()
    assert stats.buffered <= 30 + 1 and stats.last_error is not None
    assert client.book.tradable_market_ids()  # the feed itself never noticed

    redis_server.restart()
    assert publisher.wait_until(lambda s: s.connected and s.buffered == 0 and s.gaps >= 1, WAIT)
    sim.scenario.step()
    assert c.book.wait_for(lambda: same_book(c.book, client.book) and bool(c.book.tradable_market_ids()), WAIT), (
        book_state(c.book), book_state(client.book))
    assert rec.wait_for(lambda r: r.count("on_connect") >= 2, WAIT)
    lost = rec.args("on_disconnect")[0]
    assert lost.reason is DisconnectReason.TRANSPORT_ERROR and lost.will_retry
    assert rec.count("on_connect") >= 2 and c.stream_state.resyncs >= 1
    assert publisher.stats().dropped == stats.dropped  # nothing more was lost once Redis was back


def test_a_publisher_started_while_redis_is_down_buffers_until_it_comes(
    sim: Sim, make_redis: Callable[..., RedisServer], closing: List[Any]
) -> None:
    redis = make_redis()
    redis.kill()
    client = sim.client(Recorder(), start=False)
    publisher = Publisher(client, redis.url, "golf", tick_interval=0.1, connect_timeout=1.0).start()
    closing.append(publisher)
    client.start()
    client.subscribe()
    assert publisher.wait_until(lambda s: s.buffered > 5 and not s.connected and s.last_error, WAIT)
    redis.restart()
    assert publisher.wait_until(lambda s: s.connected and s.buffered == 0 and s.lines > 5, WAIT)
    assert publisher.stats().dropped == 0 and publisher.stats().gaps == 0  # nothing lost: no gap
