"""The Betfair binding of a fan-out consumer: the ESA adapter, driven by a relayed stream.

Contract: :func:`betfair_binding` builds a :class:`RelayedBetfairAdapter` -- the Betfair adapter
(its decoder, caches, books, dispatch table and handler class) for a stream it did not subscribe
to: it sends nothing, applies the relayed ESA lines (and a checkpoint's synthetic ``SUB_IMAGE``
lines) to its market and order caches, and judges a market tradable only when Betfair's own rule
says so on the downstream session *and* the upstream's :class:`~imgfeed.fanout.redis.relay.Gate`
allows it (docs/fanout.md, "Betfair"). What differs from a direct client, and why:

- **Subscriptions are learnt from the lines.** The relay sent no request, so it knows no
  subscription id from a ``status``. An image (``SUB_IMAGE``, ``RESUB_DELTA``, or the first
  segment of one) whose ``id`` is not the stream's current one starts that subscription, as the
  upstream's confirmation did (its markets untradable until the image is whole); changes with
  another id are dropped, as upstream. Ids restart with a new publisher, so "another", not
  "higher".
- **Definitions.** The relay does not know whether the upstream asked for ``EX_MARKET_DEF``: a
  market with a definition is open when it says ``OPEN``, one without when its image arrived
  (upstream's "without definitions an image is enough"); the gate carries the upstream's verdict.
- **A status is told, never acted on.** ``INVALID_CLOCK`` and the like are the upstream's
  business: the fresh ``SUB_IMAGE`` that follows (a new id) replaces the cache here too.
- **The consumer's own reconnect keeps the stream.** When the downstream session ends but the
  upstream did not (silence, Redis lost), the streams (clocks, image completeness, segments in
  flight) are kept; if the next connection resumes right after the last entry applied
  (``SessionResumed(whole=True)``), every market is judged again at once -- Betfair sends no new
  image while its own connection stands, so waiting for one would suspend the market for the rest
  of the upstream session. Any other start (a checkpoint, the next upstream session) begins from
  fresh streams.

Everything runs under the adapter's lock, on the consumer's reader thread.

Known weakness: a change with the old id that arrives after the upstream confirmed a replacing
subscription but before its image is dropped upstream and applied here (the relay learns the new
id only from the image); the image then replaces the cache, so the books agree again from there.
"""

from __future__ import annotations

from typing import Any, Callable, List, Tuple, Union

from imgfeed.fanout.redis.relay import Gate
from imgfeed.feeds.betfair.adapter import BetfairAdapter
from imgfeed.feeds.betfair.config import BetfairConfig
from imgfeed.feeds.betfair.protocol.messages import (
    ChangeType,
    MarketChangeMessage,
    OrderChangeMessage,
    SegmentType,
    StatusMessage,
)
from imgfeed.feeds.betfair.sides import MarketSide, OrderSide
from imgfeed.feeds.betfair.views import MarketsView, OrdersView
from imgfeed.runtime.tradability import Tradability

__all__ = ["RelayedBetfairAdapter", "betfair_binding"]

_IMAGES = (ChangeType.SUB_IMAGE, ChangeType.RESUB_DELTA)
#: Never sent: the relay contacts no Betfair server (placeholders that the config requires).
_NO_APP_KEY = "fanout-relay"
_NO_SESSION = "fanout-relay-sends-nothing"


class _GatedMarketSide(MarketSide):
    """The market stream with the upstream's word on each market (module docstring)."""

    def __init__(self, config: BetfairConfig, lock: Any, tradability: Tradability, gate: Gate) -> None:
        super().__init__(config, lock, tradability)
        self.gate = gate

    def is_open(self, market_id: str) -> bool:
        status = self.cache.status(market_id)
        own = status == "OPEN" or (status is None and market_id in self.cache)
        return own and self.gate.allows(market_id)

    def resume(self, out: List[Any]) -> None:
        """The downstream session resumed the stream where it was: its staleness told again, then
        every market judged again."""
        if self.stream.is_stale:
            self._stale = True
            self.tradability.set_stale(True, out)
        self.rejudge(out)

    def rejudge(self, out: List[Any]) -> None:
        """Tell the tradability rule every market's state again (the gate changed, or a resume)."""
        if not (self.up and self.stream.is_image_complete):
            return
        for market_id in self.cache.market_ids():
            self.tradability.set_open(market_id, self.is_open(market_id), out)


class RelayedBetfairAdapter(BetfairAdapter):
    """The Betfair adapter of a fan-out consumer (module docstring).

    Attributes:
        book: the market cache as other threads read it (``consumer.book``).
        order_book: the order cache (``consumer.order_book``).
    """

    def __init__(self, config: BetfairConfig, gate: Gate) -> None:
        super().__init__(config)
        self.markets = self._gated = _GatedMarketSide(config, self.lock, self.tradability, gate)
        self.book = MarketsView(self)
        self.order_book = OrdersView(self)
        self._upstream_over = False
        self._kept = False  # the streams were kept over a downstream-only loss: resume or reset?

    def __repr__(self) -> str:
        return f"<RelayedBetfairAdapter {self.tradability!r}>"

    # --- what the relay tells (relay.RelayAdapter calls these under the lock) -------------------

    def relay_upstream_ended(self) -> None:
        """The upstream connection ended (or entries were lost): the next session starts afresh."""
        self._upstream_over = True

    def relay_resumed(self, whole: bool, out: List[Any]) -> None:
        """The downstream session starts inside an upstream one: from right after the last entry
        applied (``whole``), or from a checkpoint whose lines follow."""
        if not self._kept:
            return
        self._kept = False
        if not whole:
            self._reset_streams()
            return
        self._gated.resume(out)

    def refresh(self, out: List[Any]) -> None:
        """The gate changed: every market judged again."""
        self._gated.rejudge(out)

    # --- the lifecycle ------------------------------------------------------------------------

    def session_lost(self, out: List[Any]) -> None:
        self.tradability.session_lost(out)
        self.markets.up = self.orders.up = False
        if self._upstream_over:
            self._reset_streams()
        else:
            self._kept = True
        self._upstream_over = False

    def _reset_streams(self) -> None:
        self._kept = False
        for side in (self.markets, self.orders):
            side.stream.connection_lost()

    # --- the lines ----------------------------------------------------------------------------

    def apply(self, record: Any, out: List[Any]) -> None:
        if self._kept:  # a start that is not a resume: the kept streams are of no use
            self._reset_streams()
        kind = type(record)
        if kind is MarketChangeMessage:
            self._learn_subscription(self.markets, record, out)
        elif kind is OrderChangeMessage:
            self._learn_subscription(self.orders, record, out)
        elif kind is StatusMessage:
            out.append(record)
            return
        super().apply(record, out)

    def _learn_subscription(self, side: Union[MarketSide, OrderSide], record: Any, out: List[Any]) -> None:
        request_id = record.id
        if request_id is None or request_id == side.stream.subscription_id or record.ct not in _IMAGES:
            return
        if record.segment_type not in (None, SegmentType.SEG_START):
            return  # the middle of an image whose start we never saw: the stream drops it
        side.stream.subscribed(request_id, conflate_ms=side.stream.requested_conflate_ms, resumed=True)
        if side is self.markets:
            for market_id in self.markets.cache.market_ids():  # untradable until the image is whole
                self.tradability.forget(market_id, out)


def betfair_binding(gate: Gate) -> Tuple[RelayedBetfairAdapter, Callable[[List[Any]], None]]:
    """(the relayed adapter, its refresh) for :func:`imgfeed.fanout.redis.feeds.relay_binding`."""
    config = BetfairConfig(app_key=_NO_APP_KEY, session_token=_NO_SESSION, host="fanout", port=443)
    adapter = RelayedBetfairAdapter(config, gate)
    return adapter, adapter.refresh

