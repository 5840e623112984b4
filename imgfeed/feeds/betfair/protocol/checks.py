"""Building blocks for checking decoded JSON against a schema, with errors that name the field.

A check is a function that takes a value and returns nothing, or raises :class:`Bad` saying what
was expected. Object and list checks add the key or index to :attr:`Bad.path` as the error travels
out, and :func:`check_list` turns it into a :class:`FieldError` naming the whole path
(``mc[0].rc[2].atb[1]``). The ESA rules built from these are in :mod:`.validate`.

Numbers are JSON numbers, never booleans, and finite where a price or size is meant; times are
epoch milliseconds within datetime's range or ISO 8601 strings (:mod:`.times`), so converting a
checked value later cannot fail.
"""

from __future__ import annotations

from typing import Any, Callable, Dict

from imgfeed.feeds.betfair.protocol.times import (
    MAX_EPOCH_MS,
    MIN_EPOCH_MS,
    parse_iso_time,
)

__all__ = [
    "MAX_LEVEL", "SP_SPECIAL_STRINGS", "FieldError", "Bad", "Check", "within", "number", "sp_number",
    "integer", "string", "boolean", "epoch_ms", "iso_time", "string_list", "price_rows", "level_rows",
    "fields", "object_of", "list_of", "check_list",
]

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


class Bad(Exception):
    """The value being checked is wrong; the callers add the path on the way out (:func:`within`)."""

    def __init__(self, expected: str, value: Any, path: str = "") -> None:
        self.expected = expected
        self.value = value
        self.path = path


Check = Callable[[Any], None]


def within(prefix: str, bad: Bad) -> Bad:
    bad.path = prefix + bad.path
    return bad


# --- scalars --------------------------------------------------------------------------------------


def number(value: Any) -> None:
    # ``value - value == 0`` is false for NaN and the infinities: a finite number in two operations.
    if (type(value) is not float and type(value) is not int) or value - value != 0:
        raise Bad("a finite number", value)


def sp_number(value: Any) -> None:
    if type(value) is float or type(value) is int:
        return
    if type(value) is not str or value not in SP_SPECIAL_STRINGS:
        raise Bad("a number, 'NaN' or 'Infinity'", value)


def integer(value: Any) -> None:
    if type(value) is not int:
        raise Bad("an integer", value)


def string(value: Any) -> None:
    if type(value) is not str:
        raise Bad("a string", value)


def boolean(value: Any) -> None:
    if type(value) is not bool:
        raise Bad("true or false", value)


def epoch_ms(value: Any) -> None:
    if type(value) is not int or not MIN_EPOCH_MS <= value <= MAX_EPOCH_MS:
        raise Bad("epoch milliseconds", value)


def iso_time(value: Any) -> None:
    if type(value) is not str:
        raise Bad("an ISO 8601 time string", value)
    try:
        parse_iso_time(value)
    except ValueError:
        raise Bad("an ISO 8601 time string", value) from None


def string_list(value: Any) -> None:
    if type(value) is not list:
        raise Bad("a list of strings", value)
    for i, item in enumerate(value):
        if type(item) is not str:
            raise Bad("a string", item, f"[{i}]")


# --- ladders --------------------------------------------------------------------------------------


def price_rows(rows: Any) -> None:
    if type(rows) is not list:
        raise Bad("a list of [price, size]", rows)
    for i, row in enumerate(rows):
        if type(row) is not list or len(row) != 2:
            raise Bad("[price, size]", row, f"[{i}]")
        price, size = row
        if (type(price) is not float and type(price) is not int) or price - price != 0:
            raise Bad("a finite price", price, f"[{i}][0]")
        if (type(size) is not float and type(size) is not int) or size - size != 0:
            raise Bad("a finite size", size, f"[{i}][1]")


def level_rows(rows: Any) -> None:
    if type(rows) is not list:
        raise Bad("a list of [level, price, size]", rows)
    for i, row in enumerate(rows):
        if type(row) is not list or len(row) != 3:
            raise Bad("[level, price, size]", row, f"[{i}]")
        level, price, size = row
        if type(level) is not int or not 0 <= level <= MAX_LEVEL:
            raise Bad(f"a level (an integer 0..{MAX_LEVEL})", level, f"[{i}][0]")
        if (type(price) is not float and type(price) is not int) or price - price != 0:
            raise Bad("a finite price", price, f"[{i}][1]")
        if (type(size) is not float and type(size) is not int) or size - size != 0:
            raise Bad("a finite size", size, f"[{i}][2]")


# --- objects --------------------------------------------------------------------------------------


def fields(obj: Dict[str, Any], table: Dict[str, Check]) -> None:
    for key, value in obj.items():
        if value is None:
            continue
        check = table.get(key)
        if check is not None:
            try:
                check(value)
            except Bad as bad:
                raise within("." + key, bad) from None


def object_of(table: Dict[str, Check], required: Dict[str, Check]) -> Check:
    """A check for a JSON object: ``required`` keys must be present and non-null."""

    def check(obj: Any) -> None:
        if type(obj) is not dict:
            raise Bad("an object", obj)
        for key, key_check in required.items():
            value = obj.get(key)
            if value is None:
                raise Bad(f"{key!r} to be present", obj)
            try:
                key_check(value)
            except Bad as bad:
                raise within("." + key, bad) from None
        fields(obj, table)

    return check


def list_of(item_check: Check) -> Check:
    def check(items: Any) -> None:
        if type(items) is not list:
            raise Bad("a list", items)
        for i, item in enumerate(items):
            try:
                item_check(item)
            except Bad as bad:
                raise within(f"[{i}]", bad) from None

    return check


def check_list(name: str, items: Any, item_check: Check) -> None:
    if type(items) is not list:
        raise FieldError(name, "a list", items)
    for i, item in enumerate(items):
        try:
            item_check(item)
        except Bad as bad:
            raise FieldError(f"{name}[{i}]{bad.path}", bad.expected, bad.value) from None
