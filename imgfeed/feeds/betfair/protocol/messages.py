"""Envelope records: one frozen attrs class per kind of message the ESA server sends.

The codec (:mod:`.codec`) builds one record per line. Records are immutable and slotted, so one
record can be handed to any number of handlers on any thread.

Every record keeps:

- ``received_at``: when the client received the line (seconds on the caller's clock, passed in;
  this package never reads a clock). Not compared: two equal messages received at different times
  are equal.
- ``raw``: the whole decoded JSON object, so no field the server sends is ever out of reach, even
  one this version does not model. Treat it as read-only: it is shared, not copied.

Change messages (``mcm``/``ocm``) keep their changes (``mc``/``oc``) as the decoded lists of dicts:
the caches fold them in directly, and building an object per delta would cost more than the fold.

Times: the envelope's ``pt`` stays the wire's epoch milliseconds (an int, cheap to compare and to
carry); :attr:`ChangeMessage.publish_time` converts it to an aware UTC datetime on demand. The
book records of :mod:`imgfeed.feeds.betfair.books` carry datetimes.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Dict, List, Optional, Union

import attrs

from imgfeed.feeds.betfair.protocol.times import epoch_ms_to_datetime

__all__ = [
    "ChangeType",
    "SegmentType",
    "StatusCode",
    "ErrorCode",
    "STALE_STATUS",
    "ConnectionMessage",
    "StatusMessage",
    "ChangeMessage",
    "MarketChangeMessage",
    "OrderChangeMessage",
    "Unknown",
    "Message",
]


class ChangeType(str, enum.Enum):
    """The ``ct`` of a change message. Absent (``None``) means an ordinary delta."""

    SUB_IMAGE = "SUB_IMAGE"  # the full state of a new subscription: replaces the cache
    RESUB_DELTA = "RESUB_DELTA"  # what changed since the clocks a resubscription sent
    HEARTBEAT = "HEARTBEAT"  # nothing changed for heartbeatMs; carries a clk


class SegmentType(str, enum.Enum):
    """The ``segmentType`` of one part of a large change split by the server."""

    SEG_START = "SEG_START"
    SEG = "SEG"
    SEG_END = "SEG_END"


class StatusCode(str, enum.Enum):
    """The ``statusCode`` of a ``status`` message."""

    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


class ErrorCode(str, enum.Enum):
    """The ``errorCode`` values of the ESA schema (``StatusMessage.errorCode``)."""

    NO_APP_KEY = "NO_APP_KEY"
    INVALID_APP_KEY = "INVALID_APP_KEY"
    NO_SESSION = "NO_SESSION"
    INVALID_SESSION_INFORMATION = "INVALID_SESSION_INFORMATION"
    NOT_AUTHORIZED = "NOT_AUTHORIZED"
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_CLOCK = "INVALID_CLOCK"
    UNEXPECTED_ERROR = "UNEXPECTED_ERROR"
    TIMEOUT = "TIMEOUT"
    SUBSCRIPTION_LIMIT_EXCEEDED = "SUBSCRIPTION_LIMIT_EXCEEDED"
    INVALID_REQUEST = "INVALID_REQUEST"
    CONNECTION_FAILED = "CONNECTION_FAILED"
    MAX_CONNECTION_LIMIT_EXCEEDED = "MAX_CONNECTION_LIMIT_EXCEEDED"
    TOO_MANY_REQUESTS = "TOO_MANY_REQUESTS"


#: The change-message ``status`` that means Betfair's side is lagging ("503 if the downstream
#: services are experiencing latencies", ESA schema); ``None`` means the data is up to date.
STALE_STATUS = 503

# Every record is @attrs.frozen(kw_only=True): frozen and slotted, keyword arguments only, spelled
# out on each class so that mypy's attrs plugin sees it. ``raw`` and the change lists hold dicts and
# lists, so they are compared but not hashed.


@attrs.frozen(kw_only=True)
class ConnectionMessage:
    """``op=connection``: the first line of every connection, before authentication.

    Betfair support asks for the ``connection_id`` when a stream misbehaves: log it.
    """

    connection_id: Optional[str]
    received_at: float = attrs.field(eq=False, repr=False)
    raw: Dict[str, Any] = attrs.field(repr=False, hash=False)


@attrs.frozen(kw_only=True)
class StatusMessage:
    """``op=status``: the server's answer to one request (matched to it by ``id``), or an error.

    Every error except ``SUBSCRIPTION_LIMIT_EXCEEDED`` comes with ``connection_closed=True``.
    ``connections_available`` is only present on the answer to ``authentication``.
    """

    id: Optional[int]
    status_code: Optional[str]
    error_code: Optional[str] = None
    error_message: Optional[str] = None
    connection_closed: bool = False
    connection_id: Optional[str] = None
    connections_available: Optional[int] = None
    received_at: float = attrs.field(eq=False, repr=False)
    raw: Dict[str, Any] = attrs.field(repr=False, hash=False)

    @property
    def is_success(self) -> bool:
        """True when ``statusCode`` is ``SUCCESS``."""
        return self.status_code == StatusCode.SUCCESS


@attrs.frozen(kw_only=True)
class ChangeMessage:
    """The envelope shared by ``mcm`` and ``ocm``.

    Attributes:
        id: the subscription request's id (absent in Betfair's historical files).
        ct: :class:`ChangeType` value, or ``None`` for an ordinary delta.
        clk, initial_clk: the clocks to resubscribe with (see :mod:`.stream`).
        pt: publish time, epoch milliseconds.
        heartbeat_ms, conflate_ms: the rates the server granted (sent with the image).
        segment_type: :class:`SegmentType` value when the change is split, else ``None``.
        status: ``None`` when up to date, :data:`STALE_STATUS` while Betfair's data lags.
    """

    id: Optional[int] = None
    ct: Optional[str] = None
    clk: Optional[str] = None
    initial_clk: Optional[str] = None
    pt: Optional[int] = None
    heartbeat_ms: Optional[int] = None
    conflate_ms: Optional[int] = None
    segment_type: Optional[str] = None
    status: Optional[int] = None
    received_at: float = attrs.field(eq=False, repr=False)
    raw: Dict[str, Any] = attrs.field(repr=False, hash=False)

    #: The wire key of the change list (``"mc"`` or ``"oc"``); set by each subclass.
    CHANGES_KEY = ""

    @property
    def changes(self) -> List[Dict[str, Any]]:
        """The change list (``mc`` or ``oc``), whichever this message carries."""
        raise NotImplementedError

    @property
    def publish_time(self) -> Optional[datetime]:
        """``pt`` as an aware UTC datetime, or ``None`` if the message had none."""
        return None if self.pt is None else epoch_ms_to_datetime(self.pt)

    @property
    def is_heartbeat(self) -> bool:
        return self.ct == ChangeType.HEARTBEAT

    @property
    def is_image(self) -> bool:
        """True for ``SUB_IMAGE`` and ``RESUB_DELTA``: the end of one marks the image complete."""
        return self.ct == ChangeType.SUB_IMAGE or self.ct == ChangeType.RESUB_DELTA

    @property
    def is_stale(self) -> bool:
        """True when the server flagged its data as lagging (``status: 503``)."""
        return self.status == STALE_STATUS


@attrs.frozen(kw_only=True)
class MarketChangeMessage(ChangeMessage):
    """``op=mcm``: market changes (prices, definitions), an image, or a heartbeat."""

    mc: List[Dict[str, Any]] = attrs.field(factory=list, repr=lambda mc: f"[{len(mc)} changes]", hash=False)

    CHANGES_KEY = "mc"

    @property
    def changes(self) -> List[Dict[str, Any]]:
        return self.mc


@attrs.frozen(kw_only=True)
class OrderChangeMessage(ChangeMessage):
    """``op=ocm``: changes to the account's orders and matched positions."""

    oc: List[Dict[str, Any]] = attrs.field(factory=list, repr=lambda oc: f"[{len(oc)} changes]", hash=False)

    CHANGES_KEY = "oc"

    @property
    def changes(self) -> List[Dict[str, Any]]:
        return self.oc


@attrs.frozen(kw_only=True)
class Unknown:
    """A well-formed message whose ``op`` this version does not model (e.g. ``rcm``, ``ccm``).

    Delivered, never dropped: a new server message must not be lost in silence.
    """

    op: str
    received_at: float = attrs.field(eq=False, repr=False)
    raw: Dict[str, Any] = attrs.field(repr=False, hash=False)


#: Any record :func:`~.codec.decode_line` returns on success.
Message = Union[ConnectionMessage, StatusMessage, MarketChangeMessage, OrderChangeMessage, Unknown]
