"""Fixtures of the Betfair client suite: an emulator over real TLS, clients with short timers, and
a leak check around every test.

Every test runs inside :func:`no_leaks`: the threads and file descriptors it started must be gone
when it ends (joined with a deadline, never slept for). Clients use ``heartbeat_ms=500`` (so 1 s
without a message suspends every market and 1.5 s drops the connection) and reconnect at once.
"""

from __future__ import annotations

import gc
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest

from imgfeed.betfair import BetfairClient, BetfairConfig, BetfairHandler, ReconnectPolicy
from imgfeed.feeds.betfair.emulator import (
    DEFAULT_APP_KEY,
    DEFAULT_SESSION_TOKEN,
    EmulatorServer,
    ScenarioConfig,
)
from tests.betfair_client.support import Recorder

# Re-exported: the suite imports them from here.
from tests.betfair_emulator.servers import ALL_FIELDS as ALL_FIELDS
from tests.betfair_emulator.servers import FAST as FAST
from tests.betfair_emulator.servers import WAIT, emulators
from tests.leaks import join_new_threads, open_fds

SCENARIO = ScenarioConfig(seed=11, markets=8, pre_play_steps=6, in_play_steps=6, closed_steps=2, start_time=1.7e9)
#: At once, then every 50 ms; a refusal that asks us to wait waits 0.3 s.
QUICK_RECONNECT = ReconnectPolicy(interval=0.05, first_delay=0.0, jitter=0.0, min_delay=0.3)


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail the test if it leaves a thread running or a file descriptor open."""
    threads_before = set(threading.enumerate())
    fds_before = open_fds()
    yield
    # imgfeed-resolve threads are short-lived daemons that end with the lookup; none may be left.
    alive = sorted(t.name for t in join_new_threads(threads_before, WAIT))
    assert not alive, f"threads still running after the test: {alive}"
    gc.collect()
    leaked = {fd: target for fd, target in open_fds().items() if fds_before.get(fd) != target}
    assert not leaked, f"file descriptors left open by the test: {leaked}"


@pytest.fixture(scope="session")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One certificate directory for the whole run (making keys is the slow part)."""
    return tmp_path_factory.mktemp("betfair-certs")


@pytest.fixture
def make_server(cert_dir: Path) -> Iterator[Callable[..., EmulatorServer]]:
    """Start emulators (``config``, ``scenario_config``); every one is stopped after the test."""
    yield from emulators(cert_dir, SCENARIO)


def client_config(server: EmulatorServer, **overrides: Any) -> BetfairConfig:
    values: Dict[str, Any] = dict(
        app_key=DEFAULT_APP_KEY,
        session_token=DEFAULT_SESSION_TOKEN,
        host="localhost",
        port=server.port,
        cafile=server.cafile,
        heartbeat_ms=500,
        auth_timeout=3.0,
        connect_timeout=3.0,
        request_timeout=5.0,
        read_timeout=0.05,
        handler_stall_warning=None,
        reconnect=QUICK_RECONNECT,
    )
    values.update(overrides)
    return BetfairConfig(**values)


@pytest.fixture
def make_client() -> Iterator[Callable[..., BetfairClient]]:
    """Build (not start) clients of an emulator; every one is stopped after the test."""
    made: List[BetfairClient] = []

    def make(server: EmulatorServer, handlers: Any = (), **overrides: Any) -> BetfairClient:
        client = BetfairClient(client_config(server, **overrides), handlers=list(handlers))
        made.append(client)
        return client

    yield make
    for client in made:
        client.stop(timeout=WAIT)


@pytest.fixture
def recorder() -> BetfairHandler:
    return Recorder()
