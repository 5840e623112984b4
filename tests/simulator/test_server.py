"""The simulator's SSH server, seen from a raw paramiko client: the session end to end."""

from __future__ import annotations

from imgfeed.feeds.img.protocol import (
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
    # docs/protocol.md 4: sport, competitions, events, market types, markets, in that order.
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


def test_many_clients_get_the_same_updates(make_server, connect):
    server = make_server()
    clients = [connect(server) for _ in range(8)]
    for c in clients:
        init(c)
        c.send({"request": "subscribe", "request_id": "all", "msg": {}})
    assert server.wait_for_sessions(8, timeout=10)
    for c in clients:
        c.expect(lambda r: isinstance(r, Response) and r.request_id == "all")
    snapshot = len(server.scenario.market_ids(include_finished=False))
    emitted = [e.obj["msg"]["id"] for e in server.scenario.step(updates=10, advance=False)]
    for c in clients:
        got = [c.expect(is_kind("MarketUpdate"))[-1].market_id for _ in range(snapshot + len(emitted))]
        # Each client: its subscription snapshot, then the step's updates, in order.
        assert got[snapshot:] == emitted


def test_stop_with_a_reason_sends_the_error_push(make_server, connect):
    from imgfeed.feeds.img.protocol import ServerClosing

    server = make_server()
    client = connect(server)
    init(client)
    server.stop(reason="internal disconnection requested")
    rest = client.read_to_eof()
    assert isinstance(rest[-1], ServerClosing) and str(rest[-1].reason) == "internal disconnection requested"


def test_second_session_channel_is_refused(make_server, connect):
    import paramiko
    import pytest

    server = make_server()
    client = connect(server)
    with pytest.raises(paramiko.ChannelException):
        client.transport.open_session(timeout=5)
    assert isinstance(init(client)[0], InitResponse)


def test_host_key_file_is_created_once_and_reused(tmp_path, client_key):
    from imgfeed.feeds.img.simulator import SimulatorServer

    path = tmp_path / "host_ed25519"
    first = SimulatorServer(authorized_keys=[client_key], host_key=path)
    second = SimulatorServer(authorized_keys=[client_key], host_key=path)
    assert path.stat().st_mode & 0o077 == 0
    assert first.host_key.asbytes() == second.host_key.asbytes()


def test_known_hosts_line_names_the_port(make_server, tmp_path):
    server = make_server()
    path = tmp_path / "known_hosts"
    server.write_known_hosts(path)
    line = path.read_text()
    assert line == f"[127.0.0.1]:{server.port} ssh-ed25519 {server.host_key.get_base64()}\n"


def test_send_time_stamp_on_the_wire(make_server, connect):
    import time

    from imgfeed.feeds.img.simulator import ScenarioConfig

    server = make_server(scenario_config=ScenarioConfig.of_size("tiny", seed=2, stamp_send_time=True))
    client = connect(server)
    init(client)
    client.send({"request": "subscribe", "msg": {}})
    snapshot = client.expect(is_kind("MarketUpdate"))[-1]
    before = time.time()
    server.scenario.step(updates=1, advance=False)
    live = [client.expect(is_kind("MarketUpdate"))[-1] for _ in range(len(server.scenario.market_ids(False)))][-1]
    for update in (snapshot, live):
        assert isinstance(update.raw["msg"]["sim_sent_at"], float)
    assert live.raw["msg"]["sim_sent_at"] >= before  # stamped when written, after the step began


def test_silent_tcp_connection_does_not_hold_up_stop(make_server):
    import socket

    server = make_server()
    with socket.create_connection((server.host, server.port), timeout=5) as silent:
        assert silent.recv(4) == b"SSH-"  # the server is up and waiting for our banner
        server.stop(timeout=5)
        assert server.wait_for_connection_count(0, timeout=5)


def test_hand_controls_reach_subscribed_clients(make_server, connect):
    from imgfeed.feeds.img.protocol import RemoveMarkets

    server = make_server()
    client = connect(server)
    init(client)
    mid = next(m for m in server.scenario.market_ids(include_finished=False) if m.endswith("_winonly"))
    client.send({"request": "subscribe", "request_id": "w", "msg": {"market_ids": [mid]}})
    client.expect(is_kind("MarketUpdate"))  # the subscription snapshot
    server.scenario.set_market_status(mid, "suspended")
    assert client.expect(is_kind("MarketUpdate"))[-1].status == "suspended"
    server.scenario.settle_market(mid)
    settled = client.expect(is_kind("MarketUpdate"))[-1]
    assert settled.is_settled and sum(s.settlement.payout_returned for s in settled.selections) == 1.0
    server.scenario.remove_markets([mid])
    removed = client.expect(lambda r: isinstance(r, RemoveMarkets))[-1]
    assert removed.market_ids == (mid,)


def test_authorized_keys_are_read_on_every_connection(make_server, connect, client_key, tmp_path):
    """As sshd does: a key added to authorized_keys while the simulator runs is let in next time."""
    import paramiko
    import pytest

    from imgfeed.feeds.img.simulator.keys import generate_ed25519, public_line

    newcomer = generate_ed25519()
    authorized = tmp_path / "authorized_keys"
    authorized.write_text(public_line(client_key) + " first\n")
    server = make_server(authorized_keys=[authorized])
    init(connect(server))  # the key listed at start
    with pytest.raises(paramiko.AuthenticationException):
        connect(server, key=newcomer)
    with authorized.open("a") as f:
        f.write(public_line(newcomer) + " added while running\n")
    init(connect(server, key=newcomer))
    authorized.write_text(public_line(newcomer) + " the first one removed\n")
    with pytest.raises(paramiko.AuthenticationException):
        connect(server)  # a removed key is refused from the next connection too
