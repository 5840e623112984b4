"""Per-market state of the market cache, and the snapshots built from it.

:mod:`.markets` applies the ESA rules to this state; this module holds it and turns it into book
records. Each runner keeps its book, and each ladder its snapshot tuple, until it changes, so a
delta to one runner rebuilds one runner book and only the ladder tuples it touched; a market nobody
asks about is never converted at all.

Not thread-safe on its own: :class:`~.markets.MarketCache` serialises access.
"""

from __future__ import annotations

import functools
from typing import Any, Dict, List, Optional, Tuple, Union, cast

from imgfeed.feeds.betfair.books import (
    Ladder,
    MarketBook,
    MarketDefinition,
    RunnerBook,
    RunnerDefinition,
)
from imgfeed.feeds.betfair.cache.convert import (
    market_definition,
    runner_definition,
    starting_price,
)
from imgfeed.feeds.betfair.cache.ladders import (
    LEVEL_LADDERS,
    PRICE_LADDERS,
    LevelLadder,
    PriceLadder,
)
from imgfeed.feeds.betfair.protocol.times import epoch_ms_to_datetime

__all__ = ["RunnerState", "MarketState", "Ladders", "market_book"]

RunnerKey = Tuple[int, float]
Ladders = Union[PriceLadder, LevelLadder]
_ALL_LADDERS = PRICE_LADDERS + LEVEL_LADDERS
# The books of one message share its publish time: convert each pt once (0.1 us instead of 0.6).
_publish_time = functools.lru_cache(maxsize=64)(epoch_ms_to_datetime)


class RunnerState:
    __slots__ = ("key", "index", "definition", "ladders", "snaps", "scalars", "book")

    def __init__(self, key: RunnerKey, index: int) -> None:
        self.key = key
        self.index = index  # position in the market's runners, in the order first seen
        self.definition: Optional[Dict[str, Any]] = None  # the raw runners[] entry
        self.ladders: Dict[str, Ladders] = {}  # wire name -> its ladder, once sent
        self.snaps: Dict[str, Ladder] = {}  # wire name -> snapshot, for ladders unchanged since
        self.scalars: Dict[str, Any] = {}  # ltp, tv, spn, spf as sent
        self.book: Optional[RunnerBook] = None


class MarketState:
    __slots__ = (
        "market_id", "definition", "definition_record", "runner_definitions", "status", "version",
        "tv", "runners", "runner_books", "stale", "conflated", "pt", "clk", "book",
    )

    def __init__(self, market_id: str) -> None:
        self.market_id = market_id
        self.definition: Optional[Dict[str, Any]] = None
        self.definition_record: Optional[MarketDefinition] = None
        self.runner_definitions: Dict[RunnerKey, RunnerDefinition] = {}
        self.status: Optional[str] = None
        self.version: Optional[int] = None
        self.tv: Optional[float] = None
        self.runners: Dict[RunnerKey, RunnerState] = {}
        self.runner_books: List[Optional[RunnerBook]] = []  # by runner index, as last built
        self.stale: List[RunnerState] = []  # runners changed since their book was built
        self.conflated = False
        self.pt: Optional[int] = None
        self.clk: Optional[str] = None
        self.book: Optional[MarketBook] = None

    def add_runner(self, key: RunnerKey) -> RunnerState:
        runner = self.runners[key] = RunnerState(key, len(self.runner_books))
        self.runner_books.append(None)
        self.stale.append(runner)
        return runner

    def touch(self, runner: RunnerState) -> None:
        """The runner changed: its book must be rebuilt at the next snapshot."""
        if runner.book is not None:
            runner.book = None
            self.stale.append(runner)


def market_book(market: MarketState) -> MarketBook:
    """Build the market's book (reusing every runner book and ladder tuple still current)."""
    definition = market.definition_record
    if definition is None and market.definition is not None:
        definition = market.definition_record = market_definition(market.definition, market.runner_definitions)
        market.runner_definitions = {(r.selection_id, r.handicap): r for r in definition.runners}
    books = market.runner_books
    if market.stale:
        definitions = market.runner_definitions
        for runner in market.stale:
            books[runner.index] = runner.book or _runner_book(runner, definitions)
        market.stale = []
    runners = cast(Tuple[RunnerBook, ...], tuple(books))  # every None was stale, and is filled above
    pt = market.pt
    return MarketBook(
        market_id=market.market_id,
        status=market.status,
        inplay=None if definition is None else definition.in_play,
        total_matched=market.tv,
        version=market.version,
        definition=definition,
        runners=runners,
        conflated=market.conflated,
        publish_time=None if pt is None else _publish_time(pt),
        clk=market.clk,
    )


def _snapshots(runner: RunnerState) -> Dict[str, Ladder]:
    """Every ladder's snapshot, rebuilding only those changed since the last call."""
    snaps = runner.snaps
    if len(snaps) < len(_ALL_LADDERS):
        ladders = runner.ladders
        for name in _ALL_LADDERS:
            if name not in snaps:
                ladder = ladders.get(name)
                snaps[name] = () if ladder is None else ladder.snapshot()
    return snaps


def _runner_book(runner: RunnerState, definitions: Dict[RunnerKey, RunnerDefinition]) -> RunnerBook:
    """Build the runner's book and keep it on the runner until the runner changes."""
    snaps = _snapshots(runner)
    selection_id, handicap = runner.key
    raw_definition = runner.definition
    definition: Optional[RunnerDefinition] = None
    if raw_definition is not None:
        definition = definitions.get(runner.key)
        if definition is None or definition.raw is not raw_definition:
            definition = runner_definition(raw_definition)  # kept from an older definition
    scalars = runner.scalars
    spn = scalars.get("spn")
    spf = scalars.get("spf")
    book = runner.book = RunnerBook(
        selection_id=selection_id,
        handicap=float(handicap),
        status=None if raw_definition is None else raw_definition.get("status"),
        last_price_traded=scalars.get("ltp"),
        total_matched=scalars.get("tv"),
        available_to_back=snaps["atb"],
        available_to_lay=snaps["atl"],
        best_available_to_back=snaps["batb"],
        best_available_to_lay=snaps["batl"],
        best_display_available_to_back=snaps["bdatb"],
        best_display_available_to_lay=snaps["bdatl"],
        traded_volume=snaps["trd"],
        starting_price_near=spn if spn is None or type(spn) is float else starting_price(spn),
        starting_price_far=spf if spf is None or type(spf) is float else starting_price(spf),
        starting_price_back=snaps["spb"],
        starting_price_lay=snaps["spl"],
        definition=definition,
    )
    return book
