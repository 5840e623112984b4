"""Consumer groups: each entry handled by one consumer of the group, at least once.

Contract (docs/fanout.md, "Consumer groups"): :class:`GroupTransport` reads with ``XREADGROUP``.
On each connection it first reads again what is pending on *this* consumer (delivered before, never
acknowledged: it crashed, or stopped with a backlog), then new entries. Every batch ends with an
``Acknowledge`` record, which the relay adapter turns into an
:class:`~imgfeed.runtime.dispatcher.AfterDelivery` mark: once every handler returned for the
batch's records, its ids are queued for ``XACK``, which this transport sends before its next read
(and the consumer's ``stop`` sends what is left). If a handler raised on any record of the batch,
the batch is not acknowledged: it stays pending and is delivered again.

Every ``claim_interval`` the transport claims (``XAUTOCLAIM``) entries that have been pending on any
consumer of the group for ``claim_idle`` seconds -- a consumer that died, or a batch whose handler
failed -- and delivers them; an entry already delivered ``max_deliveries`` times is acknowledged
without delivery and logged as given up, so one record that always fails cannot circulate forever.

So: every entry is handled at least once, by one consumer at a time; twice when a consumer dies (or
stops without time to acknowledge) between its handlers returning and its ``XACK``, or when a claim
takes an entry whose first consumer was merely slow. Handlers must be idempotent.

Sessions: a group member's session is its Redis connection, up at once. Markers go to one member
each like any entry, so a member's book holds only what it was given: a group is for work on
records (a settlement writer), never for deciding what is tradable. Liveness: a member whose
read comes back empty asks the stream's age (its last id against the server's clock), so a
member that gets no tick of its own still tells a live publisher from a dead one.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, List, Optional, Tuple

from imgfeed.fanout.redis.records import Acknowledge, SessionResumed, Tick
from imgfeed.fanout.redis.source import Entry, StreamTransport
from imgfeed.runtime.dispatcher import AfterDelivery

__all__ = ["GroupTransport", "Acks"]

log = logging.getLogger("imgfeed.fanout")


class Acks:
    """Ids whose handlers returned, waiting for ``XACK`` (written on the dispatcher thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._ids: List[bytes] = []
        self._errors_seen = 0
        self.withheld = 0
        self.acked = 0
        self.given_up = 0

    def mark(self, ids: Tuple[bytes, ...]) -> AfterDelivery:
        def delivered(handler_errors: int) -> None:
            with self._lock:
                failed, self._errors_seen = handler_errors > self._errors_seen, handler_errors
                if failed:
                    self.withheld += len(ids)  # left pending: delivered again after claim_idle
                else:
                    self._ids.extend(ids)

        return AfterDelivery(delivered)

    def acknowledged(self, n: int) -> None:
        """``n`` entries were acknowledged (the transport's XACK answered)."""
        with self._lock:
            self.acked += n
            self._done.notify_all()

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` holds, re-checked after each acknowledgement (for tests)."""
        with self._done:
            return self._done.wait_for(predicate, timeout)

    def take(self) -> List[bytes]:
        with self._lock:
            ids, self._ids = self._ids, []
            return ids

    def put_back(self, ids: List[bytes]) -> None:
        with self._lock:
            self._ids[:0] = ids


class GroupTransport(StreamTransport):
    """One group member's connection (module docstring). Extra args: the group, this consumer's
    name, the shared :class:`Acks`, where a new group starts, and the claim settings (seconds)."""

    def __init__(
        self,
        *args: Any,
        group: str,
        consumer: str,
        acks: Acks,
        start_id: str = "$",
        silence_timeout: float = 5.0,
        claim_idle: float = 30.0,
        claim_interval: float = 5.0,
        max_deliveries: int = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.group = group
        self.consumer = consumer
        self.acks = acks
        self.start_id = start_id
        self.silence_timeout = silence_timeout
        self.claim_idle_ms = int(claim_idle * 1000)
        self.claim_interval = claim_interval
        self.max_deliveries = max_deliveries
        self._own_pending: Optional[bytes] = b"0"  # paging through this consumer's pending entries
        self._next_claim = 0.0
        self._claim_cursor = b"0-0"

    def describe(self) -> str:
        return f"{super().describe()} group {self.group} consumer {self.consumer}"

    def _plan(self, position: Optional[bytes], synced: bool, upstream: Any, late: bool) -> None:
        ensure_group(self._redis, self.stream, self.group, self.start_id)
        self._cursor = b"0"
        self._pending = [SessionResumed(upstream, late)]

    def _read(self) -> List[Entry]:
        r = self._redis
        ids = self.acks.take()
        if ids:
            try:
                self.acks.acknowledged(r.xack(self.stream, self.group, *ids))
            except Exception:
                self.acks.put_back(ids)
                raise
        now = time.monotonic()
        if now >= self._next_claim:
            self._next_claim = now + self.claim_interval
            claimed = self._claim()
            if claimed:
                return claimed
        if self._own_pending is not None:
            response = r.xreadgroup(self.group, self.consumer, {self.stream: self._own_pending}, count=self.count)
            entries = response[0][1] if response else []
            if entries:
                self._own_pending = entries[-1][0]
                return entries
            self._own_pending = None
        try:
            response = r.xreadgroup(self.group, self.consumer, {self.stream: ">"}, count=self.count, block=self.block_ms)
        except Exception as exc:
            if "NOGROUP" not in str(exc):
                raise
            log.warning("fan-out: group %s is gone (Redis restarted?); making it again", self.group)
            ensure_group(r, self.stream, self.group, "0")
            return []
        entries = response[0][1] if response else []
        if not entries and self._publisher_alive():
            return [(b"", {})]  # a synthetic tick (see _translate)
        return entries

    def _claim(self) -> List[Entry]:
        r = self._redis
        stale = r.xpending_range(self.stream, self.group, "-", "+", self.count, idle=self.claim_idle_ms)
        spent = [p["message_id"] for p in stale if p["times_delivered"] >= self.max_deliveries]
        if spent:
            r.xack(self.stream, self.group, *spent)
            self.acks.given_up += len(spent)
            log.error(
                "fan-out: gave up on %d entries of %s after %d deliveries each (their handlers kept failing): %s",
                len(spent), self.stream, self.max_deliveries, b", ".join(spent[:10]).decode(),
            )
        if not stale:
            return []
        cursor, entries, *_ = r.xautoclaim(
            self.stream, self.group, self.consumer, self.claim_idle_ms, self._claim_cursor, count=self.count
        )
        self._claim_cursor = cursor if cursor and cursor != b"0-0" else b"0-0"
        entries = [(i, f) for i, f in entries if f is not None]
        if entries:
            log.info("fan-out: claimed %d entries pending too long on other consumers of %s", len(entries), self.group)
        return entries

    def _publisher_alive(self) -> bool:
        r = self._redis
        info = r.xinfo_stream(self.stream)
        last = info.get("last-generated-id") or b"0-0"
        seconds, micros = r.time()
        age = seconds + micros / 1e6 - int(last.split(b"-")[0]) / 1000
        return bool(age < self.silence_timeout)

    def _translate(self, entries: List[Entry]) -> Tuple[bytes, List[Any]]:
        if entries == [(b"", {})]:
            return b"\n", [Tick()]
        data, out = super()._translate(entries)
        ids = tuple(entry_id for entry_id, _ in entries)
        out.append(Acknowledge(ids, self.acks.mark(ids)))
        return data, out

    def _follow(self, kind: str, data: Any, out: List[Any], entry_id: bytes) -> Optional[Any]:
        told = super()._follow(kind, data, out, entry_id)
        if told is not None:
            out.append(told)  # a member's session is its connection: markers are told, never obeyed
        return None


def ensure_group(r: Any, stream: str, group: str, start_id: str) -> None:
    """Create ``group`` on ``stream`` at ``start_id`` unless it exists."""
    try:
        r.xgroup_create(stream, group, id=start_id, mkstream=True)
    except Exception as exc:
        if "BUSYGROUP" not in str(exc):
            raise
