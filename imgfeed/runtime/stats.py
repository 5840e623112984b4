"""``client.stats()``: a frozen snapshot of the client's health, for dashboards and ``imgfeed check``;
and the client's life as a table of states."""

from __future__ import annotations

import enum
from typing import Optional

import attrs

from imgfeed.runtime.events import Disconnected

__all__ = ["ClientState", "ClientStats", "TRANSITIONS"]


class ClientState(str, enum.Enum):
    """Where the client is in its life. Transitions are driven by the watchdog thread only."""

    NEW = "new"  # built, not started
    CONNECTING = "connecting"  # connecting, in the handshake, or restoring the subscriptions
    RUNNING = "running"  # a session is up and its subscriptions are restored
    RECONNECTING = "reconnecting"  # waiting (per the reconnect policy) before the next attempt
    STOPPING = "stopping"  # stop() was called, or a fatal error happened
    STOPPED = "stopped"  # every thread has ended

    def __str__(self) -> str:
        return self.value


#: The client's life as a table: ``(from, to)`` pairs that may happen. The watchdog makes every
#: transition except NEW -> CONNECTING (``start()``), NEW -> STOPPED (``stop()`` before
#: ``start()``) and STOPPING -> STOPPED (the dispatcher, once it has delivered the backlog).
#: Any other pair is a bug in the runtime and is refused.
TRANSITIONS = frozenset(
    {
        (ClientState.NEW, ClientState.CONNECTING),  # start()
        (ClientState.NEW, ClientState.STOPPED),  # stop() before start()
        (ClientState.CONNECTING, ClientState.RUNNING),  # the session is up and restored
        (ClientState.CONNECTING, ClientState.CONNECTING),  # an attempt failed; retry at once
        (ClientState.CONNECTING, ClientState.RECONNECTING),  # an attempt failed; wait per the policy
        (ClientState.RUNNING, ClientState.CONNECTING),  # the session was lost; first retry at once
        (ClientState.RUNNING, ClientState.RECONNECTING),  # lost, and the server asked us to wait
        (ClientState.RECONNECTING, ClientState.CONNECTING),  # the wait is over
        (ClientState.NEW, ClientState.STOPPING),
        (ClientState.CONNECTING, ClientState.STOPPING),
        (ClientState.RUNNING, ClientState.STOPPING),
        (ClientState.RECONNECTING, ClientState.STOPPING),
        (ClientState.STOPPING, ClientState.STOPPING),
        (ClientState.STOPPING, ClientState.STOPPED),
    }
)


@attrs.frozen
class ClientStats:
    """Counters and gauges at one instant. Counters are cumulative over the client's life.

    Attributes:
        state: see :class:`ClientState`.
        messages: records decoded (protocol errors included).
        bytes: bytes received.
        protocol_errors: lines that could not be understood.
        handler_errors: exceptions raised by handlers.
        reconnects: connection attempts made after the first one.
        sessions: sessions established.
        conflated: market updates (and heartbeats) replaced in the queue by a newer one.
        dispatched: records and notifications delivered to the handlers.
        queue_depth: items waiting for the dispatcher now; ``queue_high_water`` the most seen.
        heartbeat_age: seconds since the last heartbeat (since the session start if none yet),
            ``None`` when no session is up.
        silence: seconds since the last message of any kind, ``None`` when no session is up.
        session_id: the server's id of the current session (``None`` when down or in Mustard mode).
        connected_since: ``time.time()`` when the current session came up.
        last_disconnect: the last disconnection and its reason.
        address: where the client connects.
        dropped: records that arrived on a connection already retired, and were not applied.
        internal_errors: connections ended by a bug in imgfeed or the feed adapter.
        feed: the feed's name (``"img"``, ``"betfair"`` ...).
    """

    state: ClientState
    messages: int
    bytes: int
    protocol_errors: int
    handler_errors: int
    reconnects: int
    sessions: int
    conflated: int
    dispatched: int
    queue_depth: int
    queue_high_water: int
    heartbeat_age: Optional[float]
    silence: Optional[float]
    session_id: Optional[str]
    connected_since: Optional[float]
    last_disconnect: Optional[Disconnected]
    address: str
    dropped: int = 0
    internal_errors: int = 0
    feed: str = ""
