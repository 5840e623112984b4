"""imgfeed.loopback.server: the listener, accept thread and orderly stop, with a real echo server."""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any, List

import pytest

from imgfeed.loopback.server import LoopbackServer, is_loopback

WAIT = 5.0
log = logging.getLogger("tests.loopback.echo")


class _Echo:
    """One connection: echoes what it reads until the client or the server closes it."""

    def __init__(self, server: "_EchoServer", sock: socket.socket, number: int) -> None:
        self.server = server
        self.sock = sock
        self.sock.settimeout(0.05)
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"imgfeed-test-echo-{number}")

    def close(self) -> None:
        self.closed.set()

    def _run(self) -> None:
        try:
            while not self.closed.is_set():
                try:
                    data = self.sock.recv(1024)
                except socket.timeout:
                    continue
                if not data:
                    break
                self.sock.sendall(data)
                self.server._changed()
        finally:
            self.sock.close()
            self.server._connection_ended(self)


class _EchoServer(LoopbackServer[_Echo]):
    _label = "echo server"
    _log = log
    _thread_prefix = "imgfeed-test-echo"
    _accept_poll = 0.02

    def start(self) -> None:
        self._listen()
        self._start_thread(self._accept_loop, "accept")

    def stop(self, timeout: float = WAIT) -> None:
        if self._started:
            self._shutdown(timeout, lambda conn: conn.close())

    def _accepted(self, sock: socket.socket) -> _Echo:
        return _Echo(self, sock, next(self._numbers))


def _client(server: _EchoServer) -> socket.socket:
    return socket.create_connection((server.host, server.port), timeout=WAIT)


def test_serves_and_stops_every_thread_it_started() -> None:
    before = set(threading.enumerate())
    with _EchoServer("127.0.0.1", 0) as server:
        assert server.port != 0 and "listening" in repr(server)
        clients: List[socket.socket] = [_client(server), _client(server)]
        for c in clients:
            c.sendall(b"ping")
            assert c.recv(16) == b"ping"
        assert server.wait_for_connection_count(2, WAIT) and server.connections_accepted == 2
        names = {t.name for t in set(threading.enumerate()) - before}
        assert names == {"imgfeed-test-echo-accept", "imgfeed-test-echo-1", "imgfeed-test-echo-2"}
    assert "stopped" in repr(server)
    assert [t for t in set(threading.enumerate()) - before if t.is_alive()] == []
    for c in clients:
        assert c.recv(16) == b""  # the server closed its side
        c.close()


def test_a_client_that_leaves_is_forgotten() -> None:
    with _EchoServer("127.0.0.1", 0) as server:
        client = _client(server)
        assert server.wait_for_connection_count(1, WAIT)
        client.close()
        assert server.wait_for_connection_count(0, WAIT)


def test_a_busy_port_raises_and_leaves_nothing_open() -> None:
    with _EchoServer("127.0.0.1", 0) as first:
        second = _EchoServer("127.0.0.1", first.port)
        with pytest.raises(OSError):
            second.start()
        assert second._listener is None and not second._started


def test_start_twice_is_an_error() -> None:
    with _EchoServer("127.0.0.1", 0) as server:
        with pytest.raises(RuntimeError, match=r"_EchoServer.start\(\) called twice"):
            server._listen()


def test_a_thread_that_does_not_stop_is_named(caplog: Any) -> None:
    server = _EchoServer("127.0.0.1", 0)
    server.start()
    client = _client(server)
    assert server.wait_for_connection_count(1, WAIT)
    # A close that does not reach the connection: stop() must say which thread it left behind.
    with caplog.at_level(logging.WARNING, logger=log.name):
        server._shutdown(0.05, lambda conn: None)
    assert "echo server threads still running after stop(): " in caplog.text
    assert "imgfeed-test-echo-1" in caplog.text and caplog.records[-1].name == log.name
    for conn in server._connections_snapshot():
        conn.close()
        conn.thread.join(WAIT)
    for thread in server._threads:
        thread.join(WAIT)
    client.close()


@pytest.mark.parametrize(
    "host, expected",
    [("127.0.0.1", True), ("127.9.9.9", True), ("::1", True), ("localhost", True), ("0.0.0.0", False), ("example.com", False)],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected
