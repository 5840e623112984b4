"""Fault matrix, the user's own code: a slow handler, a handler that raises, one that never returns.

Handlers run on the dispatcher thread; the reader and the book never wait for them (docs/architecture.md).
So whatever a handler does, the feed keeps being read (the server drops slow readers), the book
keeps telling the truth, and the other handlers keep receiving.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import List

from imgfeed import DisconnectReason, ErrorPolicy, FeedClient
from tests.reliability import wire
from tests.reliability.hostile import HostileSession, HostileSSHServer
from tests.reliability.support import WAIT, KeyPair, LogWatch, Recorder, hostile_config, running

MARKETS = ["m1", "m2", "m3"]


def _prices(rec: Recorder, market_id: str) -> List[float]:
    return [u.selections[0].price for u in rec.args("on_market_update") if u.market_id == market_id]


def _in_order(delivered: List[float], sent: List[float]) -> bool:
    """Is ``delivered`` a subsequence of ``sent`` (some left out, none moved)?"""
    remaining = iter(sent)
    return all(any(p == q for q in remaining) for p in delivered)


def test_slow_handler_gets_every_market_latest_image_and_the_reader_never_waits(
    client_key: KeyPair, tmp_path: Path
) -> None:
    """3000 updates while the handler is stuck: the queue conflates per market, so the handler
    catches up with the latest image of every market, never a stale one, and nothing structural is
    dropped. The book had the latest prices before the handler saw them."""
    handler_blocked = threading.Event()
    release = threading.Event()
    final = {m: 1.0 + i for i, m in enumerate(MARKETS, start=1)}

    def script(session: HostileSession) -> None:
        session.serve_init(MARKETS)
        session.serve_subscribe(MARKETS)
        session.keep_alive()
        request = session.expect("subscribe")  # sent once the handler is stuck
        burst = [wire.market_update(m, price=10.0 + n / 100) for n in range(1000) for m in MARKETS]
        burst += [wire.market_update(m, price=p) for m, p in final.items()]
        session.send_lines([*burst, wire.remove_markets(["m3"]), wire.ok_response(request.request_id)])
        session.wait_closed()

    def before(name: str, args: tuple) -> None:
        if name == "on_market_update" and not handler_blocked.is_set():
            handler_blocked.set()
            assert release.wait(WAIT)

    rec = Recorder(before)
    with HostileSSHServer(script, client_key.key) as server:
        with running(hostile_config(server, client_key, tmp_path, queue_size=200), rec) as client:
            try:
                assert client.subscribe().is_ok
                assert handler_blocked.wait(WAIT)
                assert client.subscribe(market_ids=MARKETS).is_ok  # answered after the burst
                for market_id in ("m1", "m2"):
                    assert client.book.image(market_id).selections[0].price == final[market_id]
                    assert client.book.is_tradable(market_id)
                assert client.book.image("m3") is None and not client.book.is_tradable("m3")
            finally:
                release.set()
            assert rec.wait_for(lambda r: r.count("on_remove_markets") == 1)
            stats = client.stats()
            assert stats.conflated > 0 and stats.queue_high_water <= 200
        assert server.errors == []
    for market_id in MARKETS:
        sent = [9.5] + [10.0 + n / 100 for n in range(1000)] + [final[market_id]]
        delivered = _prices(rec, market_id)
        assert delivered[-1] == final[market_id]  # the latest image always arrives
        assert _in_order(delivered, sent) and len(delivered) < len(sent)  # skipped, never reordered
    assert rec.count("on_market") == 3 and rec.count("on_disconnect") == 1  # only the final stop
    names = rec.names()
    assert names.index("on_remove_markets") > max(i for i, n in enumerate(names) if n == "on_market_update")


class Raiser(Recorder):
    """Raises on every update of m1; records everything else, including its own errors."""

    def on_market_update(self, record):  # type: ignore[no-untyped-def]
        if record.market_id == "m1":
            raise ValueError(f"cannot handle {record.market_id}")
        super().on_market_update(record)


def _stream(session: HostileSession) -> None:
    session.serve_init(MARKETS)
    if session.index == 0:
        session.serve_subscribe(MARKETS)
        session.send_lines([wire.market_update("m1", price=2.0), wire.market_update("m2", price=7.0)])
    else:
        session.serve_subscribe(["m2"])
    session.keep_alive()
    session.wait_closed()


def test_handler_that_raises_is_reported_and_everyone_else_goes_on(
    client_key: KeyPair, tmp_path: Path
) -> None:
    raiser, after = Raiser(), Recorder()
    with LogWatch("imgfeed.runtime") as log:
        with HostileSSHServer(_stream, client_key.key) as server:
            with running(hostile_config(server, client_key, tmp_path), raiser, after) as client:
                assert client.subscribe().is_ok
                assert after.wait_for(lambda r: 7.0 in _prices(r, "m2"))
                assert client.book.is_tradable("m1")  # the book does not depend on handlers
                assert client.stats().handler_errors == 2
            assert server.errors == []
        logged = [r for r in log.records if "raised while handling" in r.getMessage()]
    assert _prices(after, "m1") == [9.5, 2.0]  # the next handler got every record
    errors = [args for name, args in raiser.calls if name == "on_handler_error"]
    assert [(type(e).__name__, rec.market_id) for e, rec in errors] == [("ValueError", "m1")] * 2
    assert len(logged) == 2 and logged[0].exc_info is not None  # with the traceback
    assert after.count("on_disconnect") == 1  # only the final stop


def test_handler_that_raises_with_disconnect_policy_reconnects(client_key: KeyPair, tmp_path: Path) -> None:
    def script(session: HostileSession) -> None:
        session.serve_init(MARKETS)
        session.serve_subscribe(MARKETS if session.index == 0 else ["m2"])  # m1 fails only once
        session.keep_alive()
        session.wait_closed()

    raiser = Raiser()
    with HostileSSHServer(script, client_key.key) as server:
        config = hostile_config(server, client_key, tmp_path, error_policy=ErrorPolicy.DISCONNECT)
        with running(config, raiser) as client:
            assert client.subscribe().is_ok
            assert raiser.wait_for(lambda r: ("m2", True) in r.statuses_since_connect(2))
            assert client.book.is_tradable("m2")
        assert server.errors == []
    assert raiser.disconnect_reasons() == [DisconnectReason.HANDLER_ERROR, DisconnectReason.USER_STOP]
    first = raiser.disconnects()[0]
    assert first.will_retry and isinstance(first.exception, ValueError)


def test_handler_error_on_an_old_connection_record_does_not_drop_the_new_one(
    client_key: KeyPair, tmp_path: Path
) -> None:
    """Two failing records on connection 1, the second handled once connection 2 is up (the
    dispatcher runs behind the reader): one reconnect, not two."""
    second_connection = threading.Event()

    def script(session: HostileSession) -> None:
        if session.index == 1:
            second_connection.set()
        session.serve_init(MARKETS)
        if session.index == 0:
            request = session.expect("subscribe")
            images = [wire.market_update(m) for m in MARKETS]
            # Both failing records in one chunk: the reader has them before the first one fails.
            session.send_lines(
                [wire.ok_response(request.request_id), *images, wire.market_update("m1", price=2.0)]
            )
        else:
            request = session.next_request()
            if request is None:
                return  # dropped before it could re-subscribe: the assertion below says by whom
            session.send_lines([wire.ok_response(request.request_id), wire.market_update("m2")])
        session.beat_until_closed()

    class LateRaiser(Raiser):
        def on_market_update(self, record):  # type: ignore[no-untyped-def]
            if record.market_id == "m1" and record.selections[0].price == 2.0:
                assert second_connection.wait(WAIT)
            super().on_market_update(record)

    raiser = LateRaiser()
    with HostileSSHServer(script, client_key.key) as server:
        config = hostile_config(server, client_key, tmp_path, error_policy=ErrorPolicy.DISCONNECT)
        with running(config, raiser) as client:
            assert client.subscribe().is_ok
            assert raiser.wait_for(
                lambda r: (
                    r.count("on_handler_error") == 2
                    and (("m2", True) in r.statuses_since_connect(2) or r.count("on_disconnect") >= 2)
                )
            )
        assert server.errors == []
    assert raiser.disconnect_reasons() == [DisconnectReason.HANDLER_ERROR, DisconnectReason.USER_STOP]


def test_handler_that_blocks_forever_is_reported_and_the_book_stays_honest(
    client_key: KeyPair, tmp_path: Path
) -> None:
    handler_blocked = threading.Event()
    release = threading.Event()

    def script(session: HostileSession) -> None:
        session.serve_init(["m1"])
        session.serve_subscribe(["m1"])
        session.keep_alive()  # the feed stays alive while the handler is stuck
        request = session.expect("subscribe")  # sent once the handler is stuck
        session.send(wire.market_update("m1", status="suspended") + wire.ok_response(request.request_id))
        session.wait_closed(WAIT * 3)

    def before(name: str, args: tuple) -> None:
        if name == "on_market_update":
            handler_blocked.set()
            assert release.wait(WAIT * 3)  # "forever", for this test

    rec = Recorder(before)
    with LogWatch("imgfeed.runtime") as log:
        with HostileSSHServer(script, client_key.key) as server:
            client = FeedClient(hostile_config(server, client_key, tmp_path), handlers=[rec]).start()
            try:
                assert client.subscribe().is_ok
                assert handler_blocked.wait(WAIT)
                assert client.book.is_tradable("m1")
                assert client.subscribe(market_ids=["m1"]).is_ok  # answered after the suspension
                assert not client.book.is_tradable("m1")  # the book knows; the stuck handler cannot
                warning = log.wait("has been handling a MarketUpdate")
                assert warning is not None and "Recorder" in warning
                assert client.stats().sessions == 1 and rec.count("on_disconnect") == 0
                # stop() with the handler still stuck returns, and says why the thread lives on.
                client.stop(timeout=0.5)
                assert log.wait("did not finish in 0.5 s")
                assert not client.book.is_tradable("m1")
            finally:
                release.set()
                client.stop(WAIT)
            assert server.errors == []
