"""The simulator's sans-IO session: bytes in, records out, with the clock passed in. No sockets.

Each test builds a session, feeds it request bytes, and decodes what it wants to send with the
client's own protocol core (``FeedDecoder``), so the assertions are on the records a client gets.
"""

from __future__ import annotations

from typing import Any, List, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgfeed.errors import ProtocolError
from imgfeed.feeds.img.protocol import (
    Competition,
    Event,
    FeedDecoder,
    Heartbeat,
    InitResponse,
    Market,
    MarketType,
    MarketUpdate,
    RateLimited,
    RemoveMarkets,
    Response,
    ServerClosing,
    Sport,
    encode_message,
    init_request,
    subscribe_request,
    unsubscribe_request,
)
from imgfeed.feeds.img.simulator import (
    Scenario,
    ScenarioConfig,
    ServerSession,
    SessionConfig,
    SessionState,
)

T0 = 1_700_000_000.0
CONFIG = SessionConfig(heartbeat_interval=3.0, init_timeout=10.0)


class Pair:
    """A session and a client-side decoder joined by bytes (compare h11's ConnectionPair)."""

    def __init__(self, config: SessionConfig = CONFIG, scenario: Optional[Scenario] = None, **scenario_options: Any) -> None:
        self.scenario = scenario or Scenario(ScenarioConfig.of_size("tiny", seed=3, **scenario_options), clock=lambda: T0)
        self.session = ServerSession(config, self.scenario, T0, session_id="s-1")
        self.scenario.add_listener(self.session.deliver)
        self.decoder = FeedDecoder()

    def send(self, data: Any, now: float = T0) -> List[Any]:
        if not isinstance(data, bytes):
            data = data.to_bytes() if hasattr(data, "to_bytes") else encode_message(data)
        self.session.receive_data(data, now)
        return self.read()

    def tick(self, now: float) -> List[Any]:
        self.session.tick(now)
        return self.read()

    def read(self) -> List[Any]:
        data = self.session.data_to_send()
        return self.decoder.feed(data) if data else []  # feed(b"") would mean end of stream

    def init(self, **kwargs: Any) -> List[Any]:
        return self.send(init_request(**kwargs))


def kinds(records: List[Any]) -> List[type]:
    return [type(r) for r in records]


def test_init_response_then_snapshot_in_documented_order() -> None:
    pair = Pair()
    records = pair.init(request_id="i1")
    response = records[0]
    assert isinstance(response, InitResponse)
    assert (response.status, response.session_id, response.request_id, response.reason) == (
        "session initialized", "s-1", "i1", None,
    )
    assert list(response.raw) == ["mode", "status", "session_id", "request_id", "publish_time", "reason"]
    order = [Sport, Competition, Event, MarketType, Market]
    rest = kinds(records[1:])
    assert rest == sorted(rest, key=order.index) and set(rest) == set(order)
    assert len([r for r in records if isinstance(r, Sport)]) == 1
    # Every market type in the snapshot has a market in it, and every market's type is announced.
    types = {r.id for r in records if isinstance(r, MarketType)}
    assert types == {r.market_type_id for r in records if isinstance(r, Market)}
    assert pair.session.is_initialised


def test_session_ids_are_fresh() -> None:
    scenario = Scenario(ScenarioConfig.of_size("tiny"))
    ids = {ServerSession(CONFIG, scenario, T0).session_id for _ in range(20)}
    assert len(ids) == 20


def test_nothing_is_pushed_before_init() -> None:
    pair = Pair()
    assert pair.tick(T0 + 9.9) == []
    pair.scenario.step(updates=5)
    assert pair.read() == []


def test_no_init_sent_closes_with_the_error_push() -> None:
    pair = Pair()
    assert pair.tick(T0 + 9.99) == []
    [closing] = pair.tick(T0 + 10.0)
    assert isinstance(closing, ServerClosing)
    assert (str(closing.reason), closing.session_id) == ("no init sent", "s-1")
    assert pair.session.closed and pair.session.close_reason == "no init sent"
    assert pair.send(init_request()) == []  # a closed session ignores input


def test_heartbeats_every_interval_with_publish_time_and_timestamp() -> None:
    pair = Pair()
    pair.init()
    assert pair.tick(T0 + 2.9) == []
    [hb] = pair.tick(T0 + 3.0)
    assert isinstance(hb, Heartbeat)
    assert hb.publish_time is not None and hb.timestamp == hb.publish_time
    assert hb.timestamp.timestamp() == pytest.approx(T0 + 3.0)
    assert pair.tick(T0 + 5.9) == []
    assert kinds(pair.tick(T0 + 6.0)) == [Heartbeat]
    # Far behind (a stalled server): one heartbeat, then the normal rhythm, never a burst.
    assert kinds(pair.tick(T0 + 60.0)) == [Heartbeat]
    assert pair.tick(T0 + 62.9) == []
    assert pair.session.next_deadline() == pytest.approx(T0 + 63.0)


def test_stopped_heartbeats() -> None:
    pair = Pair()
    pair.init()
    pair.session.heartbeats_enabled = False
    assert pair.tick(T0 + 30.0) == []
    assert pair.session.next_deadline() is None
    pair.session.heartbeats_enabled = True
    assert kinds(pair.tick(T0 + 30.0)) == [Heartbeat]


def test_subscribe_echoes_request_id_then_one_image_per_matching_market() -> None:
    pair = Pair()
    pair.init()
    event_id = pair.scenario.event_ids(include_finished=False)[0]
    records = pair.send(subscribe_request(event_ids=[event_id], market_type_ids=["mt.winonly", "mt.top3"], request_id="7"))
    assert isinstance(records[0], Response) and records[0].is_ok and records[0].request_id == "7"
    updates = records[1:]
    assert all(isinstance(u, MarketUpdate) for u in updates)
    assert {u.market_id for u in updates} == {f"golf_{event_id[8:]}_winonly", f"golf_{event_id[8:]}_top3"}
    for u in updates:
        assert u.raw["msg"] == pair.scenario.market_image(u.market_id)


def test_live_updates_only_for_subscribed_markets_and_unsubscribe_stops_them() -> None:
    pair = Pair()
    pair.init()
    pair.send(subscribe_request(market_type_ids=["mt.threeball_hole"]))
    for _ in range(20):
        pair.scenario.step(updates=5, advance=False)
        for record in pair.read():
            assert isinstance(record, MarketUpdate)
            assert "threeball" in record.market_id
    [ok] = pair.send(unsubscribe_request(market_type_ids=["mt.threeball_hole"], request_id="u"))
    assert ok.is_ok and ok.request_id == "u"
    pair.scenario.step(updates=30, advance=False)
    assert pair.read() == []


def test_empty_subscribe_means_everything_including_new_markets() -> None:
    pair = Pair()
    pair.init()
    pair.send(subscribe_request())
    assert pair.session.subscribed_market_ids == set(pair.scenario.market_ids(include_finished=False))
    # Run until a new tournament is announced: its markets are subscribed as they appear.
    new_markets: List[str] = []
    for _ in range(200):
        pair.scenario.step(updates=0)
        new_markets += [r.id for r in pair.read() if isinstance(r, Market) and str(r.stage) == "pre_play"]
        if new_markets:
            break
    assert new_markets and set(new_markets) <= pair.session.subscribed_market_ids


def test_remove_markets_reaches_every_session_and_drops_the_subscription() -> None:
    pair = Pair()
    pair.init(include_finished=True)
    pair.send(subscribe_request())
    finished = [e for e in pair.scenario.event_ids() if pair.scenario.event_stage(e) == "ended"]
    assert finished
    removed: List[RemoveMarkets] = []
    for _ in range(20):
        pair.scenario.step(updates=0)
        removed += [r for r in pair.read() if isinstance(r, RemoveMarkets)]
        if removed:
            break
    assert removed and all(mid not in pair.session.subscribed_market_ids for mid in removed[0].market_ids)


@pytest.mark.parametrize(
    "line, expected",
    [
        (b"not json\n", "malformed request: invalid JSON"),
        (b"[1, 2]\n", "malformed request: expected a JSON object"),
        (b'{"msg": {}}\n', 'malformed request: missing or non-string "request"'),
        (b'{"request": "init", "msg": []}\n', 'malformed request: "msg" must be an object'),
        (b'{"request": "fly", "request_id": "f", "msg": {}}\n', "unknown request 'fly'"),
        (b'{"request": "init", "msg": {"include_finished": "yes"}}\n', "include_finished must be true or false"),
        (b'{"request": "init", "msg": {"colour": 1}}\n', "unknown key(s) in init msg: colour"),
    ],
)
def test_bad_requests_get_an_error_response_that_says_what_was_wrong(line: bytes, expected: str) -> None:
    pair = Pair()
    [response] = pair.send(line)
    assert isinstance(response, Response) and response.status == "error"
    assert expected in response.error_text
    assert not pair.session.closed


@pytest.mark.parametrize(
    "msg, expected",
    [
        ({"event_ids": "ev.golf_1"}, "event_ids must be a list of strings"),
        ({"market_ids": [1, 2]}, "market_ids must be a list of strings"),
        ({"sport_ids": ["sp.golf"]}, "unknown key(s) in subscribe msg: sport_ids"),
    ],
)
def test_bad_subscription_filters(msg: dict, expected: str) -> None:
    pair = Pair()
    pair.init()
    [response] = pair.send({"request": "subscribe", "request_id": "b", "msg": msg})
    assert response.status == "error" and response.request_id == "b" and expected in response.error_text
    assert pair.session.subscribed_market_ids == set()


def test_subscribe_before_init_and_a_second_init_are_refused() -> None:
    pair = Pair()
    [early] = pair.send(subscribe_request(request_id="e"))
    assert early.status == "error" and "send init first" in early.error_text
    pair.init()
    [again] = pair.send(init_request(request_id="2"))
    assert again.status == "error" and "already initialized" in again.error_text


def test_request_rate_limit_window() -> None:
    pair = Pair(SessionConfig(request_rate_limit=2, request_rate_window=1.0))
    pair.init()  # 1
    assert kinds(pair.send(unsubscribe_request(request_id="a"), now=T0 + 0.1)) == [Response]  # 2
    [limited] = pair.send(unsubscribe_request(request_id="b"), now=T0 + 0.2)
    assert isinstance(limited, RateLimited) and limited.request_id == "b"
    assert limited.raw["msg"] == "API limit breached"
    # The window slides: a second later requests are carried out again.
    assert kinds(pair.send(unsubscribe_request(request_id="c"), now=T0 + 1.05)) == [Response]


def test_forced_rate_limit_applies_to_the_next_requests_only() -> None:
    pair = Pair()
    pair.session.rate_limit_next(1)
    [limited] = pair.send(init_request())
    assert isinstance(limited, RateLimited) and "request_id" not in limited.raw
    assert not pair.session.is_initialised  # the request was not carried out
    assert isinstance(pair.init()[0], InitResponse)


def test_close_with_each_reason_and_without() -> None:
    pair = Pair()
    pair.init()
    pair.session.close("service error", T0 + 1)
    [closing] = pair.read()
    assert isinstance(closing, ServerClosing) and str(closing.reason) == "service error"
    assert "type" not in closing.raw
    silent = Pair()
    silent.session.close(None, T0)
    assert silent.read() == [] and silent.session.state is SessionState.CLOSED


def test_eof_from_the_client_closes_without_a_push() -> None:
    pair = Pair()
    pair.init()
    assert pair.send(b"") == []
    assert pair.session.closed and pair.session.close_reason is None


def test_requests_split_anywhere_and_crlf() -> None:
    pair = Pair()
    data = b'{"request": "init", "request_id": "\xc3\xa9", "msg": {}}\r\n'
    records: List[Any] = []
    for i in range(len(data)):
        records += pair.send(data[i : i + 1])
    assert isinstance(records[0], InitResponse) and records[0].request_id == "é"


def test_over_long_request_line_is_refused_and_the_session_goes_on() -> None:
    pair = Pair(SessionConfig(max_request_length=100))
    [response] = pair.send(b'{"request": "init", "msg": {"pad": "' + b"x" * 200 + b'"}}\n')
    assert response.status == "error" and "malformed request" in response.error_text
    assert isinstance(pair.init()[0], InitResponse)


def test_mustard_mode() -> None:
    pair = Pair(SessionConfig(mustard=True))
    records = pair.init(include_finished=True)
    assert not any(isinstance(r, InitResponse) for r in records)
    assert isinstance(records[0], Sport)
    assert all("publish_time" not in r.raw for r in records)
    assert all(not any(k.startswith("arena_") for k in r.raw["msg"]) for r in records if isinstance(r, (Event, Market)))
    assert not pair.session.include_finished  # the Mustard service had no include_finished
    pair.send(subscribe_request())
    pair.scenario.step(updates=3, advance=False)
    updates = pair.read()
    assert updates and all("publish_time" not in r.raw for r in updates)
    [hb] = pair.tick(T0 + 3.0)
    assert isinstance(hb, Heartbeat) and hb.publish_time is None and hb.timestamp is not None


def test_include_finished_adds_ended_tournaments() -> None:
    plain = Pair().init()
    finished = Pair().init(include_finished=True)
    stages = lambda rs: {str(r.stage) for r in rs if isinstance(r, Event)}  # noqa: E731
    assert "ended" not in stages(plain)
    assert "ended" in stages(finished)
    assert len([r for r in finished if isinstance(r, Market)]) > len([r for r in plain if isinstance(r, Market)])


def test_send_raw_is_queued_in_order() -> None:
    pair = Pair()
    pair.init()
    pair.session.send_raw(b"garbage\n")
    [bad] = pair.read()
    assert isinstance(bad, ProtocolError)


# --- robustness: whatever a client sends, the session answers every line and stays well-formed ---

_LINES = st.one_of(
    st.binary(max_size=40).filter(lambda b: b"\n" not in b),
    st.sampled_from(
        [
            b'{"request": "init", "msg": {}}',
            b'{"request": "subscribe", "request_id": "r", "msg": {}}',
            b'{"request": "unsubscribe", "msg": {"event_ids": []}}',
            b'{"request": 5}',
            b'{"request": "init", "request_id": 3.5}',
            b"\xff\xfe",
            b"",
        ]
    ),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_LINES, max_size=8), st.integers(1, 7))
def test_every_line_gets_exactly_one_response(lines: List[bytes], chunk: int) -> None:
    pair = Pair()
    data = b"".join(line + b"\n" for line in lines)
    records: List[Any] = []
    for i in range(0, len(data), chunk):
        records += pair.send(data[i : i + chunk])
    responses = [r for r in records if isinstance(r, (Response, InitResponse, RateLimited))]
    assert not any(isinstance(r, ProtocolError) for r in records)  # the server only sends valid lines
    assert len(responses) == sum(1 for line in lines if line.strip())
