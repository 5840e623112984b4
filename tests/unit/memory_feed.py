"""A scripted in-memory feed for runtime tests: each connection is a MemoryTransport the test drives.

``FakeFeed`` answers ``init`` (IMG or Mustard style) and subscribe/unsubscribe requests the way
docs/protocol.md describes, and records every connection, so a test can push messages, end streams,
and see what the client sent -- all without a network or sleeps.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, List, Optional

import paramiko
import ujson

from imgfeed import FeedConfig, Handler, ReconnectPolicy
from imgfeed.transport.memory import MemoryTransport
from tests.calls import CallRecorder, recorder_of
from tests.calls import called as called  # re-exported: the suite imports it from here

#: One key for every test: generating one costs tens of milliseconds.
_KEY: List[paramiko.PKey] = []


def test_key() -> paramiko.PKey:
    if not _KEY:
        _KEY.append(paramiko.RSAKey.generate(1024))
    return _KEY[0]


def fast_config(**overrides: Any) -> FeedConfig:
    """A config with short, test-sized deadlines (never the production 10 s / 30 s)."""
    values: Dict[str, Any] = dict(
        host="127.0.0.1",
        username="trader",
        pkey=test_key(),
        known_hosts=None,
        host_key_policy="insecure-accept-any",
        heartbeat_timeout=0.3,
        silence_timeout=0.6,
        init_timeout=0.5,
        connect_timeout=2.0,
        request_timeout=5.0,
        read_timeout=0.05,
        reconnect=ReconnectPolicy(interval=0.05, first_delay=0.0, jitter=0.0, min_delay=0.05),
    )
    values.update(overrides)
    return FeedConfig(**values)


def push(mtype: str, msg: Any, **extra: Any) -> Dict[str, Any]:
    return {"mode": "push", "type": mtype, "publish_time": "2025-03-14 08:50:11.331473", "msg": msg, **extra}


def market_update(market_id: str, status: str = "open", price: float = 2.5) -> Dict[str, Any]:
    return push(
        "market_update",
        {"id": market_id, "status": status, "selections": [{"id": "g:1", "name": "A", "price": price, "status": "open"}]},
    )


class FakeFeed:
    """Builds a transport per connection attempt; answers like the service.

    Args:
        mustard: no init response (docs/protocol.md 9).
        answer_init: answer init at all (False: the session never comes up).
        markets: market ids in the snapshot; a subscribe gets an image for each.
    """

    def __init__(self, mustard: bool = False, answer_init: bool = True, markets: tuple = ("m1", "m2")) -> None:
        self.mustard = mustard
        self.answer_init = answer_init
        self.markets = list(markets)
        self.connections: List[MemoryTransport] = []
        self.requests: List[Dict[str, Any]] = []
        self.rate_limit_next = 0
        self.connect_errors: List[BaseException] = []
        self.on_request: Optional[Callable[[MemoryTransport, Dict[str, Any]], bool]] = None
        self._cond = threading.Condition()

    def __call__(self) -> MemoryTransport:
        error = self.connect_errors.pop(0) if self.connect_errors else None
        t = MemoryTransport(self._respond, connect_error=error, read_timeout=0.02)
        with self._cond:
            self.connections.append(t)
            self._cond.notify_all()
        return t

    def wait_connections(self, n: int, timeout: float = 5.0) -> MemoryTransport:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.connections) >= n, timeout), f"no connection #{n}"
            return self.connections[n - 1]

    def wait_requests(self, predicate: Callable[[List[Dict[str, Any]]], bool], timeout: float = 5.0) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: predicate(self.requests), timeout), self.requests

    def snapshot(self, t: MemoryTransport) -> None:
        t.push_message(push("sport", {"id": "sp.golf", "name": "Golf"}))
        t.push_message(push("event", {"id": "ev.1", "name": "The Players"}))
        for m in self.markets:
            t.push_message(push("market", {"id": m, "name": m, "event_id": "ev.1", "tags": ["mt.winonly", "ev.1"]}))

    def _respond(self, t: MemoryTransport, line: bytes) -> None:
        req = ujson.loads(line)
        with self._cond:
            self.requests.append(req)
            self._cond.notify_all()
        if self.on_request is not None and self.on_request(t, req):
            return
        name, rid = req["request"], req.get("request_id")
        if name == "init":
            if not self.answer_init:
                return
            if not self.mustard:
                t.push_message(
                    {"mode": "resp", "status": "session initialized", "session_id": f"s{len(self.connections)}", "reason": None}
                )
            self.snapshot(t)
            t.push_message(push("heartbeat", {"timestamp": "2025-03-14 08:50:11.331473"}))
            return
        if self.rate_limit_next:
            self.rate_limit_next -= 1
            resp: Dict[str, Any] = {"mode": "resp", "status": "error", "msg": "API limit breached"}
            if rid is not None:
                resp["request_id"] = rid
            t.push_message(resp)
            return
        if name in ("subscribe", "unsubscribe"):
            t.push_message({"mode": "resp", "status": "ok", "request_id": rid})
            if name == "subscribe":
                for m in self.markets:
                    t.push_message(market_update(m))
            return
        t.push_message({"mode": "resp", "status": "error", "request_id": rid, "msg": f"unknown request {name}"})


class Recorder(CallRecorder, Handler):
    """A handler that records every IMG callback as ``(method, args)``, in order, and lets a test wait."""

    noisy = "on_heartbeat"
    noisy_label = "heartbeats"


recorder_of(Recorder, Handler)
