"""Each fault, as a plain verifying TLS client sees it on the wire."""

from __future__ import annotations

import json
import socket
import ssl
import sys
from typing import Any, List

import pytest

from imgfeed.feeds.betfair.emulator import CLOSES, ERROR_CODES, EmulatorConfig, ScenarioConfig
from imgfeed.feeds.betfair.emulator.faults import next_piece
from tests.betfair_emulator.conftest import AUTH, FAST, WAIT, EsaClient

SUB = {
    "op": "marketSubscription",
    "id": 2,
    "marketDataFilter": {"fields": ["EX_ALL_OFFERS", "EX_LTP", "EX_MARKET_DEF"]},
    "heartbeatMs": 500,
}


def subscribed(server: Any, clients: List[EsaClient], sub: Any = SUB) -> EsaClient:
    client = EsaClient(server)
    clients.append(client)
    client.handshake()
    client.send(sub)
    client.until(lambda m: m.get("ct") == "SUB_IMAGE" and m.get("segmentType") in (None, "SEG_END"))
    return client


def test_next_piece_cuts() -> None:
    data = "ab\r\ncé\r\nd".encode()
    assert next_piece(data, None, 0, "crlf") == (3, 0)
    assert next_piece(data, None, 0, "utf8") == (6, 0)  # right after the lead byte of é
    assert next_piece(data, None, 0, "straddle") == (5, 0)
    assert next_piece(data, [2, 1], 1, None) == (1, 0)


@pytest.mark.skipif(
    sys.version_info < (3, 10),
    reason="Python 3.9 sets OpenSSL 3's SSL_OP_IGNORE_UNEXPECTED_EOF: a FIN without close_notify reads as a clean end",
)
def test_drop_fin_is_eof_without_close_notify(make_server: Any, clients: List[EsaClient]) -> None:
    server = make_server()
    client = EsaClient(server, ragged=False)
    clients.append(client)
    client.handshake()
    server.faults.drop("fin")
    with pytest.raises(ssl.SSLEOFError):  # the TCP connection ended, TLS did not: no close_notify
        while client.recv():
            pass


def test_a_closing_error_ends_with_close_notify(make_server: Any, clients: List[EsaClient]) -> None:
    server = make_server()
    client = EsaClient(server, ragged=False)
    clients.append(client)
    client.handshake()
    server.faults.send_error("UNEXPECTED_ERROR")
    assert client.message()["errorCode"] == "UNEXPECTED_ERROR"
    assert client.line() == b""  # a clean TLS close: no SSLEOFError even with ragged EOFs reported


def test_drop_rst_is_a_reset(make_server: Any) -> None:
    server = make_server()
    # TLS in memory over a plain socket, so that the reset reaches the test as the kernel reports it.
    context = ssl.create_default_context(cafile=server.cafile)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                sock.sendall(outgoing.read())
                incoming.write(sock.recv(65536))
        sock.sendall(outgoing.read())
        assert server.wait_for_connection_count(1, WAIT) and server.wait_until(
            lambda: server.sessions() != [], WAIT
        )
        server.faults.drop("rst")
        with pytest.raises(ConnectionResetError):
            while True:
                data = sock.recv(65536)
                assert data, "a FIN instead of a reset"


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
def test_send_error_on_demand(make_server: Any, clients: List[EsaClient], code: str) -> None:
    server = make_server()
    client = subscribed(server, clients)
    server.faults.send_error(code)
    status = client.until(lambda m: m["op"] == "status")
    assert status["errorCode"] == code and status["connectionClosed"] is (code in CLOSES)
    if code in CLOSES:
        assert client.line() == b""
    else:
        client.send({"op": "heartbeat", "id": 3})
        assert client.until(lambda m: m["op"] == "status")["statusCode"] == "SUCCESS"


def test_timeout_when_not_authenticating(make_server: Any, clients: List[EsaClient]) -> None:
    server = make_server(EmulatorConfig(auth_timeout=0.2))
    client = EsaClient(server)
    clients.append(client)
    assert client.message()["op"] == "connection"
    status = client.message()
    assert status["errorCode"] == "TIMEOUT" and status["connectionClosed"] and client.line() == b""


def test_connection_limit_and_rejections(make_server: Any, clients: List[EsaClient]) -> None:
    server = make_server(EmulatorConfig(connection_limit=1))
    first = EsaClient(server)
    clients.append(first)
    assert first.handshake()["connectionsAvailable"] == 0
    second = EsaClient(server)
    clients.append(second)
    assert second.handshake()["errorCode"] == "MAX_CONNECTION_LIMIT_EXCEEDED"
    first.close()
    assert server.wait_for_connection_count(0, WAIT)
    server.faults.reject_connections(1)
    third = EsaClient(server)
    clients.append(third)
    assert third.handshake()["errorCode"] == "MAX_CONNECTION_LIMIT_EXCEEDED"
    fourth = EsaClient(server)
    clients.append(fourth)
    assert fourth.handshake()["statusCode"] == "SUCCESS"


def test_invalid_clock_on_the_next_resubscribe(make_server: Any, clients: List[EsaClient]) -> None:
    server = make_server()
    client = EsaClient(server)
    clients.append(client)
    client.handshake()
    client.send(SUB)
    image = client.until(lambda m: m.get("ct") == "SUB_IMAGE")
    client.close()
    server.faults.invalid_clock_next()
    again = EsaClient(server)
    clients.append(again)
    again.handshake()
    again.send({**SUB, "initialClk": image["initialClk"], "clk": image["clk"]})
    status = again.message()
    assert status["errorCode"] == "INVALID_CLOCK" and status["connectionClosed"]
    last = EsaClient(server)  # the fault was used up: the same clocks resume now
    clients.append(last)
    last.handshake()
    last.send({**SUB, "initialClk": image["initialClk"], "clk": image["clk"]})
    assert last.message()["statusCode"] == "SUCCESS" and last.message()["ct"] == "RESUB_DELTA"


def test_503_window(make_server: Any, clients: List[EsaClient]) -> None:
    server = make_server()
    client = subscribed(server, clients)
    server.faults.start_503()
    server.scenario.step()
    assert client.until(lambda m: m["op"] == "mcm")["status"] == 503
    server.faults.end_503()
    server.scenario.step()
    assert "status" not in client.until(lambda m: m["op"] == "mcm" and "ct" not in m)


def test_stall_then_resume(make_server: Any, clients: List[EsaClient]) -> None:
    server = make_server()
    client = subscribed(server, clients)
    server.faults.stall()
    server.scenario.step()
    client.sock.settimeout(1.2)  # more than 2 x heartbeatMs: not even a heartbeat comes
    with pytest.raises(socket.timeout):
        client.line()
    client.sock.settimeout(WAIT)
    server.faults.resume()
    assert (
        client.until(lambda m: m["op"] == "mcm" and "ct" not in m)["clk"]
        == server.scenario.markets_log.clock()
    )


def test_stop_heartbeats(make_server: Any, clients: List[EsaClient]) -> None:
    server = make_server()
    client = subscribed(server, clients)
    assert client.message()["ct"] == "HEARTBEAT"
    server.faults.stop_heartbeats()
    client.sock.settimeout(1.2)
    with pytest.raises(socket.timeout):
        client.line()
    client.sock.settimeout(WAIT)
    server.faults.resume_heartbeats()
    assert client.message()["ct"] == "HEARTBEAT"


def test_malformed_line(make_server: Any, clients: List[EsaClient]) -> None:
    server = make_server()
    client = subscribed(server, clients)
    server.faults.send_malformed_line()
    line = client.line()
    with pytest.raises(ValueError):
        json.loads(line)
    server.scenario.step()
    assert client.until(lambda m: m["op"] == "mcm" and "ct" not in m)  # and the stream goes on


def test_one_byte_writes(make_server: Any, clients: List[EsaClient]) -> None:
    server = make_server()
    server.faults.set_chunking([1])
    client = subscribed(server, clients)
    assert client.reads and max(len(r) for r in client.reads) == 1


def test_split_inside_crlf(make_server: Any, clients: List[EsaClient]) -> None:
    server = make_server()
    server.faults.set_split("crlf")
    client = subscribed(server, clients)
    assert not any(b"\r\n" in r for r in client.reads)  # no read holds a whole CRLF
    assert any(r.endswith(b"\r") for r in client.reads) and any(r.startswith(b"\n") for r in client.reads)


def test_split_inside_utf8_characters(make_server: Any, clients: List[EsaClient]) -> None:
    server = make_server()
    server.faults.set_split("utf8")
    client = subscribed(server, clients)
    cut = [r for r in client.reads if r and r[-1] >= 0xC0]
    assert cut, "no read ended inside a character"
    with pytest.raises(UnicodeDecodeError):
        cut[0].decode("utf-8")
    b"".join(client.reads).decode("utf-8")  # the stream as a whole is valid UTF-8


def test_straddle_reads_end_one_byte_into_the_next_line(make_server: Any, clients: List[EsaClient]) -> None:
    server = make_server(FAST, ScenarioConfig(seed=7, markets=8, start_time=1.7e9))
    server.faults.set_split("straddle")
    client = subscribed(server, clients)
    # The status and the image are queued together: the read with the status goes one byte into
    # the image, so a reader that waits for a read ending in CRLF holds the complete status back.
    assert any(r.endswith(b"\r\n{") for r in client.reads)


def test_slow_reader_gets_con_true(make_server: Any, clients: List[EsaClient]) -> None:
    server = make_server(
        EmulatorConfig(auth_timeout=5.0, send_buffer_size=4096), ScenarioConfig(seed=4, markets=20)
    )
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(WAIT)
    raw.connect(("127.0.0.1", server.port))
    client = EsaClient.__new__(EsaClient)
    client.sock = ssl.create_default_context(cafile=server.cafile).wrap_socket(
        raw, server_hostname="localhost"
    )
    client._buffer, client.reads = b"", []
    clients.append(client)
    client.handshake(AUTH)
    full = {
        "op": "marketSubscription",
        "id": 2,
        "marketDataFilter": {"fields": ["EX_ALL_OFFERS", "EX_TRADED"]},
    }
    client.send(full)  # and read nothing more for a while
    assert server.wait_until(
        lambda: server.sessions() and server.sessions()[0].subscription("mcm") is not None, WAIT
    )
    session = server.sessions()[0]
    steps = 0
    while not session.output_blocked and steps < 2000:
        server.scenario.step()
        steps += 1
    assert session.output_blocked, "the socket never filled up"
    for _ in range(5):
        server.scenario.step()
    conflated = client.until(lambda m: m["op"] == "mcm" and any(mc.get("con") for mc in m.get("mc", [])))
    assert conflated["id"] == 2
