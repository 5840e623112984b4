"""IMG handlers: the classes users subclass to receive the golf feed.

:class:`Handler` has the runtime's lifecycle hooks (from
:class:`~imgfeed.runtime.handler.BaseHandler`: ``on_connect``, ``on_disconnect``,
``on_suspend_all``, ``on_resume_all``, ``on_market_status``, ``on_protocol_error``,
``on_handler_error``) and one no-op method per kind of IMG record; override the ones you need.
The dispatcher thread calls them, one at a time, in the order the records arrived, for each
handler in registration order; a handler that raises never stops the others.

For the *current* state of a market, ask ``client.book``, which is updated as the bytes arrive.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Type

from imgfeed.errors import ProtocolError
from imgfeed.feeds.img.protocol.messages import (
    Competition,
    Event,
    Heartbeat,
    Market,
    MarketType,
    MarketUpdate,
    RateLimited,
    RemoveMarkets,
    ServerClosing,
    Sport,
    Unknown,
)
from imgfeed.runtime.handler import BaseHandler, LifecycleLogger, dispatch_table

__all__ = ["Handler", "LoggingHandler", "RECORD_METHODS", "dispatch"]


class Handler(BaseHandler):
    """Base class for IMG feed handlers: a no-op method per record kind and per lifecycle event."""

    # --- records, in the order the server sends them ---------------------------------------------

    def on_sport(self, record: Sport) -> None:
        """The first record of a snapshot (after every ``init``)."""

    def on_competition(self, record: Competition) -> None:
        """A tour, from the snapshot."""

    def on_event(self, record: Event) -> None:
        """A tournament, from the snapshot."""

    def on_market_type(self, record: MarketType) -> None:
        """A market type, from the snapshot."""

    def on_market(self, record: Market) -> None:
        """A market that is available, from the snapshot."""

    def on_market_update(self, record: MarketUpdate) -> None:
        """The full current image of a subscribed market (not a delta)."""

    def on_remove_markets(self, record: RemoveMarkets) -> None:
        """These markets are gone."""

    def on_heartbeat(self, record: Heartbeat) -> None:
        """A heartbeat (every 3 s). Under backpressure only the latest is delivered."""

    def on_unknown(self, record: Unknown) -> None:
        """A well-formed message of a kind imgfeed does not model; ``record.raw`` has it all."""

    def on_server_closing(self, record: ServerClosing) -> None:
        """The server said it is closing the connection, and why (``record.reason``)."""

    def on_rate_limited(self, record: RateLimited) -> None:
        """A request was refused with "API limit breached"."""


class LoggingHandler(LifecycleLogger, Handler):
    """Logs lifecycle events (and, at DEBUG, every market update) to the ``imgfeed.feed`` logger."""

    def __init__(self, logger: Optional[logging.Logger] = None) -> None:
        LifecycleLogger.__init__(self, logger)

    def on_server_closing(self, record: ServerClosing) -> None:
        self.log.warning("server closing the connection: %s", record.reason)

    def on_market_update(self, record: MarketUpdate) -> None:
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.debug("market_update %s %s", record.market_id, record.status)


#: Record type -> the name of the Handler method that receives it.
RECORD_METHODS: Dict[Type[Any], str] = {
    MarketUpdate: "on_market_update",
    Heartbeat: "on_heartbeat",
    Sport: "on_sport",
    Competition: "on_competition",
    Event: "on_event",
    MarketType: "on_market_type",
    Market: "on_market",
    RemoveMarkets: "on_remove_markets",
    Unknown: "on_unknown",
    ServerClosing: "on_server_closing",
    RateLimited: "on_rate_limited",
}

_TABLE = dispatch_table(RECORD_METHODS)


def dispatch(handler: Handler, item: Any) -> None:
    """Call the method of ``handler`` that receives ``item`` (a record or a notification), as the
    dispatcher does; items no method receives (responses) are ignored."""

    call = _TABLE.get(type(item))
    if call is not None:
        call(handler, item)
    elif isinstance(item, ProtocolError):
        handler.on_protocol_error(item)
