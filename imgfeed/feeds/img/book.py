"""The IMG market book: what the feed says is true *now*, and which markets may be traded.

Contract (docs/protocol.md sections 4, 5, 6 and 8):

- The offering (sport, competitions, events, market types, markets) comes from the snapshot the
  server pushes after ``init``. A ``sport`` push starts a snapshot, so it replaces the whole
  offering; the snapshot ends at the first record of another kind (a heartbeat in the middle of
  it does not end it).
- Each subscribed market's latest image is its latest ``market_update`` (a full image, not a delta).
- ``remove_markets`` drops markets from the offering and their images; so does a new snapshot
  that no longer lists a market (its image is forgotten once the snapshot ends, unless it was
  updated on the current session).
- Tradability follows the runtime's one rule (:mod:`imgfeed.runtime.tradability`): every market is
  suspended while disconnected and while heartbeats are late; after a (re)connect each market stays
  suspended until its own ``market_update`` arrives on that session. On top of it, a market is
  open only while the subscriptions in force want it (:mod:`imgfeed.feeds.img.subscriptions`): an
  image that arrives for a market the client has unsubscribed -- during a re-subscription, say --
  never makes it tradable. An image from an earlier session is kept for display only.

A market is **tradable** when the session is up, heartbeats are on time, its latest image arrived
on this session, that image's status is ``open``, and the subscriptions in force want it.

Why the book is updated by the reader thread and not the dispatcher: a book updated behind slow
handlers would lag behind the wire and show a stale price as live. The book is "the truth now";
handlers get the ordered stream. The runtime updates it under :attr:`MarketBook.lock`, once per
received chunk, and reads take the same lock briefly, so ``is_tradable`` and ``snapshot`` are
consistent from any thread.

The ``*_locked`` methods are the runtime's: call them only inside ``with book.lock:``.
"""

from __future__ import annotations

import threading
import time
from types import MappingProxyType
from typing import (
    Any,
    Callable,
    Collection,
    Dict,
    FrozenSet,
    Iterable,
    List,
    Mapping,
    Optional,
    Set,
)

import attrs

from imgfeed.feeds.img.images import Held, SnapshotImages, handed_out, held_status, hold
from imgfeed.feeds.img.protocol.messages import (
    Competition,
    Event,
    Heartbeat,
    InitResponse,
    Market,
    MarketStatus,
    MarketType,
    MarketUpdate,
    RemoveMarkets,
    Response,
    Sport,
    raw_market_id,
)
from imgfeed.feeds.img.subscriptions import SubscriptionState, may_cover
from imgfeed.runtime.events import Notification, SuspendReason
from imgfeed.runtime.tradability import Tradability

__all__ = ["MarketBook", "BookSnapshot"]

#: The records of a snapshot (docs/protocol.md section 4); any other record but a heartbeat ends it.
_SNAPSHOT_KINDS = frozenset({Sport, Competition, Event, MarketType, Market, Heartbeat})
#: Records the book applies without showing them to handlers (the caller of the request gets them).
_NOT_DELIVERED = frozenset({Response, InitResponse})
_OPEN = MarketStatus.OPEN


@attrs.frozen
class BookSnapshot:
    """A consistent copy of the book at one instant, safe to keep and read from any thread.

    Attributes:
        sports, competitions, events, market_types, markets: the offering, by id.
        images: the latest ``MarketUpdate`` of every market that has one, by market id (each a
            copy made on first access: what you parse of it goes with the snapshot).
        tradable: the ids of the markets that were tradable at that instant.
        suspended: why every market was suspended, or ``None``.
        session_number: 0 before the first session, then 1, 2, ... per connection.
        taken_at: ``time.time()`` when the copy was taken.
    """

    sports: Mapping[str, Sport]
    competitions: Mapping[str, Competition]
    events: Mapping[str, Event]
    market_types: Mapping[str, MarketType]
    markets: Mapping[str, Market]
    images: Mapping[str, MarketUpdate]
    tradable: FrozenSet[str]
    suspended: Optional[SuspendReason]
    session_number: int
    taken_at: float

    def is_tradable(self, market_id: str) -> bool:
        """Whether ``market_id`` was tradable when the snapshot was taken."""
        return market_id in self.tradable


def _ro(d: Dict[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(d))


def _matches(market: Market, msg: Mapping[str, Collection[str]]) -> bool:
    """The service's rule: a market matches when it matches every list given."""
    values = {"event_ids": market.event_id, "market_type_ids": market.market_type_id, "market_ids": market.id}
    return all(values.get(key) in ids for key, ids in msg.items())


class MarketBook:
    """The offering and the latest image of every subscribed market, with the feed's rules.

    Created and updated by :class:`~imgfeed.FeedClient` (``client.book``); read it from any thread.
    It can also be driven by hand (tests, tools) through :meth:`apply` and the session methods.

    Args:
        subscriptions: the subscriptions in force, which decide which markets are wanted
            (``None``, for a book driven by hand: every market is).
    """

    def __init__(self, subscriptions: Optional[SubscriptionState] = None) -> None:
        #: Held by the runtime while it applies a chunk; readers hold it briefly. Re-entrant, so
        #: that a :meth:`wait_for` predicate may call the book's other methods.
        self.lock = threading.RLock()
        self._changed = threading.Condition(self.lock)
        self._subscriptions = subscriptions
        self._sports: Dict[str, Sport] = {}
        self._competitions: Dict[str, Competition] = {}
        self._events: Dict[str, Event] = {}
        self._market_types: Dict[str, MarketType] = {}
        self._markets: Dict[str, Market] = {}
        self._images: Dict[str, Held] = {}
        #: Markets whose latest image arrived on the current session.
        self._fresh: Set[str] = set()
        self._trade = Tradability()
        self._session_number = 0
        #: A snapshot started (``sport``) and has not ended yet.
        self._in_snapshot = False

    def __repr__(self) -> str:
        with self.lock:
            return (
                f"<MarketBook markets={len(self._markets)} images={len(self._images)} "
                f"tradable={len(self._trade.tradable())} suspended={self._trade.suspend_reason}>"
            )

    # --- reading (any thread) --------------------------------------------------------------------

    def is_tradable(self, market_id: str) -> bool:
        """May I trade on this market now? One call, consistent, from any thread.

        ``market_id`` may be the raw id the feed sends or its decoded form (``golf_1_matchbet|...``).
        """
        with self.lock:
            return self._trade.is_tradable(self._id(market_id))

    @property
    def suspended(self) -> Optional[SuspendReason]:
        """Why every market is suspended now, or ``None`` when they are not all suspended."""
        with self.lock:
            return self._trade.suspend_reason

    def image(self, market_id: str) -> Optional[MarketUpdate]:
        """The latest ``market_update`` for this market (possibly from an earlier connection).

        Each call gives a fresh copy sharing the line, so reading its prices caches nothing in the
        book; keep the record if you read it more than once."""
        with self.lock:
            image = self._images.get(self._id(market_id))
        return None if image is None else handed_out(image)

    def market(self, market_id: str) -> Optional[Market]:
        """The market's description from the snapshot, if it is in the offering."""
        with self.lock:
            return self._markets.get(self._id(market_id))

    def matching(self, msg: Mapping[str, Collection[str]]) -> List[str]:
        """The ids of the markets of the offering that a subscribe with this ``msg`` would match."""
        with self.lock:
            return [m.id for m in self._markets.values() if _matches(m, msg)]

    def tradable_market_ids(self) -> FrozenSet[str]:
        """The ids of every market tradable now."""
        with self.lock:
            return self._trade.tradable()

    def snapshot(self) -> BookSnapshot:
        """A consistent copy of the whole book (costs a copy of each dict; not for the hot path)."""
        with self.lock:
            return BookSnapshot(
                sports=_ro(self._sports),
                competitions=_ro(self._competitions),
                events=_ro(self._events),
                market_types=_ro(self._market_types),
                markets=_ro(self._markets),
                images=SnapshotImages(self._images),
                tradable=self._trade.tradable(),
                suspended=self._trade.suspend_reason,
                session_number=self._session_number,
                taken_at=time.time(),
            )

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` is true, re-checking after every change of the book.

        For scripts and tests ("wait until this market is tradable"); a trading application
        should react to ``on_market_status`` instead.

        Returns:
            the predicate's last value (False on timeout).
        """
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def state_records_locked(self) -> Optional[List[Any]]:
        """The offering (sport, competitions, events, market types, markets), then every latest
        image, in the order a snapshot and subscriptions send them; ``None`` while a snapshot is
        arriving (the offering is not whole yet). For a checkpoint: see ``ImgAdapter.checkpoint``."""
        if self._in_snapshot:
            return None
        offering = (self._sports, self._competitions, self._events, self._market_types, self._markets)
        images = [handed_out(held) for held in self._images.values()]
        return [record for part in offering for record in part.values()] + images

    def changed_locked(self) -> None:
        """Wake :meth:`wait_for` callers; the runtime calls it once per applied chunk."""
        self._changed.notify_all()

    def __len__(self) -> int:
        """The number of markets in the offering."""
        with self.lock:
            return len(self._markets)

    # --- driving by hand (tests, tools): each takes the lock and returns the notifications ------

    def apply(self, records: Iterable[Any]) -> List[Notification]:
        """Apply records in order; return the notifications they caused."""
        def apply_all(out: List[Any]) -> None:
            for record in records:
                self.apply_locked(record, out)

        return self._by_hand(apply_all)

    def session_started(self) -> List[Notification]:
        return self._by_hand(self.session_started_locked)

    def session_lost(self) -> List[Notification]:
        return self._by_hand(self.session_lost_locked)

    def heartbeat_late(self) -> List[Notification]:
        return self._by_hand(self.heartbeat_late_locked)

    def heartbeat_resumed(self) -> List[Notification]:
        return self._by_hand(self.heartbeat_resumed_locked)

    def _by_hand(self, change: Callable[[List[Any]], Any]) -> List[Notification]:
        out: List[Any] = []
        with self.lock:
            change(out)
            self._changed.notify_all()
        return [n for n in out if isinstance(n, Notification)]

    # --- the runtime (under the lock) ------------------------------------------------------------

    def apply_locked(self, record: Any, out: List[Any]) -> None:
        """Apply one record; append it (if handlers see it) and the notifications it causes."""
        kind = type(record)
        if self._in_snapshot and kind not in _SNAPSHOT_KINDS:
            self._snapshot_ended()
        if kind not in _NOT_DELIVERED:
            out.append(record)
        if kind is MarketUpdate:
            market_id = record.market_id
            # The book keeps the image's fields, sharing the line: what a handler parses of the
            # record it is given goes when the handler is done (imgfeed/feeds/img/images.py).
            self._images[market_id] = hold(record)
            self._fresh.add(market_id)
            # _refresh(market_id, out), with what it would look up in hand (every update's path).
            self._trade.set_open(market_id, record.status == _OPEN and self._wanted(market_id), out)
        elif kind is Market:
            self._markets[record.id] = record
            if record.id in self._fresh:
                self._refresh(record.id, out)  # now known: the subscriptions can be checked in full
        elif kind is Event:
            self._events[record.id] = record
        elif kind is MarketType:
            self._market_types[record.id] = record
        elif kind is Competition:
            self._competitions[record.id] = record
        elif kind is Sport:
            # A sport push starts a snapshot: the new snapshot replaces the old offering.
            for offering in (self._sports, self._competitions, self._events, self._market_types, self._markets):
                offering.clear()
            self._sports[record.id] = record
            self._in_snapshot = True
            for market_id in list(self._fresh):
                self._refresh(market_id, out)  # no longer in the offering (yet): judged as such
        elif kind is RemoveMarkets:
            for market_id in record.market_ids:
                self._markets.pop(market_id, None)
                self._images.pop(market_id, None)
                self._fresh.discard(market_id)
                self._trade.forget(market_id, out)

    def session_started_locked(self, out: List[Any]) -> None:
        """A session came up: "each market stays suspended until a status update for that market
        has been received" (docs/protocol.md section 8). Images are kept for display, not trusted."""
        self._session_number += 1
        self._fresh.clear()
        self._trade.session_started(out)

    def session_lost_locked(self, out: List[Any]) -> None:
        """The connection is gone: "while disconnected every market is suspended"."""
        self._fresh.clear()
        self._trade.session_lost(out)

    def heartbeat_late_locked(self, out: List[Any]) -> None:
        """No heartbeat for too long: "treat every market as suspended" (docs/protocol.md section 8)."""
        self._trade.heartbeat_late(out)

    def heartbeat_resumed_locked(self, out: List[Any]) -> None:
        """"... until the next heartbeat"."""
        self._trade.heartbeat_resumed(out)

    def subscriptions_changed_locked(self, out: List[Any], removed: Optional[Dict[str, Any]] = None) -> None:
        """The subscriptions in force changed: markets they no longer want stop being tradable.

        Args:
            removed: the filter of what may have stopped (an unsubscribe's ``msg``, a subscribe
                given up): a market outside the offering that it may cover is no longer trusted
                until its next image (see :mod:`imgfeed.feeds.img.subscriptions`).
        """
        for market_id in list(self._fresh):
            if removed is not None and market_id not in self._markets and may_cover(removed, market_id):
                self._fresh.discard(market_id)
            self._refresh(market_id, out)

    # --- internals -------------------------------------------------------------------------------

    def _id(self, market_id: str) -> str:
        """The raw form of an id given in either form (the raw one is returned as it is, at once)."""
        if market_id in self._images or market_id in self._markets:
            return market_id
        return raw_market_id(market_id)

    def _wanted(self, market_id: str) -> bool:
        subscriptions = self._subscriptions
        market = self._markets.get(market_id)
        if subscriptions is None or market is None:
            return True  # outside the offering: its image is the server's word (see subscriptions_changed_locked)
        return subscriptions.wants(market_id, market.event_id, market.market_type_id)

    def _refresh(self, market_id: str, out: List[Any]) -> None:
        image = self._images.get(market_id)
        is_open = (
            image is not None
            and market_id in self._fresh
            and held_status(image) == MarketStatus.OPEN
            and self._wanted(market_id)
        )
        self._trade.set_open(market_id, is_open, out)

    def _snapshot_ended(self) -> None:
        """The first message after a snapshot: forget images of markets it no longer lists.

        They were removed while we were away (or during the old session) and no update will come
        for them; an image kept "for display" would be stale forever. Images that arrived on this
        session are kept whatever the offering says (a market can be subscribed without being in
        the snapshot).
        """
        self._in_snapshot = False
        gone = [m for m in self._images if m not in self._markets and m not in self._fresh]
        for market_id in gone:
            del self._images[market_id]
