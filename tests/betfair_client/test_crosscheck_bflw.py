"""Cross-checked against a real peer: betfairlightweight on the same emulator stream, and on the file.

In each run imgfeed's client and bflw's own streaming client (``BetfairStream`` with its listener,
stream and caches; see tests/betfair_emulator/test_bflw_peer.py) are connected to the same
emulator at once, live through the same faults, and must end with the same books -- runner
status, ltp, tv, the full and the best ladders -- as each other and as the emulator's own state.
imgfeed's client also records what it received; that recording then goes through
``imgfeed.betfair.replay`` and through bflw's historical path (a listener fed line by line, as
its ``HistoricalStream`` does), and both end with the same books again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, List

import pytest

betfairlightweight = pytest.importorskip("betfairlightweight")

from imgfeed.betfair import BetfairClient, BetfairHandler, replay  # noqa: E402
from imgfeed.feeds.betfair.client import tls_transport_factory  # noqa: E402
from imgfeed.feeds.betfair.emulator import EmulatorConfig, EmulatorServer, ScenarioConfig  # noqa: E402
from imgfeed.recording.reader import read_recording  # noqa: E402
from imgfeed.recording.writer import RecordingWriter  # noqa: E402
from imgfeed.transport.recording import recording_factory  # noqa: E402
from tests.betfair_client.conftest import ALL_FIELDS, FAST, WAIT, client_config  # noqa: E402
from tests.betfair_client.support import (  # noqa: E402
    bflw_books,
    book_shape,
    caught_up,
    emulator_books,
    imgfeed_books,
    subscribed_markets,
)
from tests.betfair_emulator.test_bflw_peer import Peer  # noqa: E402

SCENARIO = ScenarioConfig(seed=11, markets=12, pre_play_steps=6, in_play_steps=6, closed_steps=2, start_time=1.7e9)


class Both:
    """imgfeed's client (recording what it receives) and a bflw peer, on one emulator."""

    def __init__(self, server: EmulatorServer, tmp_path: Path, **overrides: Any) -> None:
        self.server = server
        self.path = tmp_path / "betfair.jsonl"
        self.writer = RecordingWriter(self.path, source="emulator", feed="betfair")
        config = client_config(server, **overrides)
        self.client = BetfairClient(
            config, transport_factory=recording_factory(tls_transport_factory(config), self.writer)
        )
        sub = {k: v for k, v in overrides.items() if k in ("conflate_ms",)}
        self.peer = Peer(server, {}, ALL_FIELDS, segmentation_enabled=True, heartbeat_ms=500, **sub)

    def start(self) -> None:
        self.client.start()
        self.client.subscribe_markets({}, ALL_FIELDS)
        self.peer.connect()
        assert self.server.wait_for_subscriptions(2, WAIT)

    def caught_up(self) -> None:
        caught_up(self.server, self.client)
        self.peer.caught_up()

    def drop(self, mode: str, steps: int) -> None:
        """Both are cut off; the scenario moves on; imgfeed reconnects by itself, bflw is told to."""
        self.server.faults.drop(mode)
        self.peer.disconnected()
        for _ in range(steps):
            self.server.scenario.step()
        self.peer.connect(resume=True)
        assert self.server.wait_for_subscriptions(2, WAIT)

    def stop(self) -> None:
        self.client.stop(WAIT)
        self.peer.stop()
        self.writer.close()

    def check(self) -> List[str]:
        """imgfeed == bflw == the emulator, live; then the recording, replayed by both."""
        market_ids = subscribed_markets(self.server, {})
        ours = imgfeed_books(self.client, market_ids)
        assert ours == bflw_books(self.peer.listener, market_ids)
        assert ours == emulator_books(self.server, market_ids, ALL_FIELDS)
        self.stop()
        result = replay(self.path, handlers=[BetfairHandler()])
        assert {m: book_shape(result.markets.book(m)) for m in market_ids} == ours
        assert result.stats.protocol_errors == 0
        historical = betfairlightweight.StreamListener(lightweight=True, max_latency=None)
        historical.register_stream(0, "marketSubscription")  # bflw's HistoricalStream does this
        for line in read_recording(self.path):
            if line.data.startswith(b'{"op":"mcm"'):
                historical.on_data(line.data.decode())
        assert bflw_books(historical, market_ids) == ours
        return market_ids


@pytest.fixture
def both(make_server: Callable[..., EmulatorServer], tmp_path: Path) -> Any:
    made: List[Both] = []

    def make(config: EmulatorConfig = FAST, scenario: ScenarioConfig = SCENARIO, **overrides: Any) -> Both:
        pair = Both(make_server(config, scenario), tmp_path, **overrides)
        made.append(pair)
        pair.start()
        return pair

    yield make
    for pair in made:
        pair.stop()


def steps(pair: Both, n: int) -> None:
    for _ in range(n):
        pair.server.scenario.step()


def test_a_plain_run(both: Any) -> None:
    pair = both()
    steps(pair, 25)
    pair.caught_up()
    pair.check()


def test_a_drop_then_resubscribe_with_clocks(both: Any) -> None:
    pair = both()
    steps(pair, 5)
    pair.caught_up()
    pair.drop("fin", 6)
    pair.caught_up()
    assert pair.client.markets.stream_stats()["images"] == 2
    pair.check()


def test_two_drops(both: Any) -> None:
    pair = both()
    for mode in ("rst", "fin"):
        steps(pair, 4)
        pair.caught_up()
        pair.drop(mode, 4)
    steps(pair, 3)
    pair.caught_up()
    assert pair.client.stats().sessions == 3
    pair.check()


def test_a_two_hundred_market_segmented_image(both: Any) -> None:
    pair = both(EmulatorConfig(auth_timeout=5.0, segment_size=16 * 1024), ScenarioConfig(seed=3, markets=200, start_time=1.7e9))
    steps(pair, 3)
    pair.caught_up()
    assert len(pair.check()) == 200


def test_conflation_on(both: Any) -> None:
    pair = both(conflate_ms=100)
    steps(pair, 10)
    server = pair.server
    assert server.wait_until(
        lambda: all(s.subscription("mcm").last_clk_sent == server.scenario.markets_log.clock() for s in server.sessions()),
        WAIT,
    )
    pair.caught_up()
    pair.check()
    assert any(b'"con":true' in line.data for line in read_recording(pair.path))
