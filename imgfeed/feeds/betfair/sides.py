"""The two streams of a Betfair connection, markets and orders: subscription, stream state, cache.

Contract: a :class:`MarketSide` (an :class:`OrderSide`) owns one subscription's
:class:`~imgfeed.feeds.betfair.protocol.stream.SubscriptionStream` (ids, segments, clocks, image
completeness, 503) and its cache, and turns each change message into what handlers see: a book per
changed market, then the tradability changes it caused. Everything runs under the adapter's lock,
on the reader thread (changes, responses) or the watchdog (lifecycle); nothing here does IO.

The rules it enforces, each where Betfair states it (docs/betfair.md):

- A subscription is in force once its ``status`` says SUCCESS (:meth:`MarketSide.confirmed`, run
  by the runtime before any record after that status): from then on, messages with the old
  ``id`` are dropped, and no market is tradable until the new image is complete.
- Every change runs through the stream (segments joined, clocks committed) before the cache.
- A market is tradable when the session is up, heartbeats are on time, the stream is not stale
  (``status: 503``), the stream's image (``SUB_IMAGE`` or ``RESUB_DELTA``) is complete on this
  session, and the market's definition says ``OPEN`` (a subscription without ``EX_MARKET_DEF``
  never learns a status, so there an image is enough).
- After a disconnect, the cache is kept for the resubscription with clocks; the markets stay
  untradable until the ``RESUB_DELTA`` (or a new ``SUB_IMAGE``) is complete.
- ``INVALID_CLOCK``: the clocks are dropped and the cache cleared; the next subscription takes a
  fresh image.
- A segmented change that arrives broken is a :class:`~imgfeed.feeds.betfair.protocol.segments.SegmentError`
  for the handlers and a reason to reconnect: the committed clocks still point before it, so the
  resubscription recovers it.
- Closed markets, closed order markets and execution-complete orders are evicted after their
  retention, on the changes' ``received_at`` clock.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

import attrs

from imgfeed.feeds.betfair.books import OrderBook
from imgfeed.feeds.betfair.cache.markets import MarketCache
from imgfeed.feeds.betfair.cache.orders import OrderCache
from imgfeed.feeds.betfair.config import BetfairConfig
from imgfeed.feeds.betfair.protocol.codec import market_subscription, order_subscription
from imgfeed.feeds.betfair.protocol.messages import ChangeMessage, ChangeType
from imgfeed.feeds.betfair.protocol.segments import SegmentError
from imgfeed.feeds.betfair.protocol.stream import SubscriptionStream
from imgfeed.runtime.events import DisconnectReason
from imgfeed.runtime.session import End
from imgfeed.runtime.tradability import Tradability

__all__ = ["MarketRequest", "OrderRequest", "MarketSide", "OrderSide"]

log = logging.getLogger("imgfeed.betfair")

_HEARTBEAT = ChangeType.HEARTBEAT
_SUB_IMAGE = ChangeType.SUB_IMAGE


@attrs.frozen
class MarketRequest:
    """What a market subscription asks: the schema's ``marketFilter`` and ``marketDataFilter``."""

    market_filter: Dict[str, Any] = attrs.field(factory=dict)
    market_data_filter: Dict[str, Any] = attrs.field(factory=dict)

    @property
    def wants_definition(self) -> bool:
        return "EX_MARKET_DEF" in (self.market_data_filter.get("fields") or ())


@attrs.frozen
class OrderRequest:
    """What an order subscription asks: the schema's ``orderFilter``."""

    order_filter: Dict[str, Any] = attrs.field(factory=dict)


class _Side:
    """What the two streams share: the stream state, the request in force, the rates asked for."""

    kind = ""

    def __init__(self, config: BetfairConfig, historical: bool) -> None:
        self.config = config
        self.stream = SubscriptionStream()
        self.historical = historical
        #: The request in force (confirmed by the server), re-sent after a reconnect.
        self.request: Any = None
        self.up = False
        self._stale = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.stream!r} request={self.request!r}>"

    @property
    def is_live(self) -> bool:
        """The session is up, the image is complete and the data is not stale."""
        return self.up and self.stream.is_up_to_date

    def confirmed(self, request_id: int, request: Any, resumed: bool, out: List[Any]) -> None:
        """The server accepted the subscription ``request_id`` (under the lock, before its image)."""
        self.request = request
        self.stream.subscribed(request_id, conflate_ms=self.config.conflate_ms, resumed=resumed)

    def resume_clocks(self) -> Dict[str, str]:
        return self.stream.resubscribe_payload()

    def session_up(self, out: List[Any]) -> None:
        self.up = True
        self._stale = False
        if self.historical:
            # Betfair's historical files carry no ct: the stream is whole from its first line.
            self.stream.is_image_complete = True

    def session_lost(self) -> None:
        self.up = False
        dropped = self.stream.connection_lost()
        if dropped:
            log.info("%s: %d segment(s) of an image in flight dropped with the connection", self.kind, dropped)

    def invalid_clock(self) -> None:
        self.stream.invalid_clock()

    def _receive(self, record: ChangeMessage, out: List[Any]) -> Any:
        received = self.stream.receive(record)
        if isinstance(received, SegmentError):
            out.append(received)
            return End(DisconnectReason.TRANSPORT_ERROR, f"{self.kind}: {received.reason}", received, code="SEGMENTS")
        return received


class MarketSide(_Side):
    """The market stream (module docstring)."""

    kind = "mcm"

    def __init__(self, config: BetfairConfig, lock: Any, tradability: Tradability, historical: bool = False) -> None:
        super().__init__(config, historical)
        self.cache = MarketCache(config.closed_retention, lock)
        self.tradability = tradability
        self.wants_definition = True
        self._stale = False  # as last told to the tradability rule

    def encode(self, request_id: Optional[int], request: MarketRequest, clocks: Dict[str, str]) -> bytes:
        cfg = self.config
        return market_subscription(
            request_id or 0,
            request.market_filter,
            request.market_data_filter,
            segmentation_enabled=cfg.segmentation,
            heartbeat_ms=cfg.heartbeat_ms,
            conflate_ms=cfg.conflate_ms,
            **clocks,
        )

    def confirmed(self, request_id: int, request: Any, resumed: bool, out: List[Any]) -> None:
        super().confirmed(request_id, request, resumed, out)
        self.wants_definition = request.wants_definition
        for market_id in self.cache.market_ids():  # untradable until the new image is whole
            self.tradability.forget(market_id, out)

    def invalid_clock(self) -> None:
        super().invalid_clock()
        self.cache.clear()

    def is_open(self, market_id: str) -> bool:
        status = self.cache.status(market_id)
        return status == "OPEN" or (status is None and not self.wants_definition and market_id in self.cache)

    def apply(self, record: ChangeMessage, out: List[Any]) -> Optional[End]:
        received = self._receive(record, out)
        if received is None or isinstance(received, End):
            return received
        tradability = self.tradability
        stream = self.stream
        if stream.is_stale is not self._stale:
            self._stale = stream.is_stale
            tradability.set_stale(self._stale, out)
        ct = received.ct
        if ct == _HEARTBEAT:
            return None
        cache = self.cache
        before = cache.market_ids() if ct == _SUB_IMAGE else None
        changed = cache.apply(received)
        get = cache.get
        out.extend([get(market_id) for market_id in changed])
        if stream.is_image_complete:
            if received.is_image:
                for market_id in cache.market_ids():
                    tradability.set_open(market_id, self.is_open(market_id), out)
            else:
                is_open = self.is_open
                for market_id in changed:
                    tradability.set_open(market_id, is_open(market_id), out)
        if before:
            for market_id in before:
                if market_id not in cache:
                    tradability.forget(market_id, out)
        for market_id in cache.evict(received.received_at):
            tradability.forget(market_id, out)
        return None


class OrderSide(_Side):
    """The order stream (module docstring). Its 503 makes the orders stale, not the markets."""

    kind = "ocm"

    def __init__(self, config: BetfairConfig, lock: Any, historical: bool = False) -> None:
        super().__init__(config, historical)
        self.cache = OrderCache(config.order_closed_retention, config.order_complete_retention, lock)

    def encode(self, request_id: Optional[int], request: OrderRequest, clocks: Dict[str, str]) -> bytes:
        cfg = self.config
        return order_subscription(
            request_id or 0,
            request.order_filter,
            segmentation_enabled=cfg.segmentation,
            heartbeat_ms=cfg.heartbeat_ms,
            conflate_ms=cfg.conflate_ms,
            **clocks,
        )

    def invalid_clock(self) -> None:
        super().invalid_clock()
        self.cache.clear()

    def apply(self, record: ChangeMessage, out: List[Any]) -> Optional[End]:
        received = self._receive(record, out)
        if received is None or isinstance(received, End):
            return received
        if received.ct == _HEARTBEAT:
            return None
        cache = self.cache
        changed = cache.apply(received)
        changed.extend(cache.evict(received.received_at))
        for market_id in dict.fromkeys(changed):
            book = cache.get(market_id)
            out.append(book if book is not None else OrderBook(market_id=market_id))
        return None
