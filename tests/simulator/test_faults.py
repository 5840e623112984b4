"""Every fault of the simulator, shown by what a client receives on the wire."""

from __future__ import annotations

import pytest

from imgfeed.errors import LineTooLongError, ProtocolError
from imgfeed.feeds.img.protocol import (
    Heartbeat,
    InitResponse,
    Market,
    MarketUpdate,
    ServerClosing,
)
from imgfeed.feeds.img.simulator import CLOSE_REASONS, SessionConfig
from imgfeed.feeds.img.simulator.keys import generate_ed25519
from tests.simulator.conftest import FAST, init, is_kind


def test_stop_and_resume_heartbeats(make_server, connect):
    server = make_server()
    client = connect(server)
    init(client)
    server.faults.stop_heartbeats()
    server.faults.send_raw(b'{"mode": "push", "type": "marker", "msg": {}}\n')
    # Drain what was queued before the switch, up to the marker.
    client.expect(lambda r: getattr(r, "type", None) == "marker")
    # Other output still flows, but no heartbeat comes.
    client.send({"request": "subscribe", "msg": {}})
    server.scenario.step(updates=3, advance=False)
    quiet = client.collect(4 * FAST.heartbeat_interval)
    assert any(isinstance(r, MarketUpdate) for r in quiet)
    assert not any(isinstance(r, Heartbeat) for r in quiet)
    server.faults.resume_heartbeats()
    client.expect(is_kind("Heartbeat"))


def test_stall_keeps_the_connection_silent_then_resumes_in_order(make_server, connect):
    server = make_server()
    client = connect(server)
    init(client)
    server.faults.stall()
    server.faults.send_raw(b'{"mode": "push", "type": "marker", "msg": {"n": 1}}\n')
    client.send({"request": "subscribe", "request_id": "s1", "msg": {}})
    # Nothing arrives while stalled (at most a heartbeat that was already on its way).
    silent = client.collect(5 * FAST.heartbeat_interval)
    assert all(isinstance(r, Heartbeat) for r in silent) and len(silent) <= 1
    assert client.transport.is_active()
    server.faults.resume()
    seen = client.expect(lambda r: getattr(r, "request_id", None) == "s1")
    kinds = [getattr(r, "type", type(r).__name__) for r in seen]
    assert kinds.index("marker") < len(kinds) - 1


def test_drop_connections_is_abrupt(make_server, connect):
    server = make_server()
    client = connect(server)
    init(client)
    server.faults.drop_connections()
    rest = client.read_to_eof()
    assert not any(isinstance(r, ServerClosing) for r in rest)


@pytest.mark.parametrize("reason", CLOSE_REASONS)
def test_close_all_with_each_documented_reason(make_server, connect, reason):
    server = make_server()
    client = connect(server)
    records = init(client)
    session_id = records[0].session_id
    server.faults.close_all(reason)
    rest = client.read_to_eof()
    closing = rest[-1]
    assert isinstance(closing, ServerClosing)
    assert str(closing.reason) == reason and closing.session_id == session_id


def test_rate_limit_next_requests(make_server, connect):
    server = make_server()
    client = connect(server)
    init(client)
    server.faults.rate_limit_next(2)
    client.send({"request": "subscribe", "request_id": "a", "msg": {}})
    client.send({"request": "subscribe", "msg": {}})
    client.send({"request": "subscribe", "request_id": "c", "msg": {"market_ids": []}})
    first = client.expect(is_kind("RateLimited"))[-1]
    second = client.expect(is_kind("RateLimited"))[-1]
    third = client.expect(is_kind("Response"))[-1]
    assert first.request_id == "a" and second.request_id is None
    assert "request_id" not in second.raw  # only echoed when the request had one
    assert third.request_id == "c" and third.is_ok


def test_request_rate_limit(make_server, connect):
    server = make_server(session_config=SessionConfig(heartbeat_interval=0.2, request_rate_limit=2, request_rate_window=60))
    client = connect(server)
    init(client)  # request 1 of 2
    client.send({"request": "unsubscribe", "request_id": "1", "msg": {}})
    client.send({"request": "unsubscribe", "request_id": "2", "msg": {}})
    assert client.expect(is_kind("Response"))[-1].request_id == "1"
    limited = client.expect(is_kind("RateLimited"))[-1]
    assert limited.request_id == "2" and limited.raw["msg"] == "API limit breached"


def test_malformed_and_over_long_lines(make_server, connect):
    server = make_server()
    client = connect(server)
    init(client)
    server.faults.send_malformed_line()
    bad = client.expect(lambda r: isinstance(r, ProtocolError))[-1]
    assert "invalid JSON" in str(bad)
    client._decoder = type(client._decoder)(max_line_length=1000)
    server.faults.send_long_line(5000)
    too_long = client.expect(lambda r: isinstance(r, ProtocolError))[-1]
    assert isinstance(too_long, LineTooLongError)
    client.expect(is_kind("Heartbeat"))  # the stream goes on


def test_chunking_splits_utf8_and_crlf(make_server, connect):
    server = make_server()
    client = connect(server)
    init(client)
    before = len(client.chunks)
    [stats] = server.connection_stats()
    server.faults.set_chunking([1, 2])
    line = '{"mode": "push", "type": "marker", "msg": {"name": "Åberg 松山"}}\r\n'.encode("utf-8")
    server.faults.send_raw(line)
    marker = client.expect(lambda r: getattr(r, "type", None) == "marker")[-1]
    assert marker.raw["msg"]["name"] == "Åberg 松山"
    chunks = client.chunks[before:]
    server.faults.set_chunking(None)
    assert line in bytes(client.raw)
    assert b"".join(chunks).endswith(line)
    # The server wrote it one or two bytes at a time, so SSH carried it in as many packets (how
    # many reads the client needs depends on its timing: those pieces may arrive together).
    [after] = server.connection_stats()
    assert after["writes"] - stats["writes"] >= len(line) // 2


def test_mustard_mode_for_new_sessions(make_server, connect):
    server = make_server()
    server.faults.set_mustard(True)
    client = connect(server)
    records = init(client)
    assert not any(isinstance(r, InitResponse) for r in records)
    assert all("publish_time" not in r.raw for r in records)
    assert all(not any(k.startswith("arena_") for k in r.raw["msg"]) for r in records if isinstance(r, Market))


def test_reject_connections(make_server, connect):
    server = make_server()
    server.faults.reject_connections("max connections hit", n=1)
    client = connect(server)
    rest = client.read_to_eof()
    assert [str(r.reason) for r in rest] == ["max connections hit"]
    assert init(connect(server))[0].session_id


def test_max_connections(make_server, connect):
    server = make_server(session_config=SessionConfig(heartbeat_interval=0.2, max_connections=1))
    first = connect(server)
    init(first)
    second = connect(server)
    assert [str(r.reason) for r in second.read_to_eof()] == ["max connections hit"]


def test_connection_rate_limit(make_server, connect):
    server = make_server(session_config=SessionConfig(heartbeat_interval=0.2, connection_rate_limit=1, connection_rate_window=60))
    init(connect(server))
    second = connect(server)
    assert [str(r.reason) for r in second.read_to_eof()] == ["connection rate limit hit"]


def test_no_init_sent(make_server, connect):
    server = make_server(session_config=SessionConfig(init_timeout=0.3))
    client = connect(server)
    rest = client.read_to_eof()
    assert [str(r.reason) for r in rest] == ["no init sent"]


def test_slow_reader_is_closed_with_the_error_push(make_server, connect):
    server = make_server(session_config=SessionConfig(heartbeat_interval=0.05, slow_reader_timeout=0.5))
    client = connect(server)
    init(client)
    client.send({"request": "subscribe", "msg": {}})
    client.paused.set()
    # Fill the channel window (2 MiB) while the client does not read.
    for _ in range(12):
        server.faults.send_long_line(256 * 1024)
    # The server gives up on the client and closes the connection; then the client reads.
    assert server.wait_for_connection_count(0, timeout=10)
    client.paused.clear()
    rest = client.read_to_eof()
    assert isinstance(rest[-1], ServerClosing) and str(rest[-1].reason) == "slow reader"
    # The unsent rest of the stream was dropped: a line cut short is reported, nothing else is.
    assert all(not isinstance(r, ProtocolError) or "padding" in repr(r.raw[:60]) for r in rest)


def test_unknown_key_is_refused(make_server, client_key):
    import paramiko

    from tests.simulator.conftest import WireClient

    server = make_server()
    with pytest.raises(paramiko.AuthenticationException):
        WireClient(server, generate_ed25519())


def test_pty_request_is_tolerated(make_server, connect):
    server = make_server()
    client = connect(server, pty=True)
    assert isinstance(init(client)[0], InitResponse)


def test_crlf_line_endings_split_between_the_two_bytes(make_server, connect):
    server = make_server()
    client = connect(server)
    init(client)
    server.faults.set_crlf(True)
    server.faults.set_chunking([1])
    server.faults.send_raw(b'{"mode": "push", "type": "marker", "msg": {}}\n')
    marker = client.expect(lambda r: getattr(r, "type", None) == "marker")[-1]
    assert marker.raw == {"mode": "push", "type": "marker", "msg": {}}
    assert b'"msg": {}}\r\n' in bytes(client.raw)
    server.faults.set_crlf(False)
    server.faults.set_chunking(None)
    client.expect(is_kind("Heartbeat"))
