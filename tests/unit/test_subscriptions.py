"""SubscriptionState: the service's rule, kept compact, checked against a model of the server."""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from hypothesis import given
from hypothesis import strategies as st

from imgfeed.feeds.img.subscriptions import SubscriptionState, may_cover
from tests.unit.strategies import property_settings

#: A small offering: market id -> (event id, market type id).
OFFERING: Dict[str, Tuple[str, str]] = {
    f"m{e}{t}{n}": (f"ev.{e}", f"mt.{t}") for e in (1, 2) for t in ("win", "top5") for n in (1, 2)
}

Op = Tuple[bool, Dict[str, List[str]]]


def server_says_subscribed(ops: List[Op], market_id: str) -> bool:
    """The simulator's rule: the latest request whose filter matches the market decides."""
    event, mtype = OFFERING[market_id]
    values = {"event_ids": event, "market_type_ids": mtype, "market_ids": market_id}
    for subscribe, msg in reversed(ops):
        if all(values[k] in ids for k, ids in msg.items()):
            return subscribe
    return False


def lists(values: List[str]) -> st.SearchStrategy[Optional[List[str]]]:
    return st.one_of(st.none(), st.lists(st.sampled_from(values), min_size=1, max_size=3))


@st.composite
def ops(draw: st.DrawFn) -> Op:
    msg = {}
    for key, values in (
        ("event_ids", ["ev.1", "ev.2"]),
        ("market_type_ids", ["mt.win", "mt.top5"]),
        ("market_ids", sorted(OFFERING)),
    ):
        chosen = draw(lists(values))
        if chosen is not None:
            msg[key] = chosen
    return draw(st.booleans()), msg


def state_after(sequence: List[Op]) -> SubscriptionState:
    state = SubscriptionState()
    for subscribe, msg in sequence:
        state.confirmed(subscribe, msg)
    return state


@property_settings
@given(st.lists(ops(), max_size=12))
def test_the_compacted_state_wants_exactly_what_the_server_subscribed(sequence: List[Op]) -> None:
    state = state_after(sequence)
    for market_id, (event, mtype) in OFFERING.items():
        assert state.wants(market_id, event, mtype) == server_says_subscribed(sequence, market_id), (
            market_id,
            state,
        )


@property_settings
@given(st.lists(ops(), max_size=12))
def test_asked_after_every_request_it_answers_for_the_requests_so_far(sequence: List[Op]) -> None:
    # The book asks on every market_update, and the state remembers its answers: each confirmed
    # request must make it forget them.
    state = SubscriptionState()
    for done, (subscribe, msg) in enumerate(sequence, 1):
        state.confirmed(subscribe, msg)
        for market_id, (event, mtype) in OFFERING.items():
            assert state.wants(market_id, event, mtype) == server_says_subscribed(sequence[:done], market_id)
            assert state.wants(market_id, event, mtype) == server_says_subscribed(sequence[:done], market_id)


@property_settings
@given(st.lists(ops(), max_size=12))
def test_replaying_the_state_on_a_fresh_server_reproduces_it(sequence: List[Op]) -> None:
    """What a reconnect re-sends has the same effect on a new session as the whole history."""
    replayed = [(s.is_subscribe, s.msg()) for s in state_after(sequence).in_force()]
    for market_id in OFFERING:
        assert server_says_subscribed(replayed, market_id) == server_says_subscribed(sequence, market_id)
    assert len(replayed) <= len(sequence)


def test_filters_are_sets() -> None:
    state = state_after([(True, {"event_ids": ["a", "b"]}), (False, {"event_ids": ["b", "a"]})])
    assert state.in_force() == ()


def test_pairs_that_cancel_leave_nothing() -> None:
    sequence: List[Op] = []
    for i in range(5000):
        sequence += [(True, {"market_ids": [f"x{i}"]}), (False, {"market_ids": [f"x{i}"]})]
    assert state_after(sequence).in_force() == ()


def test_an_unsubscribe_of_nothing_subscribed_is_not_kept() -> None:
    assert state_after([(False, {"market_ids": [f"x{i}"]}) for i in range(50)]).in_force() == ()


def test_an_unsubscribe_narrows_a_subscribe_of_the_same_shape() -> None:
    state = state_after([(True, {"event_ids": ["E1", "E2"]}), (False, {"event_ids": ["E1"]})])
    assert [(s.action, s.msg()) for s in state.in_force()] == [("subscribe", {"event_ids": ["E2"]})]


def test_subscribes_of_the_same_shape_are_joined() -> None:
    state = state_after([(True, {"market_ids": [f"x{i}"]}) for i in range(100)])
    assert len(state.in_force()) == 1 and len(state.in_force()[0].msg()["market_ids"]) == 100


def test_toggling_markets_off_and_on_under_a_subscribe_all_is_bounded() -> None:
    sequence: List[Op] = [(True, {})]
    for i in range(50):
        sequence += [(False, {"market_ids": [f"x{i}"]}), (True, {"market_ids": [f"x{i}"]})]
    assert len(state_after(sequence).in_force()) <= 2


def test_what_may_cover_a_market_outside_the_offering() -> None:
    assert may_cover({}, "m1") and may_cover({"event_ids": ["E1"]}, "m1")
    assert may_cover({"market_ids": ["m1", "m2"]}, "m1") and not may_cover({"market_ids": ["m2"]}, "m1")
