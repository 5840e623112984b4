"""ImgAdapter: what the runtime learns from the IMG protocol (sessions, heartbeats, responses)."""

from __future__ import annotations

import ujson

from imgfeed import ImgAdapter, RateLimitedError, RequestError
from imgfeed.feeds.img.protocol.codec import decode_line


def rec(obj: dict) -> object:
    return decode_line(ujson.dumps(obj).encode())


def test_handshake_is_init() -> None:
    assert ujson.loads(ImgAdapter().handshake()) == {"request": "init", "msg": {}}
    assert ujson.loads(ImgAdapter(include_finished=True).handshake())["msg"] == {"include_finished": True}


def test_the_init_response_or_any_push_proves_the_session() -> None:
    adapter = ImgAdapter()
    init = rec({"mode": "resp", "status": "session initialized", "session_id": "abc", "reason": None})
    assert adapter.session_started(init) == (True, "abc")
    sport = rec({"mode": "push", "type": "sport", "msg": {"id": "sp.golf", "name": "Golf"}})
    assert adapter.session_started(sport) == (True, None)  # Mustard mode
    closing = rec({"mode": "push", "status": "error", "reason": "max connections hit"})
    assert adapter.session_started(closing) == (False, None)  # a refusal is not a session


def test_responses_and_their_errors() -> None:
    adapter = ImgAdapter()
    ok = rec({"mode": "resp", "status": "ok", "request_id": "7"})
    limited = rec({"mode": "resp", "status": "error", "msg": "API limit breached", "request_id": "8"})
    failed = rec({"mode": "resp", "status": "error", "msg": "bad filter"})
    assert adapter.response_id(ok) == (True, "7") and adapter.response_error(ok) is None
    assert adapter.response_id(limited) == (True, "8")
    assert isinstance(adapter.response_error(limited), RateLimitedError)
    error = adapter.response_error(failed)
    assert type(error) is RequestError and "bad filter" in str(error)


def test_closing_reasons_and_which_must_wait() -> None:
    adapter = ImgAdapter()
    closing = rec({"mode": "push", "status": "error", "reason": "slow reader"})
    assert adapter.closing_reason(closing) == "slow reader"
    assert not adapter.must_wait("slow reader")
    assert adapter.must_wait("max connections hit") and adapter.must_wait("connection rate limit hit")
    assert adapter.is_heartbeat(rec({"mode": "push", "type": "heartbeat", "msg": {}}))
