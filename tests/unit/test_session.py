"""The session state machine (runtime/session.py): its table, its handshake and its deadlines."""

from __future__ import annotations

from typing import Any, Dict

import pytest

from imgfeed.runtime.events import DisconnectReason
from imgfeed.runtime.session import DONE, TRANSITIONS, Await, End, Liveness, Phase, Send, Session

LIVE = Liveness(silence_timeout=10.0, heartbeat_timeout=5.0, handshake_timeout=15.0)


def answered(expected: str) -> Await:
    def accept(record: Any, facts: Dict[str, Any]) -> Any:
        if record == expected:
            facts["session_id"] = f"id-{record}"
            return DONE
        if record == "refused":
            return End(DisconnectReason.SERVER_CLOSING, "refused")
        return None

    return Await(f"answer {expected}", accept)


def session(*steps: Any, liveness: Liveness = LIVE) -> Session:
    s = Session(1, steps, liveness, now=100.0)
    s.opened(100.0)
    return s


def test_the_table_allows_only_its_moves() -> None:
    s = Session(1, (), LIVE, now=0.0)
    with pytest.raises(RuntimeError, match="no transition from connecting on 'restored'"):
        s.restored()
    assert (Phase.LIVE, "handshake_done") not in TRANSITIONS
    assert all((p, "closed") in TRANSITIONS for p in Phase if p is not Phase.CLOSED)


def test_a_handshake_of_send_then_await() -> None:
    send = Send("hello", lambda facts: b"hello\n")
    s = session(send, answered("welcome"))
    assert s.pending_send() is send
    s.sent()
    assert s.pending_send() is None
    assert s.offer("noise") is None and not s.handshake_complete
    assert s.offer("welcome") == DONE and s.handshake_complete and s.facts["session_id"] == "id-welcome"
    assert s.owed == []


def test_an_answer_before_the_send_leaves_the_send_owed() -> None:
    """A server that answers before the watchdog got to sending (Mustard pushes, a replay)."""
    send = Send("init", lambda facts: b"init\n")
    s = session(send, answered("push"))
    assert s.offer("push") == DONE and s.handshake_complete
    s.up(100.5, 1)
    assert s.pending_send() is send  # still sent, after the session is up
    s.sent()
    assert s.pending_send() is None and s.owed == []


def test_a_failed_handshake_step_ends_it() -> None:
    result = session(answered("welcome")).offer("refused")
    assert isinstance(result, End) and result.reason is DisconnectReason.SERVER_CLOSING


def test_silence_counts_from_the_connection_and_the_handshake_has_a_deadline() -> None:
    s = session(answered("welcome"))
    assert s.check(105.0) == (None, False)
    end, late = s.check(110.5)  # nothing at all since the transport opened
    assert end is not None and end.reason is DisconnectReason.SILENCE and not late
    s = session(answered("welcome"))
    for t in range(101, 116):
        s.message(float(t))  # messages flow, but not the answer
    end, _ = s.check(115.5)
    assert end is not None and end.reason is DisconnectReason.INIT_TIMEOUT and "answer welcome" in end.detail


def test_late_heartbeats_are_said_once_and_a_heartbeat_ends_them() -> None:
    s = session(answered("welcome"))
    s.offer("welcome")
    s.up(100.0, 1)
    s.message(104.0)
    assert s.check(104.0) == (None, False)
    s.message(105.5)
    assert s.check(105.5) == (None, True)
    assert s.check(105.6) == (None, False)  # said once
    assert s.heartbeat(106.0) is True and s.heartbeat(106.5) is False


def test_next_deadline_is_the_earliest_that_can_fire() -> None:
    s = session(answered("welcome"))
    assert s.next_deadline() == 110.0  # silence before the handshake deadline (115)
    s.offer("welcome")
    s.up(101.0, 1)
    s.message(101.0)
    assert s.next_deadline() == 106.0  # the heartbeat deadline
    s.close(End(DisconnectReason.USER_STOP))
    assert s.next_deadline() is None and s.retired


def test_the_first_end_wins() -> None:
    s = session()
    assert s.close(End(DisconnectReason.EOF)) is True
    assert s.close(End(DisconnectReason.SILENCE)) is False
    assert s.end is not None and s.end.reason is DisconnectReason.EOF
