"""Liveness and staleness: the granted heartbeat interval, silence, stalls and 503 windows.

With ``heartbeatMs=500`` granted, no message for 1 s suspends every market (heartbeat late) and
1.5 s drops the connection, which the client makes again and resumes with clocks. A change with
``status: 503`` suspends every market (stale) until a change without it.
"""

from __future__ import annotations

from typing import Any, Callable

from imgfeed.betfair import BetfairClient, DisconnectReason, SuspendReason
from imgfeed.feeds.betfair.emulator import EmulatorConfig
from tests.betfair_client.conftest import ALL_FIELDS, WAIT
from tests.betfair_client.support import Recorder, assert_same_books, called, caught_up

Make = Callable[..., Any]


def live(make_server: Make, make_client: Make, recorder: Recorder, **overrides: Any) -> Any:
    server = make_server()
    client: BetfairClient = make_client(server, [recorder], **overrides)
    client.start()
    client.subscribe_markets({}, ALL_FIELDS)
    assert client.markets.wait_until(lambda: bool(client.markets.tradable()), WAIT)
    return server, client


def test_the_deadlines_follow_the_heartbeat_interval_the_server_granted(
    make_server: Make, make_client: Make, recorder: Recorder
) -> None:
    server = make_server(EmulatorConfig(auth_timeout=5.0, default_heartbeat_ms=5000))
    client: BetfairClient = make_client(server, [recorder], heartbeat_ms=800)
    client.start()
    client.subscribe_markets({}, ALL_FIELDS)
    assert server.wait_for_subscriptions(1, WAIT)
    assert server.sessions()[0].subscription("mcm").heartbeat_ms == 800
    assert client.markets.wait_until(lambda: client._betfair._granted == 800, WAIT)
    session = client._ingest.current.session
    assert session.liveness.heartbeat_timeout == 1.6 and session.liveness.silence_timeout == 2.4


def test_silent_heartbeats_suspend_then_reconnect(make_server: Make, make_client: Make, recorder: Recorder) -> None:
    server, client = live(make_server, make_client, recorder)
    server.faults.stop_heartbeats()
    recorder.wait_for(called("on_suspend_all", where=lambda r: r is SuspendReason.HEARTBEAT_LATE))
    assert not client.markets.tradable()
    note = recorder.wait_for(called("on_disconnect"))[-1][1][0]
    assert note.reason is DisconnectReason.SILENCE and note.will_retry
    calls = recorder.calls
    late = calls.index(("on_suspend_all", (SuspendReason.HEARTBEAT_LATE,)))
    assert late < next(i for i, c in enumerate(calls) if c[0] == "on_disconnect")
    server.faults.resume_heartbeats()
    recorder.wait_for(called("on_connect", 2))
    assert client.markets.wait_until(lambda: bool(client.markets.tradable()), WAIT)
    assert client.markets.stream_stats()["images"] == 2  # resumed with clocks


def test_a_stalled_server_is_dropped_and_the_stream_resumes(
    make_server: Make, make_client: Make, recorder: Recorder
) -> None:
    server, client = live(make_server, make_client, recorder)
    server.scenario.step()
    caught_up(server, client)
    server.faults.stall()
    note = recorder.wait_for(called("on_disconnect"))[-1][1][0]
    assert note.reason is DisconnectReason.SILENCE
    server.faults.resume()
    recorder.wait_for(called("on_connect", 2))
    server.scenario.step()
    assert server.wait_for_subscriptions(1, WAIT)
    caught_up(server, client)
    assert_same_books(server, client, {}, ALL_FIELDS)


def test_a_503_window_suspends_every_market_until_a_change_without_it(
    make_server: Make, make_client: Make, recorder: Recorder
) -> None:
    server, client = live(make_server, make_client, recorder)
    tradable = client.markets.tradable()
    server.faults.start_503(["mcm"])
    server.scenario.step()
    recorder.wait_for(called("on_suspend_all", where=lambda r: r is SuspendReason.STALE))
    assert client.markets.suspend_reason is SuspendReason.STALE and not client.markets.tradable()
    assert client.stats().sessions == 1  # 503: "do not disconnect"
    server.faults.end_503()
    server.scenario.step()
    recorder.wait_for(called("on_resume_all"))
    assert client.markets.wait_until(lambda: client.markets.suspend_reason is None, WAIT)
    assert client.markets.tradable() <= tradable | set(client.markets.market_ids())
    assert client.markets.tradable()
    assert not recorder.of("on_disconnect")


def test_a_503_on_the_order_stream_makes_the_orders_stale_not_the_markets(
    make_server: Make, make_client: Make, recorder: Recorder
) -> None:
    server, client = live(make_server, make_client, recorder)
    client.subscribe_orders()
    assert client.orders.wait_until(lambda: client.orders.is_live, WAIT)
    server.faults.start_503(["ocm"])
    assert client.orders.wait_until(lambda: not client.orders.is_live, WAIT)  # the next heartbeat says 503
    assert client.markets.tradable()
    server.faults.end_503()
    assert client.orders.wait_until(lambda: client.orders.is_live, WAIT)
