"""Subscription filters: which markets (rows), which fields (columns), which orders a client gets.

Contract: ``from_json`` parses a filter object as a client sends it in ``marketSubscription`` /
``orderSubscription`` and raises :class:`InvalidRequest` (answered ``INVALID_INPUT``) for anything
the ESA schema does not allow, naming the key and what is allowed. ``matches`` and ``project``
are pure: ``project`` returns the part of a canonical change (every field, every level, as
:mod:`~imgfeed.feeds.betfair.emulator.merge` keeps it) that the subscription asked for, or
``None`` when nothing of it is wanted.

Choices where Betfair's documentation is silent, written down here once:

- ``ladderLevels`` absent: 3 levels; outside 1..10: clamped to 1..10.
- ``fields`` absent or empty: ``EX_MARKET_DEF`` only (a subscription that asked for nothing gets the
  definitions, so it still sees status changes).
- ``bdatb`` / ``bdatl`` changes that fall wholly below ``ladderLevels`` are sent as an empty list,
  as the specification describes ("an update filtered out due to ladderLevels"); ``batb`` /
  ``batl`` ones are left out.
- An order image holds executable (``E``) orders only; ``EC`` orders appear only as the transient
  update of their completion, as the specification says.
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, Iterable, Optional

import attrs

from imgfeed.feeds.betfair.emulator.merge import Change

__all__ = [
    "InvalidRequest",
    "MarketInfo",
    "MarketFilter",
    "MarketDataFilter",
    "OrderFilter",
    "FIELDS",
    "DEFAULT_LADDER_LEVELS",
]

#: The ``fields`` flags of a MarketDataFilter and the change keys each one enables.
FIELDS: Dict[str, FrozenSet[str]] = {
    "EX_BEST_OFFERS_DISP": frozenset({"bdatb", "bdatl"}),
    "EX_BEST_OFFERS": frozenset({"batb", "batl"}),
    "EX_ALL_OFFERS": frozenset({"atb", "atl"}),
    "EX_TRADED": frozenset({"trd"}),
    "EX_TRADED_VOL": frozenset({"tv"}),
    "EX_LTP": frozenset({"ltp"}),
    "EX_MARKET_DEF": frozenset({"marketDefinition"}),
    "SP_TRADED": frozenset({"spb", "spl"}),
    "SP_PROJECTED": frozenset({"spn", "spf"}),
}
#: Levels of ``batb`` / ``bdatb`` sent when ``ladderLevels`` is not given (the emulator's choice).
DEFAULT_LADDER_LEVELS = 3
_LEVELLED = frozenset({"batb", "batl", "bdatb", "bdatl"})
_DISPLAY = frozenset({"bdatb", "bdatl"})
_BETTING_TYPES = ("ODDS", "LINE", "RANGE", "ASIAN_HANDICAP_DOUBLE_LINE", "ASIAN_HANDICAP_SINGLE_LINE")


class InvalidRequest(Exception):
    """A request the emulator cannot accept; ``code`` is the ESA error code to answer with."""

    def __init__(self, message: str, code: str = "INVALID_INPUT") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _object(value: Any, name: str) -> Dict[str, Any]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise InvalidRequest(f"{name} must be an object, got {value!r}")
    return value


def _unknown(obj: Dict[str, Any], allowed: Iterable[str], name: str) -> None:
    extra = sorted(set(obj) - set(allowed))
    if extra:
        raise InvalidRequest(
            f"unknown key(s) in {name}: {', '.join(extra)} (allowed: {', '.join(sorted(allowed))})"
        )


def _strings(
    obj: Dict[str, Any], key: str, name: str, choices: Optional[Iterable[str]] = None
) -> Optional[FrozenSet[str]]:
    value = obj.get(key)
    if value is None:
        return None
    if type(value) is not list or not all(type(v) is str for v in value):
        raise InvalidRequest(f"{name}.{key} must be a list of strings, got {value!r}")
    if choices is not None:
        bad = sorted(set(value) - set(choices))
        if bad:
            raise InvalidRequest(
                f"{name}.{key}: unknown value(s) {', '.join(bad)} (allowed: {', '.join(choices)})"
            )
    return frozenset(value)


def _flag(obj: Dict[str, Any], key: str, name: str) -> Optional[bool]:
    value = obj.get(key)
    if value is not None and type(value) is not bool:
        raise InvalidRequest(f"{name}.{key} must be true or false, got {value!r}")
    return value


@attrs.frozen
class MarketInfo:
    """What a MarketFilter looks at: a market's id and the attributes of its definition."""

    market_id: str
    event_type_id: str
    event_id: str
    market_type: str
    country_code: str
    venue: Optional[str]
    race_type: Optional[str]
    betting_type: str
    turn_in_play_enabled: bool
    bsp_market: bool


_MARKET_FILTER_SETS = {
    "marketIds": "market_id",
    "eventTypeIds": "event_type_id",
    "eventIds": "event_id",
    "marketTypes": "market_type",
    "countryCodes": "country_code",
    "venues": "venue",
    "raceTypes": "race_type",
    "bettingTypes": "betting_type",
}
_MARKET_FILTER_FLAGS = {"turnInPlayEnabled": "turn_in_play_enabled", "bspMarket": "bsp_market"}


@attrs.frozen
class MarketFilter:
    """The rows of a market subscription: every given set must hold the market's value.

    Filters are not checked against existing markets (Betfair does not: a filter may name markets
    that appear later), so a market that is created later and matches joins the subscription.
    """

    sets: Dict[str, FrozenSet[str]] = attrs.field(factory=dict)
    flags: Dict[str, bool] = attrs.field(factory=dict)

    @classmethod
    def from_json(cls, value: Any) -> "MarketFilter":
        obj = _object(value, "marketFilter")
        _unknown(obj, list(_MARKET_FILTER_SETS) + list(_MARKET_FILTER_FLAGS), "marketFilter")
        sets: Dict[str, FrozenSet[str]] = {}
        for key, attr in _MARKET_FILTER_SETS.items():
            given = _strings(obj, key, "marketFilter", _BETTING_TYPES if key == "bettingTypes" else None)
            if given is not None:
                sets[attr] = given
        flags = {}
        for key, attr in _MARKET_FILTER_FLAGS.items():
            flag = _flag(obj, key, "marketFilter")
            if flag is not None:
                flags[attr] = flag
        return cls(sets, flags)

    def matches(self, info: MarketInfo) -> bool:
        for attr, allowed in self.sets.items():
            if getattr(info, attr) not in allowed:
                return False
        return all(getattr(info, attr) is flag for attr, flag in self.flags.items())


@attrs.frozen
class MarketDataFilter:
    """The columns of a market subscription: ``fields`` flags and ``ladderLevels``."""

    fields: FrozenSet[str] = frozenset({"EX_MARKET_DEF"})
    ladder_levels: int = DEFAULT_LADDER_LEVELS
    keys: FrozenSet[str] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        keys: FrozenSet[str] = frozenset().union(*(FIELDS[f] for f in self.fields))
        object.__setattr__(self, "keys", keys)

    @classmethod
    def from_json(cls, value: Any) -> "MarketDataFilter":
        obj = _object(value, "marketDataFilter")
        _unknown(obj, ("fields", "ladderLevels"), "marketDataFilter")
        fields = _strings(obj, "fields", "marketDataFilter", tuple(FIELDS)) or frozenset({"EX_MARKET_DEF"})
        levels = obj.get("ladderLevels")
        if levels is None:
            levels = DEFAULT_LADDER_LEVELS
        elif type(levels) is not int:
            raise InvalidRequest(f"marketDataFilter.ladderLevels must be an integer 1-10, got {levels!r}")
        return cls(fields=fields, ladder_levels=min(10, max(1, levels)))

    def project(self, change: Change) -> Optional[Change]:
        """What of a canonical MarketChange this subscription gets; ``None`` if nothing."""
        keys = self.keys
        out: Change = {"id": change["id"]}
        if change.get("img"):
            out["img"] = True
        if "marketDefinition" in change and "marketDefinition" in keys:
            out["marketDefinition"] = change["marketDefinition"]
        if "tv" in change and "tv" in keys:
            out["tv"] = change["tv"]
        runners = []
        for runner in change.get("rc", ()):
            projected = self._runner(runner)
            if projected is not None:
                runners.append(projected)
        if runners:
            out["rc"] = runners
        return out if len(out) > 1 else None

    def _runner(self, runner: Change) -> Optional[Change]:
        out: Change = {"id": runner["id"]}
        if "hc" in runner:
            out["hc"] = runner["hc"]
        for key, value in runner.items():
            if key not in self.keys:
                continue
            if key in _LEVELLED:
                rows = [row for row in value if row[0] < self.ladder_levels]
                if rows or (key in _DISPLAY and value):
                    out[key] = rows
            else:
                out[key] = value
        return out if len(out) > (2 if "hc" in out else 1) else None


@attrs.frozen
class OrderFilter:
    """The shape of an order subscription (Betfair's defaults: overall position on, no partition)."""

    include_overall_position: bool = True
    customer_strategy_refs: Optional[FrozenSet[str]] = None
    partition_matched_by_strategy_ref: bool = False

    @classmethod
    def from_json(cls, value: Any) -> "OrderFilter":
        obj = _object(value, "orderFilter")
        allowed = (
            "includeOverallPosition",
            "customerStrategyRefs",
            "partitionMatchedByStrategyRef",
            "accountIds",
        )
        _unknown(obj, allowed, "orderFilter")
        if obj.get("accountIds") is not None:
            # Schema: "Internal use only & should not be set on your filter ... If set subscription
            # will fail."
            raise InvalidRequest("orderFilter.accountIds is for Betfair's internal use: leave it out")
        overall = _flag(obj, "includeOverallPosition", "orderFilter")
        partition = _flag(obj, "partitionMatchedByStrategyRef", "orderFilter")
        return cls(
            include_overall_position=True if overall is None else overall,
            customer_strategy_refs=_strings(obj, "customerStrategyRefs", "orderFilter"),
            partition_matched_by_strategy_ref=bool(partition),
        )

    def project(self, change: Change, image: bool = False) -> Optional[Change]:
        """What of a canonical OrderMarketChange this subscription gets; ``image``: E orders only."""
        out: Change = {k: v for k, v in change.items() if k in ("id", "accountId", "closed", "fullImage")}
        runners = []
        for runner in change.get("orc", ()):
            projected = self._runner(runner, image)
            if projected is not None:
                runners.append(projected)
        if runners:
            out["orc"] = runners
        return out if set(out) - {"id", "accountId"} else None

    def _runner(self, runner: Change, image: bool) -> Optional[Change]:
        refs = self.customer_strategy_refs
        out: Change = {k: v for k, v in runner.items() if k in ("id", "hc", "fullImage")}
        orders = [
            o
            for o in runner.get("uo", ())
            if (refs is None or o.get("rfs", "") in refs) and (not image or o.get("status") == "E")
        ]
        if orders:
            out["uo"] = orders
        if self.include_overall_position:
            for key in ("mb", "ml"):
                if runner.get(key):
                    out[key] = runner[key]
        if self.partition_matched_by_strategy_ref and runner.get("smc"):
            smc = {ref: sm for ref, sm in runner["smc"].items() if refs is None or ref in refs}
            if smc:
                out["smc"] = smc
        return out if set(out) - {"id", "hc"} else None
