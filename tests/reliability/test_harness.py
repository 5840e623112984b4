"""The fault matrix is only as good as its hostile servers: check that they do what they claim.

These tests talk to the hostile servers with a bare paramiko client, so that a fault-matrix test
that passes cannot be passing because its server never produced the fault.
"""

from __future__ import annotations

import socket
import threading

import paramiko
import pytest

from tests.reliability import wire
from tests.reliability.hostile import FaultyProxy, HostileSession, HostileSSHServer, ResetServer, refused_port
from tests.reliability.support import KeyPair


def _open_shell(
    server: HostileSSHServer, key: paramiko.PKey
) -> "tuple[paramiko.Transport, paramiko.Channel]":
    transport = paramiko.Transport((server.host, server.port))
    try:
        transport.connect(hostkey=server.host_key, username="trader", pkey=key)
        channel = transport.open_session(timeout=10)
        channel.invoke_shell()
    except BaseException:
        transport.close()
        raise
    channel.settimeout(10)
    return transport, channel


def _read_until_eof(channel: paramiko.Channel) -> bytes:
    data = b""
    while True:
        chunk = channel.recv(65536)
        if not chunk:
            return data
        data += chunk


def test_reset_mid_line_ends_the_connection_with_a_tcp_reset(client_key: KeyPair) -> None:
    # A RST may overtake bytes still in flight, so the head of the cut line may or may not arrive;
    # what did arrive is a prefix of what was sent, and the connection ends with ECONNRESET.
    head = b'{"mode": "push", "type": "heart'

    def script(session: HostileSession) -> None:
        session.serve_init(["m1"])
        session.send(head)
        session.reset()

    with HostileSSHServer(script, client_key.key) as server:
        transport, channel = _open_shell(server, client_key.key)
        try:
            channel.sendall(b'{"request": "init", "request_id": "1", "msg": {}}\n')
            received = _read_until_eof(channel)
            sent = b"".join(
                [wire.init_response("00000000-0000-4000-8000-000000000000", "1"), *wire.snapshot(["m1"])]
            )
            sent += wire.heartbeat() + head
            assert sent.startswith(received) and received
            assert isinstance(transport.saved_exception, ConnectionResetError)
        finally:
            transport.close()
    assert server.errors == []


def test_unauthorised_key_is_rejected(client_key: KeyPair) -> None:
    with HostileSSHServer(lambda session: None, authorized_key=None) as server:
        with pytest.raises(paramiko.AuthenticationException):
            _open_shell(server, client_key.key)
        assert server.sessions == []


def test_reset_server_resets_and_refused_port_refuses() -> None:
    with ResetServer() as server:
        # On loopback the reset can even beat connect() back to the caller.
        with pytest.raises(ConnectionResetError):
            with socket.create_connection((server.host, server.port), timeout=10) as sock:
                sock.recv(1)
        assert server.wait_connections(1)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", refused_port()), timeout=10).close()


def test_proxy_blackhole_freezes_the_stream_and_reset_resets_it(client_key: KeyPair) -> None:
    released = threading.Event()

    def script(session: HostileSession) -> None:
        session.serve_init(["m1"])
        released.wait(10)
        session.send(wire.heartbeat())
        session.wait_closed()

    with HostileSSHServer(script, client_key.key) as server, FaultyProxy(server.port) as proxy:
        transport = paramiko.Transport((proxy.host, proxy.port))
        try:
            transport.connect(hostkey=server.host_key, username="trader", pkey=client_key.key)
            channel = transport.open_session(timeout=10)
            channel.invoke_shell()
            channel.sendall(b'{"request": "init", "msg": {}}\n')
            channel.settimeout(10)
            expected = (
                len(wire.init_response("00000000-0000-4000-8000-000000000000"))
                + len(b"".join(wire.snapshot(["m1"])))
                + len(wire.heartbeat())
            )
            received = b""
            while len(received) < expected:
                received += channel.recv(65536)
            proxy.blackhole()
            released.set()
            channel.settimeout(0.3)
            with pytest.raises(socket.timeout):
                channel.recv(65536)
            proxy.reset()
            channel.settimeout(10)
            assert channel.recv(65536) == b""
            assert isinstance(transport.saved_exception, ConnectionResetError)
        finally:
            transport.close()
    assert server.errors == []


def test_leak_check_sees_a_leftover_thread_and_socket() -> None:
    """The leak check of conftest.py must be able to fail: it sees a thread and a socket left over."""
    from tests.reliability.conftest import join_new_threads, open_fds

    threads_before, fds_before = set(threading.enumerate()), open_fds()
    release = threading.Event()
    lingering = threading.Thread(target=release.wait, args=(10,), name="imgfeed-test-lingering")
    lingering.start()
    sock = socket.socket()
    try:
        assert join_new_threads(threads_before, timeout=0.05) == {lingering}
        assert sock.fileno() in set(open_fds()) - set(fds_before)
    finally:
        release.set()
        lingering.join(10)
        sock.close()
    assert join_new_threads(threads_before, timeout=10) == set()
    assert set(open_fds()) - set(fds_before) == set()
