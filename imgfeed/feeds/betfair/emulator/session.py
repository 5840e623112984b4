"""The server side of one ESA connection, sans-IO: request bytes in, response and change bytes out.

Contract (after h11's ``Connection``, as the IMG simulator's session): the caller feeds what the
client sent with :meth:`ServerSession.receive_data`, calls :meth:`ServerSession.tick` when
:meth:`~ServerSession.next_deadline` comes, hands over each scenario batch with
:meth:`~ServerSession.deliver`, tells the session with :meth:`~ServerSession.set_output_blocked`
when the client stops reading, and writes whatever :meth:`~ServerSession.data_to_send` returns.
When :attr:`~ServerSession.closed` becomes true the caller writes the remaining bytes and closes
the connection. The clock is passed in (epoch seconds); no sockets, threads or clocks here, and
no locking: the server serialises calls (scenario lock, then the connection's lock).

Betfair's rules, as its specification states them:

- On connect: ``{"op":"connection","connectionId":...}``. The client must authenticate within
  ``auth_timeout`` (15 s) or gets ``TIMEOUT``. Nothing but ``authentication`` is served before.
- Every request gets a ``status`` with its ``id``; the authentication one has
  ``connectionsAvailable``. Every error but ``SUBSCRIPTION_LIMIT_EXCEEDED`` closes the connection
  (``connectionClosed: true``).
- A new market (order) subscription replaces the previous market (order) subscription; its image
  follows its status. With valid ``initialClk`` and ``clk`` a ``RESUB_DELTA`` replaces the image.
"""

from __future__ import annotations

import enum
import json
from typing import Any, Callable, Dict, Optional, Tuple

from imgfeed.errors import ProtocolError
from imgfeed.feeds.betfair.emulator import wire
from imgfeed.feeds.betfair.emulator.clocks import ClockError
from imgfeed.feeds.betfair.emulator.config import EmulatorConfig
from imgfeed.feeds.betfair.emulator.filters import InvalidRequest
from imgfeed.feeds.betfair.emulator.registry import ConnectionRegistry
from imgfeed.feeds.betfair.emulator.scenario import Batch, Scenario
from imgfeed.feeds.betfair.emulator.subscription import (
    Message,
    Subscription,
    SubscriptionRequest,
)
from imgfeed.framing import LineBuffer
from imgfeed.loopback.session import OutputQueue, RequestWindow

__all__ = ["ServerSession", "SessionState"]

_OPS = ("authentication", "heartbeat", "marketSubscription", "orderSubscription")


class SessionState(enum.Enum):
    """Where a connection is.

    Transitions (any other input leaves the state as it is)::

        AWAITING_AUTH --authentication accepted-----------------> AUTHENTICATED
        AWAITING_AUTH --auth_timeout passes---------------------> CLOSED  status TIMEOUT
        any           --an error other than the subscription limit-> CLOSED  status FAILURE
        any           --close() or EOF from the client----------> CLOSED  no status
        CLOSED: input ignored, nothing more queued
    """

    AWAITING_AUTH = "awaiting_auth"
    AUTHENTICATED = "authenticated"
    CLOSED = "closed"


class _Failure(Exception):
    def __init__(self, code: str, message: Optional[str] = None) -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message


class ServerSession:
    """One client connection's ESA state. See the module docstring.

    Args:
        config: credentials, limits and timers.
        scenario: the exchange whose markets and orders are served.
        registry: open connections per app key, shared by the server's sessions.
        now: when the connection was accepted.
        connection_id: the id to send in the ``connection`` message.
        forced_failure: asked before each request with its op (and whether it carries clocks):
            an (error code, message) to answer with instead, or None (the fault controller's hook).
    """

    def __init__(
        self,
        config: EmulatorConfig,
        scenario: Scenario,
        registry: ConnectionRegistry,
        now: float,
        connection_id: str,
        forced_failure: Optional[Callable[[str, bool], Optional[Tuple[str, Optional[str]]]]] = None,
    ) -> None:
        self.config = config
        self.scenario = scenario
        self.registry = registry
        self.connection_id = connection_id
        self.state = SessionState.AWAITING_AUTH
        self.app_key: Optional[str] = None
        self.close_code: Optional[str] = None
        self.subscriptions: Dict[str, Subscription] = {}
        #: Fault switches, set by the server's fault controller.
        self.heartbeats_enabled = True
        self.stale_streams: set = set()
        self.requests_received = 0
        self._forced = forced_failure
        self._blocked = False
        self._lines = LineBuffer(config.max_request_length)
        self._out = OutputQueue()
        self._auth_deadline: Optional[float] = now + config.auth_timeout
        self._requests = RequestWindow()
        self._write({"op": "connection", "connectionId": connection_id})

    def __repr__(self) -> str:
        subs = " ".join(repr(s) for s in self.subscriptions.values())
        return f"<ServerSession {self.connection_id} {self.state.value} pending={self._out.size}B {subs}>"

    # --- state -----------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.state is SessionState.CLOSED

    @property
    def is_authenticated(self) -> bool:
        return self.state is SessionState.AUTHENTICATED

    @property
    def output_blocked(self) -> bool:
        """True while the connection cannot write (the client reads too slowly): changes are held."""
        return self._blocked

    @property
    def pending(self) -> int:
        """Bytes waiting in :meth:`data_to_send`."""
        return self._out.size

    def subscription(self, kind: str) -> Optional[Subscription]:
        """The live ``"mcm"`` (market) or ``"ocm"`` (order) subscription, or None."""
        return self.subscriptions.get(kind)

    def last_clk(self, kind: str) -> Optional[str]:
        """The ``clk`` of the last message queued on that subscription (None: none yet)."""
        sub = self.subscriptions.get(kind)
        return None if sub is None else sub.last_clk_sent

    def next_deadline(self) -> Optional[float]:
        """When :meth:`tick` next has something to do, or None."""
        if self.state is SessionState.AWAITING_AUTH:
            return self._auth_deadline
        if self.state is not SessionState.AUTHENTICATED:
            return None
        times = [s.next_deadline(self.heartbeats_enabled, self._blocked) for s in self.subscriptions.values()]
        due = [t for t in times if t is not None]
        return min(due) if due else None

    # --- input -----------------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed bytes the client sent; ``b""`` means the client closed its side (EOF)."""
        if self.closed:
            return
        for line in self._lines.feed(data):
            if self.closed:
                return
            if isinstance(line, ProtocolError):
                self.fail("INVALID_INPUT", f"unreadable request line: {line}", None, now)
                return
            if line.strip():
                self._request(line, now)
        if data == b"" and not self.closed:
            self._set_closed(None)

    def tick(self, now: float) -> None:
        """Act on the clock: the authentication deadline, conflation flushes, heartbeats."""
        if self.state is SessionState.AWAITING_AUTH:
            if self._auth_deadline is not None and now >= self._auth_deadline:
                self.fail("TIMEOUT", None, None, now)
            return
        if self.state is not SessionState.AUTHENTICATED:
            return
        pt = int(now * 1000)
        for sub in self.subscriptions.values():
            message = sub.flush(now, pt, self._blocked)
            if message is not None:
                self._send_change(sub, message, now)
            if self.heartbeats_enabled and not self._blocked:
                beat = sub.heartbeat(now, pt)
                if beat is not None:
                    self._send_change(sub, beat, now)

    def deliver(self, batch: Batch, now: float) -> None:
        """Queue what a scenario step published, for this connection's subscriptions."""
        if self.state is not SessionState.AUTHENTICATED:
            return
        for kind, seq, deltas in (
            ("mcm", batch.market_seq, batch.markets),
            ("ocm", batch.order_seq, batch.orders),
        ):
            sub = self.subscriptions.get(kind)
            if sub is None or seq is None:
                continue
            message = sub.on_batch(seq, deltas, batch.infos, batch.pt, now, self._blocked)
            if message is not None:
                self._send_change(sub, message, now)

    def set_output_blocked(self, blocked: bool, now: float) -> None:
        """The client reads too slowly (its socket is full): hold changes back and conflate them."""
        self._blocked = blocked
        if not blocked:
            self.tick(now)

    # --- output ----------------------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Everything queued since the last call (possibly ``b""``)."""
        return self._out.take()

    def close(self) -> None:
        """Close without a status (a server stop or an abrupt drop)."""
        self._set_closed(None)

    def fail(self, code: str, message: Optional[str], request_id: Optional[int], now: float) -> None:
        """Answer ``status`` FAILURE with ``code``; close unless it is SUBSCRIPTION_LIMIT_EXCEEDED."""
        if self.closed:
            return
        self._write(wire.status(request_id, code, message, self.connection_id))
        if code in wire.CLOSES:
            self._set_closed(code)

    def send_raw(self, data: bytes) -> None:
        """Queue bytes as they are (a malformed line, a bare CRLF...), in order with the rest."""
        if not self.closed and data:
            self._out.append(bytes(data))

    # --- internals -------------------------------------------------------------------------------

    def _write(self, message: Dict[str, Any]) -> None:
        line = wire.encode(message)
        self._out.append(line)

    def _send_change(self, sub: Subscription, message: Message, now: float) -> None:
        if sub.kind in self.stale_streams:
            message["status"] = 503
        parts = (
            wire.segments(message, sub.items_key, self.config.segment_size) if sub.segmentation else [message]
        )
        for part in parts:
            self._write(part)
            sub.sent(part, now)

    def _set_closed(self, code: Optional[str]) -> None:
        if self.closed:
            return
        if self.state is SessionState.AUTHENTICATED and self.app_key is not None:
            self.registry.release(self.app_key)
        self.state = SessionState.CLOSED
        self.close_code = code
        self.subscriptions.clear()

    def _rate_limited(self, now: float) -> bool:
        limit = self.config.request_rate_limit
        if limit is None:
            return False
        self._requests.add(now)
        return self._requests.recent(now, self.config.request_rate_window) > limit

    def _request(self, line: bytes, now: float) -> None:
        self.requests_received += 1
        request_id: Optional[int] = None
        try:
            try:
                request = json.loads(line)
            except ValueError as exc:
                raise _Failure("INVALID_INPUT", f"not JSON ({exc}): {line[:200]!r}") from None
            if type(request) is not dict or type(request.get("op")) is not str:
                raise _Failure("INVALID_INPUT", f"a request is a JSON object with an op, got {line[:200]!r}")
            rid = request.get("id")
            if rid is not None and type(rid) is not int:
                raise _Failure("INVALID_INPUT", f"id must be an integer, got {rid!r}")
            request_id = rid
            op = request["op"]
            if self._rate_limited(now):
                raise _Failure("TOO_MANY_REQUESTS")
            forced = (
                self._forced(op, bool(request.get("clk") or request.get("initialClk")))
                if self._forced
                else None
            )
            if forced is not None:
                raise _Failure(*forced)
            if op == "authentication":
                self._authenticate(request, request_id)
            elif op not in _OPS:
                known = "authentication, heartbeat, marketSubscription, orderSubscription"
                raise _Failure("INVALID_INPUT", f"unknown op {op!r} (known: {known})")
            elif self.state is not SessionState.AUTHENTICATED:
                raise _Failure("NOT_AUTHORIZED", f"{op} before authentication: authenticate first")
            elif op == "heartbeat":
                self._write(wire.status(request_id))
            else:
                self._subscribe(op, request, request_id, now)
        except _Failure as failure:
            self.fail(failure.code, failure.message, request_id, now)

    def _authenticate(self, request: Dict[str, Any], request_id: Optional[int]) -> None:
        config = self.config
        app_key, token = request.get("appKey"), request.get("session")
        if not app_key:
            raise _Failure("NO_APP_KEY")
        if type(app_key) is not str or (
            app_key not in config.app_keys and app_key not in config.unauthorized_app_keys
        ):
            raise _Failure("INVALID_APP_KEY")
        if not token:
            raise _Failure("NO_SESSION")
        if type(token) is not str or token not in config.session_tokens:
            raise _Failure("INVALID_SESSION_INFORMATION")
        if app_key in config.unauthorized_app_keys:
            raise _Failure("NOT_AUTHORIZED", "this application key is not set up for the Stream API")
        if self.state is SessionState.AUTHENTICATED:
            available = self.registry.available(app_key, config.connection_limit)
        else:
            acquired = self.registry.acquire(app_key, config.connection_limit)
            if acquired is None:
                raise _Failure(
                    "MAX_CONNECTION_LIMIT_EXCEEDED",
                    f"at most {config.connection_limit} connections per application key",
                )
            available = acquired
            self.app_key = app_key
            self.state = SessionState.AUTHENTICATED
            self._auth_deadline = None
        self._write(wire.status(request_id, connections_available=available))

    def _subscribe(self, op: str, request: Dict[str, Any], request_id: Optional[int], now: float) -> None:
        try:
            parsed = SubscriptionRequest.parse(op, request, self.config.default_heartbeat_ms)
        except InvalidRequest as exc:
            raise _Failure(exc.code, exc.message) from None
        kind, rows, columns = parsed.kind, parsed.rows, parsed.columns
        heartbeat_ms, conflate_ms, segmentation = parsed.heartbeat_ms, parsed.conflate_ms, parsed.segmentation
        scenario = self.scenario
        log = scenario.markets_log if kind == "mcm" else scenario.orders_log
        initial_clk, clk = request.get("initialClk"), request.get("clk")
        with scenario.lock:
            resume: Optional[int] = None
            if initial_clk is not None or clk is not None:
                try:
                    resume = log.check(initial_clk, clk)
                except ClockError as exc:
                    raise _Failure("INVALID_CLOCK", str(exc)) from None
            if kind == "mcm":
                assert rows is not None
                infos = {i.market_id: i for i in scenario.market_infos() if rows.matches(i)}
                if len(infos) > self.config.subscription_limit:
                    raise _Failure(
                        "SUBSCRIPTION_LIMIT_EXCEEDED",
                        f"the filter matches {len(infos)} markets;"
                        f" at most {self.config.subscription_limit} are allowed",
                    )
                keyed: Dict[str, Any] = dict(infos)
            else:
                keyed = {key: None for key in log.keys()}
            sub = Subscription(
                kind,
                request_id,
                log,
                rows,
                columns,
                heartbeat_ms,
                conflate_ms,
                bool(segmentation),
                initial_clk
                if resume is not None and isinstance(initial_clk, str)
                else log.clock(initial=True),
                log.seq,
                now,
            )
            self.subscriptions[kind] = sub  # "each replaces the previous ... they are not additive"
            self._write(wire.status(request_id))
            pt = int(now * 1000)
            message = sub.image(keyed, pt) if resume is None else sub.resub_delta(resume, keyed, pt)
            self._send_change(sub, message, now)
