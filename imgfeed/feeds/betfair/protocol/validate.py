"""Shape checks for the change lists of ``mcm`` (``mc``) and ``ocm`` (``oc``), per the ESA schema.

The codec calls :func:`check_market_changes` / :func:`check_order_changes` on every change message,
so that the caches can fold a change in without checking anything: a price that arrives as a string
or a ladder row of the wrong length is reported where it arrived, as a
:class:`~imgfeed.errors.ProtocolError` naming the field by its path (``mc[0].rc[2].atb[1]``), and
never turns into a half-applied market or a ``TypeError`` in a user's handler.

Rules (the schema's types; where it is silent, what Betfair sends):

- A value of ``null`` means "unchanged", as an absent key does; the caches skip it.
- Keys this version does not know are accepted and left alone (they stay in ``raw``).
- Numbers are JSON numbers (never booleans) and finite, except the starting prices ``spn``,
  ``spf`` and a runner definition's ``bsp``, which may also be ``NaN``/``Infinity`` (as numbers or
  as the strings Betfair writes) before reconciliation.
- Ladder rows are ``[price, size]`` (``atb``, ``atl``, ``trd``, ``spb``, ``spl``, ``mb``, ``ml``)
  or ``[level, price, size]`` with an integer level 0..:data:`MAX_LEVEL` (``batb``, ``batl``,
  ``bdatb``, ``bdatl``).
- Times are epoch milliseconds within datetime's range, or ISO 8601 strings
  (:mod:`.times`), so converting them later cannot fail.

Built from the blocks of :mod:`.checks`: table-driven for market definitions and orders (rare),
written out by hand for market and runner changes (every line), which keeps the cost per line to
about the JSON parse's.
"""

from __future__ import annotations

from typing import Any, Dict, List

from imgfeed.feeds.betfair.protocol.checks import (
    MAX_LEVEL,
    SP_SPECIAL_STRINGS,
    Bad,
    Check,
    FieldError,
    boolean,
    check_list,
    epoch_ms,
    fields,
    integer,
    iso_time,
    level_rows,
    list_of,
    number,
    object_of,
    price_rows,
    sp_number,
    string,
    string_list,
    within,
)

__all__ = ["FieldError", "check_market_changes", "check_order_changes", "SP_SPECIAL_STRINGS", "MAX_LEVEL"]


_SELECTION: Dict[str, Check] = {"id": integer}

_STRING_ID: Check = string

_RUNNER_DEFINITION = object_of(
    {
        "hc": number,
        "name": string,
        "status": string,
        "sortPriority": integer,
        "adjustmentFactor": number,
        "bsp": sp_number,
        "removalDate": iso_time,
    },
    _SELECTION,
)

_MARKET_DEFINITION = object_of(
    {
        **dict.fromkeys(
            ["venue", "raceType", "timezone", "marketType", "countryCode", "eventId", "eventTypeId",
             "bettingType", "status", "suspendReason"],
            string,
        ),
        **dict.fromkeys(["settledTime", "suspendTime", "openDate", "marketTime"], iso_time),
        **dict.fromkeys(
            ["eachWayDivisor", "marketBaseRate", "lineMaxUnit", "lineMinUnit", "lineInterval"], number
        ),
        **dict.fromkeys(["numberOfWinners", "betDelay", "numberOfActiveRunners", "version"], integer),
        **dict.fromkeys(
            ["inPlay", "bspMarket", "crossMatching", "runnersVoidable", "turnInPlayEnabled",
             "discountAllowed", "persistenceEnabled", "complete", "bspReconciled"],
            boolean,
        ),
        "regulators": string_list,
        "priceLadderDefinition": object_of({"type": string}, {}),
        "keyLineDefinition": object_of({"kl": list_of(object_of({"hc": number}, _SELECTION))}, {}),
        "runners": lambda runners: _runner_definitions(runners),
    },
    {},
)

_RUNNER_DEFINITIONS_SLOW = list_of(_RUNNER_DEFINITION)
_RD_STRINGS = frozenset({"name", "status"})
_RD_NUMBERS = frozenset({"hc", "adjustmentFactor"})


def _runner_definitions(runners: Any) -> None:
    """``marketDefinition.runners``: a definition is resent whole on every change, so its runners are
    checked often; a fast path first (as for runner changes below), the table when it fails, to
    name the field."""
    try:
        if type(runners) is not list:
            raise _Slow
        for rd in runners:
            if type(rd) is not dict or type(rd.get("id")) is not int:
                raise _Slow
            for key, value in rd.items():
                if value is None or key == "id":
                    continue
                if key in _RD_STRINGS:
                    if type(value) is not str:
                        raise _Slow
                elif key in _RD_NUMBERS:
                    if type(value) is bool or value - value:
                        raise _Slow
                elif key == "sortPriority":
                    if type(value) is not int:
                        raise _Slow
                elif key == "bsp":
                    sp_number(value)
                elif key == "removalDate":
                    iso_time(value)
        return
    except (_Slow, TypeError, Bad):
        pass
    _RUNNER_DEFINITIONS_SLOW(runners)
    raise AssertionError(f"fast and slow checks disagree on {runners!r:.200}")  # pragma: no cover


# The market stream's changes are the hot path (every line), so their checks are written out by
# hand. Each runner change first takes a fast path: arithmetic that raises TypeError for any
# non-number and yields non-zero (NaN) for NaN and the infinities; only when it fails does the slow
# path run, to name the field. Known weakness: the fast path takes JSON true/false in a ladder row
# or a scalar as 1/0 (Python's bool is an int), which the slow path would refuse; Betfair never
# sends them, and they cannot break the cache (they sort and compare as numbers).
_RC_NUMBER, _RC_SP, _RC_PRICES, _RC_LEVELS = 1, 2, 3, 4
_RC_KIND = {
    "hc": _RC_NUMBER,
    "ltp": _RC_NUMBER,
    "tv": _RC_NUMBER,
    "spn": _RC_SP,
    "spf": _RC_SP,
    **dict.fromkeys(["atb", "atl", "trd", "spb", "spl"], _RC_PRICES),
    **dict.fromkeys(["batb", "batl", "bdatb", "bdatl"], _RC_LEVELS),
}
_RC_SLOW: Dict[int, Check] = {
    _RC_NUMBER: number,
    _RC_SP: sp_number,
    _RC_PRICES: price_rows,
    _RC_LEVELS: level_rows,
}


class _Slow(Exception):
    """Internal: the fast path found something wrong; the slow path will say what."""


def _runner_change_fast(rc: Dict[str, Any]) -> None:
    for key, value in rc.items():
        kind = _RC_KIND.get(key)
        if kind is None or value is None:
            continue
        if kind == _RC_PRICES:
            if type(value) is not list:
                raise _Slow
            for price, size in value:
                if price - price + size - size:
                    raise _Slow
        elif kind == _RC_LEVELS:
            if type(value) is not list:
                raise _Slow
            for level, price, size in value:
                if type(level) is not int or not 0 <= level <= MAX_LEVEL or price - price + size - size:
                    raise _Slow
        elif kind == _RC_NUMBER:
            if value - value:
                raise _Slow
        elif type(value) is str:  # a starting price: a number or one of Betfair's special strings
            if value not in SP_SPECIAL_STRINGS:
                raise _Slow
        else:
            value - value  # noqa: B018  (raises TypeError for anything but a number; NaN is allowed)


def _runner_change(rc: Any) -> None:
    if type(rc) is not dict:
        raise Bad("an object", rc)
    if type(rc.get("id")) is not int:
        raise Bad("an integer", rc.get("id"), ".id")
    try:
        _runner_change_fast(rc)
        return
    except (_Slow, TypeError, ValueError):
        pass
    for key, value in rc.items():
        kind = _RC_KIND.get(key)
        if kind is not None and value is not None:
            try:
                _RC_SLOW[kind](value)
            except Bad as bad:
                raise within("." + key, bad) from None
    raise AssertionError(f"fast and slow checks disagree on {rc!r:.200}")  # pragma: no cover


def _market_change(mc: Any) -> None:
    if type(mc) is not dict:
        raise Bad("an object", mc)
    if type(mc.get("id")) is not str:
        raise Bad("a string", mc.get("id"), ".id")
    rc = mc.get("rc")
    if rc is not None:
        if type(rc) is not list:
            raise Bad("a list", rc, ".rc")
        for i, runner_change in enumerate(rc):
            try:
                _runner_change(runner_change)
            except Bad as bad:
                raise within(f".rc[{i}]", bad) from None
    if len(mc) > 2 or rc is None:  # anything beyond id and rc: check the rest by the table
        fields(mc, _MARKET_CHANGE_FIELDS)


_MARKET_CHANGE_FIELDS: Dict[str, Check] = {
    "img": boolean,
    "con": boolean,
    "tv": number,
    "marketDefinition": _MARKET_DEFINITION,
}

_ORDER = object_of(
    {
        **dict.fromkeys(["side", "pt", "ot", "status", "lsrc", "rc", "rac", "rfo", "rfs"], string),
        **dict.fromkeys(["p", "s", "bsp", "avp", "sm", "sr", "sl", "sc", "sv"], number),
        **dict.fromkeys(["pd", "md", "cd", "ld"], epoch_ms),
    },
    {"id": _STRING_ID},
)

_MATCHES = object_of({"mb": price_rows, "ml": price_rows}, {})


def _strategy_matches(value: Any) -> None:
    if type(value) is not dict:
        raise Bad("an object of strategy ref -> {mb, ml}", value)
    for ref, matches in value.items():
        try:
            _MATCHES(matches)
        except Bad as bad:
            raise within(f"[{ref!r}]", bad) from None


_ORDER_RUNNER_CHANGE = object_of(
    {
        "hc": number,
        "fullImage": boolean,
        "uo": list_of(_ORDER),
        "mb": price_rows,
        "ml": price_rows,
        "smc": _strategy_matches,
    },
    _SELECTION,
)

_ORDER_MARKET_CHANGE = object_of(
    {
        "accountId": integer,
        "closed": boolean,
        "fullImage": boolean,
        "orc": list_of(_ORDER_RUNNER_CHANGE),
    },
    {"id": _STRING_ID},
)


def check_market_changes(mc: List[Any]) -> None:
    """Check an ``mcm``'s ``mc`` list against the schema.

    Raises:
        FieldError: naming the first offending field by its path.
    """
    check_list("mc", mc, _market_change)


def check_order_changes(oc: List[Any]) -> None:
    """Check an ``ocm``'s ``oc`` list against the schema.

    Raises:
        FieldError: naming the first offending field by its path.
    """
    check_list("oc", oc, _ORDER_MARKET_CHANGE)
