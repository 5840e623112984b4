"""End to end: the IMG simulator over SSH -> a direct client -> Redis -> consumers with the same book."""

from __future__ import annotations

from typing import Any, List

from imgfeed.fanout.redis import Publisher, StreamConsumer
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
        assert rec.count("on_connect") == 1 and rec.count("on_disconnect") == 0
        session = rec.args("on_connect")[0]
        assert session.session_id == client.stats().session_id
    assert a.stats().session_id == client.stats().session_id
