"""Fault matrix, SSH rows: authentication failure, changed host key, unknown host key.

These faults live in SSH itself, so each runs twice: against a paramiko server (the hostile
server of this suite) and against OpenSSH's sshd, the server the rest of the world runs.

The expected behaviour is the same for all of them (docs/architecture.md; SECURITY.md section 1): the attempt
fails with a typed reason (``AUTH_FAILED`` / ``HOST_KEY``), the handlers are told with
``will_retry=False``, the client stops by itself instead of retrying in a loop, ``join()`` raises
the error, every market stays suspended, and -- for host-key faults -- the client never offers its
key to the server it could not verify.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Type

import paramiko
import pytest

from imgfeed import (
    AuthenticationError,
    ClientState,
    DisconnectReason,
    FeedClient,
    HostKeyMismatchError,
    ImgFeedError,
    SuspendReason,
    UnknownHostKeyError,
)
from tests.reliability.hostile import HostileSession, HostileSSHServer
from tests.reliability.support import WAIT, KeyPair, LogWatch, Recorder, Sshd, fast_config, running

pytestmark = pytest.mark.timeout(60)


def _fails_for_good(config: object, reason: DisconnectReason, error: Type[ImgFeedError]) -> Recorder:
    """Run a client that must fail its first attempt with ``reason`` and stop by itself."""
    rec = Recorder()
    client = FeedClient(config, handlers=[rec])  # type: ignore[arg-type]
    client.start()
    try:
        with pytest.raises(error):
            assert client.join(WAIT), "the client did not stop by itself"
        assert client.state is ClientState.STOPPED
        assert client.book.suspended is SuspendReason.DISCONNECTED
    finally:
        client.stop(WAIT)
    (failure,) = rec.disconnects()
    assert failure.reason is reason and not failure.will_retry
    assert isinstance(failure.exception, error)
    assert rec.count("on_connect") == 0
    return rec


def _idle(session: HostileSession) -> None:
    session.wait_closed()


# --- against a paramiko server -------------------------------------------------------------------


def test_auth_failure_stops_the_client_without_retrying(client_key: KeyPair, tmp_path: Path) -> None:
    with HostileSSHServer(_idle, authorized_key=None) as server:
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text(server.known_hosts_line())
        config = fast_config(server.port, str(known_hosts), str(client_key.path))
        _fails_for_good(config, DisconnectReason.AUTH_FAILED, AuthenticationError)
        assert server.connections == 1  # one attempt, no loop
        assert server.sessions == []


def test_host_key_changed_is_refused_before_authentication(client_key: KeyPair, tmp_path: Path) -> None:
    with HostileSSHServer(_idle, client_key.key) as server:
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text(server.known_hosts_line(paramiko.ECDSAKey.generate()))  # the "old" key
        config = fast_config(server.port, str(known_hosts), str(client_key.path))
        rec = _fails_for_good(config, DisconnectReason.HOST_KEY, HostKeyMismatchError)
        error = rec.disconnects()[0].exception
        assert error.host == f"[127.0.0.1]:{server.port}"
        assert error.fingerprint in str(error)  # the user can compare it with the provider's
        assert server.auth_attempts == 0 and server.connections == 1
    assert known_hosts.read_text().count("\n") == 1  # and the file was not "fixed" for the attacker


def test_unknown_host_key_is_refused_by_default(client_key: KeyPair, tmp_path: Path) -> None:
    with HostileSSHServer(_idle, client_key.key) as server:
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text("")
        config = fast_config(server.port, str(known_hosts), str(client_key.path))
        _fails_for_good(config, DisconnectReason.HOST_KEY, UnknownHostKeyError)
        assert server.auth_attempts == 0
    assert known_hosts.read_text() == ""


def test_auth_failure_is_retried_only_when_asked(client_key: KeyPair, tmp_path: Path) -> None:
    rec = Recorder()
    with HostileSSHServer(_idle, authorized_key=None) as server:
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text(server.known_hosts_line())
        config = fast_config(server.port, str(known_hosts), str(client_key.path), retry_auth_failures=True)
        client = FeedClient(config, handlers=[rec]).start()
        try:
            assert rec.wait_for(lambda r: r.count("on_disconnect") >= 2)
        finally:
            client.stop(WAIT)
    failures = rec.disconnects()[:2]
    assert [d.reason for d in failures] == [DisconnectReason.AUTH_FAILED] * 2
    assert all(d.will_retry for d in failures)


# --- against OpenSSH's sshd ----------------------------------------------------------------------


@pytest.mark.openssh
def test_auth_failure_against_openssh(sshd: Sshd, client_key: KeyPair, tmp_path: Path) -> None:
    sshd.authorized_keys.write_text("")  # sshd reads it per connection: our key is no longer allowed
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd.known_hosts_line())
    config = fast_config(sshd.port, str(known_hosts), str(client_key.path), username="root")
    _fails_for_good(config, DisconnectReason.AUTH_FAILED, AuthenticationError)


@pytest.mark.openssh
def test_host_key_changed_against_openssh(sshd: Sshd, client_key: KeyPair, tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd.known_hosts_line(paramiko.ECDSAKey.generate()))
    config = fast_config(sshd.port, str(known_hosts), str(client_key.path), username="root")
    _fails_for_good(config, DisconnectReason.HOST_KEY, HostKeyMismatchError)
    log = (sshd.directory / "sshd.log").read_text()
    assert "Accepted publickey" not in log and "Failed publickey" not in log  # the key was never offered


@pytest.mark.openssh
def test_same_key_type_changed_against_openssh(sshd: Sshd, client_key: KeyPair, tmp_path: Path) -> None:
    """The subtle case: the recorded key has the server's key type (ed25519) but other bytes."""
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd.known_hosts_line(client_key.key))  # an ed25519 key, not the server's
    config = fast_config(sshd.port, str(known_hosts), str(client_key.path), username="root")
    _fails_for_good(config, DisconnectReason.HOST_KEY, HostKeyMismatchError)


def test_accept_new_still_refuses_a_changed_key(client_key: KeyPair, tmp_path: Path) -> None:
    """Trust on first use records unknown keys only: a changed key is refused all the same."""
    with HostileSSHServer(_idle, client_key.key) as server:
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text(server.known_hosts_line(paramiko.ECDSAKey.generate()))
        config = fast_config(
            server.port, str(known_hosts), str(client_key.path), host_key_policy="accept-new"
        )
        _fails_for_good(config, DisconnectReason.HOST_KEY, HostKeyMismatchError)
        assert server.auth_attempts == 0
    assert known_hosts.read_text().count("\n") == 1


def test_insecure_accept_any_says_so_on_every_connection(client_key: KeyPair, tmp_path: Path) -> None:
    """The opt-out connects to a server whose key nobody recorded -- and warns, every time."""

    def serve(session: HostileSession) -> None:
        session.serve_init(["m1"])
        if session.index == 0:
            return  # close: the client connects again, and must warn again
        session.keep_alive()
        session.wait_closed()

    rec = Recorder()
    with LogWatch("imgfeed.transport.ssh") as log:
        with HostileSSHServer(serve, client_key.key) as server:
            config = fast_config(
                server.port, None, str(client_key.path), host_key_policy="insecure-accept-any"
            )
            with running(config, rec):
                assert rec.wait_for(lambda r: r.count("on_connect") == 2)
        warnings = [r for r in log.records if "NOT verifying" in r.getMessage()]
    assert len(warnings) == 2 and all(r.levelno == logging.WARNING for r in warnings)
