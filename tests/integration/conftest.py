"""Fixtures of the integration suite: the client against the simulator's real SSH server.

Everything runs over loopback with short timers (heartbeats every 0.1 s, deadlines of a few tenths
of a second), so the suite is quick; nothing waits by sleeping -- tests wait on the handlers'
conditions and on the server's ``wait_for_sessions``. After every test, no ``imgfeed-*`` thread
of the client may survive.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Iterator, List

import paramiko
import pytest

from imgfeed import FeedClient, FeedConfig, Handler, ReconnectPolicy
from imgfeed.feeds.img.simulator import ScenarioConfig, SessionConfig, SimulatorServer

#: The simulator's heartbeat interval in these tests; the client's deadlines are a few of these.
HEARTBEAT = 0.1

#: Small scenario: a handful of markets, no ticker (tests step it), deterministic.
SMALL = dict(seed=1, golfers=6, top_n=(3,), head_to_heads=1, three_ball_groups=1, holes=1, updates_per_second=0.0)


@pytest.fixture(scope="session")
def client_key() -> paramiko.PKey:
    """The client's key (ECDSA: quick to generate, and a type both paramiko and OpenSSH take)."""
    return paramiko.ECDSAKey.generate()


@pytest.fixture(autouse=True)
def no_client_thread_survives() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    for t in set(threading.enumerate()) - before:
        if t.name.startswith("imgfeed-") and not t.name.startswith("imgfeed-sim"):
            t.join(5)
    left = [t.name for t in set(threading.enumerate()) - before if t.is_alive() and t.name.startswith("imgfeed-")
            and not t.name.startswith("imgfeed-sim")]
    assert left == []


class Sim:
    """A started simulator plus what a client needs to reach it."""

    def __init__(self, server: SimulatorServer, known_hosts: Path, key: paramiko.PKey) -> None:
        self.server = server
        self.known_hosts = known_hosts
        self.key = key
        self.clients: List[FeedClient] = []

    @property
    def scenario(self) -> Any:
        return self.server.scenario

    @property
    def faults(self) -> Any:
        return self.server.faults

    def config(self, **overrides: Any) -> FeedConfig:
        values: dict = dict(
            host=self.server.host,
            port=self.server.port,
            username="trader",
            pkey=self.key,
            known_hosts=str(self.known_hosts),
            heartbeat_timeout=4 * HEARTBEAT,
            silence_timeout=8 * HEARTBEAT,
            init_timeout=2.0,
            connect_timeout=5.0,
            request_timeout=5.0,
            read_timeout=0.05,
            keepalive_interval=0,
            reconnect=ReconnectPolicy(interval=0.2, first_delay=0.0, jitter=0.0, min_delay=0.2),
        )
        values.update(overrides)
        return FeedConfig(**values)

    def client(self, *handlers: Handler, start: bool = True, **overrides: Any) -> FeedClient:
        client = FeedClient(self.config(**overrides), handlers=list(handlers))
        self.clients.append(client)
        return client.start() if start else client


@pytest.fixture()
def make_sim(tmp_path: Path, client_key: paramiko.PKey) -> Iterator[Callable[..., Sim]]:
    """Build and start a simulator; every client and server is stopped after the test."""
    sims: List[Sim] = []

    def make(session: Any = None, scenario: Any = None, **session_overrides: Any) -> Sim:
        session_config = session or SessionConfig(heartbeat_interval=HEARTBEAT, **session_overrides)
        scenario_config = scenario or ScenarioConfig(**SMALL)
        server = SimulatorServer(
            authorized_keys=[client_key],
            session_config=session_config,
            scenario_config=scenario_config,
        )
        server.start()
        known_hosts = tmp_path / f"known_hosts_{len(sims)}"
        server.write_known_hosts(str(known_hosts))
        sim = Sim(server, known_hosts, client_key)
        sims.append(sim)
        return sim

    try:
        yield make
    finally:
        for sim in sims:
            for client in sim.clients:
                try:
                    client.stop(timeout=5)
                except Exception:
                    pass
            sim.server.stop(timeout=5)


@pytest.fixture()
def sim(make_sim: Callable[..., Sim]) -> Sim:
    """A simulator with the default test settings."""
    return make_sim()
