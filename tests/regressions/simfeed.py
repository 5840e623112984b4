"""The simulator's own server logic behind an in-memory transport: real semantics, no SSH, no sleeps.

:class:`SimFeed` is a transport factory for :class:`~imgfeed.FeedClient`. Each connection attempt
gets a :class:`SimTransport` that carries a fresh
:class:`~imgfeed.feeds.img.simulator.session.ServerSession` (the sans-IO server the SSH simulator runs) over
one shared, static :class:`~imgfeed.feeds.img.simulator.scenario.Scenario`: what the client sends is fed to
the session as bytes, and what the session writes is what ``recv`` returns. The session's clock is
``time.time()`` (heartbeats flow on their own, at ``heartbeat_interval``); the scenario never steps,
so every market keeps its status and image unless a test changes it.

The test sees every request each connection received (:attr:`SimTransport.requests`), can hook a
request before the server sees it (:attr:`SimFeed.on_request`, e.g. to rate-limit it) or after it
answered (:attr:`SimFeed.after_request`), can hold the server's output back for a moment
(:meth:`SimTransport.hold_output`), and can drop a connection as a server would
(:meth:`SimTransport.drop`).

:func:`fence` is how a test knows the client has settled: it sends a request the server answers
with an error, and returns once that answer is in. Requests are answered in order, and a request
made while the client re-subscribes is sent after the re-subscription (it waits for the session), so
once the fence is answered every earlier response and image has been read and applied to the book.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, NamedTuple, Optional, Tuple

import pytest

from imgfeed import ConnectError, FeedClient, FeedConfig, RequestError, TransportError
from imgfeed.feeds.img.simulator import MarketInfo, Scenario, ScenarioConfig, ServerSession, SessionConfig
from imgfeed.transport.base import DEFAULT_RECV_SIZE, Transport
from tests.unit.memory_feed import fast_config

__all__ = [
    "Request",
    "SimFeed",
    "SimTransport",
    "FilterKey",
    "filter_key",
    "fence",
    "sim_config",
    "tiny_scenario",
    "WAIT",
]

#: The longest a test waits for something it expects (seconds); only reached when it fails.
WAIT = 5.0

#: A subscription filter as a value: the lists given, each as a set (list order means nothing).
FilterKey = FrozenSet[Tuple[str, FrozenSet[str]]]

#: The scenario's clock: fixed, so that images and publish times are the same on every run.
_EPOCH = 1_700_000_000.0


class Request(NamedTuple):
    """One request as the server received it (decoded here, so the tests need no client internals)."""

    name: str
    msg: Dict[str, Any]
    request_id: Optional[str]

    @classmethod
    def from_line(cls, line: bytes) -> "Request":
        obj = json.loads(line)
        return cls(obj["request"], obj.get("msg") or {}, obj.get("request_id"))


def filter_key(msg: Dict[str, Any]) -> FilterKey:
    """The filter of a subscribe/unsubscribe ``msg``, independent of the order of its lists."""
    return frozenset((k, frozenset(v)) for k, v in msg.items())


def tiny_scenario() -> Scenario:
    """Two live tournaments x two market types (win, top 3): four open markets, static."""
    config = ScenarioConfig.of_size("tiny", events_per_tour=2, head_to_heads=0, three_ball_groups=0)
    return Scenario(config, clock=lambda: _EPOCH)


def sim_config(**overrides: Any) -> FeedConfig:
    """A client config for a :class:`SimFeed`: reconnects at once, liveness deadlines far away.

    The subscription tests are about what is subscribed, not about liveness: a heartbeat made late
    by a loaded machine must not suspend the book under them.
    """
    values: Dict[str, Any] = dict(
        heartbeat_timeout=5.0, silence_timeout=10.0, init_timeout=5.0, request_timeout=WAIT, handler_stall_warning=None
    )
    values.update(overrides)
    return fast_config(**values)


def fence(client: FeedClient, timeout: float = WAIT) -> None:
    """Return once the server has answered a request sent after everything the client sent so far.

    The simulator answers an unknown request with an error response and changes nothing.
    """
    with pytest.raises(RequestError):
        client.request("fence", {}, timeout=timeout)


class SimTransport(Transport):
    """One connection to a :class:`~imgfeed.feeds.img.simulator.session.ServerSession`, in memory.

    Args:
        feed: the factory that made it (shared scenario, settings, hooks).
        index: 0 for the first connection, 1 for the first reconnect, ...
    """

    def __init__(self, feed: "SimFeed", index: int, read_timeout: float = 0.02) -> None:
        self.feed = feed
        self.index = index
        self.read_timeout = read_timeout
        self.session: Optional[ServerSession] = None
        #: Every request this connection received, in order (the fence and init included).
        self.requests: List[Request] = []
        self._partial = b""  # a request line not complete yet
        self._cond = threading.Condition()
        self._pending = b""
        self._closed = False
        self._held = False

    def __repr__(self) -> str:
        return f"<SimTransport #{self.index} {self.session!r} closed={self._closed}>"

    # --- the client's side -----------------------------------------------------------------------

    def connect(self, timeout: float) -> None:
        with self._cond:
            if self._closed:
                raise ConnectError("closed before connecting")
            self.session = ServerSession(
                self.feed.session_config, self.feed.scenario, time.time(), session_id=f"sim-{self.index}"
            )

    def send(self, data: bytes, timeout: float) -> None:
        with self._cond:
            session = self.session
            if session is None or self._closed or session.closed:
                raise TransportError("the connection is closed")
            lines = (self._partial + data).split(b"\n")
            self._partial = lines.pop()
            for line in lines:
                if not line.strip():
                    continue
                request = Request.from_line(line)
                self.requests.append(request)
                hook = self.feed.on_request
                if hook is not None:
                    hook(self, request)
                session.receive_data(line + b"\n", time.time())
                after = self.feed.after_request
                if after is not None:
                    after(self, request)
            self._cond.notify_all()
        self.feed._changed()

    def recv(self, max_bytes: int = DEFAULT_RECV_SIZE) -> Optional[bytes]:
        with self._cond:
            session = self.session
            deadline = time.monotonic() + self.read_timeout
            while True:
                if self._closed or session is None:
                    return b""
                session.tick(time.time())
                self._pending += session.data_to_send()
                if self._pending and not self._held:
                    data, self._pending = self._pending[:max_bytes], self._pending[max_bytes:]
                    return data
                if session.closed and not self._held:
                    return b""
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def describe(self) -> str:
        return f"sim#{self.index}"

    # --- the server's side -----------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def drop(self, reason: Optional[str] = None) -> None:
        """The server closes the connection (with its error push first when ``reason`` is given)."""
        with self._cond:
            if self.session is not None:
                self.session.close(reason, time.time())
            self._cond.notify_all()

    def hold_output(self) -> None:
        """Keep what the server writes from now on (and its end of stream) until :meth:`release_output`."""
        with self._cond:
            self._held = True

    def release_output(self) -> None:
        with self._cond:
            self._held = False
            self._cond.notify_all()

    def subscription_requests(self) -> List[Request]:
        """The subscribe/unsubscribe requests this connection received, in order."""
        with self._cond:
            return [r for r in self.requests if r.name in ("subscribe", "unsubscribe")]

    def subscribed_market_ids(self) -> FrozenSet[str]:
        """What the server has subscribed on this connection now."""
        with self._cond:
            assert self.session is not None
            return self.session.subscribed_market_ids


class SimFeed:
    """A transport factory: every call is a new connection to the same simulated service.

    Args:
        scenario: the feed served (default: :func:`tiny_scenario`).
        session_config: the server's per-connection settings (default: heartbeats every 50 ms).
    """

    def __init__(
        self, scenario: Optional[Scenario] = None, session_config: Optional[SessionConfig] = None
    ) -> None:
        self.scenario = scenario or tiny_scenario()
        self.session_config = session_config or SessionConfig(heartbeat_interval=0.05)
        self.connections: List[SimTransport] = []
        #: Called as ``on_request(transport, request)`` before the server sees each request.
        self.on_request: Optional[Callable[[SimTransport, Request], None]] = None
        #: Called as ``after_request(transport, request)`` once the server has answered it.
        self.after_request: Optional[Callable[[SimTransport, Request], None]] = None
        self._cond = threading.Condition()

    def __call__(self) -> SimTransport:
        with self._cond:
            transport = SimTransport(self, len(self.connections))
            self.connections.append(transport)
            self._cond.notify_all()
        return transport

    def _changed(self) -> None:
        with self._cond:
            self._cond.notify_all()

    @property
    def current(self) -> SimTransport:
        with self._cond:
            return self.connections[-1]

    def wait_connections(self, n: int, timeout: float = WAIT) -> SimTransport:
        """The ``n``-th connection (1-based), once the client has made it."""
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.connections) >= n, timeout), f"no connection #{n}"
            return self.connections[n - 1]

    def wait_requests(self, predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
        """Wait until ``predicate()`` holds, re-checked after every request any connection receives."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    # --- what the scenario offers ----------------------------------------------------------------

    def markets(self) -> List[MarketInfo]:
        return self.scenario.markets(include_finished=False)

    def event_ids(self) -> List[str]:
        return sorted({m.event_id for m in self.markets()})

    def market_type_ids(self) -> List[str]:
        return sorted({m.market_type_id for m in self.markets()})

    def market_ids(self, event_id: Optional[str] = None) -> List[str]:
        return [m.id for m in self.markets() if event_id is None or m.event_id == event_id]

    def open_market_ids(self) -> FrozenSet[str]:
        return frozenset(
            m.id for m in self.markets() if self.scenario.market_image(m.id).get("status") == "open"
        )


def strings_in(value: Any) -> Iterable[str]:
    """Every string inside ``value`` (dicts, lists, tuples, sets, attrs-like objects), recursively.

    Lets a test ask "does ``client.subscriptions`` mention this id anywhere?" without depending on
    the exact shape the property returns.
    """
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings_in(k)
            yield from strings_in(v)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            yield from strings_in(v)
    elif hasattr(value, "__dict__") or hasattr(value, "__slots__"):
        names = getattr(value, "__slots__", None) or list(vars(value))
        for name in names:
            yield from strings_in(getattr(value, name, None))
