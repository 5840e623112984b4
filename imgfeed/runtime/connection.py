"""One connection attempt: its transport, its session state machine and its reader thread.

Contract: the session (:class:`~imgfeed.runtime.session.Session`) is read and changed only under
the runtime lock; the transport is driven by the reader (``recv``) and the watchdog (``send``,
``close``). ``closing`` is set before the transport is closed on purpose, so the reader ends
quietly instead of reporting the close as a failure.
"""

from __future__ import annotations

import threading
from typing import Optional

from imgfeed.errors import ProtocolError
from imgfeed.runtime.session import Session
from imgfeed.transport.base import Transport

__all__ = ["Connection", "bounded_error", "MAX_ERROR_RAW"]

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
    """One connection attempt.

    Attributes:
        session: its state machine (under the runtime lock).
        transport: its byte stream.
        closing: set when the client decided to close it (the reader then ends quietly).
        reader: its reader thread, once started.
        reader_done: set when the reader thread has ended.
    """

    def __init__(self, session: Session, transport: Transport) -> None:
        self.session = session
        self.transport = transport
        self.closing = False
        self.reader: Optional[threading.Thread] = None
        self.reader_done = threading.Event()

    @property
    def number(self) -> int:
        return self.session.number

    def __repr__(self) -> str:
        return f"<Connection #{self.number} {self.session.phase.value} via {self.transport.describe()}>"

    def close_transport(self) -> None:
        """Close the transport on purpose (idempotent, prompt)."""
        self.closing = True
        self.transport.close()
