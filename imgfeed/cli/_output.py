"""How the command line prints the feed: one JSON object per line, or one readable line per message.

Contract of ``--format jsonl`` (stdout only; logs go to stderr), for ``tail`` and ``replay``:

- a record: ``{"kind": "<message type>", "received_at": "<ISO 8601 UTC>", "msg": <msg as received>}``
  where the kind is the push ``type`` (``market_update``, ``heartbeat`` ...), ``init_response`` or
  ``response`` for answers to requests (with their ``status``, ``request_id``, ``session_id``), or
  ``unknown`` (with ``mode`` and ``type``);
- a lifecycle event: ``{"kind": "connected" | "disconnected" | "suspended_all" | "resumed_all" |
  "server_closing" | "protocol_error" | "rate_limited", "received_at": ..., ...details}``; a
  ``disconnected`` event has ``reason``, ``detail``, ``will_retry`` and ``retry_in`` (seconds until
  the next attempt, ``null`` when the client will not retry).

Market ids are the raw ids the server sent (``golf_6005_matchbet~7cgolfer_ids~3d9548~2c14689``),
as in ``msg``: the form ``subscribe(market_ids=...)`` and ``book.is_tradable()`` compare.
On an output that cannot encode non-ASCII text, ``jsonl`` escapes it as JSON does (``\\u00f8``).

Every line is a complete JSON object and is flushed at once, so ``imgfeed tail --format jsonl | jq``
sees each message as it arrives. ``pretty`` (:mod:`imgfeed.cli._pretty`) is for people and may
change between versions.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
import threading
import time
from typing import IO, Any, Callable, Dict, Optional

import ujson

from imgfeed.cli._text import can_show_unicode
from imgfeed.errors import ProtocolError
from imgfeed.feeds.img.handler import Handler
from imgfeed.feeds.img.protocol.messages import (
    InitResponse,
    RateLimited,
    Record,
    Response,
    ServerClosing,
    Unknown,
)
from imgfeed.runtime.events import Disconnected, Session, SuspendReason

__all__ = [
    "iso_utc",
    "record_kind",
    "record_json",
    "event_json",
    "LinePrinter",
    "JsonlHandler",
]

#: The lifecycle kinds of the jsonl contract (module docstring).
LIFECYCLE_KINDS = (
    "connected",
    "disconnected",
    "suspended_all",
    "resumed_all",
    "server_closing",
    "protocol_error",
    "rate_limited",
)


def iso_utc(t: Optional[float] = None) -> str:
    """``t`` (seconds since the epoch; now if ``None``) as ISO 8601 in UTC, to the microsecond."""
    if t is None:
        t = time.time()
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat(timespec="microseconds")


def record_kind(record: Record) -> str:
    """The ``kind`` of a record in the jsonl output."""
    if isinstance(record, InitResponse):
        return "init_response"
    if isinstance(record, RateLimited):
        return "rate_limited"
    if isinstance(record, ServerClosing):
        return "server_closing"
    if isinstance(record, Response):
        return "response"
    if isinstance(record, Unknown):
        return "unknown"
    kind = record.raw.get("type")
    return kind if isinstance(kind, str) else type(record).__name__.lower()


def record_json(record: Record) -> Dict[str, Any]:
    """The jsonl object for a record: kind, receive time, and ``msg`` exactly as received."""
    obj: Dict[str, Any] = {
        "kind": record_kind(record),
        "received_at": iso_utc(record.received_at),
        "msg": record.raw.get("msg"),
    }
    if isinstance(record, (InitResponse, Response, RateLimited)):
        for key in ("status", "request_id", "session_id", "reason"):
            if key in record.raw:
                obj[key] = record.raw[key]
    elif isinstance(record, ServerClosing):
        obj.update(reason=str(record.reason), session_id=record.session_id)
    elif isinstance(record, Unknown):
        obj.update(mode=record.mode, type=record.type, raw=record.raw)
    return obj


def event_json(kind: str, **details: Any) -> Dict[str, Any]:
    """The jsonl object for a lifecycle event (one of :data:`LIFECYCLE_KINDS`)."""
    obj: Dict[str, Any] = {"kind": kind, "received_at": iso_utc()}
    for key, value in details.items():
        obj[key] = _plain(value)
    return obj


def _plain(value: Any) -> Any:
    """Make a detail JSON-friendly: enums and other objects become their text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def protocol_error_json(error: ProtocolError) -> Dict[str, Any]:
    return event_json("protocol_error", reason=error.reason, raw=error.raw[:1000])


class LinePrinter:
    """Write lines to a stream from any thread, each flushed at once.

    Args:
        stream: where to write (stdout by default).
        on_broken: called once when the reader of the output goes away (``imgfeed tail | head``),
            so that the command can stop instead of feeding a closed pipe.
    """

    def __init__(
        self, stream: Optional[IO[str]] = None, on_broken: Optional[Callable[[], None]] = None
    ) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._on_broken = on_broken
        self._ascii: Optional[bool] = None
        #: Set when the reader of our output went away (e.g. ``| head``): stop printing quietly.
        self.broken = False

    @property
    def stream(self) -> IO[str]:
        return self._stream if self._stream is not None else sys.stdout

    def line(self, text: str) -> None:
        if self.broken:
            return
        with self._lock:
            try:
                self.stream.write(text + "\n")
                self.stream.flush()
            except BrokenPipeError:
                self.broken = True
                if self._stream is None:
                    # Python flushes stdout again at exit and would print "Exception ignored ...
                    # BrokenPipeError"; point the descriptor at /dev/null (Python docs, "SIGPIPE").
                    devnull = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(devnull, sys.stdout.fileno())
                    os.close(devnull)
                if self._on_broken is not None:
                    self._on_broken()

    def json(self, obj: Dict[str, Any]) -> None:
        if self._ascii is None:
            self._ascii = not can_show_unicode(self.stream)
        self.line(ujson.dumps(obj, ensure_ascii=self._ascii, escape_forward_slashes=False))


class JsonlHandler(Handler):
    """Print every record and lifecycle event as one JSON object per line (module docstring)."""

    def __init__(self, printer: Optional[LinePrinter] = None) -> None:
        self.printer = printer or LinePrinter()

    def _record(self, record: Record) -> None:
        self.printer.json(record_json(record))

    on_sport = on_competition = on_event = on_market_type = on_market = _record
    on_market_update = on_remove_markets = on_heartbeat = on_unknown = _record

    def on_connect(self, session: Session) -> None:
        obj = event_json(
            "connected", session_id=session.session_id, address=session.address, session_number=session.number
        )
        obj["received_at"] = iso_utc(session.connected_at)
        self.printer.json(obj)

    def on_disconnect(self, reason: Disconnected) -> None:
        self.printer.json(
            event_json(
                "disconnected",
                reason=reason.reason,
                detail=reason.detail,
                will_retry=reason.will_retry,
                retry_in=reason.retry_in,
            )
        )

    def on_suspend_all(self, reason: SuspendReason) -> None:
        self.printer.json(event_json("suspended_all", reason=reason))

    def on_resume_all(self) -> None:
        self.printer.json(event_json("resumed_all"))

    def on_server_closing(self, record: ServerClosing) -> None:
        obj = event_json("server_closing", reason=record.reason, session_id=record.session_id)
        obj["received_at"] = iso_utc(record.received_at)
        self.printer.json(obj)

    def on_rate_limited(self, record: RateLimited) -> None:
        obj = event_json("rate_limited", request_id=record.request_id)
        obj["received_at"] = iso_utc(record.received_at)
        self.printer.json(obj)

    def on_protocol_error(self, error: ProtocolError) -> None:
        self.printer.json(protocol_error_json(error))


