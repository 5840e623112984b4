"""Feed bindings: how a consumer builds the adapter of the stream's feed, with the upstream's gate.

Contract: :func:`relay_binding` returns, for a feed name (the ``feed`` of the stream's meta hash),
a function ``build(gate) -> (adapter, refresh)``: the feed's own adapter for a relayed stream (it
sends nothing; the lines are the truth; its book judges a market tradable only while ``gate``
allows it, see :mod:`imgfeed.fanout.redis.relay`) and ``refresh(out)``, which re-judges every
market after the gate changed. The publisher needs nothing feed-specific: it takes any client
whose adapter implements ``checkpoint()``.

Betfair's binding is :mod:`imgfeed.fanout.redis.betfair`.

Known weakness (IMG): the book consults its subscriptions only for markets of the offering, so
the gate does not hold back a market subscribed outside the offering; that market still needs
an image on the downstream session, and its image's status, to be tradable.
"""

from __future__ import annotations

import os
from typing import Any, Callable, List, Optional, Tuple

from imgfeed.errors import ConfigError
from imgfeed.fanout.redis.relay import Gate
from imgfeed.runtime.adapter import FeedAdapter

__all__ = ["relay_binding", "FEEDS", "Binding"]

#: (the feed's adapter for a relayed stream, refresh(out))
Built = Tuple[FeedAdapter, Callable[[List[Any]], None]]
Binding = Callable[[Gate], Built]

#: The feeds a consumer can rebuild (the ``feed`` a publisher writes in the stream's meta hash).
FEEDS = ("img", "betfair")


def _img(gate: Gate) -> Built:
    from imgfeed.feeds.img.adapter import ImgAdapter
    from imgfeed.feeds.img.book import MarketBook
    from imgfeed.feeds.img.config import FeedConfig
    from imgfeed.feeds.img.subscriptions import SubscriptionState

    class GatedSubscriptions(SubscriptionState):
        """"Subscribed" means: the upstream's last word on the market was "tradable"."""

        def wants(self, market_id: str, event_id: Optional[str], market_type_id: Optional[str]) -> bool:
            return gate.allows(market_id)

    class RelayedImgAdapter(ImgAdapter):
        def __init__(self, config: FeedConfig) -> None:
            super().__init__(config, follow_subscriptions=False)
            self.book = MarketBook(GatedSubscriptions())
            self.lock = self.book.lock

    config = FeedConfig(
        host="fanout",
        username="fanout",
        key_filename=os.devnull,  # never read: the relay connects to no feed server
        known_hosts=None,
        host_key_policy="insecure-accept-any",  # no host is contacted
    )
    adapter = RelayedImgAdapter(config)
    return adapter, adapter.book.subscriptions_changed_locked


def relay_binding(feed: str) -> Binding:
    """The binding of ``feed`` (module docstring).

    Raises:
        ConfigError: imgfeed cannot rebuild that feed from a stream.
    """
    if feed == "img":
        return _img
    if feed == "betfair":
        from imgfeed.fanout.redis.betfair import betfair_binding

        return betfair_binding
    raise ConfigError("feed", feed, f"one of {', '.join(FEEDS)} (the feeds a fan-out consumer can rebuild)")
