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

Cost. A price ladder is a dict from price to a ready
:class:`~imgfeed.feeds.betfair.books.PriceSize` plus the list of its prices kept sorted with
:mod:`bisect`: a delta costs one dict store per row, and an insertion into the list only when the
row adds a price the ladder did not have (sizes changing at known prices are the common case). A
level ladder is a short list indexed by level. A snapshot is built in C (``map``/``filter`` into a
tuple), once, and kept until the next delta: a ladder nobody reads is never copied, and a ladder
read twice is copied once.

The rows come from the codec already checked (:mod:`..protocol.validate`), so nothing here checks
types.
"""

from __future__ import annotations

from bisect import insort
from typing import Any, Dict, List, Optional

from imgfeed.feeds.betfair.books import Ladder, PriceSize

__all__ = ["PRICE_LADDERS", "LEVEL_LADDERS", "DESCENDING", "PriceLadder", "LevelLadder"]

#: Wire keys of the price-keyed and level-keyed runner ladders of the market stream.
PRICE_LADDERS = ("atb", "atl", "trd", "spb", "spl")
LEVEL_LADDERS = ("batb", "batl", "bdatb", "bdatl")

#: Price-keyed ladders sorted best (highest) price first: the back side.
DESCENDING = frozenset({"atb", "spb", "mb"})

_new = tuple.__new__  # PriceSize from a 2-item row, without NamedTuple.__new__'s argument parsing


class PriceLadder:
    """A ``[price, size]`` ladder: back side sorted by price descending, others ascending."""

    __slots__ = ("_rows", "_prices", "_descending", "_snapshot")

    def __init__(self, descending: bool = False) -> None:
        self._rows: Dict[float, PriceSize] = {}
        self._prices: List[float] = []  # the keys of _rows, ascending
        self._descending = descending
        self._snapshot: Optional[Ladder] = ()

    def __repr__(self) -> str:
        return f"<PriceLadder {self.snapshot()!r}>"

    def __len__(self) -> int:
        return len(self._rows)

    def apply(self, rows: List[List[float]]) -> None:
        """Fold ``[price, size]`` rows in; size 0 removes the price."""
        ladder = self._rows
        for row in rows:
            price = row[0]
            if row[1]:
                if price not in ladder:
                    insort(self._prices, price)
                ladder[price] = _new(PriceSize, row)
            elif ladder.pop(price, None) is not None:
                self._prices.remove(price)
        self._snapshot = None

    def clear(self) -> None:
        self._rows = {}
        self._prices = []
        self._snapshot = ()

    def snapshot(self) -> Ladder:
        """The ladder as a tuple of :class:`PriceSize`, sorted."""
        snapshot = self._snapshot
        if snapshot is None:
            prices = reversed(self._prices) if self._descending else self._prices
            snapshot = self._snapshot = tuple(map(self._rows.__getitem__, prices))
        return snapshot

    def sizes(self) -> Dict[float, float]:
        """``{price: size}``: the state as a plain dict (for tests and debugging)."""
        return {price: level.size for price, level in self._rows.items()}


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
        for row in rows:
            level = row[0]
            if level >= len(ladder):
                if not row[2]:
                    continue
                ladder.extend([None] * (level + 1 - len(ladder)))
            ladder[level] = _new(PriceSize, row[1:]) if row[2] else None
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
