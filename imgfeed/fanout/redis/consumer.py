"""Consumers: the same runtime as a direct client, fed by a fan-out stream instead of a server.

Contract: :class:`StreamConsumer` is a :class:`~imgfeed.runtime.client.RuntimeClient` -- the
usual ``start`` / ``stop`` / ``join`` / ``run_forever`` / ``stats`` / ``add_handler`` /
``wait_for_state`` -- whose adapter is the stream's feed's own, wrapped by
:class:`~imgfeed.fanout.redis.relay.RelayAdapter`, and whose connections are
:class:`~imgfeed.fanout.redis.source.StreamTransport` s (or
:class:`~imgfeed.fanout.redis.groups.GroupTransport` s with ``group=``). Handlers are the feed's
(``imgfeed.Handler`` for IMG, ``imgfeed.betfair.BetfairHandler`` for Betfair) and see what a
direct client's would, in the same order: the upstream's sessions, disconnections (with their
reasons) and suspensions, and each market tradable only once the upstream has it tradable and
its image arrived on this session. :attr:`StreamConsumer.book` is the feed's book, rebuilt from
the stream (Betfair: the market cache; :attr:`StreamConsumer.order_book` the order cache).

The constructor checks at once what a person must fix, and raises it: a bad URL
(``ConfigError``), a refused login (``AuthenticationError``), an unreachable server
(``ConnectError``), a stream no publisher writes (:class:`StreamNotFoundError`). After that the
consumer reconnects by itself (``reconnect``), and its own liveness is the silence rule: no entry
and no publisher tick for ``silence_timeout`` seconds ends its session (every market suspended),
and it reconnects and resumes after the last entry it applied.

:func:`consume` builds one and starts it.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, List, Optional, Union

from imgfeed.errors import ConfigError, ConnectError, ImgFeedError
from imgfeed.fanout.redis.entries import FORMAT, meta_key
from imgfeed.fanout.redis.feeds import relay_binding
from imgfeed.fanout.redis.groups import Acks, GroupTransport, ensure_group
from imgfeed.fanout.redis.publisher import DEFAULT_RECONNECT
from imgfeed.fanout.redis.relay import RelayAdapter, StreamState
from imgfeed.fanout.redis.source import StreamDecoder, StreamTransport
from imgfeed.fanout.redis.url import RedisTarget, redis_errors
from imgfeed.runtime.client import RuntimeClient
from imgfeed.runtime.config import (
    ErrorPolicy,
    OverflowPolicy,
    ReconnectPolicy,
    RuntimeSettings,
)
from imgfeed.transport.base import Transport

__all__ = ["StreamConsumer", "consume", "StreamNotFoundError"]

log = logging.getLogger("imgfeed.fanout")


class StreamNotFoundError(ConnectError):
    """The stream does not exist, or no imgfeed publisher has written to it."""


class StreamConsumer(RuntimeClient):
    """A consumer of a fan-out stream (module docstring).

    Args:
        redis: a ``redis://`` / ``rediss://`` URL or a :class:`RedisTarget`.
        stream: the stream's key.
        handlers: the feed's handlers, called in this order.
        feed: the feed the stream must carry (default: what its publisher says).
        group, consumer: read as this member of this consumer group (see
            :mod:`imgfeed.fanout.redis.groups`); ``start_id``: where a new group starts (``$``:
            new entries only; ``0``: the whole stream).
        silence_timeout: the consumer's own liveness (seconds).
        block: seconds one read waits (also the most ``stop`` waits for it).
        claim_idle, claim_interval, max_deliveries: a group member's claiming.
        connect_timeout, reconnect, error_policy, queue_size, overflow_policy,
            handler_stall_warning: as for a direct client. A group member never conflates (its
            queue blocks the reads instead: every entry is handled).
    """

    def __init__(
        self,
        redis: Union[str, RedisTarget],
        stream: str,
        handlers: Iterable[Any] = (),
        *,
        feed: Optional[str] = None,
        group: Optional[str] = None,
        consumer: Optional[str] = None,
        start_id: str = "$",
        silence_timeout: float = 5.0,
        block: float = 0.2,
        count: int = 1000,
        claim_idle: float = 30.0,
        claim_interval: float = 5.0,
        max_deliveries: int = 10,
        connect_timeout: float = 5.0,
        reconnect: ReconnectPolicy = DEFAULT_RECONNECT,
        error_policy: Union[ErrorPolicy, str] = ErrorPolicy.LOG,
        queue_size: int = 100_000,
        overflow_policy: Union[OverflowPolicy, str] = OverflowPolicy.CONFLATE,
        handler_stall_warning: Optional[float] = 5.0,
    ) -> None:
        if (group is None) != (consumer is None):
            raise ConfigError("consumer", consumer, "a consumer name together with a group name (or neither)")
        self.target = redis if isinstance(redis, RedisTarget) else RedisTarget.from_url(redis)
        self.stream = stream
        self.group, self.consumer = group, consumer
        self.feed = probe(self.target, stream, feed, group, start_id, connect_timeout)
        self.stream_state = StreamState()
        self.acks = Acks()
        inner, refresh = relay_binding(self.feed)(self.stream_state.gate)
        self._relay = RelayAdapter(inner, refresh, self.stream_state, silence_timeout, group=group is not None)
        settings = RuntimeSettings(
            connect_timeout=connect_timeout,
            send_timeout=connect_timeout,
            queue_size=queue_size,
            overflow_policy=OverflowPolicy.BLOCK if group else overflow_policy,
            error_policy=error_policy,
            handler_stall_warning=handler_stall_warning,
            reconnect=reconnect,
        )
        self._current: List[StreamTransport] = []

        def transport() -> Transport:
            decoder = inner.new_decoder()
            t: StreamTransport
            if group is None:
                t = StreamTransport(self.target, stream, self.stream_state, inner.lock, decoder, block, count)
            else:
                assert consumer is not None
                t = GroupTransport(
                    self.target, stream, self.stream_state, inner.lock, decoder, block, count, group=group,
                    consumer=consumer, acks=self.acks, start_id=start_id, silence_timeout=silence_timeout,
                    claim_idle=claim_idle, claim_interval=claim_interval, max_deliveries=max_deliveries,
                )
            self._current[:] = [t]
            return t

        super().__init__(
            self._relay,
            settings,
            handlers,
            transport_factory=transport,
            address=f"{self.target.describe()} {stream}",
            decoder_factory=lambda: StreamDecoder(lambda: self._current[0]),
        )

    @property
    def book(self) -> Any:
        """The feed's book, rebuilt from the stream: IMG's :class:`~imgfeed.feeds.img.book.MarketBook`;
        Betfair's market cache, a :class:`~imgfeed.feeds.betfair.views.MarketsView` (as
        ``BetfairClient.markets``)."""
        return self._relay.inner.book  # type: ignore[attr-defined]

    @property
    def order_book(self) -> Any:
        """Betfair: the order cache, an :class:`~imgfeed.feeds.betfair.views.OrdersView` (as
        ``BetfairClient.orders``); ``None`` for a feed without one (IMG)."""
        return getattr(self._relay.inner, "order_book", None)

    def start(self) -> "StreamConsumer":
        super().start()
        return self

    def __enter__(self) -> "StreamConsumer":
        super().__enter__()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop as a client does; a group member then acknowledges what its handlers finished."""
        try:
            super().stop(timeout)
        finally:
            self._flush_acks(min(timeout, 2.0))

    def _flush_acks(self, timeout: float) -> None:
        ids = self.acks.take()
        if not ids or self.group is None:
            return
        try:
            r = self.target.connect(timeout)
            try:
                with redis_errors(self.target):
                    self.acks.acknowledged(r.xack(self.stream, self.group, *ids))
            finally:
                r.close()
        except ImgFeedError as exc:
            log.warning("fan-out: %d entries stay pending (they will be delivered again): %s", len(ids), exc)


def probe(
    target: RedisTarget, stream: str, feed: Optional[str], group: Optional[str], start_id: str, timeout: float
) -> str:
    """Check what a person must fix before a consumer starts; return the stream's feed.

    Raises:
        AuthenticationError, ConnectError, StreamNotFoundError, ConfigError: see the module docstring.
    """
    r = target.connect(timeout)
    try:
        with redis_errors(target):
            exists = r.exists(stream)
            meta = r.hgetall(meta_key(stream))
            if exists and group is not None:
                ensure_group(r, stream, group, start_id)
    finally:
        r.close()
    if not exists or not meta:
        missing = "does not exist" if not exists else f"has no {meta_key(stream)!r}: no imgfeed publisher wrote it"
        raise StreamNotFoundError(
            f"{target.describe()}: the stream {stream!r} {missing}; start `imgfeed fanout --stream {stream}` first"
        )
    said = _text(meta.get(b"feed"))
    if _text(meta.get(b"format")) != str(FORMAT):
        raise ConfigError("stream", stream, f"a fan-out stream of format {FORMAT} (it says {meta.get(b'format')!r})")
    if feed is not None and feed != said:
        raise ConfigError("feed", feed, f"{said!r}: the feed the stream {stream!r} carries")
    relay_binding(said)  # raises for a feed this version cannot rebuild
    return said


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


def consume(redis: Union[str, RedisTarget], stream: str, handlers: Iterable[Any] = (), **options: Any) -> StreamConsumer:
    """Build a :class:`StreamConsumer` (same arguments) and start it.

    Example::

        consumer = consume("redis://localhost:6379/0", stream="golf", handlers=[MyHandler()])
        consumer.run_forever()
    """
    return StreamConsumer(redis, stream, handlers, **options).start()
