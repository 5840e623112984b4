"""Records: one frozen attrs class per kind of message the server sends.

Each record is built by :mod:`imgfeed.feeds.img.protocol.codec` from one decoded line. Records are immutable
(frozen, slotted attrs classes) so that they can be handed to any number of handlers on any thread.

Every record has three common fields, so no part of the real feed is ever out of reach:

- ``publish_time``: when the server published the message (timezone-aware UTC), or ``None`` where
  the server sent none (Mustard-era heartbeats, docs/protocol.md section 9).
- ``received_at``: when the client received the bytes (``time.time()`` seconds, stamped by the
  reader), or ``None`` when the record was decoded outside a connection.
- ``raw``: the whole decoded JSON object, envelope included (a ``MarketUpdate`` decodes it from its
  ``line`` on first access). ``extra`` lists the keys of ``msg`` that the record does not model.
  Treat ``raw`` as read-only: it is shared, not copied.

Records compare equal when their fields and ``raw`` are equal. What they do not model is kept:

>>> Sport(id="sp.golf", name="Golf", raw={"msg": {"id": "sp.golf", "name": "Golf", "tz": "UTC"}}).extra
{'tz': 'UTC'}

The open enums (:mod:`~imgfeed.feeds.img.protocol.enums`) and the market-id helpers
(:mod:`~imgfeed.feeds.img.protocol.ids`) are not records; they are re-exported from here.

Names: records are nouns for the thing the server describes (``Market``, ``MarketUpdate``); the
runtime's notifications live elsewhere and are past-tense facts.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, Dict, Optional, Tuple, Union

import attrs

# Re-exported (see the module docstring): code everywhere imports them from here.
from imgfeed.feeds.img.protocol.base import Record
from imgfeed.feeds.img.protocol.enums import CloseReason, MarketStatus, Stage
from imgfeed.feeds.img.protocol.ids import decode_market_id, raw_market_id
from imgfeed.feeds.img.protocol.prices import MarketUpdate, Selection, Settlement

__all__ = [
    "Record",
    "Stage",
    "MarketStatus",
    "CloseReason",
    "Sport",
    "Competition",
    "EventMeta",
    "Event",
    "MarketType",
    "Market",
    "Settlement",
    "Selection",
    "MarketUpdate",
    "RemoveMarkets",
    "Heartbeat",
    "InitResponse",
    "Response",
    "RateLimited",
    "ServerClosing",
    "Unknown",
    "decode_market_id",
    "raw_market_id",
]


# --- the offering: sent once after init, in this order -----------------------------------------


@attrs.frozen(kw_only=True)
class Sport(Record):
    """``sport`` push: the first message of the snapshot after ``init``."""

    id: str
    name: str
    _MODELLED = ("id", "name")


@attrs.frozen(kw_only=True)
class Competition(Record):
    """``competition`` push: a tour (e.g. PGA Tour), sent in the snapshot after the sport."""

    id: str
    name: str
    sport_id: Optional[str] = None
    arena_id: Optional[str] = None
    start_time: Optional[datetime] = None
    _MODELLED = ("id", "name", "sport_id", "arena_id", "start_time")


@attrs.frozen(kw_only=True)
class EventMeta:
    """One item of an event's ``meta`` list: the offering levels for an arena event."""

    event_id: Optional[str] = None
    offering_levels: Tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class Event(Record):
    """``event`` push: a tournament in progress or upcoming (or recently finished)."""

    id: str
    name: str
    competition_id: Optional[str] = None
    arena_competition_id: Optional[str] = None
    arena_id: Optional[str] = None
    start_time: Optional[datetime] = None
    stage: Optional[Union[Stage, str]] = None
    meta: Tuple[EventMeta, ...] = ()
    _MODELLED = (
        "id", "name", "competition_id", "arena_competition_id", "arena_id", "start_time", "stage", "meta",
    )  # fmt: skip


@attrs.frozen(kw_only=True)
class MarketType(Record):
    """``market_type`` push: a kind of market (e.g. ``mt.winonly``)."""

    id: str
    name: str
    _MODELLED = ("id", "name")


@attrs.frozen(kw_only=True)
class Market(Record):
    """``market`` push: a market that is available and open, sent in the snapshot.

    Market ids are opaque strings, compared exactly as received; see :func:`decode_market_id` to
    show the long form to a person.
    """

    id: str
    name: str
    event_id: Optional[str] = None
    arena_id: Optional[str] = None
    arena_event_id: Optional[Union[int, str]] = None
    tags: Tuple[str, ...] = ()
    start_time: Optional[datetime] = None
    stage: Optional[Union[Stage, str]] = None
    numwinners: Optional[int] = None
    _MODELLED = (
        "id", "name", "event_id", "arena_id", "arena_event_id", "tags", "start_time", "stage", "numwinners",
    )  # fmt: skip

    @functools.cached_property
    def market_type_id(self) -> Optional[str]:
        """The ``mt.`` tag of this market, if it has one.

        Cached: the book asks for it on every ``market_update`` of the market, to check the
        subscriptions."""
        return next((t for t in self.tags if t.startswith("mt.")), None)


@attrs.frozen(kw_only=True)
class RemoveMarkets(Record):
    """``remove_markets`` push: these markets are gone; forget them."""

    market_ids: Tuple[str, ...]

    @property
    def extra(self) -> Dict[str, Any]:
        return {}


# --- liveness and control ----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Heartbeat(Record):
    """``heartbeat`` push, every 3 s after ``init``. Late heartbeats mean: trust no price."""

    timestamp: Optional[datetime] = None
    _MODELLED = ("timestamp",)


@attrs.frozen(kw_only=True)
class InitResponse(Record):
    """The response to ``init``: the session is up. Quote ``session_id`` to support."""

    session_id: Optional[str] = None
    status: Optional[str] = None
    reason: Optional[str] = None
    request_id: Optional[str] = None


@attrs.frozen(kw_only=True)
class Response(Record):
    """The response to any other request (``status`` is ``"ok"`` on success)."""

    status: Optional[str] = None
    request_id: Optional[str] = None
    reason: Optional[str] = None

    @property
    def is_ok(self) -> bool:
        return self.status == "ok"

    @property
    def error_text(self) -> str:
        """What the server said was wrong, for an error response."""
        parts = [str(p) for p in (self.raw.get("msg"), self.reason) if p]
        return "; ".join(parts) or f"status {self.status!r}"


@attrs.frozen(kw_only=True)
class RateLimited(Record):
    """The "API limit breached" response: the request was refused and not carried out."""

    request_id: Optional[str] = None


@attrs.frozen(kw_only=True)
class ServerClosing(Record):
    """The error push the server sends just before it closes the connection.

    ``reason`` is a :class:`CloseReason` when it is a documented one, else the string as sent.
    """

    reason: Union[CloseReason, str]
    session_id: Optional[str] = None


@attrs.frozen(kw_only=True)
class Unknown(Record):
    """A well-formed message of a kind imgfeed does not model (e.g. a new push ``type``).

    Delivered, never dropped: the raw object is all there is.
    """

    mode: Optional[str] = None
    type: Optional[str] = None
