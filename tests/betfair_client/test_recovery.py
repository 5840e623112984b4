"""The client against the emulator over real TLS: images, deltas, drops and resubscription with clocks.

Each test steps the emulator's scenario by hand, waits until the client has applied everything the
emulator wrote (its ``clk`` is the emulator's last), and compares every book with what the
emulator's own state says a subscriber must have.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from imgfeed.betfair import BetfairClient, SuspendReason
from imgfeed.feeds.betfair.emulator import EmulatorConfig, ScenarioConfig
from imgfeed.runtime.stats import ClientState
from tests.betfair_client.conftest import ALL_FIELDS, FAST, SCENARIO, WAIT
from tests.betfair_client.support import (
    Recorder,
    assert_same_books,
    called,
    caught_up,
    live_session,
    subscribed_markets,
)

Make = Callable[..., Any]


def start(make_server: Make, make_client: Make, recorder: Recorder, scenario: ScenarioConfig = SCENARIO,
          config: EmulatorConfig = FAST, **overrides: Any) -> Any:
    server = make_server(config, scenario)
    client: BetfairClient = make_client(server, [recorder], **overrides)
    client.start()
    client.subscribe_markets({}, ALL_FIELDS)
    return server, client


def test_a_plain_run_ends_with_the_emulators_books(make_server: Make, make_client: Make, recorder: Recorder) -> None:
    server, client = start(make_server, make_client, recorder)
    for _ in range(25):  # through pre-play, in play, suspensions, closes and replacements
        server.scenario.step()
    caught_up(server, client)
    market_ids = assert_same_books(server, client, {}, ALL_FIELDS)
    assert client.markets.tradable() == {m for m in market_ids if client.markets.book(m).status == "OPEN"}
    assert recorder.of("on_connection")[0][0].startswith("001-")
    calls = recorder.wait_for(lambda calls: {a[0].market_id for n, a in calls if n == "on_market_book"} >= set(market_ids))
    assert all(a[0].runners for n, a in calls if n == "on_market_book")


def test_no_market_is_tradable_before_its_image(make_server: Make, make_client: Make, recorder: Recorder) -> None:
    server = make_server(FAST, SCENARIO)
    client = make_client(server, [recorder])
    client.start()
    assert client.wait_for_state(ClientState.RUNNING, timeout=WAIT)
    assert client.markets.tradable() == frozenset() and len(client.markets) == 0
    client.subscribe_markets({}, ALL_FIELDS)
    assert client.markets.wait_until(lambda: bool(client.markets.tradable()), WAIT)
    names = [n for n, _ in recorder.wait_for(called("on_market_status"))]
    # every book of the image before the first "tradable" notification: never half an image
    first_status = names.index("on_market_status")
    assert names[:first_status].count("on_market_book") == len(subscribed_markets(server, {}))


@pytest.mark.parametrize("mode", ["fin", "rst"])
def test_a_drop_resubscribes_with_clocks_on_the_kept_cache(
    make_server: Make, make_client: Make, recorder: Recorder, mode: str
) -> None:
    server, client = start(make_server, make_client, recorder)
    for _ in range(5):
        server.scenario.step()
    caught_up(server, client)
    clocks = client.markets.clocks
    assert clocks["initial_clk"] and clocks["clk"]
    server.faults.drop(mode)
    for _ in range(6):  # what the client misses while it is away (or gets after its RESUB_DELTA)
        server.scenario.step()
    recorder.wait_for(called("on_connect", 2))
    assert server.wait_for_subscriptions(1, WAIT)
    caught_up(server, client)
    session = live_session(server)
    assert session.subscription("mcm").initial_clk == clocks["initial_clk"]  # a RESUB_DELTA, not an image
    assert client.markets.stream_stats()["images"] == 2
    assert_same_books(server, client, {}, ALL_FIELDS)
    lost_note = ("on_suspend_all", (SuspendReason.DISCONNECTED,))

    def tradable_again(calls: Any) -> bool:
        return lost_note in calls and any(
            c[0] == "on_market_status" and c[1][1] for c in calls[calls.index(lost_note) :]
        )

    calls = recorder.wait_for(tradable_again)
    lost = calls.index(lost_note)
    back = next(i for i, c in enumerate(calls) if i > lost and c[0] == "on_market_status" and c[1][1])
    # untradable from the disconnect until the RESUB_DELTA is complete: every book of it comes first
    assert any(c[0] == "on_market_book" for c in calls[lost:back])
    assert client.markets.tradable()


def test_two_drops(make_server: Make, make_client: Make, recorder: Recorder) -> None:
    server, client = start(make_server, make_client, recorder)
    for n, mode in enumerate(("rst", "fin"), start=2):
        for _ in range(4):
            server.scenario.step()
        caught_up(server, client)
        server.faults.drop(mode)
        for _ in range(4):
            server.scenario.step()
        recorder.wait_for(called("on_connect", n))
        assert server.wait_for_subscriptions(1, WAIT)
    for _ in range(3):
        server.scenario.step()
    caught_up(server, client)
    assert client.markets.stream_stats()["images"] == 3  # one SUB_IMAGE, two RESUB_DELTAs
    assert client.stats().sessions == 3
    assert_same_books(server, client, {}, ALL_FIELDS)


def test_a_two_hundred_market_segmented_image_is_applied_whole(
    make_server: Make, make_client: Make, recorder: Recorder
) -> None:
    config = EmulatorConfig(auth_timeout=5.0, segment_size=16 * 1024)
    server, client = start(
        make_server, make_client, recorder, ScenarioConfig(seed=3, markets=200, start_time=1.7e9), config
    )
    for _ in range(3):
        server.scenario.step()
    caught_up(server, client)
    assert len(client.markets) == 200
    stats = client.markets.stream_stats()
    assert stats["segment_errors"] == 0 and stats["images"] == 1
    names = [n for n, _ in recorder.wait_for(called("on_market_status"))]
    assert names[: names.index("on_market_status")].count("on_market_book") == 200
    assert len(assert_same_books(server, client, {}, ALL_FIELDS)) == 200


def test_conflation_on(make_server: Make, make_client: Make, recorder: Recorder) -> None:
    server, client = start(make_server, make_client, recorder, conflate_ms=100)
    assert server.wait_for_subscriptions(1, WAIT)
    sub = server.sessions()[0].subscription("mcm")
    assert sub.conflate_ms == 100
    for _ in range(10):
        server.scenario.step()
    assert server.wait_until(lambda: sub.last_clk_sent == server.scenario.markets_log.clock(), WAIT)
    caught_up(server, client)
    recorder.wait_for(lambda calls: any(n == "on_market_book" and a[0].conflated for n, a in calls))
    assert client.markets.stream_stats()["unrequested_conflations"] == 0
    assert_same_books(server, client, {}, ALL_FIELDS)


@pytest.mark.parametrize("split", ["crlf", "utf8", "straddle"])
def test_writes_split_inside_crlf_and_utf8(make_server: Make, make_client: Make, recorder: Recorder, split: str) -> None:
    server = make_server(FAST, SCENARIO)
    server.faults.set_split(split)
    client = make_client(server, [recorder])
    client.start()
    client.subscribe_markets({}, ALL_FIELDS)
    for _ in range(6):
        server.scenario.step()
    caught_up(server, client)
    assert client.stats().protocol_errors == 0
    assert_same_books(server, client, {}, ALL_FIELDS)


def test_one_byte_writes(make_server: Make, make_client: Make, recorder: Recorder) -> None:
    server = make_server(FAST, ScenarioConfig(seed=5, markets=3, start_time=1.7e9))
    server.faults.set_chunking([1, 7, 3])
    client = make_client(server, [recorder])
    client.start()
    client.subscribe_markets({}, ALL_FIELDS)
    server.scenario.step()
    caught_up(server, client)
    assert client.stats().protocol_errors == 0
    assert_same_books(server, client, {}, ALL_FIELDS)


def test_closed_markets_leave_the_cache_after_their_retention(
    make_server: Make, make_client: Make, recorder: Recorder
) -> None:
    server, client = start(make_server, make_client, recorder, closed_retention=0.0)
    for _ in range(25):  # every market goes through in-play to closed, and is replaced
        server.scenario.step()
    caught_up(server, client)
    calls = recorder.wait_for(lambda calls: any(n == "on_market_book" and a[0].status == "CLOSED" for n, a in calls))
    closed = {a[0].market_id for n, a in calls if n == "on_market_book" and a[0].status == "CLOSED"}
    assert closed and not closed & set(client.markets.market_ids())  # seen closed, then evicted
    assert all(client.markets.book(m).status != "CLOSED" for m in client.markets.market_ids())
    assert not any(client.markets.is_tradable(m) for m in closed)
