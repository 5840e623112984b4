"""Subscriptions: in force when confirmed, replaced by the next, restored with clocks; the order stream.

A new market subscription replaces the old one: messages still carrying the old ``id`` are dropped,
and no market is tradable until the new image is whole. The order stream is subscribed, imaged
and resumed the same way, and its books are the account's orders per market.
"""

from __future__ import annotations

from typing import Any, Callable, Dict

from imgfeed.betfair import BetfairClient, OrderBook
from imgfeed.feeds.betfair.emulator import ScenarioConfig
from tests.betfair_client.conftest import ALL_FIELDS, FAST, WAIT
from tests.betfair_client.support import Recorder, assert_same_books, called, caught_up, live_session

Make = Callable[..., Any]
ORDERS = ScenarioConfig(seed=4, markets=4, order_markets=2, order_probability=1.0, start_time=1.7e9)


def test_a_new_subscription_replaces_the_old_and_drops_its_messages(
    make_server: Make, make_client: Make, recorder: Recorder
) -> None:
    server = make_server()
    client: BetfairClient = make_client(server, [recorder])
    client.start()
    first = client.subscribe_markets({"eventTypeIds": ["7"]}, ALL_FIELDS)
    assert client.markets.wait_until(lambda: bool(client.markets.tradable()), WAIT)
    horses = set(client.markets.market_ids())
    assert horses == {i.market_id for i in server.scenario.market_infos() if i.event_type_id == "7"}
    second = client.subscribe_markets({"eventTypeIds": ["1"]}, ALL_FIELDS)
    assert second.id != first.id
    football = {i.market_id for i in server.scenario.market_infos() if i.event_type_id == "1"}
    assert client.markets.wait_until(lambda: set(client.markets.market_ids()) == football, WAIT)
    assert client.markets.tradable() <= football
    # A message with the replaced subscription's id, as a slow server could still send: dropped.
    server.faults.send_raw(
        b'{"op":"mcm","id":%d,"clk":"OLD","pt":1,"mc":[{"id":"1.999","img":true}]}\r\n' % first.id
    )
    server.scenario.step()
    caught_up(server, client)
    assert "1.999" not in client.markets and client.markets.stream_stats()["dropped_other_id"] >= 1
    assert_same_books(server, client, {"eventTypeIds": ["1"]}, ALL_FIELDS)


def test_a_resubscription_sends_the_same_filters_with_the_clocks(make_server: Make, make_client: Make) -> None:
    server = make_server()
    client: BetfairClient = make_client(server)
    client.start()
    client.subscribe_markets({"eventTypeIds": ["7"]}, {"fields": ["EX_BEST_OFFERS", "EX_MARKET_DEF"], "ladderLevels": 2})
    server.scenario.step()
    caught_up(server, client)
    clocks = client.markets.clocks
    server.faults.drop("fin")
    assert server.wait_until(
        lambda: any(s.subscription("mcm") is not None and s.connection_id.endswith("-2") for s in server.sessions()), WAIT
    )
    sub = live_session(server).subscription("mcm")
    assert sub.initial_clk == clocks["initial_clk"]
    assert sub.columns.ladder_levels == 2 and frozenset({"7"}) in sub.rows.sets.values()
    assert sub.segmentation and sub.heartbeat_ms == 500


def order_books(recorder: Recorder) -> Dict[str, OrderBook]:
    books: Dict[str, OrderBook] = {}
    for (book,) in recorder.of("on_order_book"):
        books[book.market_id] = book
    return books


def test_the_order_stream_images_updates_and_resumes(make_server: Make, make_client: Make, recorder: Recorder) -> None:
    server = make_server(FAST, ORDERS)
    client: BetfairClient = make_client(server, [recorder])
    client.start()
    client.subscribe_orders()
    assert client.orders.wait_until(lambda: client.orders.is_live, WAIT)
    for _ in range(4):
        server.scenario.step()
    caught_up(server, client, "ocm")
    assert len(client.orders) >= 1
    market_id = client.orders.market_ids()[0]
    book = client.orders.book(market_id)
    assert book.orders and all(o.market_id == market_id for o in book.orders)
    recorder.wait_for(lambda calls: order_books(recorder).get(market_id) == book)
    clocks = client.orders.clocks
    server.faults.drop("rst")
    for _ in range(3):
        server.scenario.step()
    recorder.wait_for(called("on_connect", 2))
    assert server.wait_for_subscriptions(1, WAIT, kind="ocm")
    assert live_session(server, "ocm").subscription("ocm").initial_clk == clocks["initial_clk"]
    caught_up(server, client, "ocm")
    assert client.orders.is_live
    with server.scenario.lock:
        for market_id in client.orders.market_ids():
            truth = server.scenario.orders_log.image(market_id)
            bets = {o["id"]: o for r in truth.get("orc", []) for o in r.get("uo", [])}
            ours = {o.bet_id: o for o in client.orders.book(market_id).orders}
            assert set(ours) <= set(bets)
            for bet_id, order in ours.items():
                assert order.raw == bets[bet_id]


def test_orders_and_markets_on_one_connection(make_server: Make, make_client: Make, recorder: Recorder) -> None:
    server = make_server(FAST, ORDERS)
    client: BetfairClient = make_client(server, [recorder])
    client.start()
    client.subscribe_markets({}, ALL_FIELDS)
    client.subscribe_orders({"includeOverallPosition": True})
    for _ in range(3):
        server.scenario.step()
    caught_up(server, client)
    caught_up(server, client, "ocm")
    assert client.orders.is_live and client.markets.tradable()
    market_id = client.orders.market_ids()[0]
    assert client.orders.is_tradable(market_id) == client.markets.is_tradable(market_id)
    assert_same_books(server, client, {}, ALL_FIELDS)


def test_a_restore_refused_for_the_subscription_limit_is_given_up_and_said(
    make_server: Make, make_client: Make, recorder: Recorder, caplog: Any
) -> None:
    server = make_server()
    client: BetfairClient = make_client(server, [recorder])
    client.start()
    client.subscribe_markets({}, ALL_FIELDS)
    caught_up(server, client)
    server.faults.fail_next("marketSubscription", "SUBSCRIPTION_LIMIT_EXCEEDED")
    server.faults.drop("fin")
    recorder.wait_for(called("on_status", where=lambda s: s.error_code == "SUBSCRIPTION_LIMIT_EXCEEDED"))
    assert client.markets.wait_until(lambda: client._betfair.markets.request is None, WAIT)
    assert "no longer in force" in caplog.text
    assert client.stats().sessions == 2 and not client.markets.tradable()


def test_a_restore_refused_with_a_closing_error_is_restored_on_the_next_connection(
    make_server: Make, make_client: Make, recorder: Recorder
) -> None:
    server = make_server()
    client: BetfairClient = make_client(server, [recorder])
    client.start()
    client.subscribe_markets({}, ALL_FIELDS)
    caught_up(server, client)
    server.faults.fail_next("marketSubscription", "UNEXPECTED_ERROR")
    server.faults.drop("fin")
    recorder.wait_for(called("on_connect", 3))
    assert client.markets.wait_until(lambda: bool(client.markets.tradable()), WAIT)
    assert client._betfair.markets.request is not None
