"""Fault matrix, liveness rows: the feed goes quiet in part or in whole (docs/protocol.md section 8).

- Heartbeats stop but data flows: every market is suspended ("until the next heartbeat"), the data
  is still delivered and kept in the book, and the connection is kept.
- Data stops with the connection up: suspended first (heartbeat late), then the client disconnects
  ("no message at all for 10 s") and reconnects.
- The server or the path hangs with the TCP socket open (not even SSH answers): the same, seen
  through a proxy that stops forwarding.
"""

from __future__ import annotations

import threading
from pathlib import Path

from imgfeed import DisconnectReason, SuspendReason
from tests.reliability import wire
from tests.reliability.hostile import FaultyProxy, HostileSession, HostileSSHServer
from tests.reliability.support import KeyPair, Recorder, hostile_config, running

#: How often the hostile server sends while it "flows" (seconds); well below the deadlines.
TICK = 0.05


def _updates_after(rec: Recorder, name: str) -> int:
    """How many ``on_market_update`` calls came after the first call of ``name``."""
    return sum(1 for called, _ in rec.since(name, 1) if called == "on_market_update")


def test_heartbeats_stop_but_data_flows(client_key: KeyPair, tmp_path: Path) -> None:
    resume = threading.Event()

    def script(session: HostileSession) -> None:
        session.serve_init(["m1"])
        session.serve_subscribe(["m1"])
        price = 2.0
        while not resume.is_set():  # data flows, heartbeats do not
            session.send(wire.market_update("m1", price=price))
            price += 0.01
            resume.wait(TICK)
        session.send(wire.heartbeat() + wire.market_update("m1", price=7.0))
        session.wait_closed()

    rec = Recorder()
    with HostileSSHServer(script, client_key.key) as server:
        with running(hostile_config(server, client_key, tmp_path), rec) as client:
            assert client.subscribe().is_ok
            try:
                assert rec.wait_for(lambda r: _updates_after(r, "on_suspend_all") >= 3)
                assert rec.args("on_suspend_all") == [SuspendReason.HEARTBEAT_LATE]
                assert client.book.suspended is SuspendReason.HEARTBEAT_LATE
                assert not client.book.is_tradable("m1")
                image = client.book.image("m1")  # the prices are kept, just not tradable
                assert image is not None and image.selections[0].price > 2.0
            finally:
                resume.set()
            assert rec.wait_for(
                lambda r: any(u.selections[0].price == 7.0 for u in r.args("on_market_update"))
            )
            assert rec.count("on_resume_all") == 2  # once at connect, once when the heartbeat came back
            assert client.book.is_tradable("m1") and client.book.suspended is None
            assert rec.count("on_disconnect") == 0 and client.stats().sessions == 1
        assert server.errors == []


def _stall_once(session: HostileSession) -> None:
    """The first connection goes silent after the subscription; later ones serve normally."""
    session.serve_init(["m1"])
    session.serve_subscribe(["m1"])
    if session.index > 0:
        session.keep_alive()
    session.wait_closed()


def test_data_stops_with_the_connection_up_reconnects(client_key: KeyPair, tmp_path: Path) -> None:
    rec = Recorder()
    with HostileSSHServer(_stall_once, client_key.key) as server:
        with running(hostile_config(server, client_key, tmp_path), rec) as client:
            assert client.subscribe().is_ok
            assert rec.wait_for(lambda r: r.count("on_market_status") >= 2 and r.count("on_connect") == 2)
            assert client.book.is_tradable("m1")
        assert server.errors == []
        assert [r.name for r in server.sessions[1].requests] == ["init", "subscribe"]  # re-subscribed
    silence = rec.disconnects()[0]
    assert silence.reason is DisconnectReason.SILENCE and silence.will_retry
    assert rec.args("on_suspend_all")[:2] == [SuspendReason.HEARTBEAT_LATE, SuspendReason.DISCONNECTED]
    names = rec.names()
    assert names.index("on_suspend_all") < names.index("on_disconnect") < names.index("on_connect", 1)


def test_server_hangs_with_the_socket_open(client_key: KeyPair, tmp_path: Path) -> None:
    """Not even SSH answers (a proxy stops forwarding, sockets open): the client still detects the
    silence, closes the dead connection without blocking on it, and reconnects."""
    stop_beating = threading.Event()

    def script(session: HostileSession) -> None:
        session.serve_init(["m1"])
        session.serve_subscribe(["m1"])
        while not stop_beating.wait(TICK):  # the server is fine; the path will not be
            session.send(wire.heartbeat())

    rec = Recorder()
    with HostileSSHServer(script, client_key.key) as server, FaultyProxy(server.port) as proxy:
        config = hostile_config(server, client_key, tmp_path, port=proxy.port)
        try:
            with running(config, rec) as client:
                assert client.subscribe().is_ok
                assert rec.wait_for(lambda r: r.count("on_market_status") == 1)
                proxy.blackhole()
                assert rec.wait_for(lambda r: r.count("on_disconnect") == 1)
                assert not client.book.is_tradable("m1")
                proxy.restore()
                assert rec.wait_for(lambda r: r.count("on_market_status") >= 2 and r.count("on_connect") == 2)
                assert client.book.is_tradable("m1")
        finally:
            stop_beating.set()
        assert server.errors == []
    assert rec.disconnects()[0].reason is DisconnectReason.SILENCE
    assert rec.args("on_suspend_all")[:2] == [SuspendReason.HEARTBEAT_LATE, SuspendReason.DISCONNECTED]
