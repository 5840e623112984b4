"""RequestTracker and SubscriptionLog: response matching and what is re-sent after a reconnect."""

from __future__ import annotations

from imgfeed.runtime.requests import PendingRequest, RequestTracker, SubscriptionLog
from imgfeed.errors import RateLimitedError


def pending(tracker: RequestTracker, connection: int = 1, with_id: bool = True) -> PendingRequest:
    p = PendingRequest("subscribe", {}, tracker.next_id() if with_id else None, connection)
    tracker.add(p)
    return p


def test_responses_are_matched_by_request_id_in_any_order() -> None:
    tracker = RequestTracker()
    first, second = pending(tracker), pending(tracker)
    assert tracker.resolve("resp-2", second.request_id, None) is second
    assert tracker.resolve("resp-1", first.request_id, None) is first
    assert (first.response, second.response) == ("resp-1", "resp-2")
    assert first.done.is_set() and len(tracker) == 0


def test_a_response_without_id_answers_the_oldest_request() -> None:
    tracker = RequestTracker()
    first, second = pending(tracker, with_id=False), pending(tracker, with_id=False)
    assert tracker.resolve("a", None, None) is first
    assert tracker.resolve("b", None, None) is second


def test_an_unknown_id_matches_nothing() -> None:
    tracker = RequestTracker()
    p = pending(tracker)
    assert tracker.resolve("stray", "999", None) is None
    assert not p.done.is_set()


def test_the_error_is_kept_for_the_caller() -> None:
    tracker = RequestTracker()
    p = pending(tracker)
    error = RateLimitedError("API limit breached")
    tracker.resolve("resp", p.request_id, error)
    assert p.error is error


def test_requests_of_a_lost_connection_are_marked_lost_and_others_kept() -> None:
    tracker = RequestTracker()
    old, new = pending(tracker, connection=1), pending(tracker, connection=2)
    assert tracker.connection_lost(1) == [old]
    assert old.lost and old.done.is_set()
    assert not new.done.is_set() and len(tracker) == 1


def test_a_callback_runs_when_the_request_completes() -> None:
    tracker = RequestTracker()
    seen = []
    p = PendingRequest("subscribe", {}, tracker.next_id(), 1, callback=seen.append)
    tracker.add(p)
    tracker.resolve("ok", p.request_id, None)
    assert seen == [p]


def test_subscription_log_replays_what_is_in_force() -> None:
    log = SubscriptionLog()
    log.record("subscribe", {"event_ids": ["ev.1"]})
    log.record("subscribe", {"event_ids": ["ev.1"]})  # the same twice is one
    log.record("subscribe", {"market_ids": ["m9"]})
    log.record("unsubscribe", {"event_ids": ["ev.1"]})  # exactly undoes the first
    log.record("unsubscribe", {"market_type_ids": ["mt.top5"]})  # partial: kept, in order
    assert log.entries() == [("subscribe", {"market_ids": ["m9"]}), ("unsubscribe", {"market_type_ids": ["mt.top5"]})]
    assert log.active == [{"market_ids": ["m9"]}]
    log.record("unsubscribe", {})  # everything
    assert log.entries() == []
