"""The reader thread of one connection: drain the transport, decode, hand chunks to the ingest.

Contract: the reader never runs user code and never waits while holding a lock. It reads without
pause -- servers drop slow readers -- and ends its connection's session with a typed reason when
the stream ends (``EOF``; ``SERVER_CLOSING`` if the server said so first, in which case the session
is already over), the transport fails (``TRANSPORT_ERROR``, with the transport's own cause), the
queue overflows (``QUEUE_OVERFLOW``), or something unexpected happens (``INTERNAL_ERROR``: a bug,
reported as one, with its traceback, never as a network fault).

The overflow policy is applied here, after the chunk was queued and the lock released: ``block``
waits for room (the silence rule still ends the connection if that takes too long, since nothing
is read meanwhile), ``disconnect`` and ``conflate`` (when items that cannot be conflated alone
fill the queue) end the connection.
"""

from __future__ import annotations

import logging
from typing import Callable

from imgfeed.errors import TransportError
from imgfeed.runtime.adapter import Decoder
from imgfeed.runtime.clock import Clock
from imgfeed.runtime.config import OverflowPolicy
from imgfeed.runtime.connection import Connection
from imgfeed.runtime.events import DisconnectReason
from imgfeed.runtime.ingest import Ingest
from imgfeed.runtime.queue import QueueClosedError
from imgfeed.runtime.session import End

__all__ = ["run_reader"]

log = logging.getLogger("imgfeed.runtime")


def run_reader(
    conn: Connection, ingest: Ingest, decoder: Decoder, clock: Clock, stopping: Callable[[], bool]
) -> None:
    """The body of an ``imgfeed-reader`` thread (module docstring)."""
    transport = conn.transport
    queue = ingest.queue
    policy = queue.policy

    def should_stop() -> bool:
        return conn.closing or conn.session.retired or stopping()

    try:
        while not conn.closing:
            data = transport.recv()
            if data is None:
                if conn.session.retired:
                    break
                continue  # a read timeout: look at conn.closing again
            mono = clock.monotonic()
            if not data:
                if not conn.closing:
                    # The peer ended the stream: a cut-off last line is the peer's error. When we
                    # closed it ourselves, a half-received line is nobody's error.
                    now = clock.time()
                    ingest.chunk(conn, decoder.feed(b"", now), b"", mono, now)
                if conn.closing:
                    ingest.retire(conn, End(DisconnectReason.USER_STOP))
                else:
                    cause = transport.failure_cause()
                    if cause is not None:
                        ingest.retire(conn, End(DisconnectReason.TRANSPORT_ERROR, _describe(cause), cause))
                    else:
                        ingest.retire(conn, End(DisconnectReason.EOF, "the server closed the connection"))
                break
            received_at = clock.time()
            records = decoder.feed(data, received_at)
            if ingest.chunk(conn, records, data, mono, received_at):
                if policy is OverflowPolicy.BLOCK:
                    queue.wait_for_room(should_stop)
                else:
                    what = "items that cannot be conflated" if policy is OverflowPolicy.CONFLATE else "items"
                    ingest.retire(
                        conn,
                        End(
                            DisconnectReason.QUEUE_OVERFLOW,
                            f"the dispatch queue holds {len(queue)} {what} (bound {queue.maxsize}): "
                            "the handlers are too slow for the feed",
                        ),
                    )
                    break
    except QueueClosedError:
        ingest.retire(conn, End(DisconnectReason.USER_STOP))
    except TransportError as exc:
        if conn.closing:
            ingest.retire(conn, End(DisconnectReason.USER_STOP))
        else:
            cause = transport.failure_cause() or exc
            ingest.retire(conn, End(DisconnectReason.TRANSPORT_ERROR, str(exc), cause))
    except BaseException as exc:  # noqa: B036 -- a bug: say so, with the traceback, and never hang
        log.exception("the reader of connection #%d failed (a bug in imgfeed or the feed adapter)", conn.number)
        ingest.retire(conn, End(DisconnectReason.INTERNAL_ERROR, f"the reader failed: {exc!r}", exc))
    finally:
        conn.reader_done.set()


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
