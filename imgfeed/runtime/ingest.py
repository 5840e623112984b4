"""The ingest: where records meet the session, the cache and the queue, under one lock.

Contract:

- Everything that changes what a reader of the book sees happens here, under the adapter's lock
  (the cache's own): applying a chunk of records, a session coming up, heartbeats going late or
  coming back, a session ending. The notifications each change causes are queued in the same
  critical section, so handlers see the book's transitions in the order they happened, in line
  with the data.
- A record is applied only if its connection's session is the current one and not retired. Once
  :meth:`Ingest.retire` has ended a session (whichever thread noticed first: the reader at EOF,
  the watchdog at a deadline, ``stop()``), whatever its reader still delivers is counted and
  dropped -- a reader that outlives its connection can never make a market tradable on the next.
- Nothing here blocks: the queue never waits under the lock (see :mod:`imgfeed.runtime.queue`);
  the reader applies the overflow policy after the lock is released. So the watchdog, which takes
  the lock for its deadline checks, can never be frozen behind a full queue.
- With a recorded clock (a replay), the deadlines are checked here, as each record's recorded
  receive time moves the clock, before the record is applied (see :mod:`imgfeed.runtime.clock`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Collection, List, Optional, Set, Tuple, TypeVar

from imgfeed.errors import ProtocolError
from imgfeed.runtime.adapter import FeedAdapter, Role
from imgfeed.runtime.clock import Clock, RecordedClock
from imgfeed.runtime.connection import Connection, bounded_error
from imgfeed.runtime.events import Connected, Notification
from imgfeed.runtime.events import Session as SessionInfo
from imgfeed.runtime.queue import DispatchQueue, QueueClosedError
from imgfeed.runtime.requests import RequestTracker
from imgfeed.runtime.session import DONE, End, Phase
from imgfeed.runtime.tap import Tap

__all__ = ["Ingest"]

T = TypeVar("T")

DATA = Role.DATA
HANDSHAKING = Phase.HANDSHAKING

log = logging.getLogger("imgfeed.runtime")


class Ingest:
    """Applies what the connections deliver (module docstring).

    Args:
        adapter: the feed.
        queue: where handlers' items go.
        tracker: outstanding requests.
        clock: the runtime's clock.
        wake: set to wake the watchdog (a session came up, a session ended).
    """

    def __init__(
        self,
        adapter: FeedAdapter,
        queue: DispatchQueue,
        tracker: RequestTracker,
        clock: Clock,
        wake: threading.Event,
    ) -> None:
        self.adapter = adapter
        self.lock = adapter.lock
        self.queue = queue
        self.tracker = tracker
        self.clock = clock
        self._wake = wake
        self._roles = dict(adapter.roles)
        #: The connection whose records are applied now (``None`` between connections).
        self.current: Optional[Connection] = None
        #: Called, under the lock, when a session has come up (the client's lifecycle).
        self.on_up: Callable[[Connection], None] = lambda conn: None
        # counters (written under the lock)
        self.messages = 0
        self.bytes = 0
        self.protocol_errors = 0
        self.sessions = 0
        #: Records read from a retired connection and dropped.
        self.dropped = 0
        #: Who sees the raw bytes and the notifications (copy on write; read under the lock).
        self.taps: Tuple[Tap, ...] = ()
        self.tap_errors = 0
        self._failed_taps: Set[int] = set()

    def __repr__(self) -> str:
        return f"<Ingest current={self.current!r} sessions={self.sessions} dropped={self.dropped}>"

    # --- the reader's side -----------------------------------------------------------------------

    def chunk(self, conn: Connection, records: Collection[Any], data: bytes, mono: float, received_at: float) -> bool:
        """Apply one received chunk (``data``, decoded as ``records``).

        Returns True when the queue is now over its bound.
        """
        out: List[Any] = []
        adapter = self.adapter
        apply = adapter.apply
        roles = self._roles
        with self.lock:
            session = conn.session
            if session.retired or conn is not self.current:
                self.dropped += len(records)
                return False
            self.bytes += len(data)
            if self.taps and data:
                self._tap_bytes(conn.number, data, received_at)
            if not records:
                return False
            self.messages += len(records)
            recorded = self.clock.recorded
            if not recorded:
                session.message(mono)
            now = mono
            for index, record in enumerate(records):
                if recorded:
                    # Every moment is the record's own recorded receive time (module docstring).
                    if not self._advance(conn, record, out):
                        self.dropped += 1
                        continue
                    now = self.clock.monotonic()
                    session.message(now)
                role = roles.get(type(record))
                if role is DATA and session.phase is not HANDSHAKING:
                    # A busy feed's every record: applying data cannot end the session (what the
                    # adapter learns is taken after the chunk), so there is nothing more to check.
                    apply(record, out)
                    continue
                if role is None:
                    if isinstance(record, ProtocolError):
                        self.protocol_errors += 1
                        out.append(bounded_error(record))
                        continue
                    role = adapter.role_of(record)
                if session.phase is HANDSHAKING:
                    result = session.offer(record)
                    if isinstance(result, End):
                        self._retire_locked(conn, result, out)
                    elif result == DONE:
                        self._wake.set()  # the next step may be a Send, which the watchdog makes
                        if session.handshake_complete:
                            self._up_locked(conn, now, out)
                if role is DATA:
                    apply(record, out)
                elif role is Role.HEARTBEAT:
                    if session.is_up and session.heartbeat(now):
                        adapter.heartbeat_resumed(out)
                    adapter.apply(record, out)
                elif role is Role.RESPONSE:
                    request_id, error = adapter.response_of(record)
                    if self.tracker.resolve(record, request_id, error, out) is None:
                        log.debug("a response matched no outstanding request: %r", record)
                    end = adapter.closing_of(record)
                    if end is not None:
                        self._retire_locked(conn, end, out)
                    adapter.apply(record, out)
                else:  # Role.CLOSING
                    adapter.apply(record, out)
                    end = adapter.closing_of(record)
                    if end is not None:
                        self._retire_locked(conn, end, out)
                if session.retired:
                    # The server closed (or the handshake failed) here: what follows in the
                    # chunk belongs to no session.
                    self.dropped += len(records) - index - 1
                    break
            self._feed_says(conn, out)
            adapter.changed()
            return self._put(out)

    def _feed_says(self, conn: Connection, out: List[Any]) -> None:
        """What the adapter learnt from the chunk: new deadlines, or a reason to end the session."""
        adapter = self.adapter
        session = conn.session
        liveness = adapter.take_liveness()
        if liveness is not None and not session.retired:
            session.liveness = liveness
            self._wake.set()  # the watchdog's next wait may be shorter now
        end = adapter.take_end()
        if end is not None:
            self._retire_locked(conn, end, out)

    def _advance(self, conn: Connection, record: Any, out: List[Any]) -> bool:
        """Recorded time: check the deadlines as the record's receive time moves the clock.

        A session's clocks start at its first record: the recording's time, not the replay's.
        """
        t = getattr(record, "received_at", None)
        clock = self.clock
        session = conn.session
        if t is None or not isinstance(clock, RecordedClock):
            return True
        if not session.facts.get("recorded_start"):
            session.facts["recorded_start"] = True
            clock.advance(t)
            session.rebase(clock.monotonic())
            return True
        if not clock.advance(t):
            return True
        deadline = session.next_deadline()
        if deadline is not None and deadline <= t:
            self._check_locked(conn, t, out)
        return not session.retired

    # --- lifecycle (reader or watchdog) ----------------------------------------------------------

    def _up_locked(self, conn: Connection, mono: float, out: List[Any]) -> None:
        self.sessions += 1
        session = conn.session
        session.up(mono, self.sessions)
        session.facts["connected_at"] = connected_at = self.clock.time()
        info = SessionInfo(
            self.adapter.session_id(session.facts), conn.transport.describe(), connected_at, self.sessions
        )
        out.append(Connected(info))
        self.adapter.session_up(session.facts, out)
        self.on_up(conn)
        self._wake.set()

    def retire(self, conn: Connection, end: End) -> bool:
        """End ``conn``'s session with ``end`` (the first reason wins). True if this call ended it."""
        out: List[Any] = []
        with self.lock:
            closed = self._retire_locked(conn, end, out)
            self.adapter.changed()
            self._put(out)
        return closed

    def _retire_locked(self, conn: Connection, end: End, out: List[Any]) -> bool:
        session = conn.session
        was_up = session.is_up
        if not session.close(end):
            return False
        if was_up:
            self.adapter.session_lost(out)
        self.tracker.connection_lost(conn.number)
        self._wake.set()
        return True

    def tick(self, conn: Connection, now: float) -> None:
        """The watchdog's deadline check (live clocks only)."""
        out: List[Any] = []
        with self.lock:
            if conn.session.retired or conn is not self.current:
                return
            self._check_locked(conn, now, out)
            if out:
                self.adapter.changed()
                self._put(out)

    def _check_locked(self, conn: Connection, now: float, out: List[Any]) -> None:
        end, late = conn.session.check(now)
        if late:
            self.adapter.heartbeat_late(out)
        if end is not None:
            self._retire_locked(conn, end, out)

    def change(self, apply: Callable[[List[Any]], T]) -> T:
        """Run ``apply(out)`` under the lock (a change of the adapter's state from the watchdog),
        then queue what it appended, in order with the rest."""
        out: List[Any] = []
        with self.lock:
            result = apply(out)
            if out:
                self.adapter.changed()
                self._put(out)
        return result

    def notify(self, items: List[Any]) -> None:
        """Queue the runtime's own notifications (a ``Disconnected``), in order with the rest."""
        with self.lock:
            self._put(items)

    # --- taps (module imgfeed.runtime.tap) --------------------------------------------------------

    def add_tap(self, tap: Tap) -> None:
        with self.lock:
            self.taps = self.taps + (tap,)

    def remove_tap(self, tap: Tap) -> None:
        with self.lock:
            self.taps = tuple(t for t in self.taps if t is not tap)

    def _tap_bytes(self, connection: int, data: bytes, received_at: float) -> None:
        for tap in self.taps:
            try:
                tap.on_bytes(connection, data, received_at)
            except Exception:
                self._tap_failed(tap, f"{len(data)} bytes")

    def _tap_notifications(self, out: List[Any]) -> None:
        for item in out:
            if isinstance(item, Notification):
                for tap in self.taps:
                    try:
                        tap.on_notification(item)
                    except Exception:
                        self._tap_failed(tap, repr(item))

    def _tap_failed(self, tap: Tap, what: str) -> None:
        """Count every failure; log a tap's first one, with its traceback (said once, not per chunk)."""
        self.tap_errors += 1
        if id(tap) not in self._failed_taps:
            self._failed_taps.add(id(tap))
            log.exception("tap %r failed on %s; the feed goes on (its further failures are counted)", tap, what)

    def _put(self, out: List[Any]) -> bool:
        if not out:
            return False
        if self.taps:
            self._tap_notifications(out)
        try:
            return self.queue.put_many(out)
        except QueueClosedError:
            log.debug("queue closed: %d item(s) not delivered", len(out))
            return False
