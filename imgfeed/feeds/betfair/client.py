"""BetfairClient: a self-healing connection to Betfair's Exchange Stream API.

A thin layer over the feed-agnostic runtime (:class:`~imgfeed.runtime.client.RuntimeClient`): it
builds the Betfair adapter and the TLS transport from a
:class:`~imgfeed.feeds.betfair.config.BetfairConfig`, and adds the feed's requests --
:meth:`~BetfairClient.subscribe_markets` and :meth:`~BetfairClient.subscribe_orders` -- and its
caches, ``markets`` and ``orders``. Threads, reconnecting (with clocks), liveness and delivery are
the runtime's.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Iterable, Mapping, Optional

from imgfeed.feeds.betfair.adapter import BetfairAdapter
from imgfeed.feeds.betfair.config import BetfairConfig
from imgfeed.feeds.betfair.handler import BetfairHandler
from imgfeed.feeds.betfair.protocol.messages import StatusMessage
from imgfeed.feeds.betfair.sides import MarketRequest, OrderRequest
from imgfeed.feeds.betfair.views import MarketsView, OrdersView
from imgfeed.runtime.client import RuntimeClient
from imgfeed.transport.base import Transport

__all__ = ["BetfairClient", "tls_transport_factory"]


def tls_transport_factory(config: BetfairConfig) -> Callable[[], Transport]:
    """A factory of verifying TLS transports to ``config.host:config.port``."""

    def factory() -> Transport:
        from imgfeed.transport.tls import TLSTransport

        return TLSTransport(config.host, config.port, cafile=config.cafile, read_timeout=config.read_timeout)

    return factory


class BetfairClient(RuntimeClient):
    """A self-healing ESA connection, delivering immutable books to handlers in order.

    Args:
        config: where and how to connect.
        handlers: :class:`~imgfeed.feeds.betfair.handler.BetfairHandler` s, called in this order.
        transport_factory: builds a transport per connection attempt (default: TLS to
            ``config.host:config.port``, verified with ``config.cafile`` or the system's CAs).
        adapter: the feed protocol (default: a :class:`BetfairAdapter` for ``config``).
        rng: the random source of the reconnect jitter (tests pass a seeded one).
        **runtime: passed to the runtime (``clock``, ``decoder_factory``: for replays).

    Attributes:
        config: the configuration it was built with.
        markets: the market cache (:class:`~imgfeed.feeds.betfair.views.MarketsView`): books and
            ``is_tradable(market_id)``, from any thread.
        orders: the order cache (:class:`~imgfeed.feeds.betfair.views.OrdersView`).

    Example::

        config = BetfairConfig(app_key="...", session_token="...")
        with BetfairClient(config, handlers=[MyHandler()]) as client:
            client.subscribe_markets(
                market_filter={"eventTypeIds": ["7"], "marketTypes": ["WIN"]},
                market_data_filter={"fields": ["EX_BEST_OFFERS", "EX_LTP", "EX_MARKET_DEF"], "ladderLevels": 3},
            )
            client.run_forever()
    """

    def __init__(
        self,
        config: BetfairConfig,
        handlers: Iterable[BetfairHandler] = (),
        transport_factory: Optional[Callable[[], Transport]] = None,
        adapter: Optional[BetfairAdapter] = None,
        rng: Optional[random.Random] = None,
        **runtime: Any,
    ) -> None:
        if not isinstance(config, BetfairConfig):
            raise TypeError(f"config must be a BetfairConfig, got {type(config).__name__}")
        self.config = config
        self._betfair = adapter or BetfairAdapter(config)
        self.markets = MarketsView(self._betfair)
        self.orders = OrdersView(self._betfair)
        super().__init__(
            self._betfair,
            config.runtime_settings(),
            handlers,
            transport_factory=transport_factory or tls_transport_factory(config),
            address=config.address,
            rng=rng,
            **runtime,
        )

    def start(self) -> "BetfairClient":
        """Start and connect in the background; returns at once.

        Raises:
            AuthenticationError: there is no ``session_token`` and the ``session_provider`` failed.
            ClientClosedError: the client was already started.
        """
        if self._betfair._token is None:
            self._betfair.refresh_credentials()  # the first token, on the caller's thread
        super().start()
        return self

    def __enter__(self) -> "BetfairClient":
        super().__enter__()
        return self

    # --- requests ----------------------------------------------------------------------------------

    def subscribe_markets(
        self,
        market_filter: Optional[Mapping[str, Any]] = None,
        market_data_filter: Optional[Mapping[str, Any]] = None,
        timeout: Optional[float] = None,
    ) -> StatusMessage:
        """Subscribe to markets; it replaces the market subscription in force, if any.

        Args:
            market_filter: the schema's ``MarketFilter`` (``{"marketIds": [...]}``,
                ``{"eventTypeIds": ["7"], "marketTypes": ["WIN"]}`` ...); none: every market.
            market_data_filter: the schema's ``MarketDataFilter``
                (``{"fields": ["EX_BEST_OFFERS", "EX_MARKET_DEF"], "ladderLevels": 3}``).
            timeout: seconds to wait for a live session and the server's ``status``
                (default ``config.request_timeout``).

        The subscription is in force once the server's ``status`` says so -- before this call
        returns, and before the image that follows -- and is re-established, with its clocks,
        after every reconnect. Messages of the replaced subscription are dropped from then on,
        and no market is tradable until the new image is whole.

        Returns:
            the server's ``status``.

        Raises:
            SubscriptionError: the server refused it (``SUBSCRIPTION_LIMIT_EXCEEDED``: the filter
                matches too many markets; the connection and the subscription in force are kept).
            RequestTimeoutError: no live session, or no answer, within ``timeout``.
            ClientClosedError: the client is stopped.
        """
        request = MarketRequest(dict(market_filter or {}), dict(market_data_filter or {}))
        spec = self._betfair.subscription_spec(self._betfair.markets, request)
        status: StatusMessage = self._request(spec, timeout)
        return status

    def subscribe_orders(
        self, order_filter: Optional[Mapping[str, Any]] = None, timeout: Optional[float] = None
    ) -> StatusMessage:
        """Subscribe to the account's orders (the schema's ``OrderFilter``:
        ``includeOverallPosition``, ``customerStrategyRefs``, ``partitionMatchedByStrategyRef``).

        As :meth:`subscribe_markets`: in force once confirmed, replaces the order subscription in
        force, re-established with its clocks after a reconnect (a fresh order image holds only
        executable orders, so the clocks matter: flumine lost fills without them).

        Raises:
            see :meth:`subscribe_markets`.
        """
        request = OrderRequest(dict(order_filter or {}))
        spec = self._betfair.subscription_spec(self._betfair.orders, request)
        status: StatusMessage = self._request(spec, timeout)
        return status
