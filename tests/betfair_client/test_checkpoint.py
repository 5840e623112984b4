"""``checkpoint()``: the caches as wire lines that rebuild the same books in a fresh client."""

from __future__ import annotations

from typing import Any, Callable, List

from imgfeed.betfair import BetfairClient, MarketBook
from imgfeed.feeds.betfair.adapter import BetfairAdapter
from imgfeed.feeds.betfair.emulator import ScenarioConfig
from imgfeed.feeds.betfair.protocol.codec import decode_line
from tests.betfair_client.conftest import ALL_FIELDS, FAST
from tests.betfair_client.support import book_shape, caught_up

Make = Callable[..., Any]
ORDERS = ScenarioConfig(seed=4, markets=6, order_markets=3, order_probability=1.0, start_time=1.7e9)


def test_a_checkpoint_rebuilds_the_market_and_order_caches(make_server: Make, make_client: Make) -> None:
    server = make_server(FAST, ORDERS)
    client: BetfairClient = make_client(server)
    client.start()
    client.subscribe_markets({}, ALL_FIELDS)
    client.subscribe_orders()
    for _ in range(8):
        server.scenario.step()
    caught_up(server, client)
    caught_up(server, client, "ocm")
    lines = client._betfair.checkpoint()
    assert lines is not None and len(lines) == 2
    assert all(line.endswith(b"\r\n") for line in lines)

    fresh = BetfairAdapter(client.config)
    out: List[Any] = []
    with fresh.lock:
        fresh.session_up({}, out)
        for line in lines:
            fresh.apply(decode_line(line, 1.7e9), out)
    markets = client.markets.market_ids()
    assert fresh.markets.cache.market_ids() == markets
    for market_id in markets:
        assert book_shape(fresh.markets.cache.book(market_id)) == book_shape(client.markets.book(market_id))
        assert fresh.markets.cache.book(market_id).definition == client.markets.book(market_id).definition
    assert fresh.orders.cache.market_ids() == client.orders.market_ids()
    for market_id in client.orders.market_ids():
        ours, theirs = client.orders.book(market_id), fresh.orders.cache.book(market_id)
        assert ours.runners == theirs.runners and ours.closed == theirs.closed
    assert fresh.markets.stream.clk == client.markets.clocks["clk"]
    assert fresh.markets.stream.is_image_complete
    # what the new books tell the handlers: one per market, tradable as in the live client
    assert {b.market_id for b in out if isinstance(b, MarketBook)} == set(markets)
    assert fresh.tradability.tradable() == client.markets.tradable()


def test_no_subscription_no_lines(make_server: Make, make_client: Make) -> None:
    server = make_server()
    client: BetfairClient = make_client(server)
    assert client._betfair.checkpoint() == []
