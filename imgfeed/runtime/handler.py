"""The handler base class every feed's handlers share: the runtime's lifecycle hooks.

Every method is a no-op; override the ones you need. A feed's handler class (IMG's
``imgfeed.Handler``, ``imgfeed.betfair.BetfairHandler``) subclasses :class:`BaseHandler` and adds
one method per kind of record. The dispatcher thread calls them one at a time, in the order the
records arrived, for each handler in registration order. A handler that raises -- anything,
``SystemExit`` included -- never stops the dispatcher or the other handlers: the exception is
logged with the record and passed to :meth:`BaseHandler.on_handler_error`.

Handlers run on the dispatcher thread, never on the reader: a slow handler delays other handlers
but never the reading of the feed. For the *current* state of a market, ask the client's book,
which is updated as the bytes arrive.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Mapping, Optional, Type

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

__all__ = ["BaseHandler", "LifecycleLogger", "Call", "dispatch_table", "method_name_of"]

#: How the dispatcher delivers one item to one handler.
Call = Callable[[Any, Any], None]


class BaseHandler:
    """The lifecycle hooks of every feed (module docstring)."""

    def on_connect(self, session: Session) -> None:
        """A session is up. Every market is untradable until its own image arrives."""

    def on_disconnect(self, reason: Disconnected) -> None:
        """The connection ended, or an attempt failed; ``reason.reason`` says why and
        ``reason.retry_in`` when the next attempt is."""

    def on_suspend_all(self, reason: SuspendReason) -> None:
        """Every market is suspended (disconnected, heartbeats late, stale data). Trust no price."""

    def on_resume_all(self) -> None:
        """The global suspension is lifted; ``on_market_status(m, True)`` follows for each market
        tradable again."""

    def on_market_status(self, market_id: str, tradable: bool) -> None:
        """Whether this market is tradable now (see :class:`~imgfeed.runtime.events.MarketStatusChanged`)."""

    def on_protocol_error(self, error: ProtocolError) -> None:
        """A line could not be understood; ``error.raw`` has its bytes. The feed goes on."""

    def on_handler_error(self, exc: BaseException, record: Any) -> None:
        """A handler (this one or another) raised ``exc`` while handling ``record``."""


class LifecycleLogger:
    """The lifecycle part of a feed's ``LoggingHandler``: one line per event, at the right level.

    A lost connection and late heartbeats are WARNINGs; a normal stop (``stop()``, Ctrl-C), and
    every market suspended because of a disconnection (the disconnection is the news), are INFO,
    so that a program that stops as it should logs no warning.
    """

    def __init__(self, logger: Optional[logging.Logger] = None) -> None:
        self.log = logger or logging.getLogger("imgfeed.feed")
        self._stopping = False

    def on_connect(self, session: Session) -> None:
        self._stopping = False
        self.log.info("connected to %s (session %s)", session.address, session.session_id)

    def on_disconnect(self, reason: Disconnected) -> None:
        if reason.reason is DisconnectReason.USER_STOP:
            self.log.info("disconnected: %s", reason)
            return
        when = ""
        if reason.will_retry and reason.retry_in is not None:
            when = "; reconnecting now" if reason.retry_in <= 0 else f"; reconnecting in {reason.retry_in:.0f} s"
        self.log.warning("disconnected: %s%s", reason, when if reason.will_retry else "; not reconnecting")

    def on_suspend_all(self, reason: SuspendReason) -> None:
        # A disconnect is logged by on_disconnect, right after: the warning is said there, once.
        level = logging.INFO if reason is SuspendReason.DISCONNECTED else logging.WARNING
        self.log.log(level, "all markets suspended: %s", reason)

    def on_resume_all(self) -> None:
        self.log.info("global suspension lifted")

    def on_protocol_error(self, error: ProtocolError) -> None:
        self.log.warning("protocol error: %s", error)


def _on_connect(h: Any, n: Connected) -> None:
    h.on_connect(n.session)


def _on_suspend_all(h: Any, n: SuspendedAll) -> None:
    h.on_suspend_all(n.reason)


def _on_resume_all(h: Any, n: ResumedAll) -> None:
    h.on_resume_all()


def _on_market_status(h: Any, n: MarketStatusChanged) -> None:
    h.on_market_status(n.market_id, n.tradable)


def _on_disconnect(h: Any, n: Disconnected) -> None:
    h.on_disconnect(n)


#: The runtime's notifications and how each reaches a handler.
_NOTIFICATION_CALLS: Dict[Type[Any], Call] = {
    Connected: _on_connect,
    Disconnected: _on_disconnect,
    SuspendedAll: _on_suspend_all,
    ResumedAll: _on_resume_all,
    MarketStatusChanged: _on_market_status,
}


def _method_call(name: str) -> Call:
    def call(handler: Any, item: Any) -> None:
        getattr(handler, name)(item)

    call.__name__ = name
    # The dispatcher calls ``getattr(handler, name)(item)`` itself for these (see method_name_of):
    # one Python frame less per record and handler, on the busiest path there is.
    call.method_name = name  # type: ignore[attr-defined]
    return call


def method_name_of(call: Call) -> Optional[str]:
    """The handler method a record's :data:`Call` calls with the item alone, or ``None`` for a
    notification's (which passes other arguments)."""
    return getattr(call, "method_name", None)


def dispatch_table(records: Mapping[Type[Any], str]) -> Dict[Type[Any], Call]:
    """Type -> how to deliver it: the feed's records (type -> method name) and the notifications.

    Protocol errors (any subclass) go to ``on_protocol_error``; a type in neither table is not
    delivered (a response goes to the caller of its request, not to handlers).
    """
    table: Dict[Type[Any], Call] = {kind: _method_call(name) for kind, name in records.items()}
    table.update(_NOTIFICATION_CALLS)
    return table


def protocol_error_call(handler: Any, error: ProtocolError) -> None:
    handler.on_protocol_error(error)
