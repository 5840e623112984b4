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

Thread-safety. One thread writes (:meth:`~MarketCache.apply`, :meth:`~MarketCache.evict`). Building a
snapshot touches the state (it sorts ladders and keeps what it built), so when other threads read
books, pass a lock (``threading.Lock()``, or any context manager): every public method holds it.
Without one (the default) the cache is for a single thread, e.g. a replay. The books themselves
need no lock: they are frozen.
"""

from __future__ import annotations

from typing import Any, ContextManager, Dict, List, Optional

from imgfeed.feeds.betfair.books import MarketBook
from imgfeed.feeds.betfair.cache.keyed import NEVER, KeyedByMarket, check_retention
from imgfeed.feeds.betfair.cache.ladders import (
    DESCENDING,
    LEVEL_LADDERS,
    PRICE_LADDERS,
    LevelLadder,
    PriceLadder,
)
from imgfeed.feeds.betfair.cache.market_state import MarketState, market_book
from imgfeed.feeds.betfair.protocol.messages import ChangeType, MarketChangeMessage

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


def _definition_version(market_change: Dict[str, Any]) -> Optional[int]:
    definition = market_change.get("marketDefinition")
    return None if definition is None else definition.get("version")


class MarketCache(KeyedByMarket):
    """The markets of one market subscription.

    Args:
        closed_retention: seconds a CLOSED market is kept before :meth:`evict` drops it.
        lock: held by every public method; give one when books are read from other threads.

    Raises:
        ConfigError: ``closed_retention`` is negative or not a number.
    """

    def __init__(
        self, closed_retention: float = DEFAULT_CLOSED_RETENTION, lock: Optional[ContextManager[Any]] = None
    ) -> None:
        self.closed_retention = check_retention("closed_retention", closed_retention)
        super().__init__(lock)
        self._markets: Dict[str, MarketState] = {}
        self._closed: Dict[str, float] = {}  # market id -> received_at of the change that closed it
        self._next_eviction = NEVER

    def __repr__(self) -> str:
        return f"<MarketCache markets={len(self._markets)} closed={len(self._closed)}>"

    def _clear(self) -> None:
        self._markets.clear()
        self._closed.clear()
        self._next_eviction = NEVER

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
        with self._lock:
            return self._apply(change)

    def _apply(self, change: MarketChangeMessage) -> List[str]:
        markets = self._markets
        if change.ct == ChangeType.SUB_IMAGE:
            self._clear()
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
                market = markets[market_id] = MarketState(market_id)
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

    def _apply_definition(self, market: MarketState, definition: Dict[str, Any]) -> None:
        market.definition = definition
        market.definition_record = None  # market.runner_definitions stay, to be reused if unchanged
        market.status = definition.get("status")
        market.version = definition.get("version")
        runners = market.runners
        for runner_definition_ in definition.get("runners") or ():
            key = (runner_definition_["id"], runner_definition_.get("hc") or 0)
            runner = runners.get(key)
            if runner is None:
                runner = market.add_runner(key)
            elif runner.definition == runner_definition_:
                # Resent unchanged (a definition is always whole): the runner's book still holds.
                continue
            runner.definition = runner_definition_
            market.touch(runner)

    def _apply_runners(self, market: MarketState, runner_changes: List[Dict[str, Any]]) -> None:
        runners = market.runners
        kinds = _KIND
        for runner_change in runner_changes:
            key = (runner_change["id"], runner_change.get("hc") or 0)
            runner = runners.get(key)
            if runner is None:
                runner = market.add_runner(key)
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
            if runner.book is not None:  # market.touch(runner), inline: this is the hot path
                runner.book = None
                market.stale.append(runner)

    def _track_closed(self, market: MarketState, received_at: float) -> None:
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
        with self._lock:
            return self._evict(now)

    def _evict(self, now: float) -> List[str]:
        retention = self.closed_retention
        evicted = [market_id for market_id, closed_at in self._closed.items() if closed_at + retention <= now]
        for market_id in evicted:
            del self._closed[market_id]
            self._markets.pop(market_id, None)
        self._next_eviction = min((t + retention for t in self._closed.values()), default=NEVER)
        return evicted

    # --- reading ------------------------------------------------------------------------------

    def book(self, market_id: str) -> MarketBook:
        """An immutable snapshot of one market, built now or kept from the last call.

        Raises:
            KeyError: the market is not in the cache.
        """
        book = self.get(market_id)
        if book is None:
            raise KeyError(f"market {market_id!r} is not in the cache")
        return book

    def get(self, market_id: str) -> Optional[MarketBook]:
        """Like :meth:`book`, but ``None`` for a market not in the cache."""
        with self._lock:
            market = self._markets.get(market_id)
            if market is None:
                return None
            book = market.book
            if book is None:
                book = market.book = market_book(market)
            return book

    def status(self, market_id: str) -> Optional[str]:
        """The market's status as its latest definition says (``None``: none yet, or not cached).

        Cheap (no snapshot is built): what the tradability rule asks after every change."""
        market = self._markets.get(market_id)
        return None if market is None else market.status

    def is_closed(self, market_id: str) -> bool:
        """True when the market's definition says CLOSED (and it has not been evicted yet)."""
        return market_id in self._closed


