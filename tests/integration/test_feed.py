"""The client against the simulator's SSH server: data flow, subscriptions, liveness, errors."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from imgfeed import (
    ClientState,
    DisconnectReason,
    Handler,
    MarketUpdate,
    RateLimitedError,
    ReconnectPolicy,
    SuspendReason,
)
from imgfeed.feeds.img.simulator import ScenarioConfig, SessionConfig
from tests.integration.conftest import HEARTBEAT, SMALL, Sim
from tests.unit.memory_feed import Recorder, called


def live(sim: Sim) -> list:
    """The markets of the tournaments on offer (what a subscription to everything covers)."""
    return sim.scenario.market_ids(include_finished=False)


def updates(rec: Recorder) -> list:
    return [a[0] for a in rec.of("on_market_update")]


def wait_until_all_tradable(rec: Recorder, sim: Sim, client: Any, market_ids: Any = None) -> None:
    wanted = set(market_ids if market_ids is not None else live(sim))
    rec.wait_for(lambda calls: wanted <= {a[0] for n, a in calls if n == "on_market_status" and a[1]}
                 or wanted <= client.book.tradable_market_ids())


def test_snapshot_subscription_and_updates_arrive_in_order(sim: Sim) -> None:
    rec = Recorder()
    client = sim.client(rec)
    client.subscribe()  # right after start(): waits for the session
    market_ids = set(live(sim))
    rec.wait_for(lambda calls: {u.market_id for u in updates(rec)} >= market_ids)
    names = rec.names()
    assert names[0] == "on_connect"
    assert names.index("on_sport") < names.index("on_competition") < names.index("on_event")
    assert names.index("on_event") < names.index("on_market_type") < names.index("on_market")
    assert {m.id for (m,) in rec.of("on_market")} <= market_ids
    # Every update after the subscription snapshot arrives in the server's order.
    for _ in range(5):
        sim.scenario.step()
    sim.scenario.step()
    expected = {m: sim.scenario.market_image(m) for m in market_ids}
    rec.wait_for(lambda calls: all(
        (client.book.image(m) is not None and client.book.image(m).msg == expected[m]) for m in market_ids))
    rec.wait_for(lambda calls: {u.market_id: u.msg for u in updates(rec)} == expected)
    for market_id in market_ids:
        assert client.book.is_tradable(market_id) == (expected[market_id]["status"] == "open")
    session = rec.of("on_connect")[0][0]
    assert session.session_id and client.stats().session_id == session.session_id


def test_a_filtered_subscription_gets_only_its_markets(sim: Sim) -> None:
    rec = Recorder()
    client = sim.client(rec)
    rec.wait_for(called("on_market"))
    snapshot = client.book.snapshot()
    market = next(iter(snapshot.markets.values()))
    client.subscribe(market_ids=[market.id])
    rec.wait_for(called("on_market_update"))
    for _ in range(10):
        sim.scenario.step()
    rec.wait_for(lambda calls: client.book.image(market.id).msg == sim.scenario.market_image(market.id))
    assert {u.market_id for u in updates(rec)} == {market.id}
    assert [(s.action, s.msg()) for s in client.subscriptions] == [("subscribe", {"market_ids": [market.id]})]


def test_heartbeat_loss_suspends_everything_then_resumes(sim: Sim) -> None:
    rec = Recorder()
    client = sim.client(rec, silence_timeout=60.0)
    client.subscribe()
    wait_until_all_tradable(rec, sim, client, [m for m in live(sim)
                                              if sim.scenario.market_image(m)["status"] == "open"])
    sim.faults.stop_heartbeats()
    rec.wait_for(called("on_suspend_all"))
    assert rec.of("on_suspend_all")[0] == (SuspendReason.HEARTBEAT_LATE,)
    assert client.book.tradable_market_ids() == frozenset()
    sim.faults.resume_heartbeats()
    rec.wait_for(called("on_resume_all", 2))
    assert client.book.tradable_market_ids()
    assert len(rec.of("on_connect")) == 1


def test_silence_reconnects_reinits_resubscribes_and_markets_wait_for_their_update(sim: Sim) -> None:
    rec = Recorder()
    client = sim.client(rec)
    client.subscribe()
    open_markets = [m for m in live(sim) if sim.scenario.market_image(m)["status"] == "open"]
    wait_until_all_tradable(rec, sim, client, open_markets)
    sim.faults.stall()
    rec.wait_for(called("on_disconnect"))
    assert rec.of("on_disconnect")[0][0].reason is DisconnectReason.SILENCE
    assert client.book.tradable_market_ids() == frozenset()
    sim.faults.resume()
    rec.wait_for(called("on_connect", 2))
    assert sim.server.wait_for_sessions(1, 5)
    # The re-subscription brings one image per market; only then is each market tradable again.
    before = len(rec.of("on_market_update"))
    rec.wait_for(lambda calls: set(open_markets) <= client.book.tradable_market_ids())
    calls = rec.calls
    second = max(i for i, (n, _) in enumerate(calls) if n == "on_connect")
    for market_id in open_markets:
        became = next(i for i, (n, a) in enumerate(calls) if i > second and n == "on_market_status" and a == (market_id, True))
        image = max(i for i, (n, a) in enumerate(calls[:became]) if n == "on_market_update" and a[0].market_id == market_id)
        assert image > second
    assert len(rec.of("on_market_update")) > before
    assert client.stats().reconnects == 1


@pytest.mark.parametrize(
    "reason",
    ["no init sent", "slow reader", "internal disconnection requested", "service error"],
)
def test_a_documented_error_push_is_reported_and_the_client_reconnects(sim: Sim, reason: str) -> None:
    rec = Recorder()
    client = sim.client(rec, reconnect=ReconnectPolicy(interval=60.0, first_delay=0.0))
    client.subscribe()
    sim.faults.close_all(reason)
    rec.wait_for(called("on_connect", 2))  # the first retry is immediate
    (closing,) = rec.of("on_server_closing")[0]
    assert str(closing.reason) == reason
    (note,) = rec.of("on_disconnect")[0]
    assert note.reason is DisconnectReason.SERVER_CLOSING and note.detail == reason and note.will_retry
    rec.wait_for(lambda calls: len(rec.of("on_market_update")) >= 2 * len(live(sim)))


@pytest.mark.parametrize("reason", ["max connections hit", "connection rate limit hit"])
def test_refusals_always_wait_before_the_next_attempt(sim: Sim, reason: str) -> None:
    rec = Recorder()
    client = sim.client(rec, reconnect=ReconnectPolicy(interval=60.0, first_delay=0.0))
    rec.wait_for(called("on_connect"))
    sim.faults.close_all(reason)
    rec.wait_for(called("on_disconnect"))
    assert rec.of("on_disconnect")[0][0].detail == reason
    assert client.wait_for_state(ClientState.RECONNECTING, timeout=5)
    assert len(rec.of("on_connect")) == 1
    client.stop(timeout=5)  # promptly, although the next attempt is a minute away
    assert str(client.state) == "stopped"


def test_a_refused_first_connection_is_retried_after_the_interval(make_sim: Any) -> None:
    sim = make_sim()
    sim.faults.reject_connections("connection rate limit hit", 1)
    rec = Recorder()
    client = sim.client(rec)
    rec.wait_for(called("on_connect"))
    (note,) = rec.of("on_disconnect")[0]
    assert note.reason is DisconnectReason.SERVER_CLOSING and note.detail == "connection rate limit hit"
    assert client.stats().reconnects == 1


def test_rate_limited_requests_raise_and_later_ones_work(sim: Sim) -> None:
    client = sim.client()
    client.subscribe(market_ids=[])
    sim.faults.rate_limit_next(1)
    with pytest.raises(RateLimitedError):
        client.subscribe()
    assert client.subscribe().is_ok


def test_a_raising_handler_never_stops_the_others(sim: Sim) -> None:
    class Boom(Handler):
        def on_market_update(self, record: MarketUpdate) -> None:
            raise RuntimeError("bug in user code")

    rec = Recorder()
    client = sim.client(Boom(), rec)
    client.subscribe()
    n = len(live(sim))
    rec.wait_for(called("on_market_update", n))
    assert client.stats().handler_errors >= n
    assert len(rec.of("on_handler_error")) == 0  # told to the handler that raised, not the others


def test_a_handler_slower_than_the_feed_keeps_memory_bounded_and_ends_on_the_latest_prices(make_sim: Any) -> None:
    sim = make_sim(scenario=ScenarioConfig(**{**SMALL, "updates_per_step": 20}))
    gate = threading.Event()

    class Slow(Recorder):
        def on_market_update(self, record: MarketUpdate) -> None:
            gate.wait(10)
            super().on_market_update(record)  # type: ignore[misc]

    slow = Slow()
    client = sim.client(slow, queue_size=200, conflate_threshold=20, silence_timeout=30.0, heartbeat_timeout=30.0)
    client.subscribe()
    market_ids = live(sim)
    for _ in range(40):  # 800 updates for a handful of markets, within one tournament's life
        sim.scenario.step()
    assert live(sim) == market_ids
    expected = {m: sim.scenario.market_image(m) for m in market_ids}
    # The book follows the wire even though the handler is stuck.
    assert client.book.wait_for(lambda: all(
        client.book.image(m) is not None and client.book.image(m).msg == expected[m] for m in market_ids), 10)
    gate.set()
    slow.wait_for(lambda calls: {u.market_id: u.msg for u in updates(slow)} == expected, timeout=10)
    stats = client.stats()
    assert stats.conflated > 0
    assert stats.queue_high_water <= 200
    # Nothing stale survives: the last image each handler saw is the server's latest.
    last = {}
    for u in updates(slow):
        last[u.market_id] = u.msg
    assert last == expected


def test_mustard_mode(make_sim: Any) -> None:
    sim = make_sim(session=SessionConfig(heartbeat_interval=HEARTBEAT, mustard=True))
    rec = Recorder()
    client = sim.client(rec)
    client.subscribe()
    rec.wait_for(called("on_market_update", len(live(sim))))
    (session,) = rec.of("on_connect")[0]
    assert session.session_id is None
    assert all(h.publish_time is None for (h,) in rec.of("on_heartbeat"))
    assert client.book.tradable_market_ids()


def test_any_chunking_gives_the_same_records(sim: Sim) -> None:
    sim.faults.set_chunking([1, 7, 3, 64])
    rec = Recorder()
    client = sim.client(rec)
    client.subscribe()
    n = len(live(sim))
    rec.wait_for(called("on_market_update", n))
    assert client.stats().protocol_errors == 0
    assert {u.market_id for u in updates(rec)} == set(live(sim))


def test_malformed_lines_are_reported_and_the_feed_goes_on(sim: Sim) -> None:
    rec = Recorder()
    client = sim.client(rec)
    rec.wait_for(called("on_heartbeat"))
    sim.faults.send_raw(b"{not json\n")
    rec.wait_for(called("on_protocol_error"))
    beats = len(rec.of("on_heartbeat"))
    rec.wait_for(called("on_heartbeat", beats + 2))
    assert client.stats().protocol_errors == 1
    assert len(rec.of("on_connect")) == 1
