"""Market images held and handed out by the book: what a reader parses is its own.

Contract: a :class:`~imgfeed.feeds.img.protocol.messages.MarketUpdate` decoded from the wire keeps
its line and parses it (``raw``, ``selections``) on first access, caching the tree on the record
(:mod:`imgfeed.feeds.img.protocol.prices`). The book therefore never holds a record it hands out:
it keeps each market's latest image as :func:`hold` makes it -- the record's fields in a tuple,
sharing the line's bytes -- and :func:`handed_out` builds a record from that whenever one is asked
for. :class:`SnapshotImages` (``BookSnapshot.images``) builds one per market on first access and
keeps it for the snapshot's life. Whatever a reader parses then goes with its record, instead of
staying in the book at about eight times the line's size until the market's next image
(benchmarks/memory.py). Why a tuple, not a record of the book's own: the book takes every update
on the reader thread, and a tuple costs under half of what building a record does
(benchmarks/README.md, issue 14 item 12). A record built by hand (no line) is held as it is:
there is nothing to parse.
"""

from __future__ import annotations

from datetime import datetime
from typing import Dict, Iterator, Mapping, Optional, Tuple, Union

from imgfeed.feeds.img.protocol.enums import MarketStatus
from imgfeed.feeds.img.protocol.prices import MarketUpdate, new_market_update

__all__ = ["Held", "hold", "handed_out", "held_status", "SnapshotImages"]

#: A market's latest image as the book holds it: the fields of a decoded record, in
#: :func:`~imgfeed.feeds.img.protocol.prices.new_market_update`'s order, or a record built by hand.
Held = Union[
    Tuple[Optional[datetime], Optional[float], bytes, str, Union[MarketStatus, str]],
    MarketUpdate,
]


def hold(record: MarketUpdate) -> Held:
    """What the book keeps of ``record``: its fields, sharing the line, and none of its parsed state."""
    line = record.line
    if not line:
        return record
    return (record.publish_time, record.received_at, line, record.market_id, record.status)


def handed_out(held: Held) -> MarketUpdate:
    """A record of the held image, sharing the line: each call a new one (a hand-built one as it is)."""
    if type(held) is tuple:
        return new_market_update(*held)
    return held  # type: ignore[return-value]


def held_status(held: Held) -> Union[MarketStatus, str]:
    """The held image's market status, without building a record."""
    return held[4] if type(held) is tuple else held.status  # type: ignore[union-attr]


class SnapshotImages(Mapping[str, MarketUpdate]):
    """The images of one snapshot, by market id: each a record :func:`handed_out`, made when first read.

    Reading a market twice through the same snapshot gives the same record (parsed once).
    """

    __slots__ = ("_held", "_given")

    def __init__(self, held: Mapping[str, Held]) -> None:
        self._held: Dict[str, Held] = dict(held)
        self._given: Dict[str, MarketUpdate] = {}

    def __getitem__(self, market_id: str) -> MarketUpdate:
        given = self._given.get(market_id)
        if given is None:
            given = self._given[market_id] = handed_out(self._held[market_id])
        return given

    def __iter__(self) -> Iterator[str]:
        return iter(self._held)

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, market_id: object) -> bool:
        return market_id in self._held

    def __repr__(self) -> str:
        return f"<SnapshotImages markets={len(self._held)}>"
