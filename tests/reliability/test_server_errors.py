"""Fault matrix, the documented error pushes (docs/protocol.md section 7).

"When the server must close a connection it first sends" an error push with one of six reasons.
For each, during a session and (for the two that refuse new connections) at connect time, the
client must: tell the handlers what the server said (``on_server_closing``), end the connection
with reason ``SERVER_CLOSING`` and the server's words, suspend every market, and reconnect --
after waiting the reconnect interval where the reason forbids an immediate retry ("the client must
not reconnect in a tight loop") -- then re-subscribe.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imgfeed import CloseReason, DisconnectReason, SuspendReason
from tests.reliability import wire
from tests.reliability.hostile import HostileSession, HostileSSHServer
from tests.reliability.support import KeyPair, LogWatch, Recorder, hostile_config, running

#: Reasons after which reconnecting at once would only be refused again.
MUST_WAIT = {CloseReason.MAX_CONNECTIONS_HIT, CloseReason.CONNECTION_RATE_LIMIT_HIT}

REASONS = [reason.value for reason in CloseReason] + ["a reason nobody documented yet"]


@pytest.mark.parametrize("reason", REASONS)
def test_error_push_during_a_session(reason: str, client_key: KeyPair, tmp_path: Path) -> None:
    def script(session: HostileSession) -> None:
        session.serve_init(["m1"])
        session.keep_alive()
        session.serve_subscribe(["m1"])
        if session.index == 0:
            session.stop_keep_alive()
            session.send(wire.error_push(reason))
            return  # and close, as the server does
        session.wait_closed()

    rec = Recorder()
    with LogWatch("imgfeed.runtime") as log:
        with HostileSSHServer(script, client_key.key) as server:
            with running(hostile_config(server, client_key, tmp_path), rec) as client:
                assert client.subscribe().is_ok
                assert rec.wait_for(lambda r: r.count("on_connect") == 2 and r.count("on_market_status") >= 2)
                assert client.book.is_tradable("m1")
            assert server.errors == []
            assert [r.name for r in server.sessions[1].requests] == ["init", "subscribe"]
    (closing,) = rec.args("on_server_closing")
    assert str(closing.reason) == reason
    ended = rec.disconnects()[0]
    assert ended.reason is DisconnectReason.SERVER_CLOSING and ended.detail == reason and ended.will_retry
    names = rec.names()
    assert names.index("on_server_closing") < names.index("on_suspend_all") < names.index("on_disconnect")
    assert rec.args("on_suspend_all")[0] is SuspendReason.DISCONNECTED
    assert (ended.retry_in > 0) == (reason in MUST_WAIT), ended  # the typed decision, not a log line
    assert any(m.startswith("disconnected (server closing") for m in log.messages()), log.messages()


@pytest.mark.parametrize("reason", sorted(MUST_WAIT))
def test_connection_refused_with_an_error_push_waits_before_retrying(
    reason: str, client_key: KeyPair, tmp_path: Path
) -> None:
    """The server refuses the connection itself: the push comes instead of the init response."""

    def script(session: HostileSession) -> None:
        if session.index == 0:
            session.expect("init")
            session.send(wire.error_push(reason))
            return
        session.serve_init(["m1"])
        session.keep_alive()
        session.wait_closed()

    rec = Recorder()
    with LogWatch("imgfeed.runtime") as log:
        with HostileSSHServer(script, client_key.key) as server:
            with running(hostile_config(server, client_key, tmp_path), rec):
                assert rec.wait_for(lambda r: r.count("on_connect") == 1)
            assert server.errors == []
        assert log.wait("reconnecting in")
    ended = rec.disconnects()[0]
    assert ended.reason is DisconnectReason.SERVER_CLOSING and ended.detail == reason and ended.code == reason
    assert ended.retry_in is not None and ended.retry_in >= 0.2  # at least the policy's interval
    assert rec.names().index("on_disconnect") < rec.names().index("on_connect")  # no session before
