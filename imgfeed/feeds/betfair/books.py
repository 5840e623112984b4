"""The public book records: immutable snapshots of a market's prices and of an account's orders.

The caches (:mod:`.cache`) build these on demand from their state; a record never changes after it
is built, so a handler may keep one, hand it to another thread, or compare it with the next.

Names follow Betfair's API-NG (``MarketBook``, ``RunnerBook``, ``last_price_traded``,
``available_to_back`` ...), as betfairlightweight users know them, in snake_case.

Conventions:

- Ladders are tuples of :class:`PriceSize`, sorted: back-side ladders (``available_to_back``,
  ``starting_price_back``, ``matched_backs``) by price descending, lay-side and traded ladders by
  price ascending, level ladders (``best_*``) by level, best first. An empty ladder is ``()``.
- Times are aware UTC datetimes, whatever the wire used (epoch ms or ISO strings).
- Numbers in ladders and scalars are as the wire had them: a JSON integer stays an ``int`` (a price
  of ``1000``), which compares equal to the float; converting every row would cost more than it
  gives.
- A value the server never sent is ``None`` (never a made-up 0): a ``total_matched`` of ``None``
  means the subscription does not carry ``EX_TRADED_VOL``, not that nothing traded.
- Starting prices (``spn``/``spf``, a definition's ``bsp``) may be ``nan`` or ``inf``: Betfair
  sends ``NaN``/``Infinity`` for a price it cannot state.
- Enumerated values are Betfair's strings (``"OPEN"``, ``"ACTIVE"``), kept as sent so that a value
  added by Betfair reaches the user unchanged.

Why :class:`PriceSize` is a ``NamedTuple`` and not an attrs class like the others: it is by far the
most numerous object (hundreds per book), a tuple is built three times faster than a slotted attrs
instance, and it is just as immutable, with ``.price``/``.size`` and ``price, size = level``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, NamedTuple, Optional, Tuple

import attrs

__all__ = [
    "PriceSize",
    "Ladder",
    "RunnerDefinition",
    "MarketDefinition",
    "RunnerBook",
    "MarketBook",
    "Order",
    "StrategyMatches",
    "RunnerOrders",
    "OrderBook",
]


class PriceSize(NamedTuple):
    """One rung of a ladder: a price and the amount available, traded or matched at it."""

    price: float
    size: float


#: A sorted ladder (see the module docstring for the order of each).
Ladder = Tuple[PriceSize, ...]


def _count(items: Tuple[Any, ...]) -> str:
    return f"<{len(items)}>"


@attrs.frozen(kw_only=True)
class RunnerDefinition:
    """A runner as the market definition describes it (``marketDefinition.runners[]``)."""

    selection_id: int
    handicap: float = 0.0
    name: Optional[str] = None
    status: Optional[str] = None  # ACTIVE, WINNER, LOSER, PLACED, REMOVED, REMOVED_VACANT, HIDDEN
    sort_priority: Optional[int] = None
    adjustment_factor: Optional[float] = None
    bsp: Optional[float] = None  # the actual starting price, once reconciled
    removal_date: Optional[datetime] = None
    raw: Dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False, hash=False)


@attrs.frozen(kw_only=True)
class MarketDefinition:
    """A market's definition: sent whole whenever any part of it changes (``EX_MARKET_DEF``).

    The fields are the ESA schema's ``MarketDefinition`` in snake_case; ``price_ladder_type`` is
    ``priceLadderDefinition.type`` and ``key_line`` the ``(selection_id, handicap)`` pairs of
    ``keyLineDefinition.kl``. ``raw`` holds the definition as sent, including fields this version
    does not model.
    """

    status: Optional[str] = None  # INACTIVE, OPEN, SUSPENDED, CLOSED
    in_play: Optional[bool] = None
    version: Optional[int] = None
    bet_delay: Optional[int] = None
    complete: Optional[bool] = None
    event_id: Optional[str] = None
    event_type_id: Optional[str] = None
    market_type: Optional[str] = None
    betting_type: Optional[str] = None
    country_code: Optional[str] = None
    venue: Optional[str] = None
    race_type: Optional[str] = None
    timezone: Optional[str] = None
    regulators: Tuple[str, ...] = ()
    open_date: Optional[datetime] = None
    market_time: Optional[datetime] = None
    suspend_time: Optional[datetime] = None
    settled_time: Optional[datetime] = None
    suspend_reason: Optional[str] = None
    number_of_winners: Optional[int] = None
    number_of_active_runners: Optional[int] = None
    bsp_market: Optional[bool] = None
    bsp_reconciled: Optional[bool] = None
    turn_in_play_enabled: Optional[bool] = None
    persistence_enabled: Optional[bool] = None
    cross_matching: Optional[bool] = None
    runners_voidable: Optional[bool] = None
    discount_allowed: Optional[bool] = None
    market_base_rate: Optional[float] = None
    each_way_divisor: Optional[float] = None
    line_min_unit: Optional[float] = None
    line_max_unit: Optional[float] = None
    line_interval: Optional[float] = None
    price_ladder_type: Optional[str] = None  # CLASSIC, FINEST, LINE_RANGE
    key_line: Tuple[Tuple[int, float], ...] = ()
    runners: Tuple[RunnerDefinition, ...] = attrs.field(default=(), repr=_count)
    raw: Dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False, hash=False)


@attrs.frozen(kw_only=True)
class RunnerBook:
    """One runner's prices, keyed in its market by ``(selection_id, handicap)``.

    ``available_to_*`` are the full-depth ladders (``EX_ALL_OFFERS``); ``best_available_to_*`` and
    ``best_display_available_to_*`` the level ladders (``EX_BEST_OFFERS``, ``EX_BEST_OFFERS_DISP``,
    the latter including virtual bets). Unlike betfairlightweight, ``available_to_back`` is never
    filled in from a best-offers ladder: each field is exactly the ladder its name says.
    """

    selection_id: int
    handicap: float = 0.0
    status: Optional[str] = None
    last_price_traded: Optional[float] = None
    total_matched: Optional[float] = None
    available_to_back: Ladder = ()
    available_to_lay: Ladder = ()
    best_available_to_back: Ladder = ()
    best_available_to_lay: Ladder = ()
    best_display_available_to_back: Ladder = ()
    best_display_available_to_lay: Ladder = ()
    traded_volume: Ladder = attrs.field(default=(), repr=_count)
    starting_price_near: Optional[float] = None
    starting_price_far: Optional[float] = None
    starting_price_back: Ladder = attrs.field(default=(), repr=_count)
    starting_price_lay: Ladder = attrs.field(default=(), repr=_count)
    #: The runner's entry in the market definition, if one has been received.
    definition: Optional[RunnerDefinition] = attrs.field(default=None, repr=False)

    @property
    def sort_priority(self) -> Optional[int]:
        return None if self.definition is None else self.definition.sort_priority

    @property
    def adjustment_factor(self) -> Optional[float]:
        return None if self.definition is None else self.definition.adjustment_factor

    @property
    def removal_date(self) -> Optional[datetime]:
        return None if self.definition is None else self.definition.removal_date

    @property
    def actual_sp(self) -> Optional[float]:
        """The reconciled starting price (the definition's ``bsp``), API-NG's ``sp.actualSP``."""
        return None if self.definition is None else self.definition.bsp


@attrs.frozen(kw_only=True)
class MarketBook:
    """A snapshot of one market: its definition's state plus every runner's prices.

    ``status``, ``inplay`` and ``version`` come from the latest market definition (``None`` before
    one arrives); ``total_matched`` is the market's ``tv``; ``conflated`` is true when the last
    change applied to this market said ``con`` (several changes merged into one);
    ``publish_time`` and ``clk`` are those of the message that last changed it.
    """

    market_id: str
    status: Optional[str] = None
    inplay: Optional[bool] = None
    total_matched: Optional[float] = None
    version: Optional[int] = None
    definition: Optional[MarketDefinition] = attrs.field(default=None, repr=False)
    runners: Tuple[RunnerBook, ...] = attrs.field(default=(), repr=_count)
    conflated: bool = False
    publish_time: Optional[datetime] = None
    clk: Optional[str] = None

    def runner(self, selection_id: int, handicap: float = 0.0) -> Optional[RunnerBook]:
        """The runner with this selection id and handicap, or ``None``."""
        for runner in self.runners:
            if runner.selection_id == selection_id and runner.handicap == handicap:
                return runner
        return None


@attrs.frozen(kw_only=True)
class Order:
    """One order as the order stream last described it (``uo[]``); replaced whole on every change.

    The wire's one- and two-letter codes are spelled out as API-NG names: ``side`` ``BACK``/``LAY``,
    ``status`` ``EXECUTABLE``/``EXECUTION_COMPLETE``, ``order_type`` ``LIMIT``/``LIMIT_ON_CLOSE``/
    ``MARKET_ON_CLOSE``, ``persistence_type`` ``LAPSE``/``PERSIST``/``MARKET_ON_CLOSE``. A code this
    version does not know is kept as sent. ``raw`` is the order as sent.
    """

    bet_id: str
    market_id: str
    selection_id: int
    handicap: float = 0.0
    side: Optional[str] = None
    price: Optional[float] = None
    size: Optional[float] = None
    bsp_liability: Optional[float] = None
    persistence_type: Optional[str] = None
    order_type: Optional[str] = None
    status: Optional[str] = None
    placed_date: Optional[datetime] = None
    matched_date: Optional[datetime] = None
    cancelled_date: Optional[datetime] = None
    lapsed_date: Optional[datetime] = None
    average_price_matched: Optional[float] = None
    size_matched: Optional[float] = None
    size_remaining: Optional[float] = None
    size_lapsed: Optional[float] = None
    size_cancelled: Optional[float] = None
    size_voided: Optional[float] = None
    customer_order_ref: Optional[str] = None
    customer_strategy_ref: Optional[str] = None
    regulator_code: Optional[str] = None
    regulator_auth_code: Optional[str] = None
    lapse_status_reason_code: Optional[str] = None
    raw: Dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False, hash=False)

    @property
    def is_complete(self) -> bool:
        """True once the order is ``EXECUTION_COMPLETE`` (fully matched, cancelled or lapsed)."""
        return self.status == "EXECUTION_COMPLETE"


@attrs.frozen(kw_only=True)
class StrategyMatches:
    """Matched amounts of one customer strategy ref on one runner (``smc``)."""

    strategy_ref: str
    matched_backs: Ladder = ()
    matched_lays: Ladder = ()


@attrs.frozen(kw_only=True)
class RunnerOrders:
    """The account's orders and matched position on one runner (``orc[]``)."""

    selection_id: int
    handicap: float = 0.0
    orders: Tuple[Order, ...] = attrs.field(default=(), repr=_count)
    matched_backs: Ladder = ()
    matched_lays: Ladder = ()
    strategy_matches: Tuple[StrategyMatches, ...] = attrs.field(default=(), repr=_count)


@attrs.frozen(kw_only=True)
class OrderBook:
    """A snapshot of the account's orders on one market.

    ``closed`` is true once the server said the market closed (``closed: true``).
    """

    market_id: str
    closed: bool = False
    runners: Tuple[RunnerOrders, ...] = attrs.field(default=(), repr=_count)
    publish_time: Optional[datetime] = None
    clk: Optional[str] = None

    @property
    def orders(self) -> Tuple[Order, ...]:
        """Every order on the market, runner by runner."""
        return tuple(order for runner in self.runners for order in runner.orders)

    def runner(self, selection_id: int, handicap: float = 0.0) -> Optional[RunnerOrders]:
        """The orders on this runner, or ``None``."""
        for runner in self.runners:
            if runner.selection_id == selection_id and runner.handicap == handicap:
                return runner
        return None
