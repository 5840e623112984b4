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

Cost. The state is a dict from key to a ready :class:`~imgfeed.feeds.betfair.books.PriceSize`, kept
in sorted order: a delta costs one dict store per row, and re-sorts only when a row adds a key the
ladder did not have (sizes changing at known prices are the common case). A snapshot is the tuple of
the dict's values, built once and kept until the next delta, so a ladder nobody reads is never
copied and a ladder read twice is copied once.

The rows come from the codec already checked (:mod:`..protocol.validate`), so nothing here checks
types.
"""

from __future__ import annotations

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

    __slots__ = ("_rows", "_descending", "_sorted", "_snapshot")

    def __init__(self, descending: bool = False) -> None:
        self._rows: Dict[float, PriceSize] = {}
        self._descending = descending
        self._sorted = True
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
                    self._sorted = False
                ladder[price] = _new(PriceSize, row)
            else:
                ladder.pop(price, None)
        self._snapshot = None

    def clear(self) -> None:
        self._rows = {}
        self._sorted = True
        self._snapshot = ()

    def snapshot(self) -> Ladder:
        """The ladder as a tuple of :class:`PriceSize`, sorted."""
        snapshot = self._snapshot
        if snapshot is None:
            if not self._sorted:
                self._rows = dict(sorted(self._rows.items(), reverse=self._descending))
                self._sorted = True
            snapshot = self._snapshot = tuple(self._rows.values())
        return snapshot

    def sizes(self) -> Dict[float, float]:
        """``{price: size}``: the state as a plain dict (for tests and debugging)."""
        return {price: level.size for price, level in self._rows.items()}


class LevelLadder:
    """A ``[level, price, size]`` ladder, snapshot in level order (best first)."""

    __slots__ = ("_rows", "_sorted", "_snapshot")

    def __init__(self) -> None:
        self._rows: Dict[int, PriceSize] = {}
        self._sorted = True
        self._snapshot: Optional[Ladder] = ()

    def __repr__(self) -> str:
        return f"<LevelLadder {self.snapshot()!r}>"

    def __len__(self) -> int:
        return len(self._rows)

    def apply(self, rows: List[List[Any]]) -> None:
        """Fold ``[level, price, size]`` rows in; size 0 removes the level."""
        ladder = self._rows
        for row in rows:
            level = row[0]
            if row[2]:
                if level not in ladder:
                    self._sorted = False
                ladder[level] = _new(PriceSize, row[1:])
            else:
                ladder.pop(level, None)
        self._snapshot = None

    def snapshot(self) -> Ladder:
        """The ladder as a tuple of :class:`PriceSize` in level order (levels themselves dropped)."""
        snapshot = self._snapshot
        if snapshot is None:
            if not self._sorted:
                self._rows = dict(sorted(self._rows.items()))
                self._sorted = True
            snapshot = self._snapshot = tuple(self._rows.values())
        return snapshot

    def levels(self) -> Dict[int, PriceSize]:
        """``{level: PriceSize}``: the state as a plain dict (for tests and debugging)."""
        return dict(self._rows)
