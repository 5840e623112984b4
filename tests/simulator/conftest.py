"""Fixtures for testing the simulator over real SSH on loopback.

:class:`WireClient` is a deliberately plain client: a paramiko transport, one session channel with
``shell`` and no pty, a reader thread that decodes lines with the protocol core into a queue. It
shows exactly what arrives on the wire, with none of FeedClient's recovery logic in the way.
Every test runs inside a thread-leak check.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from typing import Any, Callable, Dict, Iterator, List

import paramiko
import pytest

from imgfeed.feeds.img.protocol import FeedDecoder, Record, encode_message
from imgfeed.feeds.img.simulator import ScenarioConfig, SessionConfig, SimulatorServer
from imgfeed.feeds.img.simulator.keys import generate_ed25519
from tests.leaks import no_threads_left

#: Generous bound for anything the tests wait for; a passing test never waits this long.
WAIT = 10.0
#: Test timers: short, so that the suite is quick.
FAST = SessionConfig(heartbeat_interval=0.2, init_timeout=5.0, slow_reader_timeout=1.0)
TINY = ScenarioConfig.of_size("tiny", seed=7)

_EOF = object()


class WireClient:
    """A minimal SSH client of the simulator that records what it receives. See the module doc."""

    def __init__(self, server: SimulatorServer, key: paramiko.PKey, username: str = "tester", pty: bool = False) -> None:
        self.sock = socket.create_connection((server.host, server.port), timeout=WAIT)
        self.transport = paramiko.Transport(self.sock)
        try:
            self.transport.start_client(timeout=WAIT)
            remote = self.transport.get_remote_server_key()
            assert remote.asbytes() == server.host_key.asbytes(), "host key differs from the server's"
            self.transport.auth_publickey(username, key)
            self.channel = self.transport.open_session(timeout=WAIT)
            if pty:
                self.channel.get_pty()
            self.channel.invoke_shell()
        except BaseException:
            self.transport.close()
            self.transport.join(WAIT)
            self.sock.close()
            raise
        self.channel.settimeout(0.1)
        self.records: "queue.Queue[Any]" = queue.Queue()
        self.raw = bytearray()
        self.chunks: List[bytes] = []
        self.paused = threading.Event()
        self._stop = threading.Event()
        self._decoder = FeedDecoder()
        self._thread = threading.Thread(target=self._read, name="test-wire-client-reader")
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            if self.paused.is_set():
                self._stop.wait(0.05)
                continue
            try:
                data = self.channel.recv(65536)
            except socket.timeout:
                continue
            except (OSError, EOFError):
                data = b""
            self.raw += data
            if data:
                self.chunks.append(data)
            for item in self._decoder.feed(data, time.time()):
                self.records.put(item)
            if not data:
                self.records.put(_EOF)
                return

    def send(self, obj: Dict[str, Any]) -> None:
        self.channel.sendall(encode_message(obj))

    def send_bytes(self, data: bytes) -> None:
        self.channel.sendall(data)

    def next(self, timeout: float = WAIT) -> Any:
        """The next record (or ProtocolError); ``None`` at EOF. Fails the test on timeout."""
        try:
            item = self.records.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"nothing received within {timeout} s")
        return None if item is _EOF else item

    def expect(self, predicate: Callable[[Any], bool], timeout: float = WAIT) -> List[Any]:
        """Read until ``predicate(record)``; returns everything read, the match last."""
        seen: List[Any] = []
        deadline = time.monotonic() + timeout
        while True:
            item = self.next(max(0.0, deadline - time.monotonic()))
            seen.append(item)
            if item is None and not predicate(item):
                pytest.fail(f"EOF before the expected record; got {[type(r).__name__ for r in seen]}")
            if predicate(item):
                return seen

    def collect(self, duration: float) -> List[Any]:
        """Everything that arrives within ``duration`` seconds (to show that something does not)."""
        items: List[Any] = []
        deadline = time.monotonic() + duration
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return items
            try:
                items.append(self.records.get(timeout=remaining))
            except queue.Empty:
                return items

    def read_to_eof(self, timeout: float = WAIT) -> List[Any]:
        return self.expect(lambda r: r is None, timeout)[:-1]

    def close(self) -> None:
        self._stop.set()
        try:
            self.channel.close()
        except (EOFError, OSError):
            pass  # the server closed first (the tests that close every connection): nothing to send
        self.transport.close()
        self._thread.join(WAIT)
        self.transport.join(WAIT)
        self.sock.close()


@pytest.fixture(scope="session")
def client_key() -> paramiko.PKey:
    return generate_ed25519()


@pytest.fixture
def make_server(client_key: paramiko.PKey) -> Iterator[Callable[..., SimulatorServer]]:
    """Start simulator servers (FAST timers, TINY scenario by default); all stopped afterwards."""
    servers: List[SimulatorServer] = []

    def make(**kwargs: Any) -> SimulatorServer:
        kwargs.setdefault("authorized_keys", [client_key])
        kwargs.setdefault("session_config", FAST)
        kwargs.setdefault("scenario_config", TINY)
        server = SimulatorServer(**kwargs)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def connect(client_key: paramiko.PKey) -> Iterator[Callable[..., WireClient]]:
    """Open WireClients to a server; all closed afterwards."""
    clients: List[WireClient] = []

    def open_client(server: SimulatorServer, **kwargs: Any) -> WireClient:
        client = WireClient(server, kwargs.pop("key", client_key), **kwargs)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()


@pytest.fixture(autouse=True)
def no_thread_leaks() -> Iterator[None]:
    """Every thread a test started must be gone (joined with a deadline) when it ends."""
    yield from no_threads_left(WAIT)


def init(client: WireClient, **msg: Any) -> List[Record]:
    """Send init and read through the snapshot (up to the last ``market`` before a heartbeat)."""
    client.send({"request": "init", "msg": msg})
    return client.expect(lambda r: type(r).__name__ == "Heartbeat")


def is_kind(name: str) -> Callable[[Any], bool]:
    return lambda r: type(r).__name__ == name

