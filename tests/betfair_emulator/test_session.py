"""The sans-IO session: bytes in, bytes out, the clock passed in; no network, no threads."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

import pytest

from imgfeed.feeds.betfair.emulator import (
    CLOSES,
    DEFAULT_APP_KEY,
    DEFAULT_SESSION_TOKEN,
    ERROR_CODES,
    EmulatorConfig,
    Scenario,
    ScenarioConfig,
    ServerSession,
    SessionState,
)
from imgfeed.feeds.betfair.emulator.registry import ConnectionRegistry

T0 = 1_700_000_000.0
AUTH = {"op": "authentication", "id": 1, "appKey": DEFAULT_APP_KEY, "session": DEFAULT_SESSION_TOKEN}
ALL = {
    "fields": ["EX_ALL_OFFERS", "EX_BEST_OFFERS", "EX_LTP", "EX_TRADED_VOL", "EX_MARKET_DEF"],
    "ladderLevels": 3,
}


class Pair:
    """A session with its scenario, and helpers to talk to it."""

    def __init__(
        self,
        config: Optional[EmulatorConfig] = None,
        scenario: Optional[Scenario] = None,
        registry: Optional[ConnectionRegistry] = None,
        forced: Any = None,
    ) -> None:
        self.scenario = scenario or Scenario(
            ScenarioConfig(seed=5, markets=8, start_time=T0), clock=lambda: T0
        )
        self.registry = registry or ConnectionRegistry()
        self.session = ServerSession(
            config or EmulatorConfig(), self.scenario, self.registry, T0, "001-test-1", forced
        )

    def send(self, message: Any, now: float = T0) -> List[Dict[str, Any]]:
        raw = message if isinstance(message, bytes) else json.dumps(message).encode() + b"\r\n"
        self.session.receive_data(raw, now)
        return self.out()

    def out(self) -> List[Dict[str, Any]]:
        data = self.session.data_to_send()
        assert data == b"" or data.endswith(b"\r\n")
        return [json.loads(line) for line in data.split(b"\r\n") if line]

    def authenticated(self) -> "Pair":
        assert self.out()[0]["op"] == "connection"
        assert self.send(AUTH)[0]["statusCode"] == "SUCCESS"
        return self

    def step(self, n: int = 1, now: float = T0) -> List[Dict[str, Any]]:
        for _ in range(n):
            self.session.deliver(self.scenario.step(now=now), now)
        return self.out()


def test_connection_message_then_authentication_with_connections_available() -> None:
    pair = Pair(EmulatorConfig(connection_limit=3))
    assert pair.out() == [{"op": "connection", "connectionId": "001-test-1"}]
    assert pair.send(AUTH) == [
        {
            "op": "status",
            "id": 1,
            "statusCode": "SUCCESS",
            "connectionClosed": False,
            "connectionsAvailable": 2,
        }
    ]
    assert pair.session.is_authenticated
    assert pair.send({"op": "heartbeat", "id": 7}) == [
        {"op": "status", "id": 7, "statusCode": "SUCCESS", "connectionClosed": False}
    ]


@pytest.mark.parametrize(
    "auth, code",
    [
        ({"op": "authentication", "id": 4, "session": DEFAULT_SESSION_TOKEN}, "NO_APP_KEY"),
        ({**AUTH, "id": 4, "appKey": "wrong"}, "INVALID_APP_KEY"),
        ({"op": "authentication", "id": 4, "appKey": DEFAULT_APP_KEY}, "NO_SESSION"),
        ({**AUTH, "id": 4, "session": "expired"}, "INVALID_SESSION_INFORMATION"),
        ({**AUTH, "id": 4, "appKey": "delayed-key"}, "NOT_AUTHORIZED"),
    ],
)
def test_authentication_errors_close_the_connection(auth: Dict[str, Any], code: str) -> None:
    pair = Pair(EmulatorConfig(unauthorized_app_keys={"delayed-key"}))
    pair.out()
    (status,) = pair.send(auth)
    assert status["id"] == 4 and status["statusCode"] == "FAILURE" and status["errorCode"] == code
    assert status["connectionClosed"] is True and status["connectionId"] == "001-test-1"
    assert pair.session.closed and pair.session.close_code == code
    assert pair.send(AUTH) == []  # a closed session answers nothing


def test_connection_limit_per_app_key_and_release_on_close() -> None:
    registry = ConnectionRegistry()
    config = EmulatorConfig(connection_limit=1)
    first = Pair(config, registry=registry).authenticated()
    second = Pair(config, scenario=first.scenario, registry=registry)
    second.out()
    (status,) = second.send(AUTH)
    assert status["errorCode"] == "MAX_CONNECTION_LIMIT_EXCEEDED" and status["connectionClosed"]
    first.session.close()
    third = Pair(config, scenario=first.scenario, registry=registry)
    assert third.authenticated().session.is_authenticated


def test_timeout_when_no_authentication_in_time() -> None:
    pair = Pair(EmulatorConfig(auth_timeout=15.0))
    pair.out()
    assert pair.session.next_deadline() == T0 + 15.0
    pair.session.tick(T0 + 14.9)
    assert pair.out() == []
    pair.session.tick(T0 + 15.0)
    (status,) = pair.out()
    assert "id" not in status and status["errorCode"] == "TIMEOUT" and status["connectionClosed"]
    assert pair.session.state is SessionState.CLOSED


@pytest.mark.parametrize(
    "line, code",
    [
        (b"{not json\r\n", "INVALID_INPUT"),
        (b'["op"]\r\n', "INVALID_INPUT"),
        (b'{"op":"frobnicate","id":3}\r\n', "INVALID_INPUT"),
        (b'{"op":"marketSubscription","id":3,"heartbeatMs":"fast"}\r\n', "INVALID_INPUT"),
        (b'{"op":"marketSubscription","id":3,"marketFilter":{"colour":["red"]}}\r\n', "INVALID_INPUT"),
        (b'{"op":"orderSubscription","id":3,"orderFilter":{"accountIds":[1]}}\r\n', "INVALID_INPUT"),
    ],
)
def test_invalid_input_closes(line: bytes, code: str) -> None:
    pair = Pair().authenticated()
    (status,) = pair.send(line)
    assert status["errorCode"] == code and status["connectionClosed"] and pair.session.closed


def test_requests_before_authentication_are_not_authorized() -> None:
    pair = Pair()
    pair.out()
    (status,) = pair.send({"op": "marketSubscription", "id": 2})
    assert status["id"] == 2 and status["errorCode"] == "NOT_AUTHORIZED" and pair.session.closed


def test_too_many_requests() -> None:
    pair = Pair(EmulatorConfig(request_rate_limit=3)).authenticated()  # the auth was request 1
    assert pair.send({"op": "heartbeat", "id": 2})[0]["statusCode"] == "SUCCESS"
    assert pair.send({"op": "heartbeat", "id": 3})[0]["statusCode"] == "SUCCESS"
    (status,) = pair.send({"op": "heartbeat", "id": 4})
    assert status["errorCode"] == "TOO_MANY_REQUESTS" and pair.session.closed


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
def test_every_error_code_and_whether_it_closes(code: str) -> None:
    pair = Pair(forced=lambda op, clocks: (code, None) if op == "heartbeat" else None).authenticated()
    (status,) = pair.send({"op": "heartbeat", "id": 9})
    assert status["errorCode"] == code and status["errorMessage"] == ERROR_CODES[code]
    assert status["connectionClosed"] is (code in CLOSES) is pair.session.closed
    assert (code == "SUBSCRIPTION_LIMIT_EXCEEDED") is not pair.session.closed


def test_subscription_limit_keeps_the_connection_and_the_old_subscription() -> None:
    pair = Pair(EmulatorConfig(subscription_limit=3)).authenticated()
    first = pair.scenario.market_infos()[0].market_id
    status, image = pair.send({"op": "marketSubscription", "id": 2, "marketFilter": {"marketIds": [first]}})
    assert status["statusCode"] == "SUCCESS" and image["ct"] == "SUB_IMAGE"
    (failure,) = pair.send({"op": "marketSubscription", "id": 3, "marketFilter": {}})
    assert failure["errorCode"] == "SUBSCRIPTION_LIMIT_EXCEEDED" and failure["connectionClosed"] is False
    assert not pair.session.closed and pair.session.subscription("mcm").request_id == 2


def test_image_then_deltas_with_only_the_fields_asked_for() -> None:
    pair = Pair().authenticated()
    sub = {
        "op": "marketSubscription",
        "id": 2,
        "marketFilter": {"eventTypeIds": ["1"]},
        "marketDataFilter": {"fields": ["EX_LTP"]},
        "heartbeatMs": 100,
        "conflateMs": 999_999,
    }
    status, image = pair.send(sub)
    assert status == {"op": "status", "id": 2, "statusCode": "SUCCESS", "connectionClosed": False}
    assert image["ct"] == "SUB_IMAGE" and image["id"] == 2 and image["initialClk"] and image["clk"]
    assert image["heartbeatMs"] == 500 and image["conflateMs"] == 120_000  # clamped, reported back
    football = {i.market_id for i in pair.scenario.market_infos() if i.event_type_id == "1"}
    assert {m["id"] for m in image["mc"]} == football and all(m["img"] for m in image["mc"])
    pair.send({**sub, "id": 3, "conflateMs": 0})  # replaces subscription 2
    deltas = [m for m in pair.step(10) if m["op"] == "mcm"]
    assert deltas and all(m["id"] == 3 and "ct" not in m and m["clk"] for m in deltas)
    for message in deltas:
        for market in message["mc"]:
            assert market["id"] in football
            assert all(set(rc) <= {"id", "ltp"} for rc in market.get("rc", []))


def test_new_subscription_replaces_the_old_one() -> None:
    pair = Pair().authenticated()
    pair.send({"op": "marketSubscription", "id": 2, "marketFilter": {"eventTypeIds": ["7"]}})
    pair.send(
        {
            "op": "marketSubscription",
            "id": 3,
            "marketFilter": {"eventTypeIds": ["2"]},
            "marketDataFilter": ALL,
        }
    )
    tennis = {i.market_id for i in pair.scenario.market_infos() if i.event_type_id == "2"}
    changes = [m for m in pair.step(20) if m["op"] == "mcm"]
    assert changes and {m["id"] for m in changes} == {3}
    assert {mc["id"] for m in changes for mc in m.get("mc", [])} <= tennis


def test_heartbeat_after_heartbeat_ms_without_changes() -> None:
    pair = Pair().authenticated()
    _, image = pair.send(
        {"op": "marketSubscription", "id": 2, "marketFilter": {"marketIds": ["1.none"]}, "heartbeatMs": 1000}
    )
    assert pair.session.next_deadline() == T0 + 1.0
    pair.session.tick(T0 + 0.99)
    assert pair.out() == []
    pair.session.tick(T0 + 1.0)
    assert pair.out() == [
        {"op": "mcm", "id": 2, "clk": image["clk"], "pt": int((T0 + 1.0) * 1000), "ct": "HEARTBEAT"}
    ]
    pair.step(3)  # nothing for this client, but its clock moves on
    pair.session.tick(T0 + 2.0)
    (beat,) = pair.out()
    assert beat["ct"] == "HEARTBEAT" and beat["clk"] == pair.scenario.markets_log.clock()
    pair.session.heartbeats_enabled = False
    pair.session.tick(T0 + 10)
    assert pair.out() == [] and pair.session.next_deadline() is None


def test_segmented_image_with_clocks_on_the_last_segment() -> None:
    scenario = Scenario(ScenarioConfig(seed=2, markets=30, start_time=T0), clock=lambda: T0)
    pair = Pair(EmulatorConfig(segment_size=4096), scenario=scenario).authenticated()
    _, *parts = pair.send(
        {"op": "marketSubscription", "id": 2, "segmentationEnabled": True, "marketDataFilter": ALL}
    )
    assert [p["segmentType"] for p in parts] == ["SEG_START"] + ["SEG"] * (len(parts) - 2) + ["SEG_END"]
    assert all(p["ct"] == "SUB_IMAGE" and p["id"] == 2 for p in parts)
    assert (
        "clk" not in parts[0]
        and "initialClk" in parts[-1]
        and "clk" in parts[-1]
        and "heartbeatMs" in parts[0]
    )
    assert sum(len(p["mc"]) for p in parts) == 30
    _, image = (
        Pair(EmulatorConfig(segment_size=4096), scenario=scenario)
        .authenticated()
        .send({"op": "marketSubscription", "id": 2, "marketDataFilter": ALL})
    )  # segmentation off: one message
    assert len(image["mc"]) == 30 and "segmentType" not in image


def test_resubscribe_with_clocks_gets_a_resub_delta_of_what_changed() -> None:
    first = Pair().authenticated()
    sub = {"op": "marketSubscription", "id": 2, "marketDataFilter": ALL}
    _, image = first.send(sub)
    first.step(3)
    first.session.close()
    scenario = first.scenario
    clk = scenario.markets_log.clock()
    changed = {mid for _ in range(4) for mid in scenario.step(now=T0).markets}
    second = Pair(scenario=scenario).authenticated()
    status, resub = second.send({**sub, "id": 5, "initialClk": image["initialClk"], "clk": clk})
    assert status["statusCode"] == "SUCCESS"
    assert resub["ct"] == "RESUB_DELTA" and resub["id"] == 5 and resub["initialClk"] == image["initialClk"]
    assert resub["clk"] == scenario.markets_log.clock()
    assert {m["id"] for m in resub.get("mc", [])} == changed
    assert not any(m.get("img") for m in resub.get("mc", []))  # patches, not images


def test_invalid_or_expired_clocks_are_invalid_clock() -> None:
    pair = Pair().authenticated()
    _, image = pair.send({"op": "marketSubscription", "id": 2})
    for initial, clk in (
        (image["initialClk"], "AAAA"),
        (image["initialClk"], image["initialClk"]),
        (None, image["clk"]),
    ):
        other = Pair(scenario=pair.scenario).authenticated()
        (status,) = other.send({"op": "marketSubscription", "id": 3, "initialClk": initial, "clk": clk})
        assert status["errorCode"] == "INVALID_CLOCK" and status["connectionClosed"], (initial, clk)
    scenario = Scenario(ScenarioConfig(seed=5, markets=4, start_time=T0, clock_retention=2), clock=lambda: T0)
    old = Pair(scenario=scenario).authenticated()
    _, image = old.send({"op": "marketSubscription", "id": 2})
    old.step(3)
    (status,) = (
        Pair(scenario=scenario)
        .authenticated()
        .send({"op": "marketSubscription", "id": 3, "initialClk": image["initialClk"], "clk": image["clk"]})
    )
    assert status["errorCode"] == "INVALID_CLOCK" and "expired" in status["errorMessage"]


def test_conflation_merges_deltas_with_con_true() -> None:
    pair = Pair().authenticated()
    pair.send({"op": "marketSubscription", "id": 2, "marketDataFilter": ALL, "conflateMs": 500})
    assert pair.step(6, now=T0 + 0.1) == []  # held back
    assert pair.session.next_deadline() == pytest.approx(T0 + 0.6)
    pair.session.tick(T0 + 0.6)
    (merged,) = pair.out()
    assert merged["clk"] == pair.scenario.markets_log.clock()
    assert any(m.get("con") for m in merged["mc"])


def test_slow_reader_gets_conflated_changes() -> None:
    pair = Pair().authenticated()
    pair.send({"op": "marketSubscription", "id": 2, "marketDataFilter": ALL})
    pair.session.set_output_blocked(True, T0)
    assert pair.step(6) == [] and pair.session.output_blocked
    pair.session.set_output_blocked(False, T0 + 0.01)
    (merged,) = pair.out()
    assert any(m.get("con") for m in merged["mc"]) and merged["clk"] == pair.scenario.markets_log.clock()


def test_order_stream_image_of_executable_orders_then_deltas() -> None:
    scenario = Scenario(
        ScenarioConfig(seed=9, markets=6, order_markets=3, order_probability=1.0, start_time=T0),
        clock=lambda: T0,
    )
    for _ in range(15):
        scenario.step(now=T0)
    pair = Pair(scenario=scenario).authenticated()
    status, image = pair.send({"op": "orderSubscription", "id": 4})
    assert status["statusCode"] == "SUCCESS" and image["op"] == "ocm" and image["ct"] == "SUB_IMAGE"
    orders = [o for m in image["oc"] for r in m.get("orc", []) for o in r.get("uo", [])]
    assert orders and all(o["status"] == "E" for o in orders)
    deltas = [m for m in pair.step(20) if m["op"] == "ocm"]
    assert deltas and all(m["id"] == 4 for m in deltas)
    updates = [o for m in deltas for mc in m["oc"] for r in mc.get("orc", []) for o in r.get("uo", [])]
    assert any(o["status"] == "EC" for o in updates)  # the transient to execution complete
    assert any("mb" in r or "ml" in r for m in deltas for mc in m["oc"] for r in mc.get("orc", []))
    (_, filtered) = (
        Pair(scenario=scenario)
        .authenticated()
        .send(
            {
                "op": "orderSubscription",
                "id": 5,
                "orderFilter": {"includeOverallPosition": False, "customerStrategyRefs": ["emu-strategy-a"]},
            }
        )
    )
    runners = [r for m in filtered.get("oc", []) for r in m.get("orc", [])]
    assert all("mb" not in r and "ml" not in r for r in runners)
    assert all(o["rfs"] == "emu-strategy-a" for r in runners for o in r.get("uo", []))


def test_503_window_marks_change_messages() -> None:
    pair = Pair().authenticated()
    pair.send({"op": "marketSubscription", "id": 2, "marketDataFilter": ALL})
    pair.session.stale_streams = {"mcm"}
    assert all(m["status"] == 503 for m in pair.step(3) if m["op"] == "mcm")
    pair.session.stale_streams = set()
    assert all("status" not in m for m in pair.step(3))


def test_eof_closes_without_a_status() -> None:
    pair = Pair().authenticated()
    pair.session.receive_data(b"", T0)
    assert pair.session.closed and pair.out() == [] and pair.registry.open_connections(DEFAULT_APP_KEY) == 0
