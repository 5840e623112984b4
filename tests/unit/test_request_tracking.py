"""RequestTracker: responses matched to requests, and what happens to requests of a lost connection."""

from __future__ import annotations

from typing import Any, List

from imgfeed.errors import RateLimitedError
from imgfeed.runtime.requests import PendingRequest, RequestSpec, RequestTracker

SPEC = RequestSpec("subscribe", lambda request_id: b"{}\n")


def pending(tracker: RequestTracker, connection: int = 1, with_id: bool = True, spec: RequestSpec = SPEC) -> PendingRequest:
    p = PendingRequest(spec, tracker.next_id() if with_id else None, connection)
    tracker.add(p)
    return p


def test_responses_are_matched_by_request_id_in_any_order() -> None:
    tracker = RequestTracker()
    first, second = pending(tracker), pending(tracker)
    assert tracker.resolve("resp-2", second.request_id, None, []) is second
    assert tracker.resolve("resp-1", first.request_id, None, []) is first
    assert (first.response, second.response) == ("resp-1", "resp-2")
    assert first.done.is_set() and len(tracker) == 0


def test_an_id_echoed_as_a_string_matches_its_request() -> None:
    tracker = RequestTracker()
    p = pending(tracker)
    assert tracker.resolve("resp", str(p.request_id), None, []) is p


def test_a_response_without_id_answers_the_oldest_request() -> None:
    tracker = RequestTracker()
    first, second = pending(tracker, with_id=False), pending(tracker, with_id=False)
    assert tracker.resolve("a", None, None, []) is first
    assert tracker.resolve("b", None, None, []) is second


def test_an_unknown_id_matches_nothing() -> None:
    tracker = RequestTracker()
    p = pending(tracker)
    assert tracker.resolve("stray", "999", None, []) is None
    assert tracker.resolve("stray", "not-a-number", None, []) is None
    assert not p.done.is_set()


def test_the_error_is_kept_for_the_caller_and_on_success_is_not_run() -> None:
    ran: List[Any] = []
    spec = RequestSpec("subscribe", lambda request_id: b"", on_success=lambda response, out: ran.append(response))
    tracker = RequestTracker()
    p = pending(tracker, spec=spec)
    error = RateLimitedError("API limit breached")
    tracker.resolve("resp", p.request_id, error, [])
    assert p.error is error and ran == []


def test_on_success_runs_before_the_caller_wakes_and_may_add_notifications() -> None:
    seen: List[Any] = []
    tracker = RequestTracker()

    def on_success(response: Any, out: List[Any]) -> None:
        seen.append(("on_success", p.done.is_set()))
        out.append("note")

    p = pending(tracker, spec=RequestSpec("subscribe", lambda request_id: b"", on_success=on_success))
    out: List[Any] = []
    tracker.resolve("ok", p.request_id, None, out)
    assert seen == [("on_success", False)] and out == ["note"] and p.done.is_set()


def test_requests_of_a_lost_connection_are_marked_lost_and_others_kept() -> None:
    tracker = RequestTracker()
    old, new = pending(tracker, connection=1), pending(tracker, connection=2)
    assert tracker.connection_lost(1) == [old]
    assert old.lost and old.done.is_set()
    assert not new.done.is_set() and len(tracker) == 1


def test_a_callback_runs_when_the_request_completes() -> None:
    tracker = RequestTracker()
    seen: List[PendingRequest] = []
    p = PendingRequest(SPEC, tracker.next_id(), 1, callback=seen.append)
    tracker.add(p)
    tracker.resolve("ok", p.request_id, None, [])
    assert seen == [p]
