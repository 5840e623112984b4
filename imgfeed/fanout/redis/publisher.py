"""The publisher: a client's raw feed and lifecycle, to a Redis stream, on its own thread.

Contract: ``Publisher(client, url, stream).start()`` registers a tap on a running client of any
feed (IMG, Betfair) -- see :mod:`imgfeed.fanout.redis.outbox` for what it collects -- and starts
the ``imgfeed-fanout-publisher`` thread, which writes the entries in order, in batches of up to
``batch_size``, each batch one ``MULTI``/``EXEC`` of ``XADD ... MAXLEN ~ maxlen``. It never blocks
the feed:

- **Redis away.** A failed batch is kept and written again; the thread reconnects with the
  ``reconnect`` policy's backoff, logging the outage once. Meanwhile the outbox holds up to
  ``buffer_limit`` entries and counts what it drops, and a ``gap`` marker stands where entries
  were lost.
- **Redis back.** The stream's last id tells what happened to the batch in flight (a transaction
  is all or nothing): the same id as the last one acknowledged -- not written, write it; a later
  one -- written; none, or an earlier one -- Redis lost entries it had acknowledged (restarted
  without them), so a ``gap`` marker goes first, the meta hash is written again, and a checkpoint
  follows as soon as the feed gives one.
- **Ticks.** After ``tick_interval`` with nothing written, a ``tick`` marker: consumers tell a
  quiet feed from a dead publisher.
- **Checkpoints.** The lines go under their own key (``SET ... PX ttl``) in the same transaction
  as, and before, the ``checkpoint`` marker that names it; the pointer hash is updated with the
  marker's id once it is known (docs/fanout.md).

``stop(timeout)`` writes what is buffered if Redis is there and time allows, then ends the thread.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from typing import Any, Callable, List, Optional, Union

import attrs

from imgfeed.errors import ImgFeedError
from imgfeed.fanout.redis.entries import (
    FORMAT,
    LINE,
    checkpoint_key,
    encode_checkpoint,
    marker_fields,
    meta_key,
    pointer_key,
)
from imgfeed.fanout.redis.outbox import Checkpoint, Item, Marker, Outbox, PublisherTap
from imgfeed.fanout.redis.url import RedisTarget, redis_errors
from imgfeed.runtime.config import ReconnectPolicy

__all__ = ["Publisher", "PublisherStats"]

log = logging.getLogger("imgfeed.fanout")

#: Reconnecting to Redis: at once, then 0.5 s doubling to 10 s (a restart takes seconds).
DEFAULT_RECONNECT = ReconnectPolicy(interval=0.5, first_delay=0.0, backoff=2.0, max_interval=10.0, jitter=0.1)


@attrs.frozen
class PublisherStats:
    """The publisher's counters (cumulative) and gauges.

    Attributes:
        written: entries written to the stream (lines and markers); ``lines`` of them lines.
        batches: transactions written.
        dropped: entries dropped because the buffer was full; ``gaps``: gap markers written for
            them and for entries Redis lost.
        buffered: entries waiting now; ``buffer_high_water`` the most seen.
        checkpoints: checkpoints written.
        reconnects: connections to Redis after the first.
        connected: connected to Redis now.
        last_id: the id of the last entry written.
        last_error: the last Redis error, in words (never a password).
    """

    written: int
    lines: int
    batches: int
    dropped: int
    gaps: int
    buffered: int
    buffer_high_water: int
    checkpoints: int
    reconnects: int
    connected: bool
    last_id: Optional[str]
    last_error: Optional[str]


class Publisher:
    """Publish a client's feed to a Redis stream (module docstring).

    Args:
        client: a :class:`~imgfeed.runtime.client.RuntimeClient` (``FeedClient`` ...), started or not.
        redis: a ``redis://`` / ``rediss://`` URL or a :class:`RedisTarget`.
        stream: the stream's key.
        maxlen: the stream is trimmed to about this many entries.
        buffer_limit: the most entries held while Redis is away.
        batch_size: the most entries per transaction.
        tick_interval: a tick after this long with nothing written (seconds).
        first_checkpoint: a checkpoint this long after each session came up (seconds).
        checkpoint_interval: then one every this long (seconds).
        checkpoint_ttl: how long a checkpoint's key lives (default: 3 intervals, at least 60 s).
        connect_timeout: seconds to connect, and for one command.
        reconnect: the backoff between attempts to reach Redis.
    """

    def __init__(
        self,
        client: Any,
        redis: Union[str, RedisTarget],
        stream: str,
        *,
        maxlen: int = 1_000_000,
        buffer_limit: int = 100_000,
        batch_size: int = 500,
        tick_interval: float = 1.0,
        first_checkpoint: float = 3.0,
        checkpoint_interval: float = 30.0,
        checkpoint_ttl: Optional[float] = None,
        connect_timeout: float = 5.0,
        reconnect: ReconnectPolicy = DEFAULT_RECONNECT,
    ) -> None:
        self.target = redis if isinstance(redis, RedisTarget) else RedisTarget.from_url(redis)
        self.stream = stream
        self.maxlen = maxlen
        self.batch_size = batch_size
        self.tick_interval = tick_interval
        self.connect_timeout = connect_timeout
        self.reconnect = reconnect
        self._ttl_ms = int(1000 * (checkpoint_ttl or max(60.0, 3 * checkpoint_interval)))
        self._client = client
        self._feed = client.stats().feed
        self.outbox = Outbox(buffer_limit)
        self.tap = PublisherTap(self.outbox, client.checkpoint, self._feed, first_checkpoint, checkpoint_interval)
        self._run = uuid.uuid4().hex[:12]
        self._stopping = threading.Event()
        self._stop_deadline = 0.0
        self._thread: Optional[threading.Thread] = None
        self._redis: Any = None
        self._started_stream = False
        self._last_id: Optional[bytes] = None
        self._inflight: List[Item] = []
        self._seq = 0
        self._written = self._lines = self._batches = self._reconnects = self._checkpoints = self._gaps = 0
        self._connects = 0
        self._last_error: Optional[str] = None
        self._progress = threading.Condition()

    def __repr__(self) -> str:
        return f"<Publisher {self.target.describe()} stream={self.stream!r} {self.outbox!r}>"

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> "Publisher":
        """Tap the client and start the thread. Returns at once."""
        if self._thread is not None:
            raise RuntimeError("the publisher was started already")
        self._client.add_tap(self.tap)
        self._thread = threading.Thread(target=self._main, name="imgfeed-fanout-publisher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is buffered (while Redis answers, within ``timeout``), then end the thread."""
        self._client.remove_tap(self.tap)
        self._stop_deadline = time.monotonic() + timeout
        self._stopping.set()
        self.outbox.wake()
        if self._thread is not None:
            self._thread.join(timeout + self.connect_timeout)

    def checkpoint_now(self) -> None:
        """Take a checkpoint at the next chunk the client receives (one attribute store: no lock)."""
        self.tap.checkpoint_soon()

    def wait_until(self, predicate: Callable[[PublisherStats], bool], timeout: float) -> bool:
        """Wait until ``predicate(self.stats())`` holds (re-checked after each write and connect);
        False on timeout. For scripts and tests."""
        with self._progress:
            return self._progress.wait_for(lambda: predicate(self.stats()), timeout)

    def _progressed(self) -> None:
        with self._progress:
            self._progress.notify_all()

    def stats(self) -> PublisherStats:
        return PublisherStats(
            written=self._written,
            lines=self._lines,
            batches=self._batches,
            dropped=self.outbox.dropped,
            gaps=self._gaps + self.outbox.gaps,
            buffered=len(self.outbox) + len(self._inflight),
            buffer_high_water=self.outbox.high_water,
            checkpoints=self._checkpoints,
            reconnects=max(0, self._connects - 1),
            connected=self._redis is not None,
            last_id=None if self._last_id is None else self._last_id.decode(),
            last_error=self._last_error,
        )

    # --- the thread --------------------------------------------------------------------------------

    def _main(self) -> None:
        attempt = 0
        last_write = time.monotonic()
        rng = random.Random()
        try:
            while True:
                if self._stopping.is_set() and (self._done_flushing()):
                    break
                if self._redis is None:
                    if not self._connect():
                        attempt += 1
                        if self._stopping.wait(self.reconnect.delay(attempt, rng)):
                            if time.monotonic() >= self._stop_deadline:
                                break
                        continue
                    attempt = 0
                if not self._inflight:
                    wait = max(0.0, last_write + self.tick_interval - time.monotonic())
                    self._inflight = self.outbox.take(self.batch_size, 0.0 if self._stopping.is_set() else wait)
                if not self._inflight:
                    if self._stopping.is_set() or time.monotonic() - last_write < self.tick_interval:
                        continue
                    self._inflight = [Marker("tick", {"at": time.time()})]
                if self._write(self._inflight):
                    self._inflight = []
                    last_write = time.monotonic()
                self._progressed()
        except Exception:  # a bug: say so loudly; the feed itself goes on
            log.exception("the fan-out publisher failed; nothing more is published")
        finally:
            self._disconnect()

    def _done_flushing(self) -> bool:
        nothing_left = not self._inflight and len(self.outbox) == 0
        return nothing_left or self._redis is None or time.monotonic() >= self._stop_deadline

    def _connect(self) -> bool:
        try:
            self._redis = self.target.connect(self.connect_timeout)
            with redis_errors(self.target):
                self._resume()
        except ImgFeedError as exc:
            self._disconnect()
            if self._last_error is None:
                log.warning("fan-out: cannot reach %s (%s); buffering, and retrying", self.target.describe(), exc)
            self._last_error = str(exc)
            return False
        if self._last_error is not None:
            log.warning("fan-out: %s is back", self.target.describe())
        self._last_error = None
        self._connects += 1
        self._progressed()
        return True

    def _resume(self) -> None:
        """After (re)connecting: the meta hash, the start marker, and what became of the last batch."""
        r = self._redis
        r.hset(meta_key(self.stream), mapping={"format": FORMAT, "feed": self._feed})
        newest = r.xrevrange(self.stream, "+", "-", count=1)
        last = newest[0][0] if newest else None
        front: List[Item] = []
        if not self._started_stream:
            self._started_stream = True
            front.append(Marker("start", {"format": FORMAT, "feed": self._feed, "publisher": _who()}))
        elif self._last_id is not None and (last is None or _id(last) < _id(self._last_id)):
            detail = f"Redis lost entries up to {self._last_id.decode()} that it had acknowledged"
            log.warning("fan-out: %s; a gap marker and a checkpoint follow", detail)
            front.append(Marker("gap", {"lost": None, "detail": detail}))
            self._gaps += 1
            self.tap.checkpoint_soon()
        elif self._last_id is not None and last is not None and _id(last) > _id(self._last_id):
            self._last_id = last  # the batch in flight was written before the connection broke
            self._inflight = []
        if front:
            self.outbox.put_front(front + self._inflight)
            self._inflight = []

    def _write(self, items: List[Item]) -> bool:
        """One transaction; False (the items kept for later) when Redis failed."""
        r = self._redis
        stream, maxlen = self.stream, self.maxlen
        pipe = r.pipeline(transaction=True)
        checkpoints = []
        lines = 0
        for item in items:
            if type(item) is bytes:
                pipe.xadd(stream, {LINE: item}, maxlen=maxlen, approximate=True)
                lines += 1
            elif type(item) is Marker:
                pipe.xadd(stream, marker_fields(item.kind, item.data), maxlen=maxlen, approximate=True)
            else:
                assert isinstance(item, Checkpoint)
                self._seq += 1
                key = checkpoint_key(stream, self._run, self._seq)
                pipe.set(key, encode_checkpoint(item.meta, item.lines), px=self._ttl_ms)
                pipe.xadd(stream, marker_fields("checkpoint", {"key": key, "seq": self._seq}), maxlen=maxlen, approximate=True)
                checkpoints.append(key)
        try:
            with redis_errors(self.target):
                results = pipe.execute()
                ids = [x for x in results if isinstance(x, bytes)]  # one XADD id per item (SET says True)
                if checkpoints:
                    marker_ids = [ids[i] for i, item in enumerate(items) if isinstance(item, Checkpoint)]
                    r.hset(pointer_key(stream), mapping={"id": marker_ids[-1], "key": checkpoints[-1]})
        except ImgFeedError as exc:
            log.warning("fan-out: writing to %s failed (%s); reconnecting", self.target.describe(), exc)
            self._last_error = str(exc)
            self._disconnect()
            return False
        if ids:
            self._last_id = ids[-1]
        self._written += len(items)
        self._lines += lines
        self._batches += 1
        self._checkpoints += len(checkpoints)
        return True

    def _disconnect(self) -> None:
        r, self._redis = self._redis, None
        if r is not None:
            try:
                r.close()
            except Exception:  # closing a broken socket: nothing to do
                pass


def _id(entry_id: bytes) -> tuple:
    ms, _, seq = entry_id.partition(b"-")
    return int(ms), int(seq or 0)


def _who() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"

