"""Ladder state: ESA ladder deltas folded into per-ladder objects that snapshot as sorted tuples.

Two kinds of ladder, per the ESA schema:

- **price-keyed** (:class:`PriceLadder`: ``atb``, ``atl``, ``trd``, ``spb``, ``spl``, and the order
  stream's ``mb``, ``ml``): rows ``[price, size]``. A row upserts its price, and a size of 0 removes
  it ("0 vol is remove").
- **level-keyed** (:class:`LevelLadder`: ``batb``, ``batl``, ``bdatb``, ``bdatl``): rows
  ``[level, price, size]``. A row upserts its level, and a size of 0 removes the level (nothing sits
  there any more; Betfair's Java sample keeps a zero row instead, which every reader must then skip).

An empty delta list changes nothing, with one exception each side, decided by the caller:
``trd: []`` clears the traded ladder (betfairlightweight does so, and Betfair's historical files
carry it), and the order stream's ``mb: []``/``ml: []`` mean the matched ladder is empty. An empty
``bdatb: []`` is **not** a clear: it reports a change outside ``ladderLevels``.

Cost. A price ladder is the list of its ready :class:`~imgfeed.feeds.betfair.books.PriceSize`
in snapshot order beside the list of their sort keys, searched with :mod:`bisect`: a row costs a
bisect and a store, and an insertion only when it adds a price the ladder did not have (sizes
changing at known prices are the common case). A level ladder is a short list indexed by level. A
snapshot is built in C (``tuple`` of the list, ``filter`` of the levels), once, and kept until the
next delta: a ladder nobody reads is never copied, and a ladder read twice is copied once.

The rows come from the codec already checked (:mod:`..protocol.validate`), so nothing here checks
types.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any, Dict, List, Optional

from imgfeed.feeds.betfair.books import Ladder, PriceSize

__all__ = ["PRICE_LADDERS", "LEVEL_LADDERS", "DESCENDING", "PriceLadder", "LevelLadder"]

#: Wire keys of the price-keyed and level-keyed runner ladders of the market stream.
PRICE_LADDERS = ("atb", "atl", "trd", "spb", "spl")
LEVEL_LADDERS = ("batb", "batl", "bdatb", "bdatl")

#: Price-keyed ladders sorted best (highest) price first: the back side.
DESCENDING = frozenset({"atb", "spb", "mb"})

# PriceSize from a (price, size) tuple without NamedTuple.__new__'s Python frame: 124 ns against 207;
# from a built tuple rather than the row list or a slice of it, which tuple.__new__ would copy first.
_new = tuple.__new__


class PriceLadder:
    """A ``[price, size]`` ladder: back side sorted by price descending, others ascending."""

    __slots__ = ("_keys", "_levels", "_descending", "_snapshot")

    def __init__(self, descending: bool = False) -> None:
        # Two parallel lists in snapshot order (best first): the sort keys (the price, negated on
        # the back side so that both sides ascend) and the PriceSize at each. Why not a dict from
        # price to PriceSize plus a sorted list of prices: its snapshot looked every price up again
        # (2 us for a 100-price ladder, a line of full ladders rebuilds about four); from a list in
        # order it is one C copy, and a row costs a bisect instead of a dict store.
        self._keys: List[float] = []
        self._levels: List[PriceSize] = []
        self._descending = descending
        self._snapshot: Optional[Ladder] = ()

    def __repr__(self) -> str:
        return f"<PriceLadder {self.snapshot()!r}>"

    def __len__(self) -> int:
        return len(self._levels)

    def apply(self, rows: List[List[float]]) -> None:
        """Fold ``[price, size]`` rows in; size 0 removes the price."""
        keys = self._keys
        levels = self._levels
        negate = self._descending
        for price, size in rows:
            key = -price if negate else price
            i = bisect_left(keys, key)
            if i < len(keys) and keys[i] == key:
                if size:
                    levels[i] = _new(PriceSize, (price, size))
                else:
                    del keys[i]
                    del levels[i]
            elif size:
                keys.insert(i, key)
                levels.insert(i, _new(PriceSize, (price, size)))
        self._snapshot = None

    def clear(self) -> None:
        self._keys = []
        self._levels = []
        self._snapshot = ()

    def snapshot(self) -> Ladder:
        """The ladder as a tuple of :class:`PriceSize`, sorted."""
        snapshot = self._snapshot
        if snapshot is None:
            snapshot = self._snapshot = tuple(self._levels)
        return snapshot

    def sizes(self) -> Dict[float, float]:
        """``{price: size}``: the state as a plain dict (for tests and debugging)."""
        return {level.price: level.size for level in self._levels}


class LevelLadder:
    """A ``[level, price, size]`` ladder, snapshot in level order (best first)."""

    __slots__ = ("_rows", "_snapshot")

    def __init__(self) -> None:
        self._rows: List[Optional[PriceSize]] = []  # index = level; None where nothing sits
        self._snapshot: Optional[Ladder] = ()

    def __repr__(self) -> str:
        return f"<LevelLadder {self.snapshot()!r}>"

    def __len__(self) -> int:
        return sum(row is not None for row in self._rows)

    def apply(self, rows: List[List[Any]]) -> None:
        """Fold ``[level, price, size]`` rows in; size 0 removes the level."""
        ladder = self._rows
        depth = len(ladder)
        for level, price, size in rows:
            if level < depth:
                ladder[level] = _new(PriceSize, (price, size)) if size else None
            elif size:
                ladder.extend([None] * (level - depth))
                ladder.append(_new(PriceSize, (price, size)))
                depth = level + 1
        while ladder and ladder[-1] is None:
            ladder.pop()
        self._snapshot = None

    def snapshot(self) -> Ladder:
        """The ladder as a tuple of :class:`PriceSize` in level order (levels themselves dropped)."""
        snapshot = self._snapshot
        if snapshot is None:
            snapshot = self._snapshot = tuple(filter(None, self._rows))  # a PriceSize is never falsy
        return snapshot

    def levels(self) -> Dict[int, PriceSize]:
        """``{level: PriceSize}``: the state as a plain dict (for tests and debugging)."""
        return {level: row for level, row in enumerate(self._rows) if row is not None}
