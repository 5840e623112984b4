"""The client against OpenSSH's sshd, whose ForceCommand runs the simulator's stdio mode.

This proves that imgfeed's SSH side speaks SSH as the rest of the world does -- key auth, host-key
verification against an OpenSSH known_hosts file, a ``shell`` without a pty -- and not only as
paramiko's server does.
"""

from __future__ import annotations

import paramiko
import pytest

from imgfeed import DisconnectReason, FeedClient, FeedConfig, HostKeyMismatchError, ReconnectPolicy
from tests.interop.conftest import OpenSSHServer
from tests.unit.memory_feed import Recorder, called

pytestmark = pytest.mark.openssh


def config(server: OpenSSHServer, **overrides: object) -> FeedConfig:
    values: dict = dict(
        host=server.host,
        port=server.port,
        username=server.username,
        key_filename=str(server.client_key_path),
        known_hosts=str(server.known_hosts),
        heartbeat_timeout=1.0,
        silence_timeout=2.0,
        init_timeout=10.0,  # the forced command starts a Python interpreter
        connect_timeout=10.0,
        request_timeout=15.0,
        read_timeout=0.05,
        reconnect=ReconnectPolicy(interval=0.5, jitter=0.0),
    )
    values.update(overrides)
    return FeedConfig(**values)


def test_client_against_openssh_sshd(openssh_server: OpenSSHServer) -> None:
    rec = Recorder()
    with FeedClient(config(openssh_server), handlers=[rec]) as client:
        assert client.subscribe(timeout=15).is_ok
        rec.wait_for(called("on_market_update"), timeout=15)
        rec.wait_for(called("on_heartbeat", 3), timeout=15)  # heartbeats keep flowing
        (session,) = rec.of("on_connect")[0]
        assert session.session_id
        names = rec.names()
        assert names.index("on_sport") < names.index("on_market") < names.index("on_market_update")
        assert client.book.tradable_market_ids()
        assert client.stats().protocol_errors == 0
    assert rec.of("on_disconnect")[-1][0].reason is DisconnectReason.USER_STOP
    assert rec.names().count("on_suspend_all") == 1  # only the one at stop: heartbeats were on time


def test_openssh_host_key_mismatch_is_refused(openssh_server: OpenSSHServer) -> None:
    other = paramiko.ECDSAKey.generate()
    openssh_server.known_hosts.write_text(f"[127.0.0.1]:{openssh_server.port} {other.get_name()} {other.get_base64()}\n")
    client = FeedClient(config(openssh_server)).start()
    with pytest.raises(HostKeyMismatchError):
        client.join(timeout=15)
