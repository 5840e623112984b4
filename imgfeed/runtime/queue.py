"""The dispatch queue between the reader and the dispatcher: bounded, batched, conflating.

Contract:

- Items (records and notifications) come out in the order they went in, except that an item may
  be *conflated*: replaced by a newer item with the same key, which then sits at the newer item's
  place. Only ``MarketUpdate`` (key: its market id) and ``Heartbeat`` (one key) are ever
  conflated: each update is the full image of its market (protocol.md 6), and only the latest
  heartbeat matters to a handler. Everything else -- snapshot records, removals, responses,
  errors, notifications -- is never dropped, and the runtime's notifications (``Connected``,
  ``Disconnected``, ``SuspendedAll`` ...) are never held back by the bound either.
- The new item is appended, and the old slot is marked dead, rather than the new item being put in
  the old slot: moving an update *earlier* could put it before a ``remove_markets`` or a
  ``Disconnected`` that it followed on the wire.
- Dead slots are compacted away when they are more than half of the deque, so memory stays
  bounded by the number of live items.
- ``put_many`` / ``get_many`` move a whole batch per lock round: a ``queue.Queue`` hop costs ~7 µs
  per item, a list per received chunk well under 0.1 µs per record.

Why conflate rather than block (the default): the server drops a reader that stops draining for
10 s (protocol.md 1), and a slow handler would otherwise see prices that are ever older. With
conflation the reader never waits for the handlers unless structural messages alone fill the queue.

This module knows nothing of connections or handlers.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any, Callable, Deque, Dict, Hashable, Iterable, List, Optional

from imgfeed.feeds.img.config import OverflowPolicy
from imgfeed.errors import ImgFeedError
from imgfeed.runtime.events import Notification
from imgfeed.feeds.img.protocol.messages import Heartbeat, MarketUpdate

__all__ = ["DispatchQueue", "QueueOverflowError", "QueueClosedError"]

#: The marker left in a conflated slot.
_DEAD = object()
#: The conflation key of heartbeats (market ids are strings, so this cannot collide).
_HEARTBEAT_KEY = ("heartbeat",)
#: Compact only deques at least this long: below it a few dead slots cost nothing.
_COMPACT_MIN = 64


class QueueOverflowError(ImgFeedError):
    """The queue is full and its policy says not to wait (``overflow_policy="disconnect"``)."""


class QueueClosedError(ImgFeedError):
    """``put_many`` on a closed queue."""


class DispatchQueue:
    """A bounded FIFO of records and notifications with optional conflation.

    Args:
        maxsize: the bound, in live items.
        policy: what ``put_many`` does when the queue is full (see :class:`OverflowPolicy`).
        conflate_threshold: with the ``conflate`` policy, the backlog above which a newer update
            replaces the queued one for the same key.
    """

    def __init__(
        self,
        maxsize: int = 100_000,
        policy: OverflowPolicy = OverflowPolicy.CONFLATE,
        conflate_threshold: Optional[int] = None,
    ) -> None:
        self.maxsize = maxsize
        self.policy = OverflowPolicy(policy)
        self.conflate_threshold = maxsize // 2 if conflate_threshold is None else conflate_threshold
        # Each slot is a one-item list, so that a conflated slot can be marked dead in place.
        self._slots: Deque[List[Any]] = collections.deque()
        # The queued slot of each conflatable key; a key is removed when its slot is taken.
        self._latest: Dict[Hashable, List[Any]] = {}
        self._dead = 0
        self._cond = threading.Condition(threading.Lock())
        self._closed = False
        #: How many items were replaced by a newer one (cumulative).
        self.conflated = 0
        #: The highest number of live items seen.
        self.high_water = 0

    def __repr__(self) -> str:
        return (
            f"<DispatchQueue depth={len(self)} maxsize={self.maxsize} policy={self.policy.value} "
            f"conflated={self.conflated}{' closed' if self._closed else ''}>"
        )

    def __len__(self) -> int:
        """The number of live (not conflated) items queued."""
        return len(self._slots) - self._dead

    @property
    def closed(self) -> bool:
        return self._closed

    def put_many(
        self, items: Iterable[Any], should_stop: Callable[[], bool] = lambda: False, force: bool = False
    ) -> None:
        """Queue ``items`` in order.

        With the ``block`` policy (or ``conflate`` when non-conflatable items alone fill the
        queue) this waits for room, in short steps, until ``should_stop()`` is true.

        ``force`` ignores the bound: for the runtime's own few notifications (``Disconnected``,
        ``SuspendedAll`` ...), which must reach the handlers even when the queue is full.

        Raises:
            QueueOverflowError: the queue is full and the policy is ``disconnect``.
            QueueClosedError: the queue was closed.
        """
        conflate = self.policy is OverflowPolicy.CONFLATE
        threshold = self.conflate_threshold
        with self._cond:
            if self._closed:
                raise QueueClosedError("the dispatch queue is closed")
            slots = self._slots
            latest = self._latest
            for item in items:
                kind = type(item)
                key: Optional[Hashable]
                if kind is MarketUpdate:
                    key = item.market_id
                elif kind is Heartbeat:
                    key = _HEARTBEAT_KEY
                else:
                    key = None
                live = len(slots) - self._dead
                if key is not None and conflate and live >= threshold:
                    old = latest.get(key)
                    if old is not None:
                        old[0] = _DEAD
                        self._dead += 1
                        self.conflated += 1
                        live -= 1
                # Runtime notifications are few and must never be lost or wait: they pass the bound.
                if live >= self.maxsize and not force and not isinstance(item, Notification):
                    self._wait_for_room(should_stop)
                slot = [item]
                slots.append(slot)
                if key is not None:
                    latest[key] = slot
            live = len(slots) - self._dead
            if live > self.high_water:
                self.high_water = live
            if self._dead > _COMPACT_MIN and self._dead * 2 > len(slots):
                self._compact()
            self._cond.notify()

    def _wait_for_room(self, should_stop: Callable[[], bool]) -> None:
        """Called with the lock held and the queue full."""
        if self.policy is OverflowPolicy.DISCONNECT:
            raise QueueOverflowError(
                f"the dispatch queue is full ({self.maxsize} items): the handlers are too slow for the feed"
            )
        while len(self._slots) - self._dead >= self.maxsize:
            if self._closed:
                raise QueueClosedError("the dispatch queue is closed")
            if should_stop():
                raise QueueClosedError("stopped while waiting for room in the dispatch queue")
            self._cond.wait(0.1)

    def _compact(self) -> None:
        self._slots = collections.deque(s for s in self._slots if s[0] is not _DEAD)
        self._dead = 0

    def get_many(self, timeout: float, max_items: int = 1000) -> List[Any]:
        """Take up to ``max_items`` live items, waiting up to ``timeout`` seconds for the first.

        Returns an empty list on timeout, or when the queue is closed and empty.
        """
        deadline = time.monotonic() + timeout
        out: List[Any] = []
        with self._cond:
            while len(self._slots) == self._dead:
                if self._closed:
                    return out
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return out
                self._cond.wait(remaining)
            slots = self._slots
            latest = self._latest
            while slots and len(out) < max_items:
                slot = slots.popleft()
                item = slot[0]
                if item is _DEAD:
                    self._dead -= 1
                    continue
                kind = type(item)
                if kind is MarketUpdate:
                    if latest.get(item.market_id) is slot:
                        del latest[item.market_id]
                elif kind is Heartbeat and latest.get(_HEARTBEAT_KEY) is slot:
                    del latest[_HEARTBEAT_KEY]
                out.append(item)
            self._cond.notify_all()  # room for a waiting reader
        return out

    def close(self) -> None:
        """No more puts; ``get_many`` drains what is left, then returns empty lists."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def clear(self) -> int:
        """Drop everything queued; return how many live items were dropped."""
        with self._cond:
            n = len(self._slots) - self._dead
            self._slots.clear()
            self._latest.clear()
            self._dead = 0
            self._cond.notify_all()
            return n
