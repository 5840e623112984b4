"""Records: one frozen attrs class per kind of message the server sends.

Each record is built by :mod:`imgfeed.feeds.img.protocol.codec` from one decoded line. Records are immutable
(frozen, slotted attrs classes) so that they can be handed to any number of handlers on any thread.

Every record has three common fields, so no part of the real feed is ever out of reach:

- ``publish_time``: when the server published the message (timezone-aware UTC), or ``None`` where
  the server sent none (Mustard-era heartbeats, docs/protocol.md section 9).
- ``received_at``: when the client received the bytes (``time.time()`` seconds, stamped by the
  reader), or ``None`` when the record was decoded outside a connection.
- ``raw``: the whole decoded JSON object, envelope included. ``extra`` lists the keys of ``msg``
  that the record does not model. Treat ``raw`` as read-only: it is shared, not copied.

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
from typing import Any, ClassVar, Dict, Optional, Tuple, Union

import attrs

# Re-exported (see the module docstring): code everywhere imports them from here.
from imgfeed.feeds.img.protocol.enums import CloseReason, MarketStatus, Stage
from imgfeed.feeds.img.protocol.ids import decode_market_id, raw_market_id

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


# Every record is @attrs.frozen(kw_only=True): frozen and slotted (attrs.frozen's defaults), keyword
# arguments only. Spelled out on each class rather than splatted from a dict so that mypy's attrs
# plugin sees kw_only (it cannot read **kwargs) and accepts required fields after defaulted ones.


@attrs.frozen(kw_only=True)
class Record:
    """Fields every record has. See the module docstring."""

    publish_time: Optional[datetime] = None
    received_at: Optional[float] = attrs.field(default=None, eq=False, repr=False)
    # Not hashed (a dict cannot be), but compared: records hash by their modelled fields, so equal
    # records still hash equal and records can go in sets and be dict keys.
    raw: Dict[str, Any] = attrs.field(factory=dict, repr=False, hash=False)

    #: The keys of ``msg`` the record models; ``extra`` returns the others.
    _MODELLED: ClassVar[Tuple[str, ...]] = ()

    @property
    def msg(self) -> Any:
        """The message body (``raw["msg"]``), as received."""
        return self.raw.get("msg")

    @property
    def extra(self) -> Dict[str, Any]:
        """Keys of ``msg`` that this record does not model, with their values."""
        msg = self.raw.get("msg")
        if not isinstance(msg, dict):
            return {}
        return {k: v for k, v in msg.items() if k not in self._MODELLED}

    @property
    def is_recovery(self) -> bool:
        """True when the server marked this push as re-sent state (``"is_recovery": true``)."""
        return self.raw.get("is_recovery") is True


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

    @property
    def market_type_id(self) -> Optional[str]:
        """The ``mt.`` tag of this market, if it has one."""
        return next((t for t in self.tags if t.startswith("mt.")), None)


# --- prices ----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Settlement:
    """How a selection settled: the fractions of stake and of payout returned.

    A winner has ``payout_returned == 1.0`` (a fraction for a dead heat), a loser 0.0/0.0, a void
    selection ``stake_returned == 1.0`` (docs/protocol.md section 5).
    """

    stake_returned: float
    payout_returned: float

    @property
    def is_winner(self) -> bool:
        return self.payout_returned > 0.0

    @property
    def is_void(self) -> bool:
        return self.stake_returned > 0.0 and self.payout_returned == 0.0


@attrs.frozen(kw_only=True)
class Selection:
    """One golfer (or outcome) in a market, as carried by a ``market_update``.

    ``price`` is decimal odds, or ``None`` when the selection is not priced.
    """

    id: str
    name: Optional[str] = None
    price: Optional[float] = None
    status: Optional[Union[MarketStatus, str]] = None
    settlement: Optional[Settlement] = None
    raw: Dict[str, Any] = attrs.field(factory=dict, repr=False, hash=False)


@attrs.frozen(kw_only=True)
class MarketUpdate(Record):
    """``market_update`` push: the full current image of one subscribed market (not a delta).

    Sent once per matching market right after a subscribe (the subscription snapshot) and then
    whenever the market changes. ``selections`` is built from ``raw`` on first access: the codec
    has already checked every field, and most consumers of a fast feed look at a few markets only.
    """

    market_id: str
    status: Union[MarketStatus, str]
    _MODELLED = ("id", "status", "selections")

    @functools.cached_property
    def selections(self) -> Tuple[Selection, ...]:
        """The selections, in the order the server sent them."""
        return tuple(map(_selection, self.raw["msg"].get("selections") or ()))

    def selection(self, selection_id: str) -> Optional[Selection]:
        """The selection with this id, or ``None``."""
        return next((s for s in self.selections if s.id == selection_id), None)

    @property
    def is_settled(self) -> bool:
        return self.status == MarketStatus.SETTLED


# Building selections is the hot path of any handler that reads prices: 30 per update on a busy
# feed. attrs' generated __init__ for a frozen class spends 0.6 us of the 0.9 us a selection took
# (an object.__setattr__ call per field, keyword parsing). The codec has already checked every
# field (fields.check_selections), so _selection fills the slots through their descriptors
# directly: 0.4 us (benchmarks/decode.py, "reading every selection"). The record is the same
# frozen attrs instance either way; the check below makes a new field of Selection fail at import
# rather than be left unset here.
_SELECTION_FIELDS = ("id", "name", "price", "status", "settlement", "raw")
if tuple(a.name for a in attrs.fields(Selection)) != _SELECTION_FIELDS:  # pragma: no cover
    raise ImportError("messages._selection must be updated for the fields of Selection")
_set_id, _set_name, _set_price, _set_status, _set_settlement, _set_raw = (
    Selection.__dict__[name].__set__ for name in _SELECTION_FIELDS
)
_new = object.__new__
_STATUSES = MarketStatus._value2member_map_  # what MarketStatus.parse looks up


def _selection(raw: Dict[str, Any]) -> Selection:
    """The :class:`Selection` for one checked selection object (see the note above)."""
    st = raw.get("status")
    settlement = raw.get("settlement")
    price = raw.get("price")
    s = _new(Selection)
    _set_id(s, raw["id"])
    _set_name(s, raw.get("name"))
    _set_price(s, price if price is None or type(price) is float else float(price))
    _set_status(s, None if st is None else _STATUSES.get(st, st))
    _set_settlement(
        s,
        None
        if settlement is None
        else Settlement(
            stake_returned=float(settlement["stake_returned"]),
            payout_returned=float(settlement["payout_returned"]),
        ),
    )
    _set_raw(s, raw)
    return s


# The same for the record itself: one per update on the reader thread, where attrs' __init__ cost
# 0.6 us of the ~20 us a 3 KB update takes to decode. Used by the codec, which has checked the
# fields; ``selections`` stays unset until first read, as with __init__.
_MARKET_UPDATE_FIELDS = ("publish_time", "received_at", "raw", "market_id", "status")
if tuple(a.name for a in attrs.fields(MarketUpdate)) != _MARKET_UPDATE_FIELDS:  # pragma: no cover
    raise ImportError("messages.new_market_update must be updated for the fields of MarketUpdate")
_mu_set = tuple(getattr(MarketUpdate, name).__set__ for name in _MARKET_UPDATE_FIELDS)


def new_market_update(
    publish_time: Optional[datetime],
    received_at: Optional[float],
    raw: Dict[str, Any],
    market_id: str,
    status: Union[MarketStatus, str],
) -> MarketUpdate:
    """``MarketUpdate(...)`` without attrs' keyword-argument ``__init__`` (for the codec's hot path)."""
    set_pt, set_ra, set_raw, set_id, set_status = _mu_set
    record = _new(MarketUpdate)
    set_pt(record, publish_time)
    set_ra(record, received_at)
    set_raw(record, raw)
    set_id(record, market_id)
    set_status(record, status)
    return record


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
