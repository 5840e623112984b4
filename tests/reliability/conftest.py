"""Fixtures of the reliability suite: keys, known_hosts, and a leak check around every test.

Every test in this folder runs inside :func:`no_leaks`: it counts the live threads and the open
file descriptors before the test and checks, after it, that the client, the servers and paramiko's
own transport threads are all gone and every socket is closed. Waiting is done by joining the
extra threads with a deadline (never by sleeping), so a clean test pays nothing for the check.
"""

from __future__ import annotations

import gc
import threading
from pathlib import Path
from typing import Iterator

import pytest

from tests.leaks import join_new_threads, open_fds
from tests.reliability.support import SSHD, KeyPair, Sshd, keygen

#: How long the leak check waits for threads to finish after a test (seconds). Generous: a
#: paramiko transport thread notices a closed socket within its 0.1 s poll, but CI can be slow.
LEAK_TIMEOUT = 10.0


@pytest.fixture(scope="session")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    """An unencrypted Ed25519 client key, made once per run."""
    return keygen(tmp_path_factory.mktemp("keys") / "id_ed25519")


@pytest.fixture(scope="session")
def encrypted_client_key(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    """An Ed25519 client key protected by a passphrase (for the log-scan test)."""
    return keygen(
        tmp_path_factory.mktemp("keys") / "id_ed25519_enc", passphrase="correct horse battery staple 7f3a"
    )


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail the test if it leaves a thread running or a file descriptor open."""
    threads_before = set(threading.enumerate())
    fds_before = open_fds()
    yield
    alive = join_new_threads(threads_before, LEAK_TIMEOUT)
    assert not alive, f"threads still running after the test: {sorted(t.name for t in alive)}"
    gc.collect()  # a socket closed only by the collector raises ResourceWarning, an error here
    fds_after = open_fds()
    leaked = {fd: target for fd, target in fds_after.items() if fds_before.get(fd) != target}
    assert not leaked, f"file descriptors left open by the test: {leaked}"


@pytest.fixture
def sshd(tmp_path: Path, client_key: KeyPair) -> Iterator[Sshd]:
    """OpenSSH's sshd on a free loopback port, accepting ``client_key``, owned by the test."""
    if not Path(SSHD).exists():
        pytest.skip(f"{SSHD} is not installed (the README's test command installs openssh-server)")
    server = Sshd(tmp_path / "sshd", client_key)
    try:
        server.start()
        yield server
    finally:
        server.stop()
