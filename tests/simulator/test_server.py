"""The simulator's SSH server, seen from a raw paramiko client: the session end to end."""

from __future__ import annotations

from imgfeed.protocol import (
    Competition,
    Event,
    Heartbeat,
    InitResponse,
    Market,
    MarketType,
    MarketUpdate,
    Response,
    Sport,
)
from tests.simulator.conftest import init, is_kind


def test_init_snapshot_heartbeats_subscribe_updates(make_server, connect):
    server = make_server()
    client = connect(server)
    records = init(client)
    assert isinstance(records[0], InitResponse)
    assert records[0].status == "session initialized" and records[0].session_id
    kinds = [type(r) for r in records[1:-1]]
    # protocol.md 4: sport, competitions, events, market types, markets, in that order.
    order = [Sport, Competition, Event, MarketType, Market]
    assert kinds == sorted(kinds, key=order.index) and set(kinds) == set(order)
    assert isinstance(records[-1], Heartbeat) and records[-1].timestamp is not None
    assert server.wait_for_sessions(1, timeout=5)

    markets = [r.id for r in records if isinstance(r, Market)]
    client.send({"request": "subscribe", "request_id": "7", "msg": {}})
    seen = client.expect(lambda r: isinstance(r, Response))
    assert seen[-1].request_id == "7" and seen[-1].is_ok
    snapshot = [client.expect(is_kind("MarketUpdate"))[-1] for _ in server.scenario.market_ids(include_finished=False)]
    assert {u.market_id for u in snapshot} >= set(markets)

    server.scenario.step(updates=5, advance=False)
    live = [client.expect(is_kind("MarketUpdate"))[-1] for _ in range(5)]
    assert all(isinstance(u, MarketUpdate) for u in live)
    assert live[-1].raw["msg"] == server.scenario.market_image(live[-1].market_id)


def test_stop_closes_every_connection(make_server, connect):
    server = make_server()
    clients = [connect(server) for _ in range(3)]
    for c in clients:
        init(c)
    assert server.wait_for_sessions(3, timeout=5)
    server.stop()
    for c in clients:
        c.read_to_eof()
