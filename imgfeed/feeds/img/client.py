"""FeedClient: a self-healing connection to the IMG odds distribution service.

A thin layer over the feed-agnostic runtime (:class:`~imgfeed.runtime.client.RuntimeClient`):
it builds the IMG adapter and the SSH transport from a :class:`~imgfeed.feeds.img.config.FeedConfig`,
and adds the feed's requests -- ``subscribe``, ``unsubscribe`` and raw ``request`` -- and its book.
Everything about threads, reconnecting, liveness and delivery is the runtime's.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Dict, Iterable, Optional, Sequence, Tuple

from imgfeed.feeds.img.adapter import ImgAdapter
from imgfeed.feeds.img.book import MarketBook
from imgfeed.feeds.img.config import FeedConfig
from imgfeed.feeds.img.handler import Handler
from imgfeed.feeds.img.protocol.requests import subscribe_request, unsubscribe_request
from imgfeed.feeds.img.subscriptions import Subscription
from imgfeed.runtime.client import RuntimeClient
from imgfeed.transport.base import Transport

__all__ = ["FeedClient", "ssh_transport_factory"]


def ssh_transport_factory(config: FeedConfig) -> Callable[[], Transport]:
    """A factory of SSH transports for ``config`` (the private key is loaded for each connection,
    so a key file replaced on disk is picked up at the next reconnect)."""

    def factory() -> Transport:
        from imgfeed.transport.ssh import (  # paramiko only when used
            SSHTransport,
            load_private_key,
        )

        pkey = config.pkey
        if pkey is None:
            assert config.key_filename is not None
            pkey = load_private_key(config.key_filename, config.passphrase)
        return SSHTransport(
            host=config.host,
            port=config.port,
            username=config.username,
            pkey=pkey,
            known_hosts=config.known_hosts,
            host_key_policy=config.host_key_policy,
            read_timeout=config.read_timeout,
            keepalive_interval=config.keepalive_interval,
        )

    return factory


class FeedClient(RuntimeClient):
    """A self-healing connection to the feed, delivering records to handlers in order.

    Args:
        config: where and how to connect.
        handlers: handlers to register, called in this order.
        transport_factory: builds a new :class:`~imgfeed.transport.base.Transport` per connection
            attempt (default: the paramiko SSH transport for ``config``).
        adapter: the feed protocol (default: an :class:`~imgfeed.feeds.img.adapter.ImgAdapter`
            for ``config``).
        rng: the random source of the reconnect jitter (tests pass a seeded one).
        **runtime: passed to the runtime (``clock``, ``decoder_factory``: for replays).

    Attributes:
        config: the configuration it was built with.
        book: the :class:`~imgfeed.feeds.img.book.MarketBook`, updated as the bytes arrive; ask it
            what is tradable now, from any thread.

    Example::

        with FeedClient(config, handlers=[MyHandler()]) as client:
            client.subscribe(event_ids=["ev.golf_1100"])
            client.run_forever()
    """

    def __init__(
        self,
        config: FeedConfig,
        handlers: Iterable[Handler] = (),
        transport_factory: Optional[Callable[[], Transport]] = None,
        adapter: Optional[ImgAdapter] = None,
        rng: Optional[random.Random] = None,
        **runtime: Any,
    ) -> None:
        if not isinstance(config, FeedConfig):
            raise TypeError(f"config must be a FeedConfig, got {type(config).__name__}")
        self.config = config
        self._img = adapter or ImgAdapter(config)
        super().__init__(
            self._img,
            config.runtime_settings(),
            handlers,
            transport_factory=transport_factory or ssh_transport_factory(config),
            address=config.address,
            rng=rng,
            **runtime,
        )

    @property
    def book(self) -> MarketBook:
        return self._img.book

    def start(self) -> "FeedClient":
        super().start()
        return self

    def __enter__(self) -> "FeedClient":
        super().__enter__()
        return self

    # --- requests ----------------------------------------------------------------------------------

    def subscribe(
        self,
        event_ids: Optional[Sequence[str]] = None,
        market_type_ids: Optional[Sequence[str]] = None,
        market_ids: Optional[Sequence[str]] = None,
        timeout: Optional[float] = None,
    ) -> Any:
        """Subscribe to the markets matching every filter given (none: every market).

        The subscription is in force once the server confirms it -- before this call returns, and
        before the images that follow -- and is re-established after every reconnect. The server
        then pushes one ``market_update`` per matching market, then updates as they happen.

        Returns:
            the server's response record.

        Raises:
            RateLimitedError: "API limit breached"; nothing was subscribed.
            RequestError: the server answered with another error.
            RequestTimeoutError: no live session, or no response, within ``timeout``
                (default ``config.request_timeout``).
            ClientClosedError: the client is stopped.
        """
        req = subscribe_request(event_ids, market_type_ids, market_ids)
        return self.request(req.name, req.msg, timeout=timeout)

    def unsubscribe(
        self,
        event_ids: Optional[Sequence[str]] = None,
        market_type_ids: Optional[Sequence[str]] = None,
        market_ids: Optional[Sequence[str]] = None,
        timeout: Optional[float] = None,
    ) -> Any:
        """Unsubscribe (same filters as :meth:`subscribe`); the markets it covers stop being
        tradable when the server confirms, and stay so after a reconnect."""
        req = unsubscribe_request(event_ids, market_type_ids, market_ids)
        return self.request(req.name, req.msg, timeout=timeout)

    def request(self, name: str, msg: Optional[Dict[str, Any]] = None, timeout: Optional[float] = None) -> Any:
        """Send a request and wait for its response. Thread-safe.

        A request made before the session is live waits for it; a request whose connection is lost
        before the answer is sent again on the next session, within ``timeout``. A raw
        ``subscribe`` or ``unsubscribe`` changes the subscriptions in force like the methods do.

        Returns:
            the response record (``Response``).

        Raises:
            see :meth:`subscribe`.
        """
        return self._request(self._img.request_spec(name, dict(msg or {})), timeout)

    @property
    def subscriptions(self) -> Tuple[Subscription, ...]:
        """The subscribes and unsubscribes in force, compacted, in the order a reconnect re-sends them."""
        with self._img.lock:
            return self._img.subscriptions.in_force()
