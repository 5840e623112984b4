"""The TLS transport: verification always on, every step bounded and interruptible, errors translated.

Against the emulator's real TLS server (and plain sockets that misbehave), on loopback.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from imgfeed.betfair import BetfairClient, CertificateError, DisconnectReason
from imgfeed.errors import ConnectError, HostKeyError, TransportError
from imgfeed.feeds.betfair.emulator import ensure_certificates
from imgfeed.transport.tls import TLSTransport
from tests.betfair_client.conftest import WAIT
from tests.betfair_client.support import Recorder, called

Make = Callable[..., Any]


@pytest.fixture
def silent_server() -> Iterator[socket.socket]:
    """A TCP listener that accepts and never says anything (no TLS handshake)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    yield listener
    listener.close()


def test_a_verified_connection_reads_and_times_out_and_ends(make_server: Make) -> None:
    server = make_server()
    t = TLSTransport("localhost", server.port, cafile=server.cafile, read_timeout=0.05)
    t.connect(WAIT)
    try:
        data = t.recv()
        while data is None:
            data = t.recv()
        assert data.startswith(b'{"op":"connection"') and data.endswith(b"\r\n")
        assert t.recv() is None  # nothing more until we authenticate: a read timeout
        t.send(b'{"op":"heartbeat","id":1}\r\n', WAIT)  # before authentication: NOT_AUTHORIZED, closed
        seen = b""
        while not seen.endswith(b"\r\n"):
            more = t.recv()
            assert more != b""
            seen += more or b""
        assert b"NOT_AUTHORIZED" in seen
        while True:
            end = t.recv()
            if end == b"":
                break
    finally:
        t.close()


def test_a_certificate_of_another_ca_is_refused(make_server: Make, tmp_path: Path) -> None:
    server = make_server()
    other = ensure_certificates(tmp_path / "other")
    t = TLSTransport("localhost", server.port, cafile=str(other.ca_cert))
    with pytest.raises(CertificateError, match="cannot be verified") as raised:
        t.connect(WAIT)
    assert isinstance(raised.value, HostKeyError) and raised.value.host == "localhost"
    assert "certificate verify failed" in str(raised.value) or raised.value.verify_message


def test_a_certificate_for_another_name_is_refused(make_server: Make) -> None:
    server = make_server()
    t = TLSTransport("127.0.0.1", server.port, cafile=server.cafile, server_hostname="stream-api.betfair.com")
    with pytest.raises(CertificateError, match="stream-api.betfair.com"):
        t.connect(WAIT)


def test_the_system_cas_do_not_trust_the_emulator(make_server: Make) -> None:
    server = make_server()
    with pytest.raises(CertificateError):
        TLSTransport("localhost", server.port).connect(WAIT)


def test_a_connect_that_never_completes_the_handshake_times_out(silent_server: socket.socket) -> None:
    t = TLSTransport("127.0.0.1", silent_server.getsockname()[1])
    started = time.monotonic()
    with pytest.raises(ConnectError, match="timed out"):
        t.connect(0.3)
    assert time.monotonic() - started < WAIT


def test_close_cuts_a_connect_short(silent_server: socket.socket) -> None:
    t = TLSTransport("127.0.0.1", silent_server.getsockname()[1])
    errors = []

    def connect() -> None:
        try:
            t.connect(60.0)
        except ConnectError as exc:
            errors.append(exc)

    thread = threading.Thread(target=connect, name="test-tls-connect")
    thread.start()
    conn, _ = silent_server.accept()
    conn.settimeout(WAIT)
    assert conn.recv(1)  # the ClientHello: the client is in the handshake, waiting for our answer
    t.close()
    thread.join(WAIT)
    conn.close()
    assert not thread.is_alive() and errors and "closed" in str(errors[0])


def test_not_a_tls_server(silent_server: socket.socket) -> None:
    def answer() -> None:
        conn, _ = silent_server.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        conn.close()

    thread = threading.Thread(target=answer, name="test-tls-http")
    thread.start()
    with pytest.raises(ConnectError, match="TLS handshake"):
        TLSTransport("127.0.0.1", silent_server.getsockname()[1]).connect(WAIT)
    thread.join(WAIT)


def test_a_refused_connection() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(ConnectError, match="cannot connect"):
        TLSTransport("127.0.0.1", port).connect(WAIT)


def test_a_client_stops_on_a_certificate_it_cannot_verify(
    make_server: Make, make_client: Make, recorder: Recorder, tmp_path: Path
) -> None:
    server = make_server()
    other = ensure_certificates(tmp_path / "other")
    client: BetfairClient = make_client(server, [recorder], cafile=str(other.ca_cert))
    client.start()
    with pytest.raises(CertificateError):
        client.join(WAIT)
    recorder.wait_for(called("on_disconnect"))
    (note,) = recorder.of("on_disconnect")[-1]
    assert note.reason is DisconnectReason.HOST_KEY and not note.will_retry
    assert server.sessions() == []


def test_close_cuts_a_waiting_read_short(make_server: Make) -> None:
    server = make_server()
    t = TLSTransport("localhost", server.port, cafile=server.cafile, read_timeout=30.0)
    t.connect(WAIT)
    first = t.recv()
    assert first is not None and first.startswith(b'{"op":"connection"')
    got = []
    reader = threading.Thread(target=lambda: got.append(t.recv()), name="test-tls-read")
    reader.start()  # nothing more comes until we authenticate: it waits (up to 30 s)
    t.close()
    reader.join(WAIT)
    assert not reader.is_alive() and got == [b""]
    with pytest.raises(TransportError):
        t.send(b"{}\r\n", 1.0)
