"""Lifecycle notifications: what the runtime tells handlers about the connection and the book.

Records (``imgfeed.feeds.img.protocol.messages``) are what the server said; these are what the *runtime*
observed, named as past-tense facts (compare h2's ``events.py``). They travel through the same
dispatch queue as the records, so a handler sees them in order with the data: a ``Disconnected``
comes after the last update of the old connection and before the first record of the new one.

The dispatcher turns each into a ``Handler.on_*`` call (see :mod:`imgfeed.feeds.img.handler`).
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

    #: No message at all for ``silence_timeout`` (protocol.md 8: "disconnect and reconnect").
    SILENCE = "silence"
    #: The peer closed the stream without saying why.
    EOF = "eof"
    #: The network or SSH layer failed; ``Disconnected.exception`` holds the cause (for paramiko,
    #: the transport's ``saved_exception`` where there is one).
    TRANSPORT_ERROR = "transport error"
    #: The server sent its error push; ``Disconnected.detail`` is its reason.
    SERVER_CLOSING = "server closing"
    #: The connection could not be made (TCP, SSH handshake, shell request).
    CONNECT_FAILED = "connect failed"
    #: The server rejected our key. Not retried unless ``retry_auth_failures``.
    AUTH_FAILED = "auth failed"
    #: The host key was unknown or changed. Not retried unless ``retry_auth_failures``.
    HOST_KEY = "host key"
    #: No ``init`` response (and no push) within ``init_timeout``.
    INIT_TIMEOUT = "init timeout"
    #: The handlers fell so far behind that the queue overflowed (``overflow_policy="disconnect"``).
    QUEUE_OVERFLOW = "queue overflow"
    #: A handler raised and ``error_policy="disconnect"``.
    HANDLER_ERROR = "handler error"
    #: ``stop()`` was called.
    USER_STOP = "user stop"

    def __str__(self) -> str:
        return self.value


class SuspendReason(str, enum.Enum):
    """Why every market is suspended (protocol.md section 8)."""

    #: Not connected: before the first session, between connections, after stop.
    DISCONNECTED = "disconnected"
    #: Connected, but no heartbeat for more than ``heartbeat_timeout``.
    HEARTBEAT_LATE = "heartbeat late"

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class Session:
    """One established feed session.

    Attributes:
        session_id: the server's id for it (quote it to support); ``None`` in Mustard mode.
        address: ``host:port`` (or the transport's description).
        connected_at: ``time.time()`` when the session came up.
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
    """A session came up: ``init`` was answered (or, in Mustard mode, the first push arrived)."""

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
    """

    reason: DisconnectReason
    detail: str = ""
    exception: Optional[BaseException] = attrs.field(default=None, eq=False)
    will_retry: bool = True
    retry_in: Optional[float] = None

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.detail}" if self.detail else self.reason.value


@attrs.frozen
class SuspendedAll(Notification):
    """Every market is now suspended: trust no price until ``ResumedAll``."""

    reason: SuspendReason


@attrs.frozen
class ResumedAll(Notification):
    """The global suspension is lifted.

    After a heartbeat came back, markets whose state is known are tradable again. After a
    reconnect, each market stays suspended until its own ``market_update`` arrives, announced by a
    ``MarketStatusChanged(market_id, True)``.
    """


@attrs.frozen
class MarketStatusChanged(Notification):
    """One market became tradable, or stopped being tradable, for a reason of its own.

    Sent on its own ``market_update`` (first image after a (re)connect, status open <-> not open) and
    on its removal. Global suspensions are told once by ``SuspendedAll`` / ``ResumedAll``, not per
    market.
    """

    market_id: str
    tradable: bool
