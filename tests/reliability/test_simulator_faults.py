"""Fault matrix rows produced by the simulator's own fault controller (``server.faults``).

The hostile-server tests pin each fault down byte by byte; these run the same kinds of fault
through the project's simulator -- real scenario data, real sessions -- so that the two ends of the
project are checked against each other: what the simulator calls a fault is what the client
handles as one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from imgfeed import DisconnectReason, FeedConfig, RateLimitedError, SuspendReason
from imgfeed.feeds.img.simulator import ScenarioConfig, SessionConfig, SimulatorServer
from imgfeed.feeds.img.simulator.faults import CLOSE_REASONS
from tests.reliability.support import KeyPair, LogWatch, Recorder, fast_config, running

#: The simulator's heartbeat period here (production: 3 s); well inside the client's deadlines.
HEARTBEAT_INTERVAL = 0.05


@pytest.fixture
def sim(client_key: KeyPair) -> Iterator[SimulatorServer]:
    """A simulator with a tiny scenario moving 50 updates a second, fast heartbeats."""
    server = SimulatorServer(
        authorized_keys=[client_key.key],
        session_config=SessionConfig(heartbeat_interval=HEARTBEAT_INTERVAL),
        scenario_config=ScenarioConfig.of_size("tiny", seed=3, updates_per_second=50, steps_per_second=0.5),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _config(sim: SimulatorServer, key: KeyPair, tmp_path: Path, **overrides: object) -> FeedConfig:
    known_hosts = tmp_path / "known_hosts"
    sim.write_known_hosts(known_hosts)
    return fast_config(sim.port, str(known_hosts), str(key.path), **overrides)


def _tradable_after_connect(rec: Recorder, n: int) -> bool:
    """Has a market become tradable after the ``n``-th connect?"""
    return any(tradable for _, tradable in rec.statuses_since_connect(n))


def test_simulator_heartbeats_stop_then_resume(
    sim: SimulatorServer, client_key: KeyPair, tmp_path: Path
) -> None:
    rec = Recorder()
    with running(_config(sim, client_key, tmp_path), rec) as client:
        assert client.subscribe().is_ok
        assert rec.wait_for(lambda r: _tradable_after_connect(r, 1))
        sim.faults.stop_heartbeats()
        try:
            assert rec.wait_for(lambda r: r.args("on_suspend_all") == [SuspendReason.HEARTBEAT_LATE])
            assert client.book.tradable_market_ids() == frozenset()
            updates = rec.count("on_market_update")
            assert rec.wait_for(lambda r: r.count("on_market_update") > updates + 5)  # data still flows
            assert client.book.suspended is SuspendReason.HEARTBEAT_LATE
        finally:
            sim.faults.resume_heartbeats()
        assert rec.wait_for(lambda r: r.count("on_resume_all") == 2)
        assert client.book.tradable_market_ids()
    assert rec.disconnect_reasons() == [DisconnectReason.USER_STOP]


def test_simulator_stall_reconnects_on_silence(
    sim: SimulatorServer, client_key: KeyPair, tmp_path: Path
) -> None:
    rec = Recorder()
    with running(_config(sim, client_key, tmp_path), rec) as client:
        assert client.subscribe().is_ok
        assert rec.wait_for(lambda r: _tradable_after_connect(r, 1))
        sim.faults.stall()
        try:
            assert rec.wait_for(lambda r: r.count("on_disconnect") == 1)
        finally:
            sim.faults.resume()
        assert rec.wait_for(lambda r: _tradable_after_connect(r, 2))
    assert rec.disconnect_reasons()[0] is DisconnectReason.SILENCE


@pytest.mark.parametrize("reason", CLOSE_REASONS)
def test_simulator_error_push(reason: str, sim: SimulatorServer, client_key: KeyPair, tmp_path: Path) -> None:
    rec = Recorder()
    with running(_config(sim, client_key, tmp_path), rec) as client:
        assert client.subscribe().is_ok
        assert rec.wait_for(lambda r: _tradable_after_connect(r, 1))
        sim.faults.close_all(reason)
        assert rec.wait_for(lambda r: _tradable_after_connect(r, 2))  # reconnected and re-subscribed
    assert [str(c.reason) for c in rec.args("on_server_closing")] == [reason]
    first = rec.disconnects()[0]
    assert first.reason is DisconnectReason.SERVER_CLOSING and first.detail == reason


def test_simulator_refused_connection_then_accepted(
    sim: SimulatorServer, client_key: KeyPair, tmp_path: Path
) -> None:
    sim.faults.reject_connections("connection rate limit hit", 1)
    rec = Recorder()
    with LogWatch("imgfeed.runtime") as log:
        with running(_config(sim, client_key, tmp_path), rec) as client:
            assert client.subscribe().is_ok
            assert rec.wait_for(lambda r: _tradable_after_connect(r, 1))
        assert any("reconnecting in" in m for m in log.messages())  # it waited first
    first = rec.disconnects()[0]
    assert first.reason is DisconnectReason.SERVER_CLOSING and first.detail == "connection rate limit hit"
    assert first.retry_in is not None and first.retry_in >= 0.2


def test_simulator_one_byte_writes_lose_nothing(client_key: KeyPair, tmp_path: Path) -> None:
    """Every line, and every UTF-8 character, split across SSH packets: the client ends with
    exactly the server's image of every market."""
    server = SimulatorServer(
        authorized_keys=[client_key.key],
        session_config=SessionConfig(heartbeat_interval=HEARTBEAT_INTERVAL),
        scenario_config=ScenarioConfig.of_size("tiny", seed=5, updates_per_second=0),  # stepped below
    )
    server.faults.set_chunking([1, 2, 3])
    rec = Recorder()
    with server, running(_config(server, client_key, tmp_path), rec) as client:
        assert client.subscribe().is_ok
        for _ in range(5):
            server.scenario.step(updates=20, advance=False)
        # The response comes after everything sent before it, and the reader applies in order.
        assert client.subscribe(market_ids=["no-such-market"]).is_ok
        markets = server.scenario.market_ids(include_finished=False)
        assert markets
        for market_id in markets:
            image = client.book.image(market_id)
            assert image is not None and image.raw["msg"] == server.scenario.market_image(market_id)
        assert rec.count("on_protocol_error") == 0, rec.args("on_protocol_error")


def test_simulator_mustard_mode(sim: SimulatorServer, client_key: KeyPair, tmp_path: Path) -> None:
    """No init response, no publish_time: the first push proves the session (docs/protocol.md 9)."""
    sim.faults.set_mustard(True)
    rec = Recorder()
    with running(_config(sim, client_key, tmp_path), rec) as client:
        assert client.subscribe().is_ok
        assert rec.wait_for(lambda r: _tradable_after_connect(r, 1) and r.count("on_heartbeat") >= 2)
        (session,) = rec.args("on_connect")
        assert session.session_id is None
        assert all(h.publish_time is None for h in rec.args("on_heartbeat"))
        assert rec.count("on_protocol_error") == 0


def test_simulator_rate_limit_and_garbage(sim: SimulatorServer, client_key: KeyPair, tmp_path: Path) -> None:
    rec = Recorder()
    with running(_config(sim, client_key, tmp_path), rec) as client:
        assert client.subscribe().is_ok
        assert rec.wait_for(lambda r: _tradable_after_connect(r, 1))
        sim.faults.rate_limit_next(1)
        with pytest.raises(RateLimitedError):
            client.subscribe(market_ids=["x"])
        sim.faults.send_malformed_line()
        assert rec.wait_for(lambda r: r.count("on_protocol_error") == 1)
        updates = rec.count("on_market_update")
        assert rec.wait_for(lambda r: r.count("on_market_update") > updates)  # the stream goes on
    assert rec.disconnect_reasons() == [DisconnectReason.USER_STOP]
