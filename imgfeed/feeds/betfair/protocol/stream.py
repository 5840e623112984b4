"""Per-subscription stream state: which messages count, the clocks, and whether the image is whole.

One :class:`SubscriptionStream` per market or order subscription. It is pure state: change messages
go in (:meth:`SubscriptionStream.receive`), the changes to apply come out, and nothing here reads a
clock, touches a socket or starts a thread.

Rules it enforces (Betfair's ESA documentation and its Java reference client):

- **One subscription id.** A new subscription on a connection replaces the old one; messages that
  still carry the old ``id`` are dropped and counted (``dropped_other_id``). Messages without an
  ``id`` (Betfair's historical files) are accepted.
- **Segments** are assembled (:mod:`.segments`) before anything else sees them.
- **Clocks** (``initialClk``, ``clk``) are committed only from a non-segmented message or an
  assembled ``SEG_END``, and only when non-null; heartbeats carry a ``clk`` and commit it too (as
  betfairlightweight does; the Java client ignores heartbeat clocks, which only makes a resume
  replay a little more).
- **Image complete**: set when a ``SUB_IMAGE`` or ``RESUB_DELTA`` has been fully received, cleared by
  :meth:`~SubscriptionStream.subscribed`, :meth:`~SubscriptionStream.connection_lost`,
  :meth:`~SubscriptionStream.invalid_clock` and by a segment error (the image in flight is lost,
  and the committed clocks still point before it, so a resubscription recovers it).
- **Granted rates**: ``heartbeatMs`` and ``conflateMs`` as the server confirmed them.
- **Stale** (``status: 503``): set by a change message with that status, cleared by the next change
  message without it (heartbeats included: they say the stream is up to date).
- **Reading too slowly**: a market change with ``con: true`` when no conflation was requested means
  the server merged changes because our socket buffer was full; each is counted
  (``unrequested_conflations``).
"""

from __future__ import annotations

from typing import Dict, Optional, Union

from imgfeed.feeds.betfair.protocol.messages import ChangeMessage, ChangeType
from imgfeed.feeds.betfair.protocol.segments import SegmentAssembler, SegmentError

__all__ = ["SubscriptionStream", "Received"]

#: What :meth:`SubscriptionStream.receive` returns: a change to apply, nothing, or a segment error.
Received = Union[ChangeMessage, SegmentError, None]


class SubscriptionStream:
    """The state of one subscription (market or order) across its connections.

    Attributes:
        subscription_id: the id of the subscription request now in force (``None``: accept any).
        initial_clk, clk: the committed clocks.
        heartbeat_ms, conflate_ms: the rates the server granted, once it has said.
        is_image_complete: the current image (``SUB_IMAGE`` or ``RESUB_DELTA``) has fully arrived.
        is_stale: the last change message carried ``status: 503``.

    Not thread-safe: the reader thread owns it.
    """

    def __init__(self, subscription_id: Optional[int] = None) -> None:
        self.subscription_id = subscription_id
        self.requested_conflate_ms: Optional[int] = None
        self.initial_clk: Optional[str] = None
        self.clk: Optional[str] = None
        self.heartbeat_ms: Optional[int] = None
        self.conflate_ms: Optional[int] = None
        self.is_image_complete = False
        self.is_stale = False
        self._assembler = SegmentAssembler()
        self._counts: Dict[str, int] = dict.fromkeys(
            ["changes", "images", "heartbeats", "dropped_other_id", "segment_errors",
             "unrequested_conflations", "stale_messages"],
            0,
        )

    def __repr__(self) -> str:
        return (
            f"<SubscriptionStream id={self.subscription_id} image_complete={self.is_image_complete} "
            f"stale={self.is_stale} clk={self.clk!r} heartbeat_ms={self.heartbeat_ms}>"
        )

    @property
    def is_up_to_date(self) -> bool:
        """The image is complete and the server does not flag its data as stale."""
        return self.is_image_complete and not self.is_stale

    def stats(self) -> Dict[str, int]:
        """Counters since creation: changes, images, heartbeats, dropped_other_id, segment_errors,
        unrequested_conflations, stale_messages."""
        return dict(self._counts)

    # --- what the client tells the stream ---------------------------------------------------

    def subscribed(
        self, subscription_id: int, *, conflate_ms: Optional[int] = None, resumed: bool = False
    ) -> None:
        """Record that a subscription request with this id was sent; it replaces any earlier one.

        Args:
            subscription_id: the request's ``id``; messages with any other id are dropped from now.
            conflate_ms: the conflation requested (``None`` or 0: none, so ``con`` means too slow).
            resumed: the request carried this stream's clocks (:meth:`resubscribe_payload`); if not,
                the clocks are forgotten, since they belong to the previous subscription.
        """
        self.subscription_id = subscription_id
        self.requested_conflate_ms = conflate_ms
        self.is_image_complete = False
        self._assembler.reset()
        if not resumed:
            self.initial_clk = None
            self.clk = None

    def connection_lost(self) -> int:
        """The connection dropped: the image is no longer current and segments in flight are void.

        Returns:
            How many segments in flight were discarded.
        """
        self.is_image_complete = False
        return self._assembler.reset()

    def invalid_clock(self) -> None:
        """The server refused our clocks (``INVALID_CLOCK``): forget them and take a fresh image."""
        self.initial_clk = None
        self.clk = None
        self.is_image_complete = False
        self._assembler.reset()

    def resubscribe_payload(self) -> Dict[str, str]:
        """The clocks to send with the resubscription after a reconnect, as keyword arguments.

        Returns:
            ``{"initial_clk": ..., "clk": ...}`` for :func:`.codec.market_subscription` or
            :func:`.codec.order_subscription`; empty when no image has committed an ``initialClk``
            yet (then the subscription must start afresh).
        """
        if self.initial_clk is None:
            return {}
        payload = {"initial_clk": self.initial_clk}
        if self.clk is not None:
            payload["clk"] = self.clk
        return payload

    # --- what the server sends -------------------------------------------------------------

    def receive(self, message: ChangeMessage) -> Received:
        """Take one change message; return the change to apply to the cache, ``None``, or an error.

        ``None`` means: dropped (another subscription's id) or held back (a segment in flight).
        A heartbeat is returned too (it carries no changes), so the caller sees every clock.
        """
        counts = self._counts
        if (
            message.id is not None
            and self.subscription_id is not None
            and message.id != self.subscription_id
        ):
            counts["dropped_other_id"] += 1
            return None
        stale = message.status is not None and message.is_stale
        self.is_stale = stale
        if stale:
            counts["stale_messages"] += 1
        change = self._assembler.feed(message)
        if change is None:
            return None
        if isinstance(change, SegmentError):
            counts["segment_errors"] += 1
            self.is_image_complete = False
            return change
        self._commit(change)
        return change

    def _commit(self, change: ChangeMessage) -> None:
        counts = self._counts
        if change.initial_clk is not None:
            self.initial_clk = change.initial_clk
        if change.clk is not None:
            self.clk = change.clk
        if change.heartbeat_ms is not None:
            self.heartbeat_ms = change.heartbeat_ms
        if change.conflate_ms is not None:
            self.conflate_ms = change.conflate_ms
        ct = change.ct
        if ct is None:
            counts["changes"] += 1
        elif ct == ChangeType.HEARTBEAT:
            counts["heartbeats"] += 1
            return
        else:
            counts["changes"] += 1
            if ct == ChangeType.SUB_IMAGE or ct == ChangeType.RESUB_DELTA:
                counts["images"] += 1
                self.is_image_complete = True
        if not self.requested_conflate_ms and change.CHANGES_KEY == "mc":
            for market_change in change.changes:
                if market_change.get("con"):
                    counts["unrequested_conflations"] += 1
