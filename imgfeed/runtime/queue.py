"""The dispatch queue between the reader and the dispatcher: batched, conflating, never blocking a lock.

Contract:

- Items (records and notifications) come out in the order they went in, except that an item may
  be *conflated*: replaced by a newer item with the same key, which then sits at the newer item's
  place. Which items have a key is the feed's choice (IMG: a ``market_update`` is the full image of
  its market; Betfair: never a delta) plus the runtime's: a ``MarketStatusChanged`` is keyed by its
  market, since only the latest "tradable now?" matters. Items without a key are never dropped.
- The new item is appended and the old one marked dead (by identity: the deque holds the items
  themselves, no wrapper per slot), rather than the new item put in the old one's place: moving an
  item *earlier* could put it before a removal or a ``Disconnected`` that it followed on the wire.
- :meth:`DispatchQueue.put_many` never waits. It is called under the runtime's lock (the items'
  order must be the order of the book's transitions), and a wait there would freeze the watchdog
  behind it. It reports whether the queue is now over its bound; the reader then applies the
  overflow policy *after* releasing the lock: wait for room (``block``), or end the connection
  (``disconnect``; ``conflate`` when items that cannot be conflated alone fill the queue). The
  queue may therefore exceed its bound by one chunk's items.
- Dead items are compacted away when they are more than half of the deque, so memory stays
  bounded by the number of live items.
- ``put_many`` / ``get_many`` move a whole batch per lock round: a ``queue.Queue`` hop costs ~7 µs
  per item, a list per received chunk well under 0.1 µs per record.
- A waiting side sleeps on a ``queue.SimpleQueue`` (a C semaphore), woken by a token only when it
  is asleep: a ``threading.Condition`` round costs several µs of Python per wake, which at one
  record per SSH packet (10,000 a second) was a large part of the dispatcher's time.

Why conflate rather than block (the default): a server drops a reader that stops draining, and a
slow handler would otherwise see prices that are ever older.

This module knows no feed and no connection.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from typing import (
    Any,
    Callable,
    Deque,
    Dict,
    Hashable,
    Iterable,
    List,
    Mapping,
    Optional,
    Set,
    Type,
)

from imgfeed.errors import ImgFeedError
from imgfeed.runtime.config import OverflowPolicy
from imgfeed.runtime.events import MarketStatusChanged

__all__ = ["DispatchQueue", "QueueClosedError", "KeyFunctions"]

#: Record type -> its conflation key.
KeyFunctions = Mapping[Type[Any], Callable[[Any], Hashable]]

#: Compact only deques at least this long: below it a few dead slots cost nothing.
_COMPACT_MIN = 64


def _status_key(note: MarketStatusChanged) -> Hashable:
    return ("tradable?", note.market_id)


class QueueClosedError(ImgFeedError):
    """``put_many`` on a closed queue."""


class DispatchQueue:
    """A FIFO of records and notifications with a soft bound and optional conflation.

    Args:
        maxsize: the bound, in live items.
        policy: what the reader does when the queue is over its bound (see the module docstring).
        conflate_threshold: with the ``conflate`` policy, the backlog above which a newer item
            replaces the queued one with the same key.
        keys: the feed's conflation keys (record type -> key function).
    """

    def __init__(
        self,
        maxsize: int = 100_000,
        policy: OverflowPolicy = OverflowPolicy.CONFLATE,
        conflate_threshold: Optional[int] = None,
        keys: Optional[KeyFunctions] = None,
    ) -> None:
        self.maxsize = maxsize
        self.policy = OverflowPolicy(policy)
        self.conflate_threshold = maxsize // 2 if conflate_threshold is None else conflate_threshold
        self._keys: Dict[Type[Any], Callable[[Any], Hashable]] = {**(keys or {}), MarketStatusChanged: _status_key}
        self._items: Deque[Any] = collections.deque()
        # The latest queued item of each conflatable key; a key is removed when its item is taken.
        self._latest: Dict[Hashable, Any] = {}
        # The ids of the items replaced by a newer one, still in the deque until taken or compacted
        # (an item in the deque is alive, so its id cannot be reused meanwhile).
        self._dead: Set[int] = set()
        self._lock = threading.Lock()
        self._closed = False
        # Sleeping sides and the tokens that wake them (module docstring).
        self._taker_asleep = False
        self._wake_taker: "queue.SimpleQueue[None]" = queue.SimpleQueue()
        self._putter_asleep = False
        self._wake_putter: "queue.SimpleQueue[None]" = queue.SimpleQueue()
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
        return len(self._items) - len(self._dead)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def over_bound(self) -> bool:
        return len(self) >= self.maxsize

    def put_many(self, items: Iterable[Any]) -> bool:
        """Queue ``items`` in order, conflating where allowed; never waits.

        Returns:
            True when the queue is now at or over its bound (the caller applies the policy).

        Raises:
            QueueClosedError: the queue was closed.
        """
        conflate = self.policy is OverflowPolicy.CONFLATE
        threshold = self.conflate_threshold
        keys = self._keys
        with self._lock:
            if self._closed:
                raise QueueClosedError("the dispatch queue is closed")
            queued = self._items
            latest = self._latest
            dead = self._dead
            append = queued.append
            for item in items:
                keyfn = keys.get(type(item))
                if keyfn is not None:
                    key = keyfn(item)
                    if conflate and len(queued) - len(dead) >= threshold:
                        old = latest.get(key)
                        if old is not None:
                            dead.add(id(old))
                            self.conflated += 1
                    latest[key] = item
                append(item)
            live = len(queued) - len(dead)
            if live > self.high_water:
                self.high_water = live
            if len(dead) > _COMPACT_MIN and len(dead) * 2 > len(queued):
                self._items = collections.deque(i for i in queued if id(i) not in dead)
                dead.clear()
            if self._taker_asleep:
                self._taker_asleep = False
                self._wake_taker.put(None)
            return live >= self.maxsize

    def wait_for_room(self, should_stop: Callable[[], bool], poll: float = 0.1) -> None:
        """Wait until the queue is under its bound (the ``block`` policy), in short steps.

        Raises:
            QueueClosedError: the queue was closed, or ``should_stop()`` became true.
        """
        while True:
            with self._lock:
                if len(self) < self.maxsize:
                    return
                if self._closed:
                    raise QueueClosedError("the dispatch queue is closed")
                self._putter_asleep = True
            if should_stop():
                raise QueueClosedError("stopped while waiting for room in the dispatch queue")
            try:
                self._wake_putter.get(timeout=poll)
            except queue.Empty:
                pass

    def get_many(self, timeout: float, max_items: int = 1000) -> List[Any]:
        """Take up to ``max_items`` live items, waiting up to ``timeout`` seconds for the first.

        Returns an empty list on timeout, or when the queue is closed and empty.
        """
        deadline = None
        while True:
            with self._lock:
                if len(self._items) > len(self._dead):
                    return self._take(max_items)
                if self._closed:
                    return []
                self._taker_asleep = True
            if deadline is None:
                deadline = time.monotonic() + timeout
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                with self._lock:
                    self._taker_asleep = False
                return []
            try:
                self._wake_taker.get(timeout=remaining)
            except queue.Empty:
                pass

    def _take(self, max_items: int) -> List[Any]:
        """Called with the lock held and live items queued."""
        out: List[Any] = []
        queued = self._items
        latest = self._latest
        dead = self._dead
        keys = self._keys
        popleft = queued.popleft
        while queued and len(out) < max_items:
            item = popleft()
            if dead and id(item) in dead:
                dead.discard(id(item))
                continue
            keyfn = keys.get(type(item))
            if keyfn is not None:
                key = keyfn(item)
                if latest.get(key) is item:
                    del latest[key]
            out.append(item)
        if self._putter_asleep and len(self) < self.maxsize:
            self._putter_asleep = False
            self._wake_putter.put(None)  # room for a waiting reader
        return out

    def close(self) -> None:
        """No more puts; ``get_many`` drains what is left, then returns empty lists."""
        with self._lock:
            self._closed = True
            self._taker_asleep = self._putter_asleep = False
        self._wake_taker.put(None)
        self._wake_putter.put(None)

    def clear(self) -> int:
        """Drop everything queued; return how many live items were dropped."""
        with self._lock:
            n = len(self)
            self._items.clear()
            self._latest.clear()
            self._dead.clear()
            if self._putter_asleep:
                self._putter_asleep = False
                self._wake_putter.put(None)
            return n
