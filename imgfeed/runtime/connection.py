"""One connection attempt's shared state, between its reader thread and the watchdog.

Contract: the reader writes the liveness clocks and the session facts; the watchdog reads them and
alone decides to close. ``finish`` records the first reason the connection ended (later ones are
ignored), so the reason reported to the user is the cause, not a consequence.
"""

from __future__ import annotations

import threading
import time
from typing import Optional, Tuple

from imgfeed.errors import ProtocolError
from imgfeed.runtime.events import DisconnectReason
from imgfeed.transport.base import Transport

__all__ = ["Connection", "End", "bounded_error", "MAX_ERROR_RAW"]

#: Why a connection ended: (reason, detail for a person, the exception if any).
End = Tuple[DisconnectReason, str, Optional[BaseException]]

#: The most of a bad line's bytes a queued ProtocolError keeps. The queue is bounded in items,
#: not bytes: with a blocked handler, whole bad lines (up to max_line_length each) would pile up.
#: 64 KiB shows what was wrong; ``imgfeed record`` keeps whole lines for a bug report.
MAX_ERROR_RAW = 64 * 1024


def bounded_error(error: ProtocolError) -> ProtocolError:
    """``error``, or a copy whose ``raw`` is cut to :data:`MAX_ERROR_RAW` bytes."""
    raw = error.raw
    if len(raw) <= MAX_ERROR_RAW or type(error) is not ProtocolError:
        return error  # LineTooLongError keeps only the line's head already
    return ProtocolError(f"{error.reason} (line of {len(raw)} bytes; the first {MAX_ERROR_RAW} kept)", raw[:MAX_ERROR_RAW])


class Connection:
    """The state of one connection attempt.

    Attributes:
        number: the attempt's number over the client's life (1, 2, ...).
        session_number: the client-wide number of the session it carried (0 until it is up).
        last_message, last_heartbeat: ``time.monotonic()`` of the last message / heartbeat.
        closing: set when the client decided to close it (the reader then ends quietly).
        closing_reason: the reason of the server's error push, once it arrived.
    """

    def __init__(self, number: int, transport: Transport) -> None:
        self.number = number
        self.transport = transport
        self.started = time.monotonic()
        self.last_message = self.started
        self.last_heartbeat = self.started
        self.session_id: Optional[str] = None
        self.session_number = 0
        self.up = False
        self.connected_at: Optional[float] = None
        self.closing = False
        self.closing_reason: Optional[str] = None
        self.ended = threading.Event()
        self.end: Optional[End] = None
        self.reader: Optional[threading.Thread] = None

    def __repr__(self) -> str:
        return f"<Connection #{self.number} session={self.session_id} up={self.up} end={self.end}>"

    def finish(self, reason: DisconnectReason, detail: str = "", exc: Optional[BaseException] = None) -> None:
        """Record why the connection ended (the first reason wins) and wake who waits for it."""
        if self.end is None:
            self.end = (reason, detail, exc)
        self.ended.set()
