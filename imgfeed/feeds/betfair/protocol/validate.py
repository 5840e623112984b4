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

The checks are table-driven and walk only the keys present, which keeps the cost per line to a
fraction of the JSON parse.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List

from imgfeed.feeds.betfair.protocol.times import MAX_EPOCH_MS, MIN_EPOCH_MS, parse_iso_time

__all__ = ["FieldError", "check_market_changes", "check_order_changes", "SP_SPECIAL_STRINGS", "MAX_LEVEL"]

#: The highest ladder level accepted. Betfair's ``ladderLevels`` is 1..10, so levels are 0..9; the
#: margin allows for growth, and the bound keeps a hostile level from sizing a ladder's list.
MAX_LEVEL = 99

#: How Betfair writes a starting price it cannot state as a finite number.
SP_SPECIAL_STRINGS = frozenset({"NaN", "Infinity", "-Infinity"})


class FieldError(Exception):
    """A field of a change message has the wrong type or shape.

    Attributes:
        path: where, e.g. ``mc[0].rc[2].atb[1]``.
        expected: what the schema wants there.
        value: what arrived.
    """

    def __init__(self, path: str, expected: str, value: Any) -> None:
        self.path = path
        self.expected = expected
        self.value = value
        super().__init__(self.describe())

    def describe(self) -> str:
        shown = repr(self.value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        return f"{self.path}: expected {self.expected}, got {type(self.value).__name__} {shown}"


class _Bad(Exception):
    """Internal: the value being checked is wrong; the callers add the path on the way out."""

    def __init__(self, expected: str, value: Any, path: str = "") -> None:
        self.expected = expected
        self.value = value
        self.path = path


Check = Callable[[Any], None]


def _within(prefix: str, bad: _Bad) -> _Bad:
    bad.path = prefix + bad.path
    return bad


# --- scalars --------------------------------------------------------------------------------------


def _number(value: Any) -> None:
    # ``value - value == 0`` is false for NaN and the infinities: a finite number in two operations.
    if (type(value) is not float and type(value) is not int) or value - value != 0:
        raise _Bad("a finite number", value)


def _sp_number(value: Any) -> None:
    if type(value) is float or type(value) is int:
        return
    if type(value) is not str or value not in SP_SPECIAL_STRINGS:
        raise _Bad("a number, 'NaN' or 'Infinity'", value)


def _integer(value: Any) -> None:
    if type(value) is not int:
        raise _Bad("an integer", value)


def _string(value: Any) -> None:
    if type(value) is not str:
        raise _Bad("a string", value)


def _boolean(value: Any) -> None:
    if type(value) is not bool:
        raise _Bad("true or false", value)


def _epoch_ms(value: Any) -> None:
    if type(value) is not int or not MIN_EPOCH_MS <= value <= MAX_EPOCH_MS:
        raise _Bad("epoch milliseconds", value)


def _iso_time(value: Any) -> None:
    if type(value) is not str:
        raise _Bad("an ISO 8601 time string", value)
    try:
        parse_iso_time(value)
    except ValueError:
        raise _Bad("an ISO 8601 time string", value) from None


def _string_list(value: Any) -> None:
    if type(value) is not list:
        raise _Bad("a list of strings", value)
    for i, item in enumerate(value):
        if type(item) is not str:
            raise _Bad("a string", item, f"[{i}]")


# --- ladders --------------------------------------------------------------------------------------


def _price_rows(rows: Any) -> None:
    if type(rows) is not list:
        raise _Bad("a list of [price, size]", rows)
    for i, row in enumerate(rows):
        if type(row) is not list or len(row) != 2:
            raise _Bad("[price, size]", row, f"[{i}]")
        price, size = row
        if (type(price) is not float and type(price) is not int) or price - price != 0:
            raise _Bad("a finite price", price, f"[{i}][0]")
        if (type(size) is not float and type(size) is not int) or size - size != 0:
            raise _Bad("a finite size", size, f"[{i}][1]")


def _level_rows(rows: Any) -> None:
    if type(rows) is not list:
        raise _Bad("a list of [level, price, size]", rows)
    for i, row in enumerate(rows):
        if type(row) is not list or len(row) != 3:
            raise _Bad("[level, price, size]", row, f"[{i}]")
        level, price, size = row
        if type(level) is not int or not 0 <= level <= MAX_LEVEL:
            raise _Bad(f"a level (an integer 0..{MAX_LEVEL})", level, f"[{i}][0]")
        if (type(price) is not float and type(price) is not int) or price - price != 0:
            raise _Bad("a finite price", price, f"[{i}][1]")
        if (type(size) is not float and type(size) is not int) or size - size != 0:
            raise _Bad("a finite size", size, f"[{i}][2]")


# --- objects --------------------------------------------------------------------------------------


def _fields(obj: Dict[str, Any], table: Dict[str, Check]) -> None:
    for key, value in obj.items():
        if value is None:
            continue
        check = table.get(key)
        if check is not None:
            try:
                check(value)
            except _Bad as bad:
                raise _within("." + key, bad) from None


def _object(table: Dict[str, Check], required: Dict[str, Check]) -> Check:
    """A check for a JSON object: ``required`` keys must be present and non-null."""

    def check(obj: Any) -> None:
        if type(obj) is not dict:
            raise _Bad("an object", obj)
        for key, key_check in required.items():
            value = obj.get(key)
            if value is None:
                raise _Bad(f"{key!r} to be present", obj)
            try:
                key_check(value)
            except _Bad as bad:
                raise _within("." + key, bad) from None
        _fields(obj, table)

    return check


def _list_of(item_check: Check) -> Check:
    def check(items: Any) -> None:
        if type(items) is not list:
            raise _Bad("a list", items)
        for i, item in enumerate(items):
            try:
                item_check(item)
            except _Bad as bad:
                raise _within(f"[{i}]", bad) from None

    return check


_SELECTION: Dict[str, Check] = {"id": _integer}

_STRING_ID: Check = _string

_RUNNER_DEFINITION = _object(
    {
        "hc": _number,
        "name": _string,
        "status": _string,
        "sortPriority": _integer,
        "adjustmentFactor": _number,
        "bsp": _sp_number,
        "removalDate": _iso_time,
    },
    _SELECTION,
)

_MARKET_DEFINITION = _object(
    {
        **dict.fromkeys(
            ["venue", "raceType", "timezone", "marketType", "countryCode", "eventId", "eventTypeId",
             "bettingType", "status", "suspendReason"],
            _string,
        ),
        **dict.fromkeys(["settledTime", "suspendTime", "openDate", "marketTime"], _iso_time),
        **dict.fromkeys(
            ["eachWayDivisor", "marketBaseRate", "lineMaxUnit", "lineMinUnit", "lineInterval"], _number
        ),
        **dict.fromkeys(["numberOfWinners", "betDelay", "numberOfActiveRunners", "version"], _integer),
        **dict.fromkeys(
            ["inPlay", "bspMarket", "crossMatching", "runnersVoidable", "turnInPlayEnabled",
             "discountAllowed", "persistenceEnabled", "complete", "bspReconciled"],
            _boolean,
        ),
        "regulators": _string_list,
        "priceLadderDefinition": _object({"type": _string}, {}),
        "keyLineDefinition": _object({"kl": _list_of(_object({"hc": _number}, _SELECTION))}, {}),
        "runners": _list_of(_RUNNER_DEFINITION),
    },
    {},
)

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
    _RC_NUMBER: _number,
    _RC_SP: _sp_number,
    _RC_PRICES: _price_rows,
    _RC_LEVELS: _level_rows,
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
        raise _Bad("an object", rc)
    if type(rc.get("id")) is not int:
        raise _Bad("an integer", rc.get("id"), ".id")
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
            except _Bad as bad:
                raise _within("." + key, bad) from None
    raise AssertionError(f"fast and slow checks disagree on {rc!r:.200}")  # pragma: no cover


def _market_change(mc: Any) -> None:
    if type(mc) is not dict:
        raise _Bad("an object", mc)
    if type(mc.get("id")) is not str:
        raise _Bad("a string", mc.get("id"), ".id")
    rc = mc.get("rc")
    if rc is not None:
        if type(rc) is not list:
            raise _Bad("a list", rc, ".rc")
        for i, runner_change in enumerate(rc):
            try:
                _runner_change(runner_change)
            except _Bad as bad:
                raise _within(f".rc[{i}]", bad) from None
    if len(mc) > 2 or rc is None:  # anything beyond id and rc: check the rest by the table
        _fields(mc, _MARKET_CHANGE_FIELDS)


_MARKET_CHANGE_FIELDS: Dict[str, Check] = {
    "img": _boolean,
    "con": _boolean,
    "tv": _number,
    "marketDefinition": _MARKET_DEFINITION,
}

_ORDER = _object(
    {
        **dict.fromkeys(["side", "pt", "ot", "status", "lsrc", "rc", "rac", "rfo", "rfs"], _string),
        **dict.fromkeys(["p", "s", "bsp", "avp", "sm", "sr", "sl", "sc", "sv"], _number),
        **dict.fromkeys(["pd", "md", "cd", "ld"], _epoch_ms),
    },
    {"id": _STRING_ID},
)

_MATCHES = _object({"mb": _price_rows, "ml": _price_rows}, {})


def _strategy_matches(value: Any) -> None:
    if type(value) is not dict:
        raise _Bad("an object of strategy ref -> {mb, ml}", value)
    for ref, matches in value.items():
        try:
            _MATCHES(matches)
        except _Bad as bad:
            raise _within(f"[{ref!r}]", bad) from None


_ORDER_RUNNER_CHANGE = _object(
    {
        "hc": _number,
        "fullImage": _boolean,
        "uo": _list_of(_ORDER),
        "mb": _price_rows,
        "ml": _price_rows,
        "smc": _strategy_matches,
    },
    _SELECTION,
)

_ORDER_MARKET_CHANGE = _object(
    {
        "accountId": _integer,
        "closed": _boolean,
        "fullImage": _boolean,
        "orc": _list_of(_ORDER_RUNNER_CHANGE),
    },
    {"id": _STRING_ID},
)


def _check_list(name: str, items: Any, item_check: Check) -> None:
    if type(items) is not list:
        raise FieldError(name, "a list", items)
    for i, item in enumerate(items):
        try:
            item_check(item)
        except _Bad as bad:
            raise FieldError(f"{name}[{i}]{bad.path}", bad.expected, bad.value) from None


def check_market_changes(mc: List[Any]) -> None:
    """Check an ``mcm``'s ``mc`` list against the schema.

    Raises:
        FieldError: naming the first offending field by its path.
    """
    _check_list("mc", mc, _market_change)


def check_order_changes(oc: List[Any]) -> None:
    """Check an ``ocm``'s ``oc`` list against the schema.

    Raises:
        FieldError: naming the first offending field by its path.
    """
    _check_list("oc", oc, _ORDER_MARKET_CHANGE)
