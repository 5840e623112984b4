"""Fixtures for testing the Betfair emulator: a started server, and a plain verifying TLS client.

:class:`EsaClient` is deliberately plain: Python's ``ssl`` with the emulator's CA and host name
checking on, a byte buffer split on CRLF, ``json.loads`` per line. It shows exactly what arrives
on the wire. Every test runs inside a thread-leak check.
"""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

from imgfeed.feeds.betfair.emulator import (
    DEFAULT_APP_KEY,
    DEFAULT_SESSION_TOKEN,
    EmulatorServer,
    ScenarioConfig,
)
from tests.betfair_emulator.servers import FAST as FAST  # re-exported: the suite imports it from here
from tests.betfair_emulator.servers import WAIT, emulators
from tests.leaks import no_threads_left

SMALL = ScenarioConfig(seed=7, markets=8, start_time=1_700_000_000.0)
AUTH = {"op": "authentication", "id": 1, "appKey": DEFAULT_APP_KEY, "session": DEFAULT_SESSION_TOKEN}


class EsaClient:
    """A minimal verifying TLS client of the emulator that parses what it receives."""

    def __init__(
        self, server: EmulatorServer, host: str = "localhost", timeout: float = WAIT, ragged: bool = True
    ) -> None:
        context = ssl.create_default_context(cafile=server.cafile)
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
        self.sock = context.wrap_socket(raw, server_hostname=host, suppress_ragged_eofs=ragged)
        self._buffer = b""
        self.reads: List[bytes] = []

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, message: Dict[str, Any]) -> None:
        self.sock.sendall(json.dumps(message).encode("utf-8") + b"\r\n")

    def recv(self) -> bytes:
        """One read (one TLS record at most); ``b""`` at EOF."""
        data = self.sock.recv(65536)
        self.reads.append(data)
        return data

    def line(self) -> bytes:
        """The next raw line, CRLF included; ``b""`` at EOF."""
        while b"\r\n" not in self._buffer:
            data = self.recv()
            if not data:
                return b""
            self._buffer += data
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line + b"\r\n"

    def message(self) -> Optional[Dict[str, Any]]:
        """The next message, or None at EOF."""
        line = self.line()
        return json.loads(line) if line else None

    def until(self, predicate: Callable[[Dict[str, Any]], bool]) -> Dict[str, Any]:
        """Read messages until one satisfies ``predicate``; returns it (fails at EOF)."""
        while True:
            message = self.message()
            assert message is not None, "the emulator closed the connection"
            if predicate(message):
                return message

    def handshake(self, auth: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """Read ``connection``, authenticate, return the auth ``status``."""
        connection = self.message()
        assert connection is not None and connection["op"] == "connection"
        self.send(auth or AUTH)
        status = self.message()
        assert status is not None
        return status


@pytest.fixture(autouse=True)
def no_thread_leaks() -> Iterator[None]:
    """Every thread a test started must be gone (joined with a deadline) when it ends."""
    yield from no_threads_left(WAIT)


@pytest.fixture(scope="session")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One certificate directory for the whole run (making keys is the slow part)."""
    return tmp_path_factory.mktemp("emulator-certs")


@pytest.fixture
def make_server(cert_dir: Path) -> Iterator[Callable[..., EmulatorServer]]:
    """Start emulators (``config``, ``scenario_config``); every one is stopped after the test."""
    yield from emulators(cert_dir, SMALL)


@pytest.fixture
def clients() -> Iterator[List[EsaClient]]:
    """A list to put clients in; every one is closed after the test."""
    made: List[EsaClient] = []
    yield made
    for client in made:
        client.close()
