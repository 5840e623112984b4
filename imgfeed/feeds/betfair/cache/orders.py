"""The order cache: ``ocm`` changes folded into per-market order state, read as immutable snapshots.

Rules (Betfair's ESA documentation and schema; where betfairlightweight or Betfair's Java client
differ, which and why):

- ``ct=SUB_IMAGE`` replaces every market of the subscription (the image lists what is live now).
- Markets (``oc[]``) are keyed by market id. ``fullImage: true`` replaces the market's entry; a
  ``fullImage`` with no runner changes means the account has nothing there any more, and removes it.
  ``closed: true`` marks the market closed; :meth:`OrderCache.evict` drops it ``closed_retention``
  seconds later (the Java client drops it at once, betfairlightweight never).
- Runners (``orc[]``) are keyed by ``(id, hc)``; ``fullImage: true`` replaces the runner (orders,
  matched ladders and strategy matches).
- Orders (``uo[]``) always arrive whole and replace the stored order with the same bet id; there is
  no field-level merge.
- ``mb``/``ml`` (matched backs and lays) are ``[price, size]`` deltas: size 0 removes a price, and an
  empty list means the ladder is now empty (betfairlightweight and the Java client leave the ladder
  as it was on an empty list, which keeps a position the server says is gone). ``smc`` carries the
  same per customer strategy ref.
- An order that became ``EC`` (execution complete) stays for ``complete_retention`` seconds after
  the change that completed it, then :meth:`OrderCache.evict` drops it, so a long session does not
  accumulate every order it ever placed. A fresh image holds only executable orders anyway.

Times are the changes' ``received_at`` (the cache never reads a clock). Snapshots are built lazily
and kept until the market changes, as in :mod:`.markets`.

Thread-safety: as :mod:`.markets`: one writer, and a lock (any context manager) to give when other
threads read books; every public method holds it.
"""

from __future__ import annotations

from typing import Any, ContextManager, Dict, List, Optional, Tuple

from imgfeed.feeds.betfair.books import Order, OrderBook, RunnerOrders, StrategyMatches
from imgfeed.feeds.betfair.cache.convert import order as order_record
from imgfeed.feeds.betfair.cache.keyed import NEVER, KeyedByMarket, check_retention
from imgfeed.feeds.betfair.cache.ladders import PriceLadder
from imgfeed.feeds.betfair.protocol.messages import ChangeType, OrderChangeMessage
from imgfeed.feeds.betfair.protocol.times import epoch_ms_to_datetime

__all__ = ["OrderCache", "DEFAULT_ORDER_CLOSED_RETENTION", "DEFAULT_COMPLETE_RETENTION"]

#: Seconds a closed market's orders stay readable (settlement shows up on the order stream first).
DEFAULT_ORDER_CLOSED_RETENTION = 600.0
#: Seconds an execution-complete order stays readable: enough for handlers and reconciliation to
#: see the final fill, bounded so that memory does not grow with every order of a long session.
DEFAULT_COMPLETE_RETENTION = 3600.0

_Key = Tuple[int, float]


class _Runner:
    __slots__ = ("key", "orders", "records", "matched", "strategies", "book")

    def __init__(self, key: _Key) -> None:
        self.key = key
        self.orders: Dict[str, Dict[str, Any]] = {}  # bet id -> the order as sent
        self.records: Dict[str, Order] = {}  # bet id -> Order, while unchanged
        self.matched = _matches()
        self.strategies: Dict[str, Dict[str, PriceLadder]] = {}  # ref -> {"mb": .., "ml": ..}
        self.book: Optional[RunnerOrders] = None


class _Market:
    __slots__ = ("market_id", "closed", "runners", "pt", "clk", "book")

    def __init__(self, market_id: str) -> None:
        self.market_id = market_id
        self.closed = False
        self.runners: Dict[_Key, _Runner] = {}
        self.pt: Optional[int] = None
        self.clk: Optional[str] = None
        self.book: Optional[OrderBook] = None


def _matches() -> Dict[str, PriceLadder]:
    return {"mb": PriceLadder(descending=True), "ml": PriceLadder()}


def _apply_matches(ladders: Dict[str, PriceLadder], change: Dict[str, Any]) -> None:
    for side in ("mb", "ml"):
        rows = change.get(side)
        if rows is None:
            continue
        if rows:
            ladders[side].apply(rows)
        else:
            ladders[side].clear()  # an empty list: nothing is matched on this side any more


class OrderCache(KeyedByMarket):
    """The account's orders, per market, from one order subscription.

    Args:
        closed_retention: seconds a closed market is kept before :meth:`evict` drops it.
        complete_retention: seconds an execution-complete order is kept before :meth:`evict`
            drops it.
        lock: held by every public method; give one when books are read from other threads.

    Raises:
        ConfigError: a retention is negative or not a number.
    """

    def __init__(
        self,
        closed_retention: float = DEFAULT_ORDER_CLOSED_RETENTION,
        complete_retention: float = DEFAULT_COMPLETE_RETENTION,
        lock: Optional[ContextManager[Any]] = None,
    ) -> None:
        self.closed_retention = check_retention("closed_retention", closed_retention)
        self.complete_retention = check_retention("complete_retention", complete_retention)
        super().__init__(lock)
        self._markets: Dict[str, _Market] = {}
        self._closed: Dict[str, float] = {}  # market id -> when it closed
        self._complete: Dict[Tuple[str, _Key, str], float] = {}  # (market, runner, bet) -> when EC
        self._next_eviction = NEVER

    def __repr__(self) -> str:
        return f"<OrderCache markets={len(self._markets)} complete_orders={len(self._complete)}>"

    def _clear(self) -> None:
        self._markets.clear()
        self._closed.clear()
        self._complete.clear()
        self._next_eviction = NEVER

    # --- writing ------------------------------------------------------------------------------

    def apply(self, change: OrderChangeMessage) -> List[str]:
        """Fold one complete change message into the cache.

        Raises:
            ValueError: ``change`` is one segment of a segmented change: assemble segments first
                (:class:`~imgfeed.feeds.betfair.protocol.stream.SubscriptionStream` does), since a
                segment applied alone would show half an image -- and each ``SUB_IMAGE`` segment
                would clear the markets of the one before.

        Returns:
            The ids of the markets it changed or removed, in order, each once.
        """
        if change.segment_type is not None:
            raise ValueError(f"apply() takes assembled changes, not a {change.segment_type} segment")
        with self._lock:
            return self._apply(change)

    def _apply(self, change: OrderChangeMessage) -> List[str]:
        if change.ct == ChangeType.SUB_IMAGE:
            self._clear()
        markets = self._markets
        received_at = change.received_at
        changed: List[str] = []
        for market_change in change.oc:
            market_id = market_change["id"]
            changed.append(market_id)
            market = markets.get(market_id)
            runner_changes = market_change.get("orc") or ()
            if market_change.get("fullImage"):
                self._forget_market(market_id)
                if not runner_changes:
                    continue  # an empty full image: no position here any more
                market = None
            if market is None:
                market = markets[market_id] = _Market(market_id)
            for runner_change in runner_changes:
                self._apply_runner(market, runner_change, received_at)
            if market_change.get("closed") is True and not market.closed:
                market.closed = True
                self._closed[market_id] = received_at
                self._due(received_at + self.closed_retention)
            market.pt = change.pt
            market.clk = change.clk
            market.book = None
        if len(changed) > 1:
            changed = list(dict.fromkeys(changed))
        return changed

    def _forget_market(self, market_id: str) -> None:
        if self._markets.pop(market_id, None) is not None:
            self._closed.pop(market_id, None)
            for key in [key for key in self._complete if key[0] == market_id]:
                del self._complete[key]

    def _apply_runner(self, market: _Market, change: Dict[str, Any], received_at: float) -> None:
        key = (change["id"], change.get("hc") or 0)
        runner = market.runners.get(key)
        if runner is None or change.get("fullImage"):
            if runner is not None:
                for bet_id in runner.orders:
                    self._complete.pop((market.market_id, key, bet_id), None)
            runner = market.runners[key] = _Runner(key)
        for order in change.get("uo") or ():
            bet_id = order["id"]
            runner.orders[bet_id] = order
            runner.records.pop(bet_id, None)
            if order.get("status") == "EC":
                complete_key = (market.market_id, key, bet_id)
                if complete_key not in self._complete:
                    self._complete[complete_key] = received_at
                    self._due(received_at + self.complete_retention)
        _apply_matches(runner.matched, change)
        strategy_changes = change.get("smc")
        if strategy_changes:
            for ref, matches in strategy_changes.items():
                if matches is None:
                    continue
                ladders = runner.strategies.get(ref)
                if ladders is None:
                    ladders = runner.strategies[ref] = _matches()
                _apply_matches(ladders, matches)
        runner.book = None

    def _due(self, when: float) -> None:
        if when < self._next_eviction:
            self._next_eviction = when

    def evict(self, now: float) -> List[str]:
        """Drop closed markets and execution-complete orders whose retention has passed.

        Cheap when nothing is due (one comparison), so it may be called after every change.

        Args:
            now: the current time on the clock of the changes' ``received_at``.

        Returns:
            The ids of the markets removed or changed by the eviction.
        """
        if now < self._next_eviction:
            return []
        with self._lock:
            return self._evict(now)

    def _evict(self, now: float) -> List[str]:
        affected: Dict[str, None] = {}
        for market_id, closed_at in list(self._closed.items()):
            if closed_at + self.closed_retention <= now:
                self._forget_market(market_id)
                affected[market_id] = None
        for complete_key, completed_at in list(self._complete.items()):
            if completed_at + self.complete_retention <= now:
                del self._complete[complete_key]
                market_id, key, bet_id = complete_key
                market = self._markets.get(market_id)
                runner = None if market is None else market.runners.get(key)
                if market is not None and runner is not None:
                    runner.orders.pop(bet_id, None)
                    runner.records.pop(bet_id, None)
                    runner.book = None
                    market.book = None
                    affected[market_id] = None
        self._next_eviction = min(
            [t + self.closed_retention for t in self._closed.values()]
            + [t + self.complete_retention for t in self._complete.values()],
            default=NEVER,
        )
        return list(affected)

    # --- reading ------------------------------------------------------------------------------

    def book(self, market_id: str) -> OrderBook:
        """An immutable snapshot of the account's orders on one market.

        Raises:
            KeyError: the market is not in the cache.
        """
        book = self.get(market_id)
        if book is None:
            raise KeyError(f"market {market_id!r} has no orders in the cache")
        return book

    def get(self, market_id: str) -> Optional[OrderBook]:
        """Like :meth:`book`, but ``None`` for a market not in the cache."""
        with self._lock:
            market = self._markets.get(market_id)
            if market is None:
                return None
            book = market.book
            if book is None:
                book = market.book = _order_book(market)
            return book


def _order_book(market: _Market) -> OrderBook:
    runners = []
    for runner in list(market.runners.values()):
        runner_book = runner.book
        if runner_book is None:
            runner_book = runner.book = _runner_orders(market.market_id, runner)
        runners.append(runner_book)
    return OrderBook(
        market_id=market.market_id,
        closed=market.closed,
        runners=tuple(runners),
        publish_time=None if market.pt is None else epoch_ms_to_datetime(market.pt),
        clk=market.clk,
    )


def _runner_orders(market_id: str, runner: _Runner) -> RunnerOrders:
    selection_id, handicap = runner.key
    records = runner.records
    orders = []
    for bet_id, raw in runner.orders.items():
        record = records.get(bet_id)
        if record is None:
            record = records[bet_id] = order_record(raw, market_id, selection_id, handicap)
        orders.append(record)
    strategies = tuple(
        StrategyMatches(
            strategy_ref=ref,
            matched_backs=ladders["mb"].snapshot(),
            matched_lays=ladders["ml"].snapshot(),
        )
        for ref, ladders in runner.strategies.items()
    )
    return RunnerOrders(
        selection_id=selection_id,
        handicap=float(handicap),
        orders=tuple(orders),
        matched_backs=runner.matched["mb"].snapshot(),
        matched_lays=runner.matched["ml"].snapshot(),
        strategy_matches=strategies,
    )
