"""The publisher's tap and its bounded outbox: what goes to the stream, in wire order, without IO.

Contract: :class:`PublisherTap` is a :class:`~imgfeed.runtime.tap.Tap`; the runtime calls it
under the client's lock, on the reader or the watchdog, and it must not block: it splits the
bytes into lines (per connection, so a line cut off by a disconnection never joins the next
connection's first), turns each lifecycle notification into a marker, and appends them to an
:class:`Outbox` that the publisher's own thread drains. Nothing here does IO.

- **Bounded.** While Redis is away the outbox holds up to ``limit`` entries; beyond that it drops
  the newest and counts them, and the first entry it accepts again is a ``gap`` marker saying how
  many were lost there -- no loss is silent. A checkpoint is then taken as soon as possible, so
  that consumers resynchronise.
- **Exact checkpoints.** A checkpoint is taken in :meth:`PublisherTap.on_bytes`, *before* the new
  chunk is appended: the lock is held and the feed's cache has applied exactly the chunks whose
  lines are already in the outbox, so the ``checkpoint`` marker that follows them is the point of
  the stream the state belongs to. Due ``first_delay`` after each session came up (after the
  snapshot and the subscription images), then every ``interval``, and at once after a gap; a feed
  that cannot say its state now (IMG mid-snapshot) is asked again at the next chunk.
- **The upstream's tradability** is tracked from the notifications, so a checkpoint carries the
  set of markets tradable upstream and the global suspension, and each ``disconnected`` marker
  says whether that connection had come up.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Union

import attrs

from imgfeed.fanout.redis.entries import FORMAT, session_of
from imgfeed.framing import LineBuffer
from imgfeed.runtime.events import (
    Connected,
    Disconnected,
    MarketStatusChanged,
    ResumedAll,
    SuspendedAll,
    SuspendReason,
)
from imgfeed.runtime.tap import Tap

__all__ = ["Outbox", "Marker", "Checkpoint", "PublisherTap", "Item"]


@attrs.frozen
class Marker:
    kind: str
    data: Dict[str, Any]


@attrs.frozen
class Checkpoint:
    meta: Dict[str, Any]
    lines: List[bytes] = attrs.field(repr=lambda lines: f"<{len(lines)} lines>")


#: One outbox entry: a line's bytes, a marker, or a checkpoint.
Item = Union[bytes, Marker, Checkpoint]


class Outbox:
    """A bounded FIFO of entries, filled under the client's lock and drained by the publisher thread.

    Args:
        limit: the most entries held (module docstring).
        on_gap: called (under the client's lock) when a gap marker is queued.
    """

    def __init__(self, limit: int, on_gap: Callable[[], None] = lambda: None) -> None:
        self.limit = limit
        self._items: Deque[Item] = collections.deque()
        self._cond = threading.Condition(threading.Lock())
        self._on_gap = on_gap
        self._lost = 0
        #: Entries dropped because the outbox was full (cumulative), and the gaps they made.
        self.dropped = 0
        self.gaps = 0
        self.high_water = 0

    def __repr__(self) -> str:
        return f"<Outbox {len(self._items)}/{self.limit} dropped={self.dropped}>"

    def __len__(self) -> int:
        return len(self._items)

    def put(self, items: List[Item]) -> None:
        """Append ``items``; what does not fit is dropped and counted (never blocks)."""
        gap = False
        with self._cond:
            room = self.limit - len(self._items)
            if room > 0 and self._lost:
                self._items.append(Marker("gap", {"lost": self._lost, "detail": "the publisher's buffer was full"}))
                self._lost = 0
                self.gaps += 1
                gap = True
            if room < len(items):
                lost = len(items) - max(0, room)
                self._lost += lost
                self.dropped += lost
                items = items[: max(0, room)]
            self._items.extend(items)
            self.high_water = max(self.high_water, len(self._items))
            self._cond.notify()
        if gap:
            self._on_gap()

    def put_front(self, items: List[Item]) -> None:
        """Put ``items`` back at the head (a batch that could not be written), beyond the bound."""
        with self._cond:
            self._items.extendleft(reversed(items))
            self._cond.notify()

    def take(self, most: int, timeout: float) -> List[Item]:
        """Up to ``most`` entries, waiting up to ``timeout`` seconds for the first."""
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            items = self._items
            n = min(most, len(items))
            return [items.popleft() for _ in range(n)]

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


class PublisherTap(Tap):
    """Turns what the client receives into outbox entries (module docstring).

    Args:
        outbox: where entries go.
        checkpoint: the client's ``checkpoint()`` (lines, or ``None`` when it cannot now).
        feed: the feed's name, for the checkpoints' metadata.
        first_delay, interval: when checkpoints are due (seconds; ``None``: never by time).
        clock: monotonic seconds.
    """

    def __init__(
        self,
        outbox: Outbox,
        checkpoint: Callable[[], Optional[List[bytes]]],
        feed: str,
        first_delay: Optional[float],
        interval: Optional[float],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.outbox = outbox
        self._checkpoint = checkpoint
        self._feed = feed
        self._first = first_delay
        self._interval = interval
        self._clock = clock
        self._connection = 0
        self._lines = LineBuffer()
        self._due: Optional[float] = None
        #: The upstream session in force (``None``: down), its suspension and tradable markets.
        self.upstream: Optional[Dict[str, Any]] = None
        self.suspended: Optional[SuspendReason] = None
        self.tradable: Set[str] = set()
        self.checkpoints = 0
        outbox._on_gap = self.checkpoint_soon

    def __repr__(self) -> str:
        return f"<PublisherTap connection={self._connection} up={self.upstream is not None} {self.outbox!r}>"

    def checkpoint_soon(self) -> None:
        """Take a checkpoint at the next chunk (after a gap, or when asked)."""
        self._due = self._clock()

    def on_bytes(self, connection: int, data: bytes, received_at: float) -> None:
        due = self._due
        if due is not None and self._clock() >= due:
            self._take_checkpoint()
        if connection != self._connection:
            self._connection = connection
            self._lines = LineBuffer()
        items: List[Item] = []
        for line in self._lines.feed(data):
            raw = line if isinstance(line, bytes) else line.raw  # a line too long: its head, for the error
            if raw:
                items.append(raw)
        if items:
            self.outbox.put(items)

    def on_notification(self, notification: Any) -> None:
        kind = type(notification)
        if kind is MarketStatusChanged:
            market_id, tradable = notification.market_id, notification.tradable
            (self.tradable.add if tradable else self.tradable.discard)(market_id)
            marker = Marker("status", {"market_id": market_id, "tradable": tradable})
        elif kind is Connected:
            s = notification.session
            self.upstream = session_of(
                {"session_id": s.session_id, "number": s.number, "address": s.address, "connected_at": s.connected_at}
            )
            self.tradable.clear()
            self.suspended = None
            if self._first is not None:
                self._due = self._clock() + self._first
            marker = Marker("connected", dict(self.upstream or {}))
        elif kind is Disconnected:
            marker = Marker("disconnected", _disconnected(notification, self.upstream is not None))
            self.upstream = None
        elif kind is SuspendedAll:
            self.suspended = notification.reason
            if notification.reason is SuspendReason.DISCONNECTED:
                self.tradable.clear()
            marker = Marker("suspended", {"reason": str(notification.reason)})
        elif kind is ResumedAll:
            self.suspended = None
            self.tradable.clear()  # the MarketStatusChanged that follow say which are tradable
            marker = Marker("resumed", {})
        else:
            return
        self.outbox.put([marker])

    def _take_checkpoint(self) -> None:
        if self.upstream is None:
            return  # no session: nothing to resume from; the next session makes one
        lines = self._checkpoint()
        if lines is None:
            return  # not now (mid-snapshot): asked again at the next chunk
        meta = {
            "format": FORMAT,
            "feed": self._feed,
            "session": self.upstream,
            "suspended": None if self.suspended is None else str(self.suspended),
            "tradable": sorted(self.tradable),
            "at": time.time(),
        }
        self.checkpoints += 1
        self._due = None if self._interval is None else self._clock() + self._interval
        self.outbox.put([Checkpoint(meta, lines)])


def _disconnected(note: Disconnected, was_up: bool) -> Dict[str, Any]:
    return {
        "reason": str(note.reason),
        "detail": note.detail,
        "code": note.code,
        "will_retry": note.will_retry,
        "retry_in": note.retry_in,
        "was_up": was_up,
    }
