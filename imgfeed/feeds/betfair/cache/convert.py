"""Wire dicts to book records: market and runner definitions, orders, starting prices.

The caches keep what the server sent (plain dicts) and call these only when a snapshot is asked
for, so a definition or an order is converted once per version, and never if nobody looks.

The dicts were checked by the codec (:mod:`..protocol.validate`), so the conversions cannot fail on
a type: times are known to parse and numbers to be numbers.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from imgfeed.feeds.betfair.books import MarketDefinition, Order, RunnerDefinition
from imgfeed.feeds.betfair.protocol.times import epoch_ms_to_datetime, parse_iso_time

__all__ = [
    "runner_key",
    "starting_price",
    "runner_definition",
    "market_definition",
    "order",
    "SIDES",
    "ORDER_STATUSES",
    "ORDER_TYPES",
    "PERSISTENCE_TYPES",
]

# The order stream's codes and their API-NG names (ESA schema, ``Order``).
SIDES = {"B": "BACK", "L": "LAY"}
ORDER_STATUSES = {"E": "EXECUTABLE", "EC": "EXECUTION_COMPLETE"}
ORDER_TYPES = {"L": "LIMIT", "LOC": "LIMIT_ON_CLOSE", "MOC": "MARKET_ON_CLOSE"}
PERSISTENCE_TYPES = {"L": "LAPSE", "P": "PERSIST", "MOC": "MARKET_ON_CLOSE"}

_SPECIAL = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def runner_key(obj: Dict[str, Any]) -> Tuple[int, float]:
    """The ``(id, hc)`` a runner is keyed by; an absent or null ``hc`` is 0."""
    return obj["id"], obj.get("hc") or 0


def starting_price(value: Any) -> Optional[float]:
    """A starting price as a float: numbers as they are, ``"NaN"``/``"Infinity"`` as nan/inf."""
    if value is None or type(value) is float:
        return value
    if type(value) is str:
        return _SPECIAL[value]
    return float(value)


def _iso(value: Optional[str]) -> Any:
    return None if value is None else parse_iso_time(value)


def _float(value: Any) -> Optional[float]:
    return None if value is None else float(value)


def runner_definition(raw: Dict[str, Any]) -> RunnerDefinition:
    """Build a :class:`RunnerDefinition` from one ``marketDefinition.runners[]`` entry."""
    get = raw.get
    return RunnerDefinition(
        selection_id=raw["id"],
        handicap=float(get("hc") or 0),
        name=get("name"),
        status=get("status"),
        sort_priority=get("sortPriority"),
        adjustment_factor=_float(get("adjustmentFactor")),
        bsp=starting_price(get("bsp")),
        removal_date=_iso(get("removalDate")),
        raw=raw,
    )


def market_definition(
    raw: Dict[str, Any], previous: Optional[Dict[Tuple[int, float], RunnerDefinition]] = None
) -> MarketDefinition:
    """Build a :class:`MarketDefinition` (with its runners) from a ``marketDefinition`` dict.

    ``previous``: the runner definitions of the market's last definition, by ``(id, hc)``; a runner
    whose entry is unchanged (equal as sent) keeps its record instead of a new, equal one.
    """
    get = raw.get
    ladder = get("priceLadderDefinition") or {}
    key_line = (get("keyLineDefinition") or {}).get("kl") or ()
    return MarketDefinition(
        status=get("status"),
        in_play=get("inPlay"),
        version=get("version"),
        bet_delay=get("betDelay"),
        complete=get("complete"),
        event_id=get("eventId"),
        event_type_id=get("eventTypeId"),
        market_type=get("marketType"),
        betting_type=get("bettingType"),
        country_code=get("countryCode"),
        venue=get("venue"),
        race_type=get("raceType"),
        timezone=get("timezone"),
        regulators=tuple(get("regulators") or ()),
        open_date=_iso(get("openDate")),
        market_time=_iso(get("marketTime")),
        suspend_time=_iso(get("suspendTime")),
        settled_time=_iso(get("settledTime")),
        suspend_reason=get("suspendReason"),
        number_of_winners=get("numberOfWinners"),
        number_of_active_runners=get("numberOfActiveRunners"),
        bsp_market=get("bspMarket"),
        bsp_reconciled=get("bspReconciled"),
        turn_in_play_enabled=get("turnInPlayEnabled"),
        persistence_enabled=get("persistenceEnabled"),
        cross_matching=get("crossMatching"),
        runners_voidable=get("runnersVoidable"),
        discount_allowed=get("discountAllowed"),
        market_base_rate=_float(get("marketBaseRate")),
        each_way_divisor=_float(get("eachWayDivisor")),
        line_min_unit=_float(get("lineMinUnit")),
        line_max_unit=_float(get("lineMaxUnit")),
        line_interval=_float(get("lineInterval")),
        price_ladder_type=ladder.get("type"),
        key_line=tuple((kl["id"], float(kl.get("hc") or 0)) for kl in key_line),
        runners=tuple(_runner_definition(runner, previous) for runner in get("runners") or ()),
        raw=raw,
    )


def _runner_definition(
    raw: Dict[str, Any], previous: Optional[Dict[Tuple[int, float], RunnerDefinition]]
) -> RunnerDefinition:
    if previous:
        old = previous.get(runner_key(raw))
        if old is not None and old.raw == raw:
            return old
    return runner_definition(raw)


def _epoch(value: Optional[int]) -> Any:
    return None if value is None else epoch_ms_to_datetime(value)


def _code(table: Dict[str, str], value: Optional[str]) -> Optional[str]:
    return None if value is None else table.get(value, value)


def order(raw: Dict[str, Any], market_id: str, selection_id: int, handicap: float) -> Order:
    """Build an :class:`Order` from one ``uo[]`` entry of an order runner change."""
    get = raw.get
    return Order(
        bet_id=raw["id"],
        market_id=market_id,
        selection_id=selection_id,
        handicap=float(handicap),
        side=_code(SIDES, get("side")),
        price=_float(get("p")),
        size=_float(get("s")),
        bsp_liability=_float(get("bsp")),
        persistence_type=_code(PERSISTENCE_TYPES, get("pt")),
        order_type=_code(ORDER_TYPES, get("ot")),
        status=_code(ORDER_STATUSES, get("status")),
        placed_date=_epoch(get("pd")),
        matched_date=_epoch(get("md")),
        cancelled_date=_epoch(get("cd")),
        lapsed_date=_epoch(get("ld")),
        average_price_matched=_float(get("avp")),
        size_matched=_float(get("sm")),
        size_remaining=_float(get("sr")),
        size_lapsed=_float(get("sl")),
        size_cancelled=_float(get("sc")),
        size_voided=_float(get("sv")),
        customer_order_ref=get("rfo"),
        customer_strategy_ref=get("rfs"),
        regulator_code=get("rc"),
        regulator_auth_code=get("rac"),
        lapse_status_reason_code=get("lsrc"),
        raw=raw,
    )
