"""The emulator over real TLS on loopback: verification, handshake, and clean stops."""

from __future__ import annotations

import socket
import ssl
from typing import Any, List

import pytest

from imgfeed.feeds.betfair.emulator import EmulatorConfig
from tests.betfair_emulator.conftest import AUTH, WAIT, EsaClient


def test_handshake_with_a_verifying_client(make_server: Any, clients: List[EsaClient]) -> None:
    server = make_server()
    for host in ("localhost", "127.0.0.1"):  # both names are in the certificate
        client = EsaClient(server, host=host)
        clients.append(client)
        status = client.handshake()
        assert status["statusCode"] == "SUCCESS" and status["connectionsAvailable"] == 9 - len(clients) + 1
    assert server.wait_for_sessions(2, WAIT)


def test_a_client_without_the_ca_fails_verification(make_server: Any) -> None:
    server = make_server()
    context = ssl.create_default_context()  # the system's CAs only
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            context.wrap_socket(raw, server_hostname="localhost")
    assert server.wait_for_connection_count(0, WAIT)


def test_a_wrong_host_name_fails_verification(make_server: Any) -> None:
    server = make_server()
    context = ssl.create_default_context(cafile=server.cafile)
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as raw:
        with pytest.raises(ssl.SSLCertVerificationError, match="match|mismatch"):
            context.wrap_socket(raw, server_hostname="stream-api.betfair.com")


def test_subscribe_image_and_deltas_over_tls(make_server: Any, clients: List[EsaClient]) -> None:
    server = make_server()
    client = EsaClient(server)
    clients.append(client)
    client.handshake()
    client.send(
        {"op": "marketSubscription", "id": 2, "marketDataFilter": {"fields": ["EX_LTP", "EX_MARKET_DEF"]}}
    )
    assert client.message()["id"] == 2
    image = client.message()
    assert image["ct"] == "SUB_IMAGE" and len(image["mc"]) == 8
    names = [r["name"] for m in image["mc"] for r in m["marketDefinition"]["runners"]]
    assert any(ord(c) > 127 for name in names for c in name)  # non-ASCII on the wire
    server.scenario.step()
    delta = client.until(lambda m: m.get("op") == "mcm" and "ct" not in m)
    assert delta["clk"] == server.scenario.markets_log.clock()


def test_stop_closes_clients_and_joins_threads(make_server: Any, clients: List[EsaClient]) -> None:
    server = make_server(EmulatorConfig(auth_timeout=5.0))
    client = EsaClient(server)
    clients.append(client)
    client.handshake(AUTH)
    server.stop(timeout=WAIT)
    assert client.line() == b""  # EOF: the emulator closed the connection
    assert server.connections() == []
