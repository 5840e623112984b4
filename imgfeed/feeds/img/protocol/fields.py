"""Field checks for the codec's builders: read a modelled field, or raise :class:`FieldError`.

Contract: each check takes a decoded JSON object (or, for :func:`number`, one value of it) and
either returns the field as the record will hold it or raises :class:`FieldError` with a message
naming the field, what was expected and what arrived; :mod:`imgfeed.feeds.img.protocol.codec`
turns that into a :class:`~imgfeed.errors.ProtocolError` carrying the line. No check changes its
input. These are the codec's helpers, not public API: the package does not re-export them.

They run for every field of every line, so they stay small (``type(x) is str``, not
``isinstance``), and the codec imports them into its own namespace: one global lookup per call.

This module does no IO and knows no record.
"""

from __future__ import annotations

import operator
import sys
from typing import Any, Dict, List, Optional, Tuple

__all__ = [
    "FieldError",
    "req_str",
    "opt_str",
    "opt_id",
    "str_list",
    "number",
    "msg_dict",
    "check_selections",
    "explain_selections",
]

#: The largest finite float. Comparing with it (rather than calling math.isfinite) is false for
#: NaN and infinities, and for an integer too large to become a float, which math.isfinite would
#: raise OverflowError for.
_MAX_FLOAT = sys.float_info.max


class FieldError(Exception):
    """Internal: a modelled field is missing or of the wrong type."""


def req_str(obj: Dict[str, Any], key: str) -> str:
    """A string field that must be there."""
    value = obj.get(key)
    if type(value) is not str:
        if value is None:
            raise FieldError(f"missing {key}")
        raise FieldError(f"{key} must be a string, got {type(value).__name__}")
    return value


def opt_str(obj: Dict[str, Any], key: str) -> Optional[str]:
    """A string field, or ``None`` when it is missing or null."""
    value = obj.get(key)
    if value is None or type(value) is str:
        return value
    raise FieldError(f"{key} must be a string or null, got {type(value).__name__}")


def opt_id(obj: Dict[str, Any], key: str) -> Optional[str]:
    """An id that the server may send as a string or a number; kept as a string."""
    value = obj.get(key)
    if value is None or type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    raise FieldError(f"{key} must be a string or integer, got {type(value).__name__}")


def str_list(obj: Dict[str, Any], key: str) -> Tuple[str, ...]:
    """A list of strings as a tuple; ``()`` when it is missing or null."""
    value = obj.get(key)
    if value is None:
        return ()
    if type(value) is not list or not all(type(v) is str for v in value):
        raise FieldError(f"{key} must be a list of strings")
    return tuple(value)


def number(value: Any, what: str) -> float:
    """A finite int or float, returned as it is; ``what`` names it in the error."""
    if (type(value) is float or type(value) is int) and -_MAX_FLOAT <= value <= _MAX_FLOAT:
        return value
    raise FieldError(f"{what} must be a finite number, got {value!r}")


def msg_dict(obj: Dict[str, Any]) -> Dict[str, Any]:
    """The message body ``obj["msg"]``, which must be an object."""
    msg = obj.get("msg")
    if type(msg) is not dict:
        raise FieldError(f"msg must be an object, got {type(msg).__name__}")
    return msg


#: The fields of a selection the fast check reads, in one C-level call per selection.
_SELECTION_FIELDS = operator.itemgetter("id", "name", "price", "status", "settlement")


def check_selections(selections: Any) -> None:
    """Check every selection now, so that the lazily built records cannot fail later.

    This is the costliest step of decoding a ``market_update`` after ``ujson.loads`` itself (30
    selections are 150 field checks). So it runs in two passes: a tight loop that only answers
    "is every selection a plain priced one?" (all five fields present, ``id``/``name``/``status``
    strings, ``price`` a finite float >= 1.0, ``settlement`` null), and, only when that answer is
    no, :func:`explain_selections`, which accepts everything valid and names what is not. Both
    apply the same rules; the first is about 25 % cheaper because it reads the five fields with one
    ``itemgetter`` call and keeps no index (measured in benchmarks/decode.py).
    """
    if selections is None:
        return
    if type(selections) is not list:
        raise FieldError("selections must be a list")
    get = _SELECTION_FIELDS
    try:
        for s in selections:
            sid, name, price, status, settlement = get(s)  # KeyError/TypeError: not plain
            if (
                type(sid) is not str
                or type(price) is not float
                or not 1.0 <= price <= _MAX_FLOAT  # also false for NaN
                or settlement is not None
                or (type(name) is not str and name is not None)
                or (type(status) is not str and status is not None)
            ):
                break
        else:
            return
    except (KeyError, TypeError):
        pass
    explain_selections(selections)


def explain_selections(selections: List[Any]) -> None:
    """The full check of :func:`check_selections`: raise a :class:`FieldError` naming the first
    bad field, or return when every selection is valid (settled, unpriced, integer prices ...)."""
    for i, s in enumerate(selections):
        if type(s) is not dict:
            raise FieldError(f"selections[{i}] must be an object")
        if type(s.get("id")) is not str:
            raise FieldError(f"selections[{i}].id must be a string, got {s.get('id')!r}")
        price = s.get("price")
        if price is not None:
            if not ((type(price) is float or type(price) is int) and 1.0 <= price <= _MAX_FLOAT):
                raise FieldError(f"selections[{i}].price must be decimal odds >= 1.0 or null, got {price!r}")
        name = s.get("name")
        if name is not None and type(name) is not str:
            raise FieldError(f"selections[{i}].name must be a string, got {type(name).__name__}")
        status = s.get("status")
        if status is not None and type(status) is not str:
            raise FieldError(f"selections[{i}].status must be a string, got {type(status).__name__}")
        settlement = s.get("settlement")
        if settlement is not None:
            if type(settlement) is not dict:
                raise FieldError(f"selections[{i}].settlement must be an object or null")
            number(settlement.get("stake_returned"), f"selections[{i}].settlement.stake_returned")
            number(settlement.get("payout_returned"), f"selections[{i}].settlement.payout_returned")
