"""Segment assembly: ``SEG_START`` ... ``SEG`` ... ``SEG_END`` become one change message.

With ``segmentationEnabled`` the server splits a large change (typically an image) into segments.
Applying them one by one would show handlers half an image: the first segment's markets without
the rest. The assembler holds the segments back and hands out one change when ``SEG_END`` arrives,
as Betfair's Java reference client does (``SubscriptionHandler.MergeMessage``).

The assembled change:

- its change list is the segments' lists concatenated in arrival order;
- each envelope field (``ct``, ``clk``, ``initialClk``, ``pt``, ``heartbeatMs``, ``conflateMs``,
  ``status``) is the value of the latest segment that carried it -- the ``SEG_END``'s when it has
  one -- and ``segment_type`` is ``None``;
- ``received_at`` is the ``SEG_END``'s: the moment the change became complete;
- ``raw`` is a new dict of that envelope with the concatenated list (the segments' own lines are
  what a recording keeps).

Clocks are committed by the caller only from what the assembler hands out -- a non-segmented
message or an assembled ``SEG_END`` -- never from a segment in flight (Betfair's rule: a clock taken
mid-image would resume from the middle of it).

Errors. Each of these returns a :class:`SegmentError` (not raised), discards what was collected,
and means the image in flight is lost, so the stream must take a fresh one:

- ``SEG`` or ``SEG_END`` with no ``SEG_START`` before it;
- a segment whose subscription ``id`` differs from the ``SEG_START``'s;
- a non-segmented change (other than a heartbeat) while segments are open;
- a ``SEG_START`` while segments are open (the new one starts a fresh collection);
- an unknown ``segmentType``.

A heartbeat while segments are open passes through untouched: it carries no data.
"""

from __future__ import annotations

from typing import Any, Dict, List, Union

import attrs
import ujson

from imgfeed.errors import ProtocolError
from imgfeed.feeds.betfair.protocol.messages import ChangeMessage, SegmentType

__all__ = ["SegmentError", "SegmentAssembler", "Assembled"]

# (record attribute, wire key) of the envelope fields merged across segments.
_ENVELOPE = (
    ("id", "id"),
    ("ct", "ct"),
    ("clk", "clk"),
    ("initial_clk", "initialClk"),
    ("pt", "pt"),
    ("heartbeat_ms", "heartbeatMs"),
    ("conflate_ms", "conflateMs"),
    ("status", "status"),
)


class SegmentError(ProtocolError):
    """Segments arrived out of order; what had been collected was discarded.

    Attributes:
        discarded: how many segments were dropped.
    """

    def __init__(self, reason: str, raw: bytes = b"", discarded: int = 0) -> None:
        self.discarded = discarded
        super().__init__(reason, raw)

    def __reduce__(self) -> Any:
        return type(self), (self.reason, self.raw, self.discarded), self.__dict__


#: What :meth:`SegmentAssembler.feed` returns: a complete change, nothing yet, or an error.
Assembled = Union[ChangeMessage, SegmentError, None]


def _raw_bytes(message: ChangeMessage) -> bytes:
    try:
        return ujson.dumps(message.raw, ensure_ascii=False).encode()
    except (TypeError, ValueError, OverflowError):  # only if raw was not built from JSON
        return repr(message.raw).encode()


class SegmentAssembler:
    """Joins the segments of one subscription's change messages; one assembler per stream.

    Not thread-safe: the reader thread owns it.
    """

    def __init__(self) -> None:
        self._segments: List[ChangeMessage] = []

    def __repr__(self) -> str:
        return f"<SegmentAssembler open={self.is_open} segments={len(self._segments)}>"

    @property
    def is_open(self) -> bool:
        """True between a ``SEG_START`` and its ``SEG_END``."""
        return bool(self._segments)

    def reset(self) -> int:
        """Drop any segments in flight (after a disconnect); returns how many were dropped."""
        dropped = len(self._segments)
        self._segments = []
        return dropped

    def feed(self, message: ChangeMessage) -> Assembled:
        """Take one change message; return the change to apply, ``None`` while collecting, or an error.

        A non-segmented message is returned as it is (the common path costs one comparison).
        """
        segment_type = message.segment_type
        if segment_type is None:
            if self._segments and not message.is_heartbeat:
                dropped = self.reset()
                return SegmentError(
                    f"a change without segmentType arrived inside a segmented change; "
                    f"the {dropped} segment(s) collected were discarded",
                    _raw_bytes(message),
                    dropped,
                )
            return message
        if segment_type == SegmentType.SEG_START:
            dropped = self.reset()
            self._segments = [message]
            if dropped:
                return SegmentError(
                    f"SEG_START while a segmented change was open; the {dropped} segment(s) "
                    f"collected were discarded and a new change begins",
                    _raw_bytes(message),
                    dropped,
                )
            return None
        if segment_type != SegmentType.SEG and segment_type != SegmentType.SEG_END:
            dropped = self.reset()
            return SegmentError(f"unknown segmentType {segment_type!r}", _raw_bytes(message), dropped)
        if not self._segments:
            return SegmentError(f"{segment_type} without a SEG_START", _raw_bytes(message))
        open_id = self._segments[0].id
        if message.id != open_id:
            dropped = self.reset()
            return SegmentError(
                f"{segment_type} for subscription id {message.id} inside a segmented change of id "
                f"{open_id}; the {dropped} segment(s) collected were discarded",
                _raw_bytes(message),
                dropped,
            )
        self._segments.append(message)
        if segment_type == SegmentType.SEG:
            return None
        segments, self._segments = self._segments, []
        return _join(segments)


def _join(segments: List[ChangeMessage]) -> ChangeMessage:
    last = segments[-1]
    key = last.CHANGES_KEY
    changes: List[Dict[str, Any]] = []
    envelope: Dict[str, Any] = {}
    for segment in segments:
        changes.extend(segment.changes)
        for attr, _ in _ENVELOPE:
            value = getattr(segment, attr)
            if value is not None:
                envelope[attr] = value
    raw: Dict[str, Any] = {"op": last.raw.get("op")}
    for attr, wire in _ENVELOPE:
        if attr in envelope:
            raw[wire] = envelope[attr]
    raw[key] = changes
    fields: Dict[str, Any] = {attr: envelope.get(attr) for attr, _ in _ENVELOPE}
    fields[key] = changes
    return attrs.evolve(last, segment_type=None, raw=raw, **fields)
