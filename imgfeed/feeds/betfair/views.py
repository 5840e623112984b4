"""``client.markets`` and ``client.orders``: the caches as other threads read them.

Contract: every method takes the adapter's lock (the cache's own), so a reader on any thread sees
the state between two applied chunks, never half of one; books are immutable snapshots, built on
demand and kept until the market changes. ``is_tradable`` is the one tradability rule
(:mod:`imgfeed.runtime.tradability`, applied by :mod:`.sides`): it answers "may I act on this
price now?" -- False while disconnected, while heartbeats are late, while Betfair says its data is
stale (``status: 503``), until the image (or ``RESUB_DELTA``) is complete on this session, and
while the market is not ``OPEN``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, FrozenSet, Iterator, List, Optional

from imgfeed.feeds.betfair.books import MarketBook, OrderBook
from imgfeed.runtime.events import SuspendReason

if TYPE_CHECKING:  # pragma: no cover
    from imgfeed.feeds.betfair.adapter import BetfairAdapter

__all__ = ["MarketsView", "OrdersView"]


class _View:
    def __init__(self, adapter: "BetfairAdapter") -> None:
        self._adapter = adapter
        self._lock = adapter.lock

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` holds (checked under the lock after every applied chunk);
        False on timeout. For scripts and tests: ``client.markets.wait_until(lambda: ..., 5)``."""
        return self._adapter.wait_for(predicate, timeout)


class MarketsView(_View):
    """The market cache of a client (module docstring)."""

    def __repr__(self) -> str:
        with self._lock:
            return f"<MarketsView markets={len(self._adapter.markets.cache)} {self._adapter.tradability!r}>"

    def __len__(self) -> int:
        with self._lock:
            return len(self._adapter.markets.cache)

    def __contains__(self, market_id: object) -> bool:
        with self._lock:
            return market_id in self._adapter.markets.cache

    def __iter__(self) -> Iterator[str]:
        return iter(self.market_ids())

    def market_ids(self) -> List[str]:
        """The cached markets' ids, in the order first seen."""
        return self._adapter.markets.cache.market_ids()

    def book(self, market_id: str) -> MarketBook:
        """The market's immutable book now. Raises ``KeyError`` if it is not cached."""
        return self._adapter.markets.cache.book(market_id)

    def get(self, market_id: str) -> Optional[MarketBook]:
        """Like :meth:`book`, ``None`` for a market not cached."""
        return self._adapter.markets.cache.get(market_id)

    def books(self) -> List[MarketBook]:
        """Every cached market's book, at one moment."""
        with self._lock:
            cache = self._adapter.markets.cache
            return [cache.book(m) for m in cache.market_ids()]

    def is_tradable(self, market_id: str) -> bool:
        """May a price of this market be acted on now (module docstring)?"""
        with self._lock:
            return self._adapter.tradability.is_tradable(market_id)

    def tradable(self) -> FrozenSet[str]:
        """Every market tradable now."""
        with self._lock:
            return self._adapter.tradability.tradable()

    @property
    def suspend_reason(self) -> Optional[SuspendReason]:
        """Why every market is suspended now, or ``None``."""
        with self._lock:
            return self._adapter.tradability.suspend_reason

    @property
    def is_image_complete(self) -> bool:
        """The market stream's image (or resubscription delta) is whole on this session."""
        with self._lock:
            side = self._adapter.markets
            return side.up and side.stream.is_image_complete

    @property
    def clocks(self) -> dict:
        """The committed ``initialClk`` and ``clk`` (what a reconnect resumes from)."""
        with self._lock:
            return self._adapter.markets.stream.resubscribe_payload()

    def stream_stats(self) -> dict:
        """The market stream's counters (changes, images, heartbeats, dropped_other_id, ...)."""
        with self._lock:
            return self._adapter.markets.stream.stats()


class OrdersView(_View):
    """The order cache of a client (module docstring). ``is_live`` tells whether it is current."""

    def __repr__(self) -> str:
        with self._lock:
            return f"<OrdersView markets={len(self._adapter.orders.cache)} live={self._adapter.orders.is_live}>"

    def __len__(self) -> int:
        with self._lock:
            return len(self._adapter.orders.cache)

    def __contains__(self, market_id: object) -> bool:
        with self._lock:
            return market_id in self._adapter.orders.cache

    def __iter__(self) -> Iterator[str]:
        return iter(self.market_ids())

    def market_ids(self) -> List[str]:
        return self._adapter.orders.cache.market_ids()

    def book(self, market_id: str) -> OrderBook:
        """The account's orders on this market now. Raises ``KeyError`` if it has none cached."""
        return self._adapter.orders.cache.book(market_id)

    def get(self, market_id: str) -> Optional[OrderBook]:
        return self._adapter.orders.cache.get(market_id)

    @property
    def is_live(self) -> bool:
        """The order stream's image is whole on this session and not stale: the orders are current."""
        with self._lock:
            return self._adapter.orders.is_live

    def is_tradable(self, market_id: str) -> bool:
        """The orders are current and, when the client subscribes to markets too, the market is
        tradable (:meth:`MarketsView.is_tradable`)."""
        with self._lock:
            adapter = self._adapter
            if not adapter.orders.is_live:
                return False
            return adapter.markets.request is None or adapter.tradability.is_tradable(market_id)

    @property
    def clocks(self) -> dict:
        with self._lock:
            return self._adapter.orders.stream.resubscribe_payload()
