"""Taps: what sees the raw feed, in wire order, before any conflation (recorders, the fan-out).

Contract: a :class:`Tap` registered on a client (``client.add_tap``) is called by the ingest,
under the runtime lock, in exactly the order things happened:

- :meth:`Tap.on_bytes` with every chunk of bytes a connection delivered, *before* its records are
  applied -- so a tap sees every line, Betfair deltas complete and in order, whatever the queue
  later conflates;
- :meth:`Tap.on_notification` with every lifecycle notification (``Connected`` with its session,
  ``SuspendedAll`` / ``ResumedAll`` for late heartbeats and disconnections, ``Disconnected`` with
  its reason), at the point of the stream where it happened.

A tap runs on the reader or the watchdog with the lock held: it must not block or do IO (append
to a buffer of its own and let its own thread do the rest). An exception from a tap is logged and
counted, and never reaches the feed: one broken tap cannot stop the feed or the others.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Tap"]


class Tap:
    """Base class of taps: both methods are no-ops. See the module docstring."""

    def on_bytes(self, connection: int, data: bytes, received_at: float) -> None:
        """``data`` arrived on connection attempt number ``connection`` at ``received_at`` (epoch s)."""

    def on_notification(self, notification: Any) -> None:
        """A lifecycle notification, in order with the bytes."""
