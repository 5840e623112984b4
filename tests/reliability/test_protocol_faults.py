"""Fault matrix, protocol rows: what a broken or hostile server can put on the wire.

Every test here uses the hostile SSH server, which writes exactly the bytes the test wants, and
checks the rule of docs/protocol.md section 2: a bad line is reported (``on_protocol_error``, with its
bytes) and the stream goes on -- the lines after it are delivered, the connection stays up, and
memory stays bounded whatever the line.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from imgfeed import (
    LineTooLongError,
    ProtocolError,
    RateLimitedError,
)
from imgfeed.framing import DEFAULT_MAX_LINE_LENGTH
from tests.reliability import wire
from tests.reliability.hostile import HostileSession, HostileSSHServer, Script
from tests.reliability.memory import peak_rss_growth
from tests.reliability.support import WAIT, KeyPair, Recorder, hostile_config, running

MiB = 1024 * 1024


def _price_seen(price: float) -> Callable[[Recorder], bool]:
    return lambda r: any(u.selections[0].price == price for u in r.args("on_market_update"))


def _serve_then(lines_after_subscribe: Callable[[HostileSession], None]) -> Script:
    """A script: init with market m1, answer one subscribe, run the test's part, stay connected."""

    def script(session: HostileSession) -> None:
        session.serve_init(["m1"])
        session.serve_subscribe(["m1"])
        lines_after_subscribe(session)
        session.keep_alive()  # only now: heartbeats must not land inside the test's bytes
        session.send(wire.market_update("m1", price=7.0))  # the canary: the stream goes on
        session.wait_closed()

    return script


def _run(script: Script, key: KeyPair, tmp_path: Path, rec: Recorder, **overrides: object) -> None:
    with HostileSSHServer(script, key.key) as server:
        with running(hostile_config(server, key, tmp_path, **overrides), rec) as client:
            assert client.subscribe().is_ok
            assert rec.wait_for(_price_seen(7.0)), rec.names()
            assert client.book.is_tradable("m1")
            assert client.stats().sessions == 1
        assert server.errors == []
    assert rec.disconnect_reasons() == [rec.disconnects()[0].reason]  # only the final user stop


def test_line_of_100_mb_is_skipped_with_bounded_memory(client_key: KeyPair, tmp_path: Path) -> None:
    """A 100 MB line: reported once as LineTooLongError naming the 16 MiB limit and the real length,
    skipped to its newline, the next line delivered -- and the client never holds the line."""
    head = b'{"mode": "push", "type": "market_update", "msg": {"id": "m1", "pad": "'
    chunk = b"x" * MiB
    total = 100 * MiB

    def send_huge(session: HostileSession) -> None:
        session.send(head)
        for _ in range(total // MiB):
            session.send(chunk)
        session.send(b'"}}\n')

    rec = Recorder()
    with peak_rss_growth() as growth:
        _run(_serve_then(send_huge), client_key, tmp_path, rec, heartbeat_timeout=WAIT)
    (error,) = rec.args("on_protocol_error")
    assert isinstance(error, LineTooLongError)
    assert error.limit == DEFAULT_MAX_LINE_LENGTH and error.length == len(head) + total + 3
    assert len(error.raw) <= 1024 and error.raw.startswith(head)
    # The line limit plus paramiko's window and slack -- not the 100 MB of the line.
    assert growth.mib < 64, f"resident memory grew by {growth.mib:.0f} MiB"


def test_flood_of_tiny_lines_with_a_blocked_handler_keeps_memory_bounded(
    client_key: KeyPair, tmp_path: Path
) -> None:
    """200 000 heartbeats while the only handler is blocked: the reader keeps draining, the queue
    stays within its bound by conflating them, and the book has the update that follows at once."""
    handler_blocked = threading.Event()
    release = threading.Event()

    def script(session: HostileSession) -> None:
        session.serve_init(["m1"])
        session.serve_subscribe(["m1"])
        session.keep_alive()  # between whole lines only
        request = session.expect("subscribe")  # sent once the handler is blocked
        beat = wire.heartbeat()
        for _ in range(20):
            session.send(beat * 10_000)
        session.send(wire.market_update("m1", price=7.0) + wire.ok_response(request.request_id))
        session.wait_closed()

    def before(name: str, args: tuple) -> None:
        if name == "on_market_update" and args[0].selections[0].price == 9.5:
            handler_blocked.set()
            assert release.wait(WAIT)

    rec = Recorder(before)
    with HostileSSHServer(script, client_key.key) as server:
        config = hostile_config(server, client_key, tmp_path, queue_size=1000, heartbeat_timeout=WAIT)
        with running(config, rec) as client:
            try:
                assert client.subscribe().is_ok
                assert handler_blocked.wait(WAIT)
                # The response comes after the flood and is matched by the reader thread: when it
                # returns, the reader has drained and applied everything before it.
                assert client.subscribe(market_ids=["m1"]).is_ok
                image = client.book.image("m1")
                assert image is not None and image.selections[0].price == 7.0
                stats = client.stats()
                assert stats.messages >= 200_000
                assert stats.queue_high_water <= 1000 and stats.conflated >= 190_000
            finally:
                release.set()
            assert rec.wait_for(_price_seen(7.0))
        assert server.errors == []
    assert rec.count("on_heartbeat") < 10_000  # conflated: only the latest heartbeat matters


def test_bad_lines_with_a_blocked_handler_keep_memory_bounded(client_key: KeyPair, tmp_path: Path) -> None:
    """96 invalid lines of 1 MiB each while the handler is blocked: each is reported, but the
    client must not keep 96 MiB of them waiting for the handler."""
    handler_blocked = threading.Event()
    release = threading.Event()
    bad = b'{"mode": "push", "type": "market_update", "msg": {"id": "m1", "pad": "' + b"x" * MiB + b'"}}\n'

    def script(session: HostileSession) -> None:
        session.serve_init(["m1"])
        session.serve_subscribe(["m1"])
        session.keep_alive()  # between whole lines only
        request = session.expect("subscribe")  # sent once the handler is blocked
        for _ in range(96):
            session.send(bad)
        session.send(wire.ok_response(request.request_id))
        session.wait_closed()

    def before(name: str, args: tuple) -> None:
        if name == "on_market_update":
            handler_blocked.set()
            assert release.wait(WAIT)

    rec = Recorder(before)
    with HostileSSHServer(script, client_key.key) as server:
        with running(hostile_config(server, client_key, tmp_path, heartbeat_timeout=WAIT), rec) as client:
            try:
                assert client.subscribe().is_ok
                assert handler_blocked.wait(WAIT)
                with peak_rss_growth() as growth:
                    assert client.subscribe(market_ids=["m1"]).is_ok  # answered after the bad lines
            finally:
                release.set()
            assert rec.wait_for(lambda r: r.count("on_protocol_error") == 96)
        assert server.errors == []
    assert growth.mib < 48, f"resident memory grew by {growth.mib:.0f} MiB for 96 MiB of bad lines"


def test_json_nesting_bomb_is_a_protocol_error(client_key: KeyPair, tmp_path: Path) -> None:
    bomb = b'{"mode": "push", "type": "market_update", "msg": ' + b"[" * 1_000_000 + b"]" * 1_000_000 + b"}\n"
    unclosed = b"[" * 5_000_000 + b"\n"
    rec = Recorder()
    _run(_serve_then(lambda s: s.send(bomb + unclosed)), client_key, tmp_path, rec)
    errors = rec.args("on_protocol_error")
    assert len(errors) == 2 and all("depth" in e.reason for e in errors)


def test_huge_numbers_are_protocol_errors(client_key: KeyPair, tmp_path: Path) -> None:
    """A price of a million digits, or 1e999999: no big-number arithmetic, no infinite price."""
    huge = wire.market_update("m1").replace(b"9.5", b"9" * 1_000_000)
    infinite = wire.market_update("m1").replace(b"9.5", b"1e999999")
    rec = Recorder()
    _run(_serve_then(lambda s: s.send(huge + infinite)), client_key, tmp_path, rec)
    errors = rec.args("on_protocol_error")
    assert len(errors) == 2, errors
    assert [u.selections[0].price for u in rec.args("on_market_update")] == [9.5, 7.0]


def test_invalid_utf8_is_a_protocol_error_and_split_characters_are_fine(
    client_key: KeyPair, tmp_path: Path
) -> None:
    bad = wire.market_update("m1", price=5.0).replace(b"Seamus Power", b"Seamus \xff\xfe Power")
    good = wire.market_update("m1", price=6.0).replace(b"Seamus Power", "Åsa Ñandú 李".encode())

    def send(session: HostileSession) -> None:
        session.send(bad)
        for i in range(len(good)):  # one byte per SSH packet: every character split
            session.send(good[i : i + 1])

    rec = Recorder()
    _run(_serve_then(send), client_key, tmp_path, rec)
    (error,) = rec.args("on_protocol_error")
    assert error.raw == bad.rstrip(b"\n") and "UTF-8" in error.reason
    assert [u.selections[0].price for u in rec.args("on_market_update")] == [9.5, 6.0, 7.0]
    assert rec.args("on_market_update")[1].selections[0].name == "Åsa Ñandú 李"


def test_crlf_line_endings_are_accepted(client_key: KeyPair, tmp_path: Path) -> None:
    def script(session: HostileSession) -> None:
        request = session.expect("init")
        lines = [wire.init_response(request_id=request.request_id), *wire.snapshot(["m1"]), wire.heartbeat()]
        session.send(b"".join(line.replace(b"\n", b"\r\n") for line in lines))
        request = session.expect("subscribe")
        lines = [
            wire.ok_response(request.request_id),
            wire.market_update("m1"),
            wire.market_update("m1", price=7.0),
        ]
        session.send(b"".join(line.replace(b"\n", b"\r\n") for line in lines))
        session.keep_alive()
        session.wait_closed()

    rec = Recorder()
    _run(script, client_key, tmp_path, rec)
    assert rec.count("on_protocol_error") == 0
    assert rec.args("on_market")[0].name == "Market m1"


def test_messages_before_the_init_response_start_the_session(client_key: KeyPair, tmp_path: Path) -> None:
    """Pushes before the init response (a server out of order, or Mustard mode): the first push
    proves the session is up (docs/protocol.md 9); nothing is dropped, and the late response is ignored."""

    def script(session: HostileSession) -> None:
        session.send_lines([*wire.snapshot(["m1"]), wire.heartbeat(), wire.market_update("m1", price=5.0)])
        request = session.expect("init")
        session.send(wire.init_response(request_id=request.request_id))
        session.serve_subscribe(["m1"], status="open")
        session.send(wire.market_update("m1", price=7.0))
        session.keep_alive()
        session.wait_closed()

    rec = Recorder()
    _run(script, client_key, tmp_path, rec)
    names = rec.names()
    assert names[:3] == ["on_connect", "on_resume_all", "on_sport"]
    assert [u.selections[0].price for u in rec.args("on_market_update")] == [5.0, 9.5, 7.0]
    assert rec.count("on_protocol_error") == 0 and rec.count("on_connect") == 1


def test_response_to_a_request_never_sent_is_ignored(client_key: KeyPair, tmp_path: Path) -> None:
    answered = threading.Event()

    def script(session: HostileSession) -> None:
        session.serve_init(["m1"])
        session.keep_alive()
        session.send(wire.ok_response("999") + wire.rate_limited("998"))  # ids the client never used
        request = session.expect("subscribe")
        session.send(wire.ok_response("997"))  # not the id of the subscribe: must not answer it
        session.send(wire.ok_response(request.request_id) + wire.market_update("m1"))
        answered.set()
        session.send(wire.market_update("m1", price=7.0))
        session.wait_closed()

    rec = Recorder()
    _run(script, client_key, tmp_path, rec)
    assert answered.is_set()
    (refused,) = rec.args("on_rate_limited")  # told, as any refusal is; it refused nothing of ours
    assert refused.request_id == "998"


def test_duplicate_request_id_answers_once(client_key: KeyPair, tmp_path: Path) -> None:
    """A response repeated with the same request_id: the first answers the request, the repeats
    answer nothing -- in particular not the next request, even when the repeat is an error."""
    second_sent = threading.Event()

    def script(session: HostileSession) -> None:
        session.serve_init(["m1"])
        session.keep_alive()
        first = session.expect("subscribe")
        session.send(wire.ok_response(first.request_id) * 2 + wire.market_update("m1"))
        second = session.expect("subscribe")
        assert second.request_id != first.request_id
        session.send(wire.rate_limited(first.request_id))  # a stale duplicate, and an error
        session.send(wire.ok_response(second.request_id))
        second_sent.set()
        session.send(wire.market_update("m1", price=7.0))
        session.wait_closed()

    rec = Recorder()
    with HostileSSHServer(script, client_key.key) as server:
        with running(hostile_config(server, client_key, tmp_path), rec) as client:
            assert client.subscribe().is_ok
            assert client.subscribe(event_ids=[wire.EVENT_ID]).is_ok  # not RateLimitedError
            assert rec.wait_for(_price_seen(7.0))
        assert server.errors == []
    assert second_sent.is_set()


def test_rate_limited_request_raises_and_is_not_remembered(client_key: KeyPair, tmp_path: Path) -> None:
    def script(session: HostileSession) -> None:
        session.serve_init(["m1"])
        session.keep_alive()
        request = session.expect("subscribe")
        session.send(wire.rate_limited(request.request_id))
        session.serve_subscribe(["m1"])
        session.send(wire.market_update("m1", price=7.0))
        session.wait_closed()

    rec = Recorder()
    with HostileSSHServer(script, client_key.key) as server:
        with running(hostile_config(server, client_key, tmp_path), rec) as client:
            try:
                client.subscribe(market_ids=["m1"])
            except RateLimitedError as exc:
                assert isinstance(exc.response.raw, dict)
            else:
                raise AssertionError("a rate-limited subscribe must raise RateLimitedError")
            assert client.subscriptions == ()  # "the request was not carried out" (docs/protocol.md 7)
            assert client.subscribe().is_ok
            assert rec.wait_for(_price_seen(7.0))
            assert [s.msg() for s in client.subscriptions] == [{}]
    assert rec.count("on_rate_limited") == 1
    assert not any(isinstance(e, ProtocolError) for e in rec.args("on_protocol_error"))
