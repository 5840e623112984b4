"""betfairlightweight as a real peer: its streaming client against the emulator, over verified TLS.

bflw's ``BetfairStream`` always connects to a Betfair host name on port 443 with
``CERT_NONE``; the test subclass overrides only ``_create_socket`` to connect to the emulator
on loopback with the emulator's CA and host-name checking on. Everything else (framing, the
listener, the stream, the caches, clock handling on resubscription) is bflw's own.

Each test ends by comparing bflw's cache with the books the emulator's own state says (runner
status, ltp, tv, full and best ladders) at a deterministic stopping point: the emulator has
written everything (``wait_for_flush``) and bflw has processed up to the last ``clk`` written.
"""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Any, Dict, List, Optional

import pytest

betfairlightweight = pytest.importorskip("betfairlightweight")
from betfairlightweight.exceptions import SocketError  # noqa: E402
from betfairlightweight.streaming import StreamListener  # noqa: E402
from betfairlightweight.streaming.betfairstream import BetfairStream  # noqa: E402

from imgfeed.feeds.betfair.emulator import (  # noqa: E402
    DEFAULT_APP_KEY,
    DEFAULT_SESSION_TOKEN,
    EmulatorConfig,
    EmulatorServer,
    MarketDataFilter,
    MarketFilter,
    ScenarioConfig,
)
from tests.betfair_emulator.servers import ALL_FIELDS, FAST, WAIT  # noqa: E402


class VerifiedStream(BetfairStream):
    """bflw's stream, connecting to the emulator with certificate and host-name verification."""

    def __init__(self, port: int, cafile: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._emulator_port = port
        self._cafile = cafile

    def _create_socket(self) -> socket.socket:
        context = ssl.create_default_context(cafile=self._cafile)
        sock = context.wrap_socket(
            socket.socket(socket.AF_INET, socket.SOCK_STREAM), server_hostname="localhost"
        )
        sock.settimeout(self.timeout)
        sock.connect(("127.0.0.1", self._emulator_port))
        return sock


class RecordingListener(StreamListener):
    """bflw's listener (lightweight, no output queue), recording raw lines and waking waiters.

    ``processed_clk`` is the clk of the last line bflw has *finished* processing. bflw's own
    ``clk`` cannot be waited on: its stream stores a line's clk before it applies the line to the
    caches (``BaseStream.on_update``: ``_update_clk`` first, then ``_process``), so a waiter that
    reads ``clk`` while the read thread is inside ``on_data`` sees the new clk with the caches of
    the line before -- the ``KeyError`` for a market that line creates.
    """

    def __init__(self) -> None:
        super().__init__(output_queue=None, lightweight=True, max_latency=None)
        self.changed = threading.Condition()
        self.raw: List[str] = []
        self.processed_clk: Optional[str] = None

    def on_data(self, raw_data: str) -> Optional[bool]:
        result = super().on_data(raw_data)
        with self.changed:
            self.raw.append(raw_data)
            self.processed_clk = self.clk
            self.changed.notify_all()
        return result


class Peer:
    """One bflw listener kept across connections, each connection's read loop on its own thread."""

    def __init__(
        self, server: EmulatorServer, market_filter: Dict[str, Any], data_filter: Dict[str, Any], **sub: Any
    ) -> None:
        self.server = server
        self.market_filter = market_filter
        self.data_filter = data_filter
        self.sub = sub
        self.listener = RecordingListener()
        self.stream: Optional[VerifiedStream] = None
        self.thread: Optional[threading.Thread] = None
        self.error: Optional[BaseException] = None
        self.connections = 0

    def connect(self, resume: bool = False) -> None:
        self.connections += 1
        stream = VerifiedStream(
            self.server.port,
            self.server.cafile,
            unique_id=1000 * self.connections,
            listener=self.listener,
            app_key=DEFAULT_APP_KEY,
            session_token=DEFAULT_SESSION_TOKEN,
            timeout=WAIT,
            buffer_size=1024,
            host=None,
        )
        clocks = {"initial_clk": self.listener.initial_clk, "clk": self.listener.clk} if resume else {}
        stream.subscribe_to_markets(self.market_filter, self.data_filter, **clocks, **self.sub)
        self.stream = stream
        self.error = None
        self.thread = threading.Thread(
            target=self._read, args=(stream,), name=f"test-bflw-read-{self.connections}"
        )
        self.thread.start()
        assert self.server.wait_until(lambda: self._session() is not None, WAIT), (
            self.server.sessions(),
            self.error,
        )

    def _session(self) -> Any:
        return next((s for s in self.server._sessions_locked() if s.subscription("mcm") is not None), None)

    def _read(self, stream: VerifiedStream) -> None:
        try:
            stream.start()
        except BaseException as exc:  # recorded for the test to assert on
            self.error = exc

    def disconnected(self) -> None:
        """Wait for the read loop to end (the emulator dropped us)."""
        assert self.thread is not None
        self.thread.join(WAIT)
        assert not self.thread.is_alive()

    def stop(self) -> None:
        if self.stream is not None:
            self.stream.stop()
        if self.thread is not None:
            self.thread.join(WAIT)

    def caught_up(self) -> None:
        """Wait until the emulator wrote everything and bflw processed up to the last clk written."""
        assert self.server.wait_for_flush(WAIT)
        session = self._session()
        listener = self.listener
        with listener.changed:
            assert listener.changed.wait_for(lambda: listener.processed_clk == session.last_clk("mcm"), WAIT), (
                listener.processed_clk,
                session.last_clk("mcm"),
                self.error,
            )


def _rows(available: Any) -> List[tuple]:
    return sorted(tuple(row[:-1]) for row in available.order_book.values())


def bflw_books(listener: StreamListener, market_ids: List[str]) -> Dict[str, Any]:
    out = {}
    for market_id in market_ids:
        cache = listener.stream._caches[market_id]
        runners = {}
        for r in cache.runners:
            runners[(r.selection_id, r.handicap or 0)] = {
                "status": r.definition.get("status"),
                "ltp": r.last_price_traded,
                "tv": r.total_matched,
                "spn": r.starting_price_near,
                "spf": r.starting_price_far,
                "atb": _rows(r.available_to_back),
                "atl": _rows(r.available_to_lay),
                "trd": _rows(r.traded),
                "batb": _rows(r.best_available_to_back),
                "batl": _rows(r.best_available_to_lay),
                "bdatb": _rows(r.best_display_available_to_back),
                "bdatl": _rows(r.best_display_available_to_lay),
                "spb": _rows(r.starting_price_back),
                "spl": _rows(r.starting_price_lay),
            }
        definition = cache.market_definition
        out[market_id] = {
            "status": definition.get("status"),
            "inplay": definition.get("inPlay"),
            "version": definition.get("version"),
            "tv": cache.total_matched,
            "runners": runners,
        }
    return out


def emulator_books(
    server: EmulatorServer, market_ids: List[str], data_filter: Dict[str, Any]
) -> Dict[str, Any]:
    columns = MarketDataFilter.from_json(data_filter)
    out = {}
    with server.scenario.lock:
        for market_id in market_ids:
            image = columns.project(server.scenario.markets_log.image(market_id)) or {}
            definition = image.get("marketDefinition", {})
            runners: Dict[tuple, Dict[str, Any]] = {}
            for rd in definition.get("runners", []):
                runners[(rd["id"], rd.get("hc", 0))] = {"status": rd["status"]}
            for rc in image.get("rc", []):
                entry = runners.setdefault((rc["id"], rc.get("hc", 0)), {"status": None})
                entry.update(ltp=rc.get("ltp"), tv=rc.get("tv", 0), spn=rc.get("spn"), spf=rc.get("spf"))
                for key in ("atb", "atl", "trd", "batb", "batl", "bdatb", "bdatl", "spb", "spl"):
                    entry[key] = sorted(tuple(row) for row in rc.get(key, []))
            for entry in runners.values():
                for key in ("ltp", "spn", "spf"):
                    entry.setdefault(key, None)
                entry.setdefault("tv", 0)
                for key in ("atb", "atl", "trd", "batb", "batl", "bdatb", "bdatl", "spb", "spl"):
                    entry.setdefault(key, [])
            out[market_id] = {
                "status": definition.get("status"),
                "inplay": definition.get("inPlay"),
                "version": definition.get("version"),
                "tv": image.get("tv", 0),
                "runners": runners,
            }
    return out


def subscribed_markets(server: EmulatorServer, market_filter: Dict[str, Any]) -> List[str]:
    rows = MarketFilter.from_json(market_filter)
    return [i.market_id for i in server.scenario.market_infos() if rows.matches(i)]


def assert_same_books(peer: Peer) -> List[str]:
    market_ids = subscribed_markets(peer.server, peer.market_filter)
    assert market_ids
    expected = emulator_books(peer.server, market_ids, peer.data_filter)
    actual = bflw_books(peer.listener, market_ids)
    for market_id in market_ids:
        assert actual[market_id] == expected[market_id], market_id
    return market_ids


SCENARIO = ScenarioConfig(
    seed=11, markets=12, pre_play_steps=6, in_play_steps=6, closed_steps=2, start_time=1.7e9
)


@pytest.fixture
def peers() -> Any:
    made: List[Peer] = []
    yield made
    for peer in made:
        peer.stop()


def test_plain_run_ends_with_the_emulators_books(make_server: Any, peers: List[Peer]) -> None:
    server = make_server(FAST, SCENARIO)
    peer = Peer(server, {}, ALL_FIELDS, heartbeat_ms=500)
    peers.append(peer)
    peer.connect()
    for _ in range(25):  # through pre-play, in play, suspensions, closes and replacements
        server.scenario.step()
    peer.caught_up()
    market_ids = assert_same_books(peer)
    statuses = {b["status"] for b in bflw_books(peer.listener, market_ids).values()}
    assert statuses >= {"OPEN"}
    assert any(
        r["ltp"] is not None
        for b in bflw_books(peer.listener, market_ids).values()
        for r in b["runners"].values()
    )


def test_fewer_ladder_levels_and_fields(make_server: Any, peers: List[Peer]) -> None:
    server = make_server(FAST, SCENARIO)
    data_filter = {
        "fields": ["EX_BEST_OFFERS", "EX_BEST_OFFERS_DISP", "EX_LTP", "EX_MARKET_DEF"],
        "ladderLevels": 2,
    }
    peer = Peer(server, {"eventTypeIds": ["7"]}, data_filter)
    peers.append(peer)
    peer.connect()
    for _ in range(10):
        server.scenario.step()
    peer.caught_up()
    books = bflw_books(peer.listener, assert_same_books(peer))
    assert all(len(r["batb"]) <= 2 and not r["atb"] for b in books.values() for r in b["runners"].values())


def test_drop_then_resubscribe_with_clocks_gets_a_resub_delta(make_server: Any, peers: List[Peer]) -> None:
    server = make_server(FAST, SCENARIO)
    peer = Peer(server, {}, ALL_FIELDS)
    peers.append(peer)
    peer.connect()
    for _ in range(5):
        server.scenario.step()
    peer.caught_up()
    server.faults.drop("fin")
    peer.disconnected()
    assert isinstance(peer.error, SocketError)
    assert server.wait_for_connection_count(0, WAIT)
    for _ in range(6):  # what the client misses while it is away
        server.scenario.step()
    peer.connect(resume=True)
    peer.caught_up()
    assert any('"ct":"RESUB_DELTA"' in line for line in peer.listener.raw)
    assert not any(
        '"ct":"SUB_IMAGE"' in line
        for line in peer.listener.raw[
            peer.listener.raw.index(
                next(line for line in peer.listener.raw if '"ct":"RESUB_DELTA"' in line)
            ) :
        ]
    )
    assert_same_books(peer)


def test_two_drops(make_server: Any, peers: List[Peer]) -> None:
    server = make_server(FAST, SCENARIO)
    peer = Peer(server, {}, ALL_FIELDS)
    peers.append(peer)
    peer.connect()
    for mode in ("rst", "fin"):
        for _ in range(4):
            server.scenario.step()
        peer.caught_up()
        server.faults.drop(mode)
        peer.disconnected()
        assert server.wait_for_connection_count(0, WAIT)
        for _ in range(4):
            server.scenario.step()
        peer.connect(resume=True)
    for _ in range(3):
        server.scenario.step()
    peer.caught_up()
    starts = [
        line
        for line in peer.listener.raw
        if '"ct":"RESUB_DELTA"' in line and ('"segmentType"' not in line or '"SEG_START"' in line)
    ]
    assert len(starts) == 2
    assert_same_books(peer)


def test_two_hundred_market_segmented_image(make_server: Any, peers: List[Peer]) -> None:
    config = EmulatorConfig(auth_timeout=5.0, segment_size=16 * 1024)
    server = make_server(config, ScenarioConfig(seed=3, markets=200, start_time=1.7e9))
    peer = Peer(server, {}, ALL_FIELDS, segmentation_enabled=True)
    peers.append(peer)
    peer.connect()
    for _ in range(3):
        server.scenario.step()
    peer.caught_up()
    segments = [line for line in peer.listener.raw if '"segmentType"' in line]
    assert '"SEG_START"' in segments[0] and '"SEG_END"' in segments[-1] and len(segments) > 10
    assert len(peer.listener.stream._caches) == 200
    assert len(assert_same_books(peer)) == 200


def test_conflation_on(make_server: Any, peers: List[Peer]) -> None:
    server = make_server(FAST, SCENARIO)
    peer = Peer(server, {}, ALL_FIELDS, conflate_ms=100)
    peers.append(peer)
    peer.connect()
    assert server.wait_for_subscriptions(1, WAIT)
    for _ in range(10):
        server.scenario.step()
    session = server.sessions()[0]
    sub = session.subscription("mcm")
    assert sub is not None and sub.conflate_ms == 100
    assert server.wait_until(lambda: sub.last_clk_sent == server.scenario.markets_log.clock(), WAIT)
    peer.caught_up()
    assert any('"con":true' in line for line in peer.listener.raw)
    assert_same_books(peer)


def test_bflw_holds_back_complete_lines_until_a_read_ends_at_crlf(
    make_server: Any, peers: List[Peer]
) -> None:
    """bflw's ``_receive_all`` returns only when a read ends with CRLF: a complete line followed by
    the first byte of the next one in the same TLS record is not delivered until more arrives."""
    server = make_server(FAST, SCENARIO)
    peer = Peer(server, {}, ALL_FIELDS)
    peers.append(peer)
    peer.connect()
    peer.caught_up()
    server.faults.stop_heartbeats()
    held = '{"op":"mcm","id":%d,"clk":"HELD","pt":1,"ct":"HEARTBEAT"}\r\n' % peer.listener.stream_unique_id
    server.faults.send_raw(held.encode() + b"{")  # one write: a whole line and one byte more
    assert server.wait_for_flush(WAIT)
    listener = peer.listener
    with listener.changed:  # bounded wait that must time out: the line is on the client's socket
        assert not listener.changed.wait_for(lambda: listener.processed_clk == "HELD", 1.0)
    server.faults.send_raw(b'"op":"mcm","id":%d,"ct":"HEARTBEAT"}\r\n' % peer.listener.stream_unique_id)
    with listener.changed:
        assert listener.changed.wait_for(lambda: listener.processed_clk == "HELD", WAIT)
