"""Betfair handlers: the class users subclass to receive market and order books.

:class:`BetfairHandler` has the runtime's lifecycle hooks (from
:class:`~imgfeed.runtime.handler.BaseHandler`: ``on_connect``, ``on_disconnect``,
``on_suspend_all``, ``on_resume_all``, ``on_market_status``, ``on_protocol_error``,
``on_handler_error``) and one no-op method per thing the stream delivers; override what you need.

What a handler receives is never a delta: each ``on_market_book`` call gets the whole market as
the cache holds it after the change, as an immutable :class:`~imgfeed.feeds.betfair.books.MarketBook`
(keep it, hand it to another thread, compare it with the next). Deltas are applied in order to the
cache as they arrive; when the handlers fall behind, a newer book of a market may replace its
queued older one (nothing is lost but stale prices). A segmented image reaches the handlers only
once it is whole.

The dispatcher thread calls the methods one at a time, in stream order, handler after handler; a
handler that raises never stops the others. For the current state, ask ``client.markets``.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Type

from imgfeed.feeds.betfair.books import MarketBook, OrderBook
from imgfeed.feeds.betfair.protocol.messages import ConnectionMessage, StatusMessage, Unknown
from imgfeed.runtime.handler import BaseHandler, LifecycleLogger

__all__ = ["BetfairHandler", "BetfairLoggingHandler", "RECORD_METHODS"]


class BetfairHandler(BaseHandler):
    """Base class for Betfair handlers: a no-op method per delivery and per lifecycle event."""

    def on_connection(self, connection_id: Optional[str]) -> None:
        """The server's first message on a new connection. Quote ``connection_id`` to Betfair's
        support when a stream misbehaves."""

    def on_status(self, status: StatusMessage) -> None:
        """A ``status`` message: the answer to authentication or a subscription, or an error
        (``status.error_code``; every one but ``SUBSCRIPTION_LIMIT_EXCEEDED`` closes the
        connection, and the client reconnects by itself where that can help)."""

    def on_market_book(self, book: MarketBook) -> None:
        """A market changed: its whole book, after the change (never a delta)."""

    def on_order_book(self, book: OrderBook) -> None:
        """The account's orders on a market changed: their whole book, after the change."""

    def on_unknown(self, record: Unknown) -> None:
        """A message of a kind this version does not model (``record.op``, ``record.raw``)."""

    def _on_connection_message(self, record: ConnectionMessage) -> None:
        self.on_connection(record.connection_id)


class BetfairLoggingHandler(LifecycleLogger, BetfairHandler):
    """Logs lifecycle events and errors (and, at DEBUG, every book) to ``imgfeed.betfair``."""

    def __init__(self, logger: Optional[logging.Logger] = None) -> None:
        LifecycleLogger.__init__(self, logger or logging.getLogger("imgfeed.betfair"))

    def on_connection(self, connection_id: Optional[str]) -> None:
        self.log.info("connected: connectionId %s", connection_id)

    def on_status(self, status: StatusMessage) -> None:
        if not status.is_success:
            self.log.warning("status %s: %s (%s)", status.error_code, status.error_message, status.status_code)

    def on_market_book(self, book: MarketBook) -> None:
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.debug("market %s %s", book.market_id, book.status)


#: Record type -> the name of the handler method that receives it.
RECORD_METHODS: Dict[Type[Any], str] = {
    MarketBook: "on_market_book",
    OrderBook: "on_order_book",
    StatusMessage: "on_status",
    ConnectionMessage: "_on_connection_message",
    Unknown: "on_unknown",
}
