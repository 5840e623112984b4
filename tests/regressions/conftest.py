"""Fixtures of the regression suite: a thread-leak check around every test, and an SSH client key.

Every test here is a strict ``xfail`` until the runtime of issue 11 lands: it reproduces a defect
of today's client and fails on its assertion about that defect. The leak check still applies to
the failing runs, so a test that reproduces a hang must also clean up after it (release what it
blocked, stop the servers it started) before it ends.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator

import pytest

from tests.reliability.support import KeyPair, keygen

#: How long the leak check gives the threads a test started to end (seconds). Only a leak waits
#: this long.
LEAK_TIMEOUT = 10.0


@pytest.fixture(autouse=True)
def no_thread_survives() -> Iterator[None]:
    """Fail the test if a thread of the client (or of a test server) outlives it."""
    yield
    for thread in [t for t in threading.enumerate() if t.name.startswith("imgfeed-")]:
        thread.join(LEAK_TIMEOUT)
    assert [t.name for t in threading.enumerate() if t.name.startswith("imgfeed-")] == []


@pytest.fixture(scope="session")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    """An unencrypted Ed25519 client key, made once per run with ssh-keygen."""
    return keygen(Path(tmp_path_factory.mktemp("keys")) / "id_ed25519")
