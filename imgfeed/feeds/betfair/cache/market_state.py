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

import attrs

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

# Why the books are not built with RunnerBook(...) / MarketBook(...): attrs' generated __init__ for
# a frozen class sets each slot through object.__setattr__, 1.9 us for a RunnerBook's 17 fields --
# the largest single cost of a line that changes one runner's ltp. Filling the slots through their
# descriptors builds the same frozen record in 0.8 us (the IMG codec does the same for its
# selections). The check makes a field added to either class fail at import, not go unset here.
_RUNNER_BOOK_FIELDS = (
    "selection_id", "handicap", "status", "last_price_traded", "total_matched", "available_to_back",
    "available_to_lay", "best_available_to_back", "best_available_to_lay", "best_display_available_to_back",
    "best_display_available_to_lay", "traded_volume", "starting_price_near", "starting_price_far",
    "starting_price_back", "starting_price_lay", "definition",
)
_MARKET_BOOK_FIELDS = (
    "market_id", "status", "inplay", "total_matched", "version", "definition", "runners", "conflated",
    "publish_time", "clk",
)
if tuple(a.name for a in attrs.fields(RunnerBook)) != _RUNNER_BOOK_FIELDS or tuple(
    a.name for a in attrs.fields(MarketBook)
) != _MARKET_BOOK_FIELDS:  # pragma: no cover
    raise ImportError("market_state's book builders must be updated for the fields of RunnerBook/MarketBook")
(
    _rb_id, _rb_hc, _rb_status, _rb_ltp, _rb_tv, _rb_atb, _rb_atl, _rb_batb, _rb_batl, _rb_bdatb, _rb_bdatl,
    _rb_trd, _rb_spn, _rb_spf, _rb_spb, _rb_spl, _rb_definition,
) = (RunnerBook.__dict__[name].__set__ for name in _RUNNER_BOOK_FIELDS)
(
    _mb_id, _mb_status, _mb_inplay, _mb_tv, _mb_version, _mb_definition, _mb_runners, _mb_conflated, _mb_pt,
    _mb_clk,
) = (MarketBook.__dict__[name].__set__ for name in _MARKET_BOOK_FIELDS)
_new = object.__new__


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
    book = _new(MarketBook)  # MarketBook(market_id=..., ...): see the note above _RUNNER_BOOK_FIELDS
    _mb_id(book, market.market_id)
    _mb_status(book, market.status)
    _mb_inplay(book, None if definition is None else definition.in_play)
    _mb_tv(book, market.tv)
    _mb_version(book, market.version)
    _mb_definition(book, definition)
    _mb_runners(book, runners)
    _mb_conflated(book, market.conflated)
    _mb_pt(book, None if pt is None else _publish_time(pt))
    _mb_clk(book, market.clk)
    return book


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
    book = runner.book = _new(RunnerBook)  # RunnerBook(selection_id=..., ...): see the note above
    _rb_id(book, selection_id)
    _rb_hc(book, float(handicap))
    _rb_status(book, None if raw_definition is None else raw_definition.get("status"))
    _rb_ltp(book, scalars.get("ltp"))
    _rb_tv(book, scalars.get("tv"))
    _rb_atb(book, snaps["atb"])
    _rb_atl(book, snaps["atl"])
    _rb_batb(book, snaps["batb"])
    _rb_batl(book, snaps["batl"])
    _rb_bdatb(book, snaps["bdatb"])
    _rb_bdatl(book, snaps["bdatl"])
    _rb_trd(book, snaps["trd"])
    _rb_spn(book, spn if spn is None or type(spn) is float else starting_price(spn))
    _rb_spf(book, spf if spf is None or type(spf) is float else starting_price(spf))
    _rb_spb(book, snaps["spb"])
    _rb_spl(book, snaps["spl"])
    _rb_definition(book, definition)
    return book
