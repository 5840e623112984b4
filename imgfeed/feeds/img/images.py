"""Market images handed out by the book: copies that share the line, so what a reader caches is its own.

Contract: a :class:`~imgfeed.feeds.img.protocol.messages.MarketUpdate` decoded from the wire keeps
its line and parses it (``raw``, ``selections``) on first access, caching the tree on the record
(:mod:`imgfeed.feeds.img.protocol.prices`). The book therefore never hands out the record it holds:
:func:`own_copy` makes a record of the same fields sharing the line's bytes, and
:class:`SnapshotImages` (``BookSnapshot.images``) makes one per market on first access and keeps it
for the snapshot's life. Whatever a reader parses then goes with its copy, instead of staying in the
book at about eight times the line's size until the market's next image (benchmarks/memory.py).
A record built by hand (no line) is shared as it is: there is nothing to parse.
"""

from __future__ import annotations

from typing import Dict, Iterator, Mapping

from imgfeed.feeds.img.protocol.prices import MarketUpdate, new_market_update

__all__ = ["own_copy", "SnapshotImages"]


def own_copy(record: MarketUpdate) -> MarketUpdate:
    """A record equal to ``record`` that shares its line and none of its parsed state."""
    line = record.line
    if not line:
        return record
    return new_market_update(record.publish_time, record.received_at, line, record.market_id, record.status)


class SnapshotImages(Mapping[str, MarketUpdate]):
    """The images of one snapshot, by market id: each an :func:`own_copy`, made when first read.

    Reading a market twice through the same snapshot gives the same record (parsed once).
    """

    __slots__ = ("_held", "_given")

    def __init__(self, held: Mapping[str, MarketUpdate]) -> None:
        self._held: Dict[str, MarketUpdate] = dict(held)
        self._given: Dict[str, MarketUpdate] = {}

    def __getitem__(self, market_id: str) -> MarketUpdate:
        given = self._given.get(market_id)
        if given is None:
            given = self._given[market_id] = own_copy(self._held[market_id])
        return given

    def __iter__(self) -> Iterator[str]:
        return iter(self._held)

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, market_id: object) -> bool:
        return market_id in self._held

    def __repr__(self) -> str:
        return f"<SnapshotImages markets={len(self._held)}>"
