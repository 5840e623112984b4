"""Lifecycle against real sockets: stop() at every awkward moment, host keys, authentication."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any, Iterator

import paramiko
import pytest

from imgfeed import (
    AuthenticationError,
    ClientState,
    DisconnectReason,
    FeedClient,
    HostKeyMismatchError,
    ReconnectPolicy,
    UnknownHostKeyError,
)
from tests.integration.conftest import Sim
from tests.unit.memory_feed import Recorder, called


def threads_of(client: FeedClient) -> list:
    return [t for t in (client._watchdog.thread, client._dispatcher.thread) if t is not None and t.is_alive()]


class SilentListener:
    """Accepts TCP connections and never says a word: an SSH server that hangs in the banner."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self._stop = threading.Event()
        self._conns: list = []
        self._thread = threading.Thread(target=self._loop, name="test-silent-listener")
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._conns.append(conn)
            self.accepted.set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for c in self._conns:
            c.close()
        self.sock.close()


@pytest.fixture()
def silent() -> Iterator[SilentListener]:
    listener = SilentListener()
    yield listener
    listener.close()


def test_stop_during_connect_returns_promptly(sim: Sim, silent: SilentListener) -> None:
    rec = Recorder()
    client = sim.client(rec, port=silent.port, connect_timeout=60.0)
    assert silent.accepted.wait(5)
    client.stop(timeout=3)
    assert threads_of(client) == []  # the 60 s connect was aborted, not waited out
    (note,) = rec.of("on_disconnect")[-1]
    assert note.reason is DisconnectReason.USER_STOP


def test_a_connect_that_hangs_times_out_and_is_retried(sim: Sim, silent: SilentListener) -> None:
    rec = Recorder()
    client = sim.client(rec, port=silent.port, connect_timeout=0.3)
    rec.wait_for(called("on_disconnect", 2))
    notes = [a[0] for a in rec.of("on_disconnect")]
    assert {n.reason for n in notes} == {DisconnectReason.CONNECT_FAILED}
    assert "timed out" in notes[0].detail
    client.stop(timeout=3)
    assert threads_of(client) == []


def test_stop_while_the_server_is_silent(sim: Sim) -> None:
    rec = Recorder()
    client = sim.client(rec, silence_timeout=60.0, heartbeat_timeout=60.0)
    rec.wait_for(called("on_heartbeat"))
    sim.faults.stall()
    client.stop(timeout=3)
    assert threads_of(client) == []
    assert rec.of("on_disconnect")[-1][0].reason is DisconnectReason.USER_STOP


def test_stop_during_a_reconnect_wait(sim: Sim) -> None:
    rec = Recorder()
    client = sim.client(rec, reconnect=ReconnectPolicy(interval=60.0, first_delay=0.0))
    rec.wait_for(called("on_connect"))
    sim.server.stop(timeout=5)
    rec.wait_for(called("on_disconnect", 2))  # the loss, then the immediate retry refused
    assert client.wait_for_state(ClientState.RECONNECTING, timeout=5)
    client.stop(timeout=3)
    assert threads_of(client) == []


def test_context_manager_and_run_forever_stop_cleanly(sim: Sim) -> None:
    rec = Recorder()
    with FeedClient(sim.config(), handlers=[rec]) as client:
        rec.wait_for(called("on_connect"))
        runner = threading.Thread(target=client.run_forever, name="test-run-forever")
        runner.start()
    runner.join(5)
    assert not runner.is_alive()
    assert threads_of(client) == []


# --- host keys and authentication: reported, never retried silently ------------------------------


def test_a_changed_host_key_is_a_clear_error_and_not_retried(sim: Sim) -> None:
    other = paramiko.ECDSAKey.generate()
    sim.known_hosts.write_text(f"[{sim.server.host}]:{sim.server.port} {other.get_name()} {other.get_base64()}\n")
    rec = Recorder()
    client = sim.client(rec)
    with pytest.raises(HostKeyMismatchError, match="HOST KEY MISMATCH") as info:
        client.join(timeout=10)
    assert info.value.host == f"[{sim.server.host}]:{sim.server.port}"
    (note,) = rec.of("on_disconnect")[0]
    assert note.reason is DisconnectReason.HOST_KEY and not note.will_retry
    assert len(rec.of("on_disconnect")) == 1


def test_an_unknown_host_key_is_rejected_by_default(sim: Sim, tmp_path: Path) -> None:
    (tmp_path / "empty_known_hosts").write_text("")
    client = sim.client(known_hosts=str(tmp_path / "empty_known_hosts"))
    with pytest.raises(UnknownHostKeyError, match="unknown host key"):
        client.join(timeout=10)


def test_accept_new_trusts_on_first_use_and_remembers(sim: Sim, tmp_path: Path) -> None:
    known_hosts = tmp_path / "ssh" / "known_hosts"
    known_hosts.parent.mkdir()  # accept-new creates the file, in a directory that must exist
    rec = Recorder()
    client = sim.client(rec, known_hosts=str(known_hosts), host_key_policy="accept-new")
    rec.wait_for(called("on_connect"))
    client.stop()
    assert known_hosts.read_text() == sim.server.known_hosts_line().strip() + "\n"
    rec2 = Recorder()
    sim.client(rec2, known_hosts=str(known_hosts))  # default policy: now known
    rec2.wait_for(called("on_connect"))


def test_a_rejected_key_stops_the_client(sim: Sim) -> None:
    rec = Recorder()
    client = sim.client(rec, pkey=paramiko.ECDSAKey.generate())
    with pytest.raises(AuthenticationError, match="rejected"):
        client.join(timeout=10)
    assert rec.of("on_disconnect")[0][0].reason is DisconnectReason.AUTH_FAILED


def test_an_encrypted_key_file_with_its_passphrase(sim: Sim, tmp_path: Path, client_key: Any) -> None:
    path = tmp_path / "id_ecdsa"
    client_key.write_private_key_file(str(path), password="s3cret passphrase")
    rec = Recorder()
    client = sim.client(rec, pkey=None, key_filename=str(path), passphrase="s3cret passphrase")
    rec.wait_for(called("on_connect"))
    client.stop()
    client2 = sim.client(pkey=None, key_filename=str(path))
    with pytest.raises(AuthenticationError, match="encrypted"):
        client2.join(timeout=10)


def test_a_hashed_known_hosts_file_is_understood(sim: Sim) -> None:
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(sim.known_hosts)], check=True, timeout=30, capture_output=True)
    assert str(sim.server.port) not in sim.known_hosts.read_text()  # names are hashed now
    rec = Recorder()
    sim.client(rec)
    rec.wait_for(called("on_connect"))
