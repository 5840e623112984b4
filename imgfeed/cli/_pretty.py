"""How the command line tells people what the feed does: readable lines and log lines, each event once.

Contract: :func:`pretty_record` and :class:`PrettyHandler` are ``tail``'s and ``replay``'s
``--format pretty`` (for people; it may change between versions, unlike ``jsonl``, see
:mod:`imgfeed.cli._output`); :class:`StatusLog` tells the same lifecycle as log lines on stderr for
the commands whose stdout is not for people. Each lifecycle event is said once: a disconnection
together with when the next attempt is (:func:`describe_disconnect`), and a rejected key or host
key not at all here, because the command's one error line says it with the fix
(:func:`is_explained_at_exit`). Market ids are shown raw, with the decoded form beside them.
"""

from __future__ import annotations

import datetime as _dt
import logging
import time
from typing import Optional

import ujson

from imgfeed.cli._output import JsonlHandler, LinePrinter, record_kind
from imgfeed.cli._text import printable
from imgfeed.errors import ProtocolError
from imgfeed.feeds.img.handler import Handler
from imgfeed.feeds.img.protocol.messages import (
    Competition,
    Event,
    Heartbeat,
    InitResponse,
    Market,
    MarketType,
    MarketUpdate,
    RateLimited,
    Record,
    RemoveMarkets,
    Response,
    ServerClosing,
    Sport,
    decode_market_id,
)
from imgfeed.runtime.events import (
    Disconnected,
    DisconnectReason,
    Session,
    SuspendReason,
)

__all__ = [
    "shown_market_id",
    "describe_disconnect",
    "is_explained_at_exit",
    "pretty_record",
    "PrettyHandler",
    "StatusLog",
    "make_handler",
]


def _price(p: Optional[float]) -> str:
    return "-" if p is None else f"{p:g}"


def shown_market_id(market_id: str) -> str:
    """The raw id, with its decoded form beside it when that differs (for people)."""
    decoded = decode_market_id(market_id)
    return market_id if decoded == market_id else f"{market_id} ({decoded})"


def _seconds(delay: float) -> str:
    """``31 s``, ``2.5 s``, ``0.2 s``: as precise as a person waiting needs."""
    if delay >= 10:
        return f"{delay:.0f} s"
    if delay >= 1:
        return f"{delay:.1f}".rstrip("0").rstrip(".") + " s"
    return f"{delay:.1g} s"


def describe_disconnect(reason: Disconnected, option: str = "--reconnect-interval") -> str:
    """One line for a disconnection: why, and when the next attempt is (and what sets it).

    ``option`` names the setting of the wait, so that a person looking at a 30 s pause knows what
    it is and how to change it.
    """
    text = f"disconnected: {reason}"
    if reason.reason is DisconnectReason.USER_STOP:
        return text
    if not reason.will_retry:
        return text + "; not reconnecting"
    if reason.retry_in is None:
        return text + "; reconnecting"
    if reason.retry_in <= 0:
        return text + "; reconnecting now"
    # In UTC, as the times at the start of tail's lines.
    at = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=reason.retry_in)
    return (
        f"{text}; reconnecting in {_seconds(reason.retry_in)}, at {at.strftime('%H:%M:%S')} UTC "
        f"(the wait is set by {option})"
    )


def is_explained_at_exit(reason: Disconnected) -> bool:
    """A rejected key or host key that ends the client: the command's error line says it, with the fix."""
    fatal = (DisconnectReason.AUTH_FAILED, DisconnectReason.HOST_KEY)
    return not reason.will_retry and reason.reason in fatal


def pretty_record(record: Record) -> str:
    """One line describing ``record`` for a person reading a terminal."""
    at = _dt.datetime.fromtimestamp(record.received_at or time.time(), _dt.timezone.utc).strftime(
        "%H:%M:%S.%f"
    )[:-3]
    if isinstance(record, MarketUpdate):
        sels = sorted(record.selections, key=lambda s: (s.price is None, s.price or 0.0))
        shown = ", ".join(f"{s.name or s.id} {_price(s.price)}" for s in sels[:4])
        more = f" (+{len(sels) - 4})" if len(sels) > 4 else ""
        settled = sum(1 for s in sels if s.settlement is not None)
        tail = f" settled {settled}" if settled else ""
        text = f"market_update {shown_market_id(record.market_id)} [{record.status}] {shown}{more}{tail}"
    elif isinstance(record, Heartbeat):
        text = "heartbeat"
    elif isinstance(record, (Sport, Competition, MarketType)):
        text = f"{record_kind(record)} {record.id} {record.name}"
    elif isinstance(record, Event):
        text = f"event {record.id} {record.name} ({record.stage or 'no stage'})"
    elif isinstance(record, Market):
        text = f"market {shown_market_id(record.id)} {record.name} ({record.stage or 'no stage'})"
    elif isinstance(record, RemoveMarkets):
        text = f"remove_markets {', '.join(shown_market_id(m) for m in record.market_ids)}"
    elif isinstance(record, InitResponse):
        text = f"session initialised: {record.session_id}"
    elif isinstance(record, ServerClosing):
        text = f"server closing: {record.reason}"
    elif isinstance(record, RateLimited):
        text = f"rate limited (request {record.request_id})"
    elif isinstance(record, Response):
        text = f"response {record.status} (request {record.request_id})"
    else:
        text = f"{record_kind(record)} {ujson.dumps(record.raw, ensure_ascii=False)[:200]}"
    return f"{at} {printable(text)}"


class PrettyHandler(Handler):
    """Print one readable line per record and lifecycle event."""

    def __init__(
        self, printer: Optional[LinePrinter] = None, heartbeats: bool = True, replay: bool = False
    ) -> None:
        self.printer = printer or LinePrinter()
        self.heartbeats = heartbeats
        #: In a replay the end of the stream is the end of the file, not a lost connection.
        self.replay = replay

    def _record(self, record: Record) -> None:
        self.printer.line(pretty_record(record))

    on_sport = on_competition = on_event = on_market_type = on_market = _record
    on_market_update = on_remove_markets = on_unknown = _record

    def on_heartbeat(self, record: Heartbeat) -> None:
        if self.heartbeats:
            self._record(record)

    def _note(self, text: str) -> None:
        at = _dt.datetime.now(_dt.timezone.utc).strftime("%H:%M:%S.%f")[:-3]
        self.printer.line(f"{at} ** {printable(text)}")

    def on_connect(self, session: Session) -> None:
        self._note(f"connected to {session.address}, session {session.session_id} (#{session.number})")

    def on_disconnect(self, reason: Disconnected) -> None:
        if self.replay and reason.reason is DisconnectReason.USER_STOP:
            self._note("end of the recording")
            return
        if self.replay and reason.reason is DisconnectReason.EOF:
            self._note("the recorded connection ended here; the recording goes on with the next one")
            return
        if is_explained_at_exit(reason):
            return  # said once, by the command's error line, with what to do
        self._note(describe_disconnect(reason))

    def on_suspend_all(self, reason: SuspendReason) -> None:
        self._note(f"ALL MARKETS SUSPENDED: {reason}")

    def on_resume_all(self) -> None:
        self._note("suspension lifted; each market is tradable again once its own update arrives")

    def on_server_closing(self, record: ServerClosing) -> None:
        self._note(f"server closing the connection: {record.reason}")

    def on_rate_limited(self, record: RateLimited) -> None:
        self._note(f"rate limited: request {record.request_id} was refused (API limit breached)")

    def on_protocol_error(self, error: ProtocolError) -> None:
        self._note(f"protocol error: {error}")


class StatusLog(Handler):
    """The connection's story in log lines, each event once, at the level it deserves.

    For the commands whose output is not for people (``record``, ``tail --format jsonl``): the
    disconnection with when the next attempt is (WARNING; INFO for a normal stop), heartbeats late
    (WARNING), and, at INFO, what follows from those (every market suspended on a disconnection,
    the suspension lifted, the session up). A disconnection the command explains at exit (a
    rejected key or host key) is left to that line.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self.log = logger

    def on_connect(self, session: Session) -> None:
        self.log.info(
            "connected to %s, session %s (#%d)", session.address, session.session_id, session.number
        )

    def on_disconnect(self, reason: Disconnected) -> None:
        if reason.reason is DisconnectReason.USER_STOP:
            self.log.info("disconnected: user stop")
        elif not is_explained_at_exit(reason):
            self.log.warning("%s", describe_disconnect(reason))

    def on_suspend_all(self, reason: SuspendReason) -> None:
        if reason is SuspendReason.DISCONNECTED:
            self.log.info("all markets suspended: %s", reason)  # the disconnection is the news
        else:
            self.log.warning("all markets suspended: %s", reason)

    def on_resume_all(self) -> None:
        self.log.info("suspension lifted")

    def on_server_closing(self, record: ServerClosing) -> None:
        self.log.info("server closing the connection: %s", record.reason)  # the disconnection says it too

    def on_rate_limited(self, record: RateLimited) -> None:
        self.log.warning("rate limited: request %s was refused (API limit breached)", record.request_id)

    def on_protocol_error(self, error: ProtocolError) -> None:
        self.log.warning("protocol error: %s", error)

    def on_market_update(self, record: MarketUpdate) -> None:
        if self.log.isEnabledFor(logging.DEBUG):  # -vv: each update, after it was handled
            self.log.debug("market_update %s %s", record.market_id, record.status)


def make_handler(fmt: str, printer: Optional[LinePrinter] = None, replay: bool = False) -> Handler:
    """The printing handler for ``--format``: ``"jsonl"`` or ``"pretty"``."""
    if fmt == "jsonl":
        return JsonlHandler(printer)
    return PrettyHandler(printer, replay=replay)
