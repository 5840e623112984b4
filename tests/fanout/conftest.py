"""Fixtures of the fan-out suite: a real redis-server per test, the IMG simulator over SSH, the Betfair
emulator over TLS, leak checks.

Every test runs inside the reliability suite's leak check (threads and file descriptors). A test
that needs Redis is skipped, saying why, only when ``redis-server`` is not installed (the README's
test command and ``.ci/run`` install it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator, List

import pytest

from tests.betfair_client.conftest import cert_dir, make_client, make_server  # noqa: F401 -- fixtures
from tests.fanout.redis_server import REDIS_SERVER, RedisServer
from tests.integration.conftest import Sim, client_key, make_sim, sim  # noqa: F401 -- fixtures
from tests.reliability.conftest import no_leaks  # noqa: F401 -- autouse: every test here is checked


@pytest.fixture
def make_redis(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Start redis-servers for the test (``make_redis(password=..., users=[...], tls=...)``)."""
    if not Path(REDIS_SERVER).exists():
        pytest.skip(f"{REDIS_SERVER} is not installed (the README's test command installs redis-server)")
    servers: List[RedisServer] = []

    def make(**options: object) -> RedisServer:
        server = RedisServer(tmp_path / f"redis{len(servers)}", **options)  # type: ignore[arg-type]
        servers.append(server)
        return server.start()

    try:
        yield make
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def redis_server(make_redis: Callable[..., RedisServer]) -> RedisServer:
    return make_redis()


__all__ = ["Sim"]


@pytest.fixture
def closing() -> Iterator[List[object]]:
    """Things to stop after the test (publishers, consumers), last added first."""
    things: List[object] = []
    yield things
    for thing in reversed(things):
        try:
            thing.stop()  # type: ignore[attr-defined]
        except Exception:
            pass
