"""The market book: what the feed says is true *now*, and which markets may be traded.

Contract (protocol.md sections 4, 5 and 8):

- The offering (sport, competitions, events, market types, markets) comes from the snapshot the
  server pushes after ``init``. A ``sport`` push starts a snapshot, so it replaces the whole
  offering: "a new snapshot replaces the old offering".
- Each subscribed market's latest image is its latest ``market_update`` (a full image, not a delta).
- ``remove_markets`` drops markets from the offering and their images; so does a new snapshot
  that no longer lists a market (its image is forgotten at the first message after the snapshot,
  unless it was updated on the current session).
- Every market is suspended while disconnected and while heartbeats are late.
- After a (re)connect, each market stays suspended until its own ``market_update`` arrives: only
  then is its state known again. An image from an earlier connection is kept for display but never
  makes a market tradable.

A market is **tradable** when the session is up, heartbeats are on time, its latest image arrived
on this session, and that image's status is ``open``.

Why the book is updated by the reader thread and not the dispatcher: if a handler is slow, a book
updated behind the handlers lags behind the wire and would show a stale price as live. The book is
"the truth now"; handlers get the ordered stream. The runtime updates it under its lock, once per
received chunk, and reads take the same lock briefly, so ``is_tradable`` and ``snapshot`` are
consistent from any thread.

Per-market transitions are reported as :class:`~imgfeed.runtime.events.MarketStatusChanged`, computed from
the market's own state only; global suspensions are reported once, as
:class:`~imgfeed.runtime.events.SuspendedAll` / :class:`~imgfeed.runtime.events.ResumedAll`. A handler that tracks
both knows at every moment what :meth:`MarketBook.is_tradable` would answer. After ``Connected``
every market starts untradable.

The ``*_locked`` methods are the runtime's: call them only inside ``with book.lock:``.
"""

from __future__ import annotations

import threading
import time
from types import MappingProxyType
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Set

import attrs

from imgfeed.runtime.events import MarketStatusChanged, Notification, ResumedAll, SuspendedAll, SuspendReason
from imgfeed.feeds.img.protocol.messages import (
    Competition,
    Event,
    Heartbeat,
    Market,
    MarketStatus,
    MarketType,
    MarketUpdate,
    RemoveMarkets,
    Sport,
)

__all__ = ["MarketBook", "BookSnapshot"]

#: The records of a snapshot (protocol.md 4); any other record after a ``sport`` ends it.
_SNAPSHOT_KINDS = frozenset({Sport, Competition, Event, MarketType, Market})


@attrs.frozen
class BookSnapshot:
    """A consistent copy of the book at one instant, safe to keep and read from any thread.

    Attributes:
        sports, competitions, events, market_types, markets: the offering, by id.
        images: the latest ``MarketUpdate`` of every market that has one, by market id.
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


class MarketBook:
    """The offering and the latest image of every subscribed market, with the feed's rules.

    Created and updated by :class:`~imgfeed.FeedClient` (``client.book``); read it from any thread.
    It can also be driven by hand (tests, replays) through :meth:`apply` and the session methods.
    """

    def __init__(self) -> None:
        #: Held by the runtime while it applies a chunk; readers hold it briefly. Re-entrant, so
        #: that a :meth:`wait_for` predicate may call the book's other methods.
        self.lock = threading.RLock()
        self._changed = threading.Condition(self.lock)
        self._sports: Dict[str, Sport] = {}
        self._competitions: Dict[str, Competition] = {}
        self._events: Dict[str, Event] = {}
        self._market_types: Dict[str, MarketType] = {}
        self._markets: Dict[str, Market] = {}
        self._images: Dict[str, MarketUpdate] = {}
        #: Markets whose latest image arrived on the current session.
        self._fresh: Set[str] = set()
        #: Markets that are locally tradable: fresh and open (global suspension aside).
        self._open: Set[str] = set()
        self._connected = False
        self._heartbeat_late = False
        self._session_number = 0
        #: A snapshot started (``sport``) and has not ended yet (no non-snapshot message since).
        self._in_snapshot = False

    def __repr__(self) -> str:
        with self.lock:
            return (
                f"<MarketBook markets={len(self._markets)} images={len(self._images)} "
                f"tradable={len(self._open) if self._suspend_reason() is None else 0} "
                f"suspended={self._suspend_reason()}>"
            )

    # --- reading (any thread) --------------------------------------------------------------------

    def is_tradable(self, market_id: str) -> bool:
        """May I trade on this market now? One call, consistent, from any thread."""
        with self.lock:
            return self._connected and not self._heartbeat_late and market_id in self._open

    @property
    def suspended(self) -> Optional[SuspendReason]:
        """Why every market is suspended now, or ``None`` when they are not all suspended."""
        with self.lock:
            return self._suspend_reason()

    def image(self, market_id: str) -> Optional[MarketUpdate]:
        """The latest ``market_update`` for this market (possibly from an earlier connection)."""
        with self.lock:
            return self._images.get(market_id)

    def market(self, market_id: str) -> Optional[Market]:
        """The market's description from the snapshot, if it is in the offering."""
        with self.lock:
            return self._markets.get(market_id)

    def tradable_market_ids(self) -> FrozenSet[str]:
        """The ids of every market tradable now."""
        with self.lock:
            if not self._connected or self._heartbeat_late:
                return frozenset()
            return frozenset(self._open)

    def snapshot(self) -> BookSnapshot:
        """A consistent copy of the whole book (costs a copy of each dict; not for the hot path)."""
        with self.lock:
            reason = self._suspend_reason()
            return BookSnapshot(
                sports=_ro(self._sports),
                competitions=_ro(self._competitions),
                events=_ro(self._events),
                market_types=_ro(self._market_types),
                markets=_ro(self._markets),
                images=_ro(self._images),
                tradable=frozenset(self._open) if reason is None else frozenset(),
                suspended=reason,
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

    def changed_locked(self) -> None:
        """Wake :meth:`wait_for` callers; the runtime calls it once per applied chunk."""
        self._changed.notify_all()

    def __len__(self) -> int:
        """The number of markets in the offering."""
        with self.lock:
            return len(self._markets)

    # --- updating (the runtime) ----------------------------------------------------------------

    def apply(self, records: Iterable[Any]) -> List[Notification]:
        """Apply records in order; return the notifications they caused. Takes the lock."""
        out: List[Any] = []
        with self.lock:
            for record in records:
                self.apply_locked(record, out)
            self._changed.notify_all()
        return [n for n in out if isinstance(n, Notification)]

    def session_started(self) -> List[Notification]:
        """A new session is up (takes the lock). See :meth:`session_started_locked`."""
        with self.lock:
            self._changed.notify_all()
            return self.session_started_locked()

    def session_lost(self) -> List[Notification]:
        """The connection is gone (takes the lock). See :meth:`session_lost_locked`."""
        with self.lock:
            self._changed.notify_all()
            return self.session_lost_locked()

    def heartbeat_late(self) -> List[Notification]:
        """Heartbeats are late (takes the lock). See :meth:`heartbeat_late_locked`."""
        with self.lock:
            self._changed.notify_all()
            return self.heartbeat_late_locked()

    def apply_locked(self, record: Any, out: List[Any]) -> None:
        """Apply one record; append any notifications it causes to ``out``. Hold :attr:`lock`.

        Records that are not about the book (responses, errors, unknown kinds) are ignored.
        """
        kind = type(record)
        if self._in_snapshot and kind not in _SNAPSHOT_KINDS:
            self._snapshot_ended()
        if kind is MarketUpdate:
            self._update(record, out)
        elif kind is Heartbeat:
            if self._heartbeat_late:
                self._heartbeat_late = False
                # "treat every market as suspended until the next heartbeat" (protocol.md 8)
                if self._connected:
                    out.append(ResumedAll())
        elif kind is Market:
            self._markets[record.id] = record
        elif kind is Event:
            self._events[record.id] = record
        elif kind is MarketType:
            self._market_types[record.id] = record
        elif kind is Competition:
            self._competitions[record.id] = record
        elif kind is Sport:
            # A sport push starts a snapshot: the new snapshot replaces the old offering.
            self._sports.clear()
            self._competitions.clear()
            self._events.clear()
            self._market_types.clear()
            self._markets.clear()
            self._sports[record.id] = record
            self._in_snapshot = True
        elif kind is RemoveMarkets:
            self._remove(record.market_ids, out)

    def session_started_locked(self) -> List[Notification]:
        """A session came up: the global suspension lifts, every market waits for its own image."""
        was_suspended = self._suspend_reason() is not None
        self._session_number += 1
        self._connected = True
        self._heartbeat_late = False
        # "After reconnecting, each market stays suspended until a status update for that market
        # has been received" (protocol.md 8). Images are kept for display, not trusted.
        self._fresh.clear()
        self._open.clear()
        return [ResumedAll()] if was_suspended else []

    def session_lost_locked(self) -> List[Notification]:
        """The connection is gone: "while disconnected every market is suspended" (protocol.md 8)."""
        if not self._connected:
            return []
        self._connected = False
        self._heartbeat_late = False
        self._fresh.clear()
        self._open.clear()
        return [SuspendedAll(SuspendReason.DISCONNECTED)]

    def heartbeat_late_locked(self) -> List[Notification]:
        """No heartbeat for too long: "treat every market as suspended" (protocol.md 8)."""
        if not self._connected or self._heartbeat_late:
            return []
        self._heartbeat_late = True
        return [SuspendedAll(SuspendReason.HEARTBEAT_LATE)]

    def forget_matching(self, filters: Mapping[str, Sequence[str]]) -> List[Notification]:
        """After an unsubscribe: markets it may cover get no more updates, so stop trusting them.

        A market matches when it matches every filter list given (protocol.md 6); a filter that
        cannot be checked (the market is not in the offering) counts as matching, so that a price
        that will no longer be updated is never presented as live. Images are kept for display.
        """
        out: List[Any] = []
        with self.lock:
            for market_id in list(self._fresh):
                if self._matches(market_id, filters):
                    self._fresh.discard(market_id)
                    if market_id in self._open:
                        self._open.discard(market_id)
                        out.append(MarketStatusChanged(market_id, False))
            self._changed.notify_all()
        return out

    # --- internals -------------------------------------------------------------------------------

    def _suspend_reason(self) -> Optional[SuspendReason]:
        if not self._connected:
            return SuspendReason.DISCONNECTED
        if self._heartbeat_late:
            return SuspendReason.HEARTBEAT_LATE
        return None

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

    def _update(self, update: MarketUpdate, out: List[Any]) -> None:
        market_id = update.market_id
        self._images[market_id] = update
        self._fresh.add(market_id)
        was_open = market_id in self._open
        is_open = update.status == MarketStatus.OPEN
        if is_open and not was_open:
            self._open.add(market_id)
            out.append(MarketStatusChanged(market_id, True))
        elif was_open and not is_open:
            self._open.discard(market_id)
            out.append(MarketStatusChanged(market_id, False))

    def _remove(self, market_ids: Iterable[str], out: List[Any]) -> None:
        for market_id in market_ids:
            self._markets.pop(market_id, None)
            self._images.pop(market_id, None)
            self._fresh.discard(market_id)
            if market_id in self._open:
                self._open.discard(market_id)
                out.append(MarketStatusChanged(market_id, False))

    def _matches(self, market_id: str, filters: Mapping[str, Sequence[str]]) -> bool:
        market = self._markets.get(market_id)
        for key, values in filters.items():
            if key == "market_ids":
                if market_id not in values:
                    return False
            elif market is None:
                continue  # cannot tell: assume it matches (the safe side)
            elif key == "event_ids":
                if market.event_id not in values:
                    return False
            elif key == "market_type_ids":
                if market.market_type_id not in values:
                    return False
        return True
