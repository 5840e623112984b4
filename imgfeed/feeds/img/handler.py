"""Handlers: the classes users subclass to receive the feed.

Every method of :class:`Handler` is a no-op; override the ones you need. The dispatcher thread
calls them, one at a time, in the order the records arrived, for each handler in registration
order. A handler that raises never stops the dispatcher or the other handlers: the exception is
logged with the record and passed to :meth:`Handler.on_handler_error`.

Handlers run on the dispatcher thread, never on the reader: a slow handler delays other handlers
but never the reading of the feed (the server drops slow readers). For the *current* state of a
market, ask ``client.book``, which is updated as the bytes arrive.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Type

from imgfeed.errors import ProtocolError
from imgfeed.runtime.events import (
    Connected,
    Disconnected,
    DisconnectReason,
    MarketStatusChanged,
    ResumedAll,
    Session,
    SuspendedAll,
    SuspendReason,
)
from imgfeed.feeds.img.protocol.messages import (
    Competition,
    Event,
    Heartbeat,
    Market,
    MarketType,
    MarketUpdate,
    RateLimited,
    Record,
    RemoveMarkets,
    ServerClosing,
    Sport,
    Unknown,
)

__all__ = ["Handler", "LoggingHandler", "dispatch"]


class Handler:
    """Base class for feed handlers: a no-op method per record kind and per lifecycle event."""

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
        """A market that is available and open, from the snapshot."""

    def on_market_update(self, record: MarketUpdate) -> None:
        """The full current image of a subscribed market (not a delta)."""

    def on_remove_markets(self, record: RemoveMarkets) -> None:
        """These markets are gone."""

    def on_heartbeat(self, record: Heartbeat) -> None:
        """A heartbeat (every 3 s). Under backpressure only the latest is delivered."""

    def on_unknown(self, record: Unknown) -> None:
        """A well-formed message of a kind imgfeed does not model; ``record.raw`` has it all."""

    # --- lifecycle -------------------------------------------------------------------------------

    def on_connect(self, session: Session) -> None:
        """A session is up. Every market is untradable until its own update arrives."""

    def on_disconnect(self, reason: Disconnected) -> None:
        """The connection ended, or an attempt failed; ``reason.reason`` says why."""

    def on_suspend_all(self, reason: SuspendReason) -> None:
        """Every market is suspended (disconnected, or heartbeats late). Trust no price."""

    def on_resume_all(self) -> None:
        """The global suspension is lifted; see :class:`~imgfeed.runtime.events.ResumedAll`."""

    def on_market_status(self, market_id: str, tradable: bool) -> None:
        """One market became tradable or untradable for a reason of its own."""

    def on_server_closing(self, record: ServerClosing) -> None:
        """The server said it is closing the connection, and why (``record.reason``)."""

    def on_rate_limited(self, record: RateLimited) -> None:
        """A request was refused with "API limit breached"."""

    def on_protocol_error(self, error: ProtocolError) -> None:
        """A line could not be understood; ``error.raw`` has its bytes. The feed goes on."""

    def on_handler_error(self, exc: BaseException, record: Any) -> None:
        """A handler (this one or another) raised ``exc`` while handling ``record``."""


class LoggingHandler(Handler):
    """Logs lifecycle events (and, at DEBUG, every record) to the ``imgfeed.feed`` logger.

    Levels: a lost connection and late heartbeats are WARNINGs; a normal stop (``stop()``,
    Ctrl-C), and every market suspended because of a disconnection (the disconnection is the news),
    are INFO, so that a program that stops as it should logs no warning.
    """

    def __init__(self, logger: Optional[logging.Logger] = None) -> None:
        self.log = logger or logging.getLogger("imgfeed.feed")

    def on_connect(self, session: Session) -> None:
        self.log.info("connected to %s (session %s)", session.address, session.session_id)

    def on_disconnect(self, reason: Disconnected) -> None:
        level = logging.INFO if reason.reason is DisconnectReason.USER_STOP else logging.WARNING
        self.log.log(level, "disconnected: %s", reason)

    def on_suspend_all(self, reason: SuspendReason) -> None:
        level = logging.INFO if reason is SuspendReason.DISCONNECTED else logging.WARNING
        self.log.log(level, "all markets suspended: %s", reason)

    def on_resume_all(self) -> None:
        self.log.info("global suspension lifted")

    def on_server_closing(self, record: ServerClosing) -> None:
        self.log.warning("server closing the connection: %s", record.reason)

    def on_protocol_error(self, error: ProtocolError) -> None:
        self.log.warning("protocol error: %s", error)

    def on_market_update(self, record: MarketUpdate) -> None:
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.debug("market_update %s %s", record.market_id, record.status)


#: Record type -> the name of the Handler method that receives it.
_RECORD_METHODS: Dict[Type[Any], str] = {
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


def dispatch(handler: Handler, item: Any) -> None:
    """Call the method of ``handler`` that receives ``item`` (a record or a notification).

    Items no handler method receives (responses, which go to the caller of the request) are
    ignored.
    """
    name = _RECORD_METHODS.get(type(item))
    if name is not None:
        getattr(handler, name)(item)
        return
    kind = type(item)
    if kind is MarketStatusChanged:
        handler.on_market_status(item.market_id, item.tradable)
    elif kind is SuspendedAll:
        handler.on_suspend_all(item.reason)
    elif kind is ResumedAll:
        handler.on_resume_all()
    elif kind is Connected:
        handler.on_connect(item.session)
    elif kind is Disconnected:
        handler.on_disconnect(item)
    elif isinstance(item, ProtocolError):
        handler.on_protocol_error(item)
    elif isinstance(item, Record) and type(item) not in _RECORD_METHODS:
        return  # responses: delivered to the requester, not to handlers
