"""Every ESA error code, as the emulator sends it, and what the client does about it.

Fatal codes stop the client with a message that says what to check; session errors ask the
``session_provider`` for a new token and reconnect (and stop without one); connection limits wait
the policy's refusal interval; transient codes reconnect and resume with clocks; ``INVALID_CLOCK``
drops the clocks for a fresh image; ``INVALID_INPUT`` is logged as our bug;
``SUBSCRIPTION_LIMIT_EXCEEDED`` raises from ``subscribe_markets`` and keeps the connection.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, List

import pytest

from imgfeed.betfair import (
    AuthenticationError,
    BetfairClient,
    DisconnectReason,
    ServerRefusedError,
    SubscriptionError,
)
from imgfeed.feeds.betfair.emulator import EmulatorConfig, ScenarioConfig
from imgfeed.runtime.stats import ClientState
from tests.betfair_client.conftest import ALL_FIELDS, FAST, SCENARIO, WAIT
from tests.betfair_client.support import Recorder, assert_same_books, called, caught_up

Make = Callable[..., Any]


def disconnects(recorder: Recorder) -> List[Any]:
    return [a[0] for a in recorder.of("on_disconnect")]


@pytest.mark.parametrize("code", ["NO_APP_KEY", "INVALID_APP_KEY", "NOT_AUTHORIZED"])
def test_app_key_errors_stop_the_client_with_what_to_check(
    make_server: Make, make_client: Make, recorder: Recorder, code: str
) -> None:
    server = make_server()
    server.faults.reject_connections(1, code)
    client: BetfairClient = make_client(server, [recorder])
    client.start()
    with pytest.raises(ServerRefusedError) as raised:
        client.join(WAIT)
    assert raised.value.code == code and "app key" in str(raised.value)
    (note,) = disconnects(recorder)
    assert note.reason is DisconnectReason.AUTH_FAILED and not note.will_retry and note.code == code
    assert server.connections_accepted == 1


def test_a_real_invalid_app_key_is_fatal(make_server: Make, make_client: Make, recorder: Recorder) -> None:
    server = make_server()
    client = make_client(server, [recorder], app_key="not-the-key")
    client.start()
    with pytest.raises(ServerRefusedError, match="INVALID_APP_KEY.*BetfairConfig.app_key"):
        client.join(WAIT)


@pytest.mark.parametrize("code", ["NO_SESSION", "INVALID_SESSION_INFORMATION"])
def test_session_errors_refresh_the_token_then_reconnect(
    make_server: Make, make_client: Make, recorder: Recorder, code: str
) -> None:
    server = make_server(EmulatorConfig(auth_timeout=5.0, session_tokens={"fresh-token"}))
    tokens = iter(["stale-token", "fresh-token"])
    asked = threading.Event()

    def provider() -> str:
        asked.set()
        return next(tokens)

    if code == "NO_SESSION":
        server.faults.reject_connections(1, code)
    client = make_client(server, [recorder], session_token=None, session_provider=provider)
    client.start()
    assert asked.is_set()  # the first token, on start()
    client.subscribe_markets({}, ALL_FIELDS)  # returns once the session with the fresh token is live
    first = disconnects(recorder)[0]
    assert first.reason is DisconnectReason.AUTH_FAILED and first.will_retry
    assert first.code in (code, "INVALID_SESSION_INFORMATION")
    assert client.stats().sessions == 1


def test_a_session_error_without_a_provider_stops_the_client(
    make_server: Make, make_client: Make, recorder: Recorder
) -> None:
    server = make_server()
    client = make_client(server, [recorder], session_token="expired")
    client.start()
    with pytest.raises(AuthenticationError, match="no session_provider"):
        client.join(WAIT)
    assert not disconnects(recorder)[-1].will_retry


def test_the_connection_limit_waits_the_refusal_interval(make_server: Make, make_client: Make, recorder: Recorder) -> None:
    server = make_server(EmulatorConfig(auth_timeout=5.0, connection_limit=1))
    first: BetfairClient = make_client(server)
    first.start()
    assert first.wait_for_state(ClientState.RUNNING, timeout=WAIT)
    second: BetfairClient = make_client(server, [recorder])
    second.start()
    refused = recorder.wait_for(called("on_disconnect"))[-1][1][0]
    assert refused.code == "MAX_CONNECTION_LIMIT_EXCEEDED" and refused.will_retry
    assert refused.retry_in >= 0.3  # the policy's min_delay, never a tight loop
    first.stop()
    assert second.wait_for_state(ClientState.RUNNING, timeout=WAIT)


@pytest.mark.parametrize("code", ["TIMEOUT", "UNEXPECTED_ERROR", "CONNECTION_FAILED", "TOO_MANY_REQUESTS"])
def test_transient_errors_reconnect_and_resume_with_clocks(
    make_server: Make, make_client: Make, recorder: Recorder, code: str
) -> None:
    server = make_server()
    client: BetfairClient = make_client(server, [recorder])
    client.start()
    client.subscribe_markets({}, ALL_FIELDS)
    for _ in range(3):
        server.scenario.step()
    caught_up(server, client)
    server.faults.send_error(code)
    note = recorder.wait_for(called("on_disconnect"))[-1][1][0]
    assert note.reason is DisconnectReason.SERVER_CLOSING and note.code == code and note.will_retry
    recorder.wait_for(called("on_connect", 2))
    assert server.wait_for_subscriptions(1, WAIT)
    server.scenario.step()
    caught_up(server, client)
    assert client.markets.stream_stats()["images"] == 2
    assert_same_books(server, client, {}, ALL_FIELDS)


def test_invalid_clock_drops_the_clocks_and_takes_a_fresh_image(
    make_server: Make, make_client: Make, recorder: Recorder
) -> None:
    server = make_server()
    client: BetfairClient = make_client(server, [recorder])
    client.start()
    client.subscribe_markets({}, ALL_FIELDS)
    server.scenario.step()
    caught_up(server, client)
    server.faults.invalid_clock_next()
    server.faults.drop("fin")
    note = recorder.wait_for(called("on_disconnect", where=lambda d: d.code == "INVALID_CLOCK"))[-1][1][0]
    assert note.will_retry
    recorder.wait_for(called("on_connect", 3))
    assert server.wait_for_subscriptions(1, WAIT)
    caught_up(server, client)
    assert client.markets.stream_stats()["images"] == 2  # the first image and the fresh one
    assert client.markets.tradable()
    assert_same_books(server, client, {}, ALL_FIELDS)


@pytest.mark.parametrize("code", ["INVALID_INPUT", "INVALID_REQUEST"])
def test_invalid_input_is_reported_as_our_bug(
    make_server: Make, make_client: Make, recorder: Recorder, caplog: pytest.LogCaptureFixture, code: str
) -> None:
    server = make_server()
    client: BetfairClient = make_client(server, [recorder])
    client.start()
    assert client.wait_for_state(ClientState.RUNNING, timeout=WAIT)
    with caplog.at_level(logging.ERROR, "imgfeed.betfair"):
        server.faults.send_error(code)
        note = recorder.wait_for(called("on_disconnect"))[-1][1][0]
    assert note.code == code and "bug in imgfeed" in note.detail and note.will_retry
    assert any("bug in imgfeed" in r.getMessage() for r in caplog.records)
    assert client.wait_for_state(ClientState.RUNNING, timeout=WAIT)


def test_the_subscription_limit_raises_and_keeps_the_connection(
    make_server: Make, make_client: Make, recorder: Recorder
) -> None:
    server = make_server(EmulatorConfig(auth_timeout=5.0, subscription_limit=3), ScenarioConfig(seed=1, markets=8))
    client: BetfairClient = make_client(server, [recorder])
    client.start()
    with pytest.raises(SubscriptionError, match="SUBSCRIPTION_LIMIT_EXCEEDED.*connection is kept") as raised:
        client.subscribe_markets({}, ALL_FIELDS)
    assert raised.value.code == "SUBSCRIPTION_LIMIT_EXCEEDED"
    market_ids = [i.market_id for i in server.scenario.market_infos()][:2]
    client.subscribe_markets({"marketIds": market_ids}, ALL_FIELDS)
    assert client.markets.wait_until(lambda: client.markets.tradable() == set(market_ids), WAIT)
    assert client.stats().sessions == 1 and not recorder.of("on_disconnect")


def test_a_status_of_another_request_never_completes_a_subscription(make_server: Make, make_client: Make) -> None:
    """Every request carries an id and every status is matched to it (here: the auth id is 0)."""
    server = make_server(FAST, SCENARIO)
    client = make_client(server)
    client.start()
    status = client.subscribe_markets({}, ALL_FIELDS)
    assert status.id == server.sessions()[0].subscription("mcm").request_id >= 1


def test_a_malformed_line_is_reported_with_its_bytes_and_the_stream_goes_on(
    make_server: Make, make_client: Make, recorder: Recorder
) -> None:
    server = make_server()
    client: BetfairClient = make_client(server, [recorder])
    client.start()
    client.subscribe_markets({}, ALL_FIELDS)
    caught_up(server, client)
    server.faults.send_malformed_line()
    server.scenario.step()
    caught_up(server, client)
    recorder.wait_for(called("on_protocol_error"))
    ((error,),) = recorder.of("on_protocol_error")
    assert b'"clk":' in error.raw and "not JSON" in error.reason
    assert client.stats().protocol_errors == 1 and client.stats().sessions == 1
    assert_same_books(server, client, {}, ALL_FIELDS)
