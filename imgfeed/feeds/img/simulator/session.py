"""The server side of one connection, sans-IO: request bytes in, response and push bytes out.

Contract (after h11's ``Connection``): the caller feeds what the client sent with
:meth:`ServerSession.receive_data`, calls :meth:`ServerSession.tick` when :meth:`next_deadline`
comes, hands over what the scenario emitted with :meth:`ServerSession.deliver`, and writes whatever
:meth:`ServerSession.data_to_send` returns. When :attr:`ServerSession.closed` becomes true the
caller writes the remaining bytes and closes the connection. The clock is always passed in
(seconds since the epoch, as ``time.time()``): this module has no sockets, threads or clocks, and
is not thread-safe (the server serialises calls with a lock).

The behaviour is the service's as docs/protocol.md describes it:

- ``init`` within ``init_timeout`` (10 s) or the connection is closed with "no init sent"
  (section 4); the response carries a fresh ``session_id``; then the snapshot in the documented
  order; then heartbeats every ``heartbeat_interval`` (3 s). No push before ``init``.
- ``subscribe`` / ``unsubscribe`` answer ``{"status": "ok"}`` with the ``request_id`` echoed; a
  subscribe is followed by one ``market_update`` per matching market (section 6), then live ones.
- Every request gets exactly one response: a malformed or unknown request gets an error response
  that says what was wrong; a request over the rate limit gets "API limit breached" (section 7).
- Closing with a reason sends the error push ``{"mode": "push", "status": "error", ...}`` first.
- Mustard mode (section 9): no init response, no ``publish_time``, no ``arena_*`` fields.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime, timezone
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Tuple

from imgfeed.errors import ProtocolError
from imgfeed.feeds.img.protocol.codec import (
    RATE_LIMIT_MESSAGE,
    encode_message,
    format_timestamp,
)
from imgfeed.feeds.img.protocol.requests import FILTER_KEYS, Request, decode_request
from imgfeed.feeds.img.simulator.config import SessionConfig
from imgfeed.feeds.img.simulator.scenario import (
    Emission,
    MarketInfo,
    Scenario,
    mustard_form,
)
from imgfeed.framing import LineBuffer
from imgfeed.loopback.session import OutputQueue, RequestWindow

__all__ = ["ServerSession", "SessionState", "Filter", "matches"]

#: A subscription filter: for each key of ``FILTER_KEYS`` that was given, the set of ids.
Filter = Dict[str, FrozenSet[str]]

#: Requests the simulated service understands.
KNOWN_REQUESTS = ("init", "subscribe", "unsubscribe")


class SessionState(enum.Enum):
    """Where a session is: waiting for ``init``, serving, or closed (no more output).

    Transitions (any other input leaves the state as it is)::

        AWAITING_INIT --init, valid and within the rate limit--> ACTIVE
        AWAITING_INIT --init deadline passes-------------------> CLOSED  push "no init sent"
        AWAITING_INIT, ACTIVE --close(reason)------------------> CLOSED  push reason (if any)
        AWAITING_INIT, ACTIVE --EOF from the client------------> CLOSED  no push
        CLOSED: input ignored, nothing more queued
    """

    AWAITING_INIT = "awaiting_init"
    ACTIVE = "active"
    CLOSED = "closed"


def matches(market: MarketInfo, f: Filter) -> bool:
    """True when the market matches every list of the filter (docs/protocol.md section 6)."""
    ids = f.get("event_ids")
    if ids is not None and market.event_id not in ids:
        return False
    ids = f.get("market_type_ids")
    if ids is not None and market.market_type_id not in ids:
        return False
    ids = f.get("market_ids")
    return ids is None or market.id in ids


def _timestamp(now: float) -> str:
    return format_timestamp(datetime.fromtimestamp(now, timezone.utc))


class _RequestFailed(Exception):
    """Internal: the request is refused; the message says why, for the error response."""


class ServerSession:
    """One client connection's protocol state. See the module docstring.

    Args:
        config: the session settings (timers, limits, Mustard mode).
        scenario: the feed the session serves (snapshots and subscription images).
        now: the time the connection was accepted.
        session_id: the id to report; a fresh UUID by default.
    """

    def __init__(
        self,
        config: SessionConfig,
        scenario: Scenario,
        now: float,
        session_id: Optional[str] = None,
    ) -> None:
        self.config = config
        self.scenario = scenario
        self.session_id = session_id or str(uuid.uuid4())
        self.mustard = config.mustard
        self.state = SessionState.AWAITING_INIT
        self.close_reason: Optional[str] = None
        self.include_finished = False
        #: Fault switches, set by the server's FaultController.
        self.heartbeats_enabled = True
        self.requests_received = 0
        self._forced_rate_limits = 0
        self._requests = RequestWindow()
        self._lines = LineBuffer(config.max_request_length)
        self._out = OutputQueue()
        self._init_deadline = now + config.init_timeout
        self._next_heartbeat: Optional[float] = None
        self._subscribed: set = set()
        self._filters: List[Tuple[bool, Filter]] = []

    def __repr__(self) -> str:
        return (
            f"<ServerSession {self.session_id} {self.state.value} subscribed={len(self._subscribed)}"
            f" pending={self._out.size}B{' mustard' if self.mustard else ''}>"
        )

    # --- state -----------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.state is SessionState.CLOSED

    @property
    def is_initialised(self) -> bool:
        """True once ``init`` has been received and answered, until the session closes."""
        return self.state is SessionState.ACTIVE

    @property
    def pending(self) -> int:
        """Bytes waiting in :meth:`data_to_send`."""
        return self._out.size

    @property
    def subscribed_market_ids(self) -> FrozenSet[str]:
        return frozenset(self._subscribed)

    def next_deadline(self) -> Optional[float]:
        """When :meth:`tick` next has something to do (init deadline or heartbeat), or None."""
        if self.state is SessionState.AWAITING_INIT:
            return self._init_deadline
        if self.state is SessionState.ACTIVE and self.heartbeats_enabled:
            return self._next_heartbeat
        return None

    # --- input -----------------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed bytes the client sent; ``b""`` means the client closed its side (EOF)."""
        if self.closed:
            return
        for line in self._lines.feed(data):
            if self.closed:
                return
            if isinstance(line, ProtocolError):
                self._error(None, f"malformed request: {line}", now)
                continue
            if not line.strip():
                continue
            self._request(line, now)
        if data == b"" and not self.closed:
            # The client closed its stdin: nothing more can be asked, the connection ends.
            self.state = SessionState.CLOSED
            self.close_reason = None

    def tick(self, now: float) -> None:
        """Act on the clock: the init deadline and heartbeats."""
        if self.state is SessionState.AWAITING_INIT:
            if now >= self._init_deadline:
                # docs/protocol.md 4: "Within 10 s send init. Otherwise the server closes the
                # connection with reason 'no init sent'."
                self.close("no init sent", now)
        elif self.state is SessionState.ACTIVE and self.heartbeats_enabled:
            assert self._next_heartbeat is not None
            if now >= self._next_heartbeat:
                self._heartbeat(now)
                interval = self.config.heartbeat_interval
                self._next_heartbeat += interval
                if self._next_heartbeat <= now:  # far behind (e.g. after a stall): no burst
                    self._next_heartbeat = now + interval

    def deliver(self, emissions: Iterable[Emission]) -> None:
        """Queue what the scenario emitted: structural pushes for all, updates for subscribers."""
        if self.state is not SessionState.ACTIVE:
            return
        subscribed = self._subscribed
        mustard = self.mustard
        for em in emissions:
            if em.kind == "market_update":
                if em.market is None or em.market.id not in subscribed:
                    continue
            elif em.kind == "market" and em.market is not None:
                if em.market.id not in subscribed and self._wanted(em.market):
                    subscribed.add(em.market.id)
            elif em.kind == "remove_markets":
                subscribed.difference_update(em.obj["msg"])
            self._write(em.mustard_line() if mustard else em.line)

    # --- output ----------------------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Everything queued since the last call (possibly ``b""``)."""
        return self._out.take()

    def discard_pending(self) -> int:
        """Drop queued output (before a "slow reader" close); returns the bytes dropped."""
        return self._out.discard()

    def close(self, reason: Optional[str], now: float) -> None:
        """Close the session; with a reason, queue the error push first (docs/protocol.md section 7).

        ``reason`` is normally one of the documented ones: "no init sent", "max connections
        hit", "connection rate limit hit", "slow reader", "internal disconnection requested",
        "service error". ``None`` closes without a push (an abrupt drop).
        """
        if self.closed:
            return
        if reason is not None:
            self._write_obj(
                {
                    "mode": "push",
                    "status": "error",
                    "session_id": self.session_id,
                    "reason": reason,
                    "publish_time": _timestamp(now),
                }
            )
        self.state = SessionState.CLOSED
        self.close_reason = reason

    # --- fault hooks -----------------------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        """Queue bytes as they are (a malformed or over-long line, a bare CRLF, ...)."""
        if not self.closed and data:
            self._write(bytes(data))

    def rate_limit_next(self, n: int) -> None:
        """Answer the next ``n`` requests with "API limit breached", whatever the rate."""
        self._forced_rate_limits += n

    # --- internals -------------------------------------------------------------------------------

    def _write(self, line: bytes) -> None:
        self._out.append(line)

    def _write_obj(self, obj: Dict[str, Any]) -> None:
        self._write(encode_message(mustard_form(obj) if self.mustard else obj))

    def _respond(self, request_id: Optional[str], obj: Dict[str, Any], now: float) -> None:
        if request_id is not None:
            obj["request_id"] = request_id
        obj["publish_time"] = _timestamp(now)
        self._write_obj(obj)

    def _error(self, request_id: Optional[str], text: str, now: float) -> None:
        self._respond(request_id, {"mode": "resp", "status": "error", "msg": text}, now)

    def _rate_limited(self, now: float) -> bool:
        if self._forced_rate_limits > 0:
            self._forced_rate_limits -= 1
            return True
        limit = self.config.request_rate_limit
        if limit is None:
            return False
        if self._requests.recent(now, self.config.request_rate_window) >= limit:
            return True
        self._requests.add(now)
        return False

    def _request(self, line: bytes, now: float) -> None:
        self.requests_received += 1
        try:
            request = decode_request(line)
        except ProtocolError as exc:
            self._error(None, f"malformed request: {exc}", now)
            return
        if self._rate_limited(now):
            # docs/protocol.md 7: "answered with {"status": "error", "msg": "API limit breached",
            # "request_id": ...} (request_id only if the request had one). The request was not
            # carried out."
            self._error(request.request_id, RATE_LIMIT_MESSAGE, now)
            return
        try:
            if request.name == "init":
                self._init(request, now)
            elif request.name not in KNOWN_REQUESTS:
                known = ", ".join(KNOWN_REQUESTS)
                raise _RequestFailed(f"unknown request {request.name!r} (expected one of: {known})")
            elif self.state is not SessionState.ACTIVE:
                raise _RequestFailed(f"{request.name} before init: send init first")
            else:
                self._subscription(request, now)
        except _RequestFailed as exc:
            self._error(request.request_id, str(exc), now)

    def _init(self, request: Request, now: float) -> None:
        if self.state is SessionState.ACTIVE:
            raise _RequestFailed("session already initialized: init is sent once per connection")
        include_finished = request.msg.get("include_finished", False)
        if type(include_finished) is not bool:
            raise _RequestFailed(f"include_finished must be true or false, got {include_finished!r}")
        unknown = sorted(set(request.msg) - {"include_finished"})
        if unknown:
            raise _RequestFailed(f"unknown key(s) in init msg: {', '.join(unknown)} (expected include_finished)")
        self.state = SessionState.ACTIVE
        # docs/protocol.md 9: the Mustard service had no include_finished and no init response.
        self.include_finished = include_finished and not self.mustard
        if not self.mustard:
            # The documented shape and key order (docs/protocol.md 4), request_id echoed when given.
            response: Dict[str, Any] = {"mode": "resp", "status": "session initialized", "session_id": self.session_id}
            if request.request_id is not None:
                response["request_id"] = request.request_id
            response["publish_time"] = _timestamp(now)
            response["reason"] = None
            self._write_obj(response)
        for obj in self.scenario.snapshot(now, self.include_finished):
            self._write_obj(obj)
        self._next_heartbeat = now + self.config.heartbeat_interval

    def _filter(self, request: Request) -> Filter:
        unknown = sorted(set(request.msg) - set(FILTER_KEYS))
        if unknown:
            raise _RequestFailed(
                f"unknown key(s) in {request.name} msg: {', '.join(unknown)} (expected {', '.join(FILTER_KEYS)})"
            )
        f: Filter = {}
        for key in FILTER_KEYS:
            if key not in request.msg:
                continue
            values = request.msg[key]
            if type(values) is not list or not all(type(v) is str for v in values):
                raise _RequestFailed(f"{key} must be a list of strings, got {values!r}")
            f[key] = frozenset(values)
        return f

    def _wanted(self, market: MarketInfo) -> bool:
        """Does the latest subscribe/unsubscribe that matches this (new) market subscribe it?"""
        for subscribe, f in reversed(self._filters):
            if matches(market, f):
                return subscribe
        return False

    def _subscription(self, request: Request, now: float) -> None:
        f = self._filter(request)
        subscribe = request.name == "subscribe"
        self._filters.append((subscribe, f))
        chosen = [m.id for m in self.scenario.markets(self.include_finished) if matches(m, f)]
        self._respond(request.request_id, {"mode": "resp", "status": "ok"}, now)
        if subscribe:
            self._subscribed.update(chosen)
            # docs/protocol.md 6: "The server then pushes one market_update for every matching market:
            # the full current image (the subscription snapshot)".
            for obj in self.scenario.update_messages(chosen, now):
                self._write_obj(obj)
        else:
            self._subscribed.difference_update(chosen)

    def _heartbeat(self, now: float) -> None:
        ts = _timestamp(now)
        self._write_obj({"mode": "push", "type": "heartbeat", "publish_time": ts, "msg": {"timestamp": ts}})
