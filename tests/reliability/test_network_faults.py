"""Fault matrix, network rows: resets, refusals, and a server or path that hangs with the socket open.

Each test names the fault, makes it happen for real on loopback, and checks what the client's
handlers receive, what the book says, and that the client reconnects -- with nothing lost that the
server sent completely. The leak check of ``conftest.py`` runs around every test.
"""

from __future__ import annotations

import threading
from pathlib import Path

from imgfeed import DisconnectReason, SuspendReason
from tests.reliability import wire
from tests.reliability.hostile import HostileSession, HostileSSHServer, ResetServer, refused_port
from tests.reliability.support import WAIT, KeyPair, Recorder, fast_config, hostile_config, running


def test_tcp_reset_mid_line_reconnects_and_never_delivers_the_cut_line(
    client_key: KeyPair, tmp_path: Path
) -> None:
    """A TCP RST in the middle of a line: the complete lines before it are delivered, the cut line
    never becomes a record, every market is suspended, and after the reconnect each market waits
    for its own image."""
    seen_last_complete = threading.Event()

    def script(session: HostileSession) -> None:
        session.serve_init(["m1", "m2"])
        if session.index == 0:
            session.serve_subscribe(["m1", "m2"])
            session.send(wire.market_update("m1", price=7.0))  # the last complete line
            assert seen_last_complete.wait(WAIT)
            session.send(wire.market_update("m2", price=3.0)[:40])  # cut inside the line
            session.reset()
        else:
            session.serve_subscribe(["m1"])  # only m1's image on the new session
            session.keep_alive()
            session.wait_closed()

    def before(name: str, args: tuple) -> None:
        if name == "on_market_update" and args[0].selections[0].price == 7.0:
            seen_last_complete.set()

    rec = Recorder(before)
    with HostileSSHServer(script, client_key.key) as server:
        with running(hostile_config(server, client_key, tmp_path), rec) as client:
            assert client.subscribe().is_ok
            assert rec.wait_for(lambda r: ("m1", True) in r.statuses_since_connect(2))
            assert client.book.is_tradable("m1")
            # m2's last image (open) came on the old connection: not trusted on the new one.
            assert not client.book.is_tradable("m2")
            assert client.book.image("m2") is not None
    assert server.errors == []

    prices = [(u.market_id, u.selections[0].price) for u in rec.args("on_market_update")]
    assert prices == [("m1", 9.5), ("m2", 9.5), ("m1", 7.0), ("m1", 9.5)]  # the cut m2 line: never
    assert all(b"3.0" not in e.raw for e in rec.args("on_protocol_error"))  # nor half of it
    first = rec.disconnects()[0]
    assert first.reason is DisconnectReason.TRANSPORT_ERROR and first.will_retry
    assert isinstance(first.exception, ConnectionResetError)
    names = rec.names()
    lost = names.index("on_disconnect")
    assert names[lost - 1] == "on_suspend_all" and rec.args("on_suspend_all")[0] is SuspendReason.DISCONNECTED
    assert names[lost + 1 : lost + 3] == ["on_connect", "on_resume_all"]


def test_connection_refused_is_retried_at_the_policy_interval(client_key: KeyPair, tmp_path: Path) -> None:
    """Nothing listens: every attempt fails with ``CONNECT_FAILED``, the client keeps retrying (it
    does not give up, and it does not spin), and every market stays suspended."""
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    rec = Recorder()
    with running(fast_config(refused_port(), str(known_hosts), str(client_key.path)), rec) as client:
        assert rec.wait_for(lambda r: r.count("on_disconnect") >= 3)
        assert client.book.suspended is SuspendReason.DISCONNECTED
        assert client.stats().sessions == 0
    failures = rec.disconnects()[:3]
    assert all(d.reason is DisconnectReason.CONNECT_FAILED and d.will_retry for d in failures)
    assert "ConnectionRefusedError" in failures[0].detail or "refused" in failures[0].detail.lower()
    assert rec.count("on_connect") == 0


def test_reset_during_the_ssh_handshake_is_retried(client_key: KeyPair, tmp_path: Path) -> None:
    """The TCP connection is accepted and reset before SSH starts: a failed attempt, retried."""
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    rec = Recorder()
    with ResetServer() as server:
        with running(fast_config(server.port, str(known_hosts), str(client_key.path)), rec):
            assert rec.wait_for(lambda r: r.count("on_disconnect") >= 2)
            assert server.wait_connections(2)
    failures = rec.disconnects()[:2]
    assert all(d.reason is DisconnectReason.CONNECT_FAILED and d.will_retry for d in failures)


def test_connection_lost_during_authentication_is_retried(client_key: KeyPair, tmp_path: Path) -> None:
    """The connection drops while the client waits for the answer to its key. That is a network
    failure, not a rejected key: retried like any failed attempt, never the end of the client.
    (Found by the soak: a drop at that moment stopped the client for good.)"""

    def script(session: HostileSession) -> None:
        session.serve_init(["m1"])
        session.serve_subscribe(["m1"])
        session.keep_alive()
        session.wait_closed()

    rec = Recorder()
    with HostileSSHServer(script, client_key.key) as server:
        server.cut_during_auth.add(0)
        with running(hostile_config(server, client_key, tmp_path), rec) as client:
            assert rec.wait_for(lambda r: r.count("on_connect") == 1 or r.count("on_disconnect") >= 1)
            first = rec.disconnects()[0]
            assert first.reason is DisconnectReason.CONNECT_FAILED and first.will_retry, first
            assert client.subscribe().is_ok
            assert rec.wait_for(lambda r: r.count("on_market_status") == 1)
        assert server.errors == []
