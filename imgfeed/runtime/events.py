"""Lifecycle notifications: what the runtime tells handlers about the connection and the markets.

Records (a feed's ``protocol.messages``) are what the server said; these are what the *runtime*
observed, named as past-tense facts (compare h2's ``events.py``). They travel through the same
dispatch queue as the records, so a handler sees them in order with the data: a ``Disconnected``
comes after the last record of the old connection and before the first record of the new one.

The dispatcher turns each into a handler call (see :mod:`imgfeed.runtime.handler`).

Tradability, told in one consistent way for every feed: ``SuspendedAll`` means no market is
tradable; ``MarketStatusChanged(market_id, tradable)`` says whether that market is tradable *now*,
exactly as the book's ``is_tradable`` answers at that point of the stream. After ``ResumedAll``
(heartbeats came back, fresh data arrived) one ``MarketStatusChanged(m, True)`` follows for every
market that is tradable again; after ``Connected`` none is, until its own image arrives.
"""

from __future__ import annotations

import enum
from typing import Optional

import attrs

__all__ = [
    "DisconnectReason",
    "SuspendReason",
    "Notification",
    "Connected",
    "Disconnected",
    "SuspendedAll",
    "ResumedAll",
    "MarketStatusChanged",
    "Session",
]


class DisconnectReason(str, enum.Enum):
    """Why a connection ended (or could not be made)."""

    #: No message at all for the silence timeout, counted from the connection's first moment.
    SILENCE = "silence"
    #: The peer closed the stream without saying why.
    EOF = "eof"
    #: The network, TLS or SSH layer failed; ``Disconnected.exception`` holds the cause.
    TRANSPORT_ERROR = "transport error"
    #: The server said it closes (IMG's error push, a Betfair error status); ``detail`` is its
    #: reason and ``code`` the machine-readable code.
    SERVER_CLOSING = "server closing"
    #: The connection could not be made (TCP, TLS or SSH handshake).
    CONNECT_FAILED = "connect failed"
    #: The server rejected our credentials. Not retried unless the config says so.
    AUTH_FAILED = "auth failed"
    #: The host key or certificate could not be verified. Not retried unless the config says so.
    HOST_KEY = "host key"
    #: The feed's handshake (IMG's ``init``, Betfair's authentication) did not complete in time.
    INIT_TIMEOUT = "init timeout"
    #: The handlers fell so far behind that the queue overflowed.
    QUEUE_OVERFLOW = "queue overflow"
    #: A handler raised and ``error_policy="disconnect"``.
    HANDLER_ERROR = "handler error"
    #: A bug in imgfeed (or in a feed adapter): logged with its traceback; repeated, it stops the
    #: client rather than loop as if it were a network fault.
    INTERNAL_ERROR = "internal error"
    #: ``stop()`` was called.
    USER_STOP = "user stop"

    def __str__(self) -> str:
        return self.value


class SuspendReason(str, enum.Enum):
    """Why every market is suspended."""

    #: Not connected: before the first session, between connections, after stop.
    DISCONNECTED = "disconnected"
    #: Connected, but no heartbeat for more than the heartbeat timeout.
    HEARTBEAT_LATE = "heartbeat late"
    #: Connected and live, but the server says its data is stale (Betfair's ``status: 503``).
    STALE = "stale"

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class Session:
    """One established feed session.

    Attributes:
        session_id: the server's id for it (quote it to support): IMG's ``session_id``,
            Betfair's ``connectionId``; ``None`` where the server gives none (Mustard mode).
        address: ``host:port`` (or the transport's description).
        connected_at: seconds since the epoch when the session came up.
        number: 1 for the first session of this client, 2 after the first reconnect, ...
    """

    session_id: Optional[str]
    address: str
    connected_at: float
    number: int


@attrs.frozen
class Notification:
    """Base class of the runtime's notifications."""


@attrs.frozen
class Connected(Notification):
    """A session came up: the feed's handshake completed."""

    session: Session


@attrs.frozen
class Disconnected(Notification):
    """A connection ended, or an attempt to make one failed.

    Attributes:
        reason: the kind of cause.
        detail: words for a person (the server's close reason, the error message ...).
        exception: the underlying exception, if any.
        will_retry: whether the client will try again (False after ``stop()`` or a fatal error).
        retry_in: seconds until the next attempt when ``will_retry`` (0: at once), else ``None``;
            so that a person waiting for a 30 s reconnect interval is told when it will be.
        code: the server's machine-readable reason, where it gave one (IMG's close reason,
            Betfair's ``errorCode``); the retry decision is made on it, never on ``detail``.
    """

    reason: DisconnectReason
    detail: str = ""
    exception: Optional[BaseException] = attrs.field(default=None, eq=False)
    will_retry: bool = True
    retry_in: Optional[float] = None
    code: Optional[str] = None

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.detail}" if self.detail else self.reason.value


@attrs.frozen
class SuspendedAll(Notification):
    """Every market is now suspended: trust no price until ``ResumedAll``."""

    reason: SuspendReason


@attrs.frozen
class ResumedAll(Notification):
    """The global suspension is lifted.

    One ``MarketStatusChanged(market_id, True)`` follows for each market that is tradable again.
    After a reconnect there are none: each market waits for its own image.
    """


@attrs.frozen
class MarketStatusChanged(Notification):
    """Whether one market is tradable *now*, sent when that changes.

    Sent when a market's own state changes its tradability (its first image on a session, its
    status opening or closing, its removal, an unsubscribe), and after ``ResumedAll`` for every
    market tradable again. ``tradable`` always equals the book's ``is_tradable(market_id)`` at
    this point of the stream; a change that does not alter it (a market opening while every market
    is suspended) is not sent. Global suspensions are told once, by ``SuspendedAll``.
    """

    market_id: str
    tradable: bool
