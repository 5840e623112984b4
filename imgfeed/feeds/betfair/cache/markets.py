"""The market cache: ``mcm`` changes folded into per-market state, read as immutable snapshots.

Rules (Betfair's ESA documentation; where it is silent, what betfairlightweight and Betfair's Java
reference client do, and why where they differ):

- ``ct=SUB_IMAGE`` replaces every market of the subscription: markets absent from it are dropped.
  ``RESUB_DELTA`` and ordinary deltas patch; a market change with ``img: true`` replaces that market.
  A change for a market not in the cache creates it (Betfair's historical files carry no ``img``).
- Two copies of one market in the same image (a documented known issue after an event move): the
  one with the higher ``marketDefinition.version`` is kept; on a tie, the later one.
- ``marketDefinition`` is always whole and replaces the stored one. Its ``runners[]`` create
  runners and set their definition (status, sort priority, adjustment factor, bsp, removal date). A
  runner the new definition omits keeps its last definition, as in both reference clients.
- ``tv`` on the market is the market's total matched.
- Runner changes are keyed by ``(id, hc)`` (``hc`` absent means 0); an unknown runner is created,
  so a runner added mid-market, or sent before its definition, is never lost. Runners are listed in
  the order they were first seen: the definition's order, then runners added later.
- Ladders: see :mod:`.ladders` (size 0 removes; ``trd: []`` clears; an empty level-ladder list
  does not). Scalars ``ltp``, ``tv``, ``spn``, ``spf`` replace the stored value. ``null`` anywhere
  means unchanged.
- ``con: true`` is surfaced as :attr:`MarketBook.conflated` for the market it arrived on.
- A market whose definition says ``CLOSED`` is evicted by :meth:`MarketCache.evict` once
  ``closed_retention`` seconds have passed since the change that closed it (times are the changes'
  ``received_at``; the cache never reads a clock). betfairlightweight keeps closed markets for 8
  hours and only purges them when a new image arrives; Betfair's Java client removes them at once.

Snapshots. :meth:`MarketCache.book` builds a :class:`MarketBook` from the state and keeps it until
the market changes again; each runner's book and each ladder's tuple are kept the same way, so a
delta to one runner rebuilds one runner, and only the ladders it touched. A snapshot is a new
frozen object: a reader on another thread may keep it while the writer moves on. Taking it is the
only thing that sorts ladders or builds records, so a market nobody asks about costs only its
dict updates.

Thread-safety: one writer (the reader thread calls :meth:`~MarketCache.apply`); :meth:`book` may be
called from other threads, since it only reads state and publishes a finished record with one
attribute store.
"""

from __future__ import annotations

import functools
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from imgfeed.errors import ConfigError
from imgfeed.feeds.betfair.books import Ladder, MarketBook, MarketDefinition, RunnerBook, RunnerDefinition
from imgfeed.feeds.betfair.cache.convert import market_definition, runner_definition, starting_price
from imgfeed.feeds.betfair.cache.ladders import (
    DESCENDING,
    LEVEL_LADDERS,
    PRICE_LADDERS,
    LevelLadder,
    PriceLadder,
)
from imgfeed.feeds.betfair.protocol.messages import ChangeType, MarketChangeMessage
from imgfeed.feeds.betfair.protocol.times import epoch_ms_to_datetime

__all__ = ["MarketCache", "DEFAULT_CLOSED_RETENTION"]

#: Seconds a CLOSED market stays readable before :meth:`MarketCache.evict` drops it: long enough for
#: handlers to see the settled book (and for a late resettlement), short enough that a process
#: running for days holds only the day's markets.
DEFAULT_CLOSED_RETENTION = 600.0

_PRICE, _LEVEL, _SCALAR = 1, 2, 3
_KIND: Dict[str, int] = {
    **dict.fromkeys(PRICE_LADDERS, _PRICE),
    **dict.fromkeys(LEVEL_LADDERS, _LEVEL),
    **dict.fromkeys(("ltp", "tv", "spn", "spf"), _SCALAR),
}
_NEVER = float("inf")
# The books of one message share its publish time: convert each pt once (0.1 us instead of 0.6).
_publish_time = functools.lru_cache(maxsize=64)(epoch_ms_to_datetime)
_ALL_LADDERS = PRICE_LADDERS + LEVEL_LADDERS
Ladders = Union[PriceLadder, LevelLadder]


class _Runner:
    __slots__ = ("key", "definition", "ladders", "snaps", "scalars", "book")

    def __init__(self, key: Tuple[int, float]) -> None:
        self.key = key
        self.definition: Optional[Dict[str, Any]] = None  # the raw runners[] entry
        self.ladders: Dict[str, Ladders] = {}  # wire name -> its ladder, once sent
        self.snaps: Dict[str, Ladder] = {}  # wire name -> snapshot, for ladders unchanged since
        self.scalars: Dict[str, Any] = {}  # ltp, tv, spn, spf as sent
        self.book: Optional[RunnerBook] = None


class _Market:
    __slots__ = (
        "market_id", "definition", "definition_record", "runner_definitions", "status", "version",
        "tv", "runners", "conflated", "pt", "clk", "book",
    )

    def __init__(self, market_id: str) -> None:
        self.market_id = market_id
        self.definition: Optional[Dict[str, Any]] = None
        self.definition_record: Optional[MarketDefinition] = None
        self.runner_definitions: Dict[Tuple[int, float], RunnerDefinition] = {}
        self.status: Optional[str] = None
        self.version: Optional[int] = None
        self.tv: Optional[float] = None
        self.runners: Dict[Tuple[int, float], _Runner] = {}
        self.conflated = False
        self.pt: Optional[int] = None
        self.clk: Optional[str] = None
        self.book: Optional[MarketBook] = None


def _definition_version(market_change: Dict[str, Any]) -> Optional[int]:
    definition = market_change.get("marketDefinition")
    return None if definition is None else definition.get("version")


class MarketCache:
    """The markets of one market subscription.

    Args:
        closed_retention: seconds a CLOSED market is kept before :meth:`evict` drops it.

    Raises:
        ConfigError: ``closed_retention`` is negative or not a number.
    """

    def __init__(self, closed_retention: float = DEFAULT_CLOSED_RETENTION) -> None:
        if isinstance(closed_retention, bool) or not isinstance(closed_retention, (int, float)) or not (
            0 <= closed_retention < _NEVER
        ):
            raise ConfigError("closed_retention", closed_retention, "a number of seconds >= 0")
        self.closed_retention = float(closed_retention)
        self._markets: Dict[str, _Market] = {}
        self._closed: Dict[str, float] = {}  # market id -> received_at of the change that closed it
        self._next_eviction = _NEVER

    def __repr__(self) -> str:
        return f"<MarketCache markets={len(self._markets)} closed={len(self._closed)}>"

    def __len__(self) -> int:
        return len(self._markets)

    def __contains__(self, market_id: object) -> bool:
        return market_id in self._markets

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._markets))

    def market_ids(self) -> List[str]:
        """The ids of the cached markets, in the order they were first seen."""
        return list(self._markets)

    def clear(self) -> None:
        """Forget every market (``INVALID_CLOCK``: a fresh image follows)."""
        self._markets.clear()
        self._closed.clear()
        self._next_eviction = _NEVER

    # --- writing ------------------------------------------------------------------------------

    def apply(self, change: MarketChangeMessage) -> List[str]:
        """Fold one complete change message (assembled, never a lone segment) into the cache.

        Raises:
            ValueError: ``change`` is one segment of a segmented change: assemble segments first
                (:class:`~imgfeed.feeds.betfair.protocol.stream.SubscriptionStream` does), since a
                segment applied alone would show half an image -- and each ``SUB_IMAGE`` segment
                would clear the markets of the one before.

        Returns:
            The ids of the markets it changed, in order, each once.
        """
        if change.segment_type is not None:
            raise ValueError(f"apply() takes assembled changes, not a {change.segment_type} segment")
        markets = self._markets
        if change.ct == ChangeType.SUB_IMAGE:
            markets.clear()
            self._closed.clear()
            self._next_eviction = _NEVER
        pt = change.pt
        clk = change.clk
        changed: List[str] = []
        imaged: Optional[Dict[str, None]] = None  # markets replaced by an img in this message
        for market_change in change.mc:
            market_id = market_change["id"]
            market = markets.get(market_id)
            is_new = market is None or market_change.get("img")
            if is_new:
                if market is not None and imaged is not None and market_id in imaged:
                    version = _definition_version(market_change)
                    if version is not None and market.version is not None and version < market.version:
                        continue  # a duplicate with an older definition: keep the newer one
                market = markets[market_id] = _Market(market_id)
                if market_change.get("img"):
                    if imaged is None:
                        imaged = {}
                    imaged[market_id] = None
            assert market is not None
            definition = market_change.get("marketDefinition")
            if definition is not None:
                self._apply_definition(market, definition)
            if is_new or definition is not None:
                self._track_closed(market, change.received_at)
            tv = market_change.get("tv")
            if tv is not None:
                market.tv = tv
            runner_changes = market_change.get("rc")
            if runner_changes:
                self._apply_runners(market, runner_changes)
            market.conflated = market_change.get("con") is True
            market.pt = pt
            market.clk = clk
            market.book = None
            changed.append(market_id)
        if len(changed) > 1:
            changed = list(dict.fromkeys(changed))
        return changed

    def _apply_definition(self, market: _Market, definition: Dict[str, Any]) -> None:
        market.definition = definition
        market.definition_record = None
        market.runner_definitions = {}
        market.status = definition.get("status")
        market.version = definition.get("version")
        runners = market.runners
        for runner_definition_ in definition.get("runners") or ():
            key = (runner_definition_["id"], runner_definition_.get("hc") or 0)
            runner = runners.get(key)
            if runner is None:
                runner = runners[key] = _Runner(key)
            runner.definition = runner_definition_
            runner.book = None

    def _apply_runners(self, market: _Market, runner_changes: List[Dict[str, Any]]) -> None:
        runners = market.runners
        kinds = _KIND
        for runner_change in runner_changes:
            key = (runner_change["id"], runner_change.get("hc") or 0)
            runner = runners.get(key)
            if runner is None:
                runner = runners[key] = _Runner(key)
            ladders = runner.ladders
            snaps = runner.snaps
            for name, value in runner_change.items():
                kind = kinds.get(name)
                if kind is None or value is None:
                    continue  # id, hc, a key this version does not know, or "unchanged"
                if kind == _SCALAR:
                    runner.scalars[name] = value
                    continue
                ladder = ladders.get(name)
                if ladder is None:
                    ladder = ladders[name] = (
                        PriceLadder(name in DESCENDING) if kind == _PRICE else LevelLadder()
                    )
                if value:
                    ladder.apply(value)
                elif isinstance(ladder, PriceLadder) and name == "trd":
                    ladder.clear()  # trd: [] clears traded volume (see .ladders)
                snaps.pop(name, None)
            runner.book = None

    def _track_closed(self, market: _Market, received_at: float) -> None:
        market_id = market.market_id
        if market.status == "CLOSED":
            if market_id not in self._closed:
                self._closed[market_id] = received_at
                self._next_eviction = min(self._next_eviction, received_at + self.closed_retention)
        elif market_id in self._closed:
            del self._closed[market_id]

    def evict(self, now: float) -> List[str]:
        """Drop the markets that have been CLOSED for ``closed_retention`` seconds or more.

        Cheap when nothing is due (one comparison), so it may be called after every change.

        Args:
            now: the current time on the clock of the changes' ``received_at``.

        Returns:
            The ids of the markets dropped.
        """
        if now < self._next_eviction:
            return []
        retention = self.closed_retention
        evicted = [market_id for market_id, closed_at in self._closed.items() if closed_at + retention <= now]
        for market_id in evicted:
            del self._closed[market_id]
            self._markets.pop(market_id, None)
        self._next_eviction = min((t + retention for t in self._closed.values()), default=_NEVER)
        return evicted

    # --- reading ------------------------------------------------------------------------------

    def book(self, market_id: str) -> MarketBook:
        """An immutable snapshot of one market, built now or kept from the last call.

        Raises:
            KeyError: the market is not in the cache.
        """
        market = self._markets.get(market_id)
        if market is None:
            raise KeyError(f"market {market_id!r} is not in the cache")
        book = market.book
        if book is None:
            book = market.book = _market_book(market)
        return book

    def get(self, market_id: str) -> Optional[MarketBook]:
        """Like :meth:`book`, but ``None`` for a market not in the cache."""
        return self.book(market_id) if market_id in self._markets else None

    def is_closed(self, market_id: str) -> bool:
        """True when the market's definition says CLOSED (and it has not been evicted yet)."""
        return market_id in self._closed


def _market_book(market: _Market) -> MarketBook:
    definition = market.definition_record
    if definition is None and market.definition is not None:
        definition = market.definition_record = market_definition(market.definition)
        market.runner_definitions = {(r.selection_id, r.handicap): r for r in definition.runners}
    definitions = market.runner_definitions
    runners = tuple(
        [runner.book or _runner_book(runner, definitions) for runner in list(market.runners.values())]
    )
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


def _snapshots(runner: _Runner) -> Dict[str, Ladder]:
    """Every ladder's snapshot, rebuilding only those changed since the last call."""
    snaps = runner.snaps
    if len(snaps) < len(_ALL_LADDERS):
        ladders = runner.ladders
        for name in _ALL_LADDERS:
            if name not in snaps:
                ladder = ladders.get(name)
                snaps[name] = () if ladder is None else ladder.snapshot()
    return snaps


def _runner_book(runner: _Runner, definitions: Dict[Tuple[int, float], RunnerDefinition]) -> RunnerBook:
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
