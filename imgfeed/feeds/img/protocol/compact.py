"""The default path's shortcut: a ``market_update`` in the documented form, checked by one regex.

Nearly every line of a busy feed is a ``market_update``, and the server writes it in one form: the
compact JSON of docs/protocol.md section 6, keys in the documented order. Parsing such a line with
ujson and checking its 150 fields in Python (:func:`~imgfeed.feeds.img.protocol.codec.decode_json_line`)
costs half as much again as the parse alone; but the record needs only three fields of it -- the
market's id, its status and the publish time -- and keeps the line, from which ``raw`` and the
selections are built on first access (:class:`~imgfeed.feeds.img.protocol.prices.MarketUpdate`).
So here one regular expression, run by the standard library's C matcher, checks the whole line
against that form and captures the three fields; no tree is built. It is the technique of h11's
header parsing, applied to one shape of JSON. The match alone takes about half of ``ujson.loads``'
time, the whole decode of the line about two thirds (benchmarks/decode.py).

Contract: :func:`match_market_update` returns either ``None`` (the line is not in the form: the
caller decodes it the general way, which decides) or exactly the record
:func:`~imgfeed.feeds.img.protocol.codec.decode_json_line` returns for the same line;
``tests/unit/test_fast.py`` holds the two equal over random and hostile lines. How: the form
accepts only a subset of what ujson and the field checks accept --

- the keys of docs/protocol.md, each once and in its order, and every selection with all five;
- no whitespace, or Python's ``json.dumps`` default of one space after ``:`` and ``,``;
- strings without raw control characters, with only the escapes JSON defines and no ``\\u`` escape
  of a surrogate outside a pair; the three captured strings without any escape, so that their bytes are their
  value; the whole line valid UTF-8 (checked by ``bytes.decode``, the stricter decoder);
- prices as decimal fractions of at most 16 integer digits, the first not 0: finite and >= 1.0,
  as the check requires, and a float to ujson; settlement factors of the same size, signed, with
  or without a fraction; ``null`` wherever the check allows it;

-- and a ``publish_time`` that does not parse makes the line step aside too. So this path can only
be right or step aside, as the optional msgspec path (:mod:`~imgfeed.feeds.img.protocol.fast`) does.

Known weaknesses: a server that writes the keys in another order, or other whitespace, loses the
shortcut (not the records) for every line; a line that steps aside late (one unusual selection at
its end) costs the match on top of the general decode. Every quantifier is possessive, so the
matcher never backtracks and its time is linear in the line. (Python 3.9 and 3.10 have no
possessive quantifiers; there they are dropped, which changes no match: every repeated item ends
at a character it cannot contain, so backtracking into it fails at once.)
"""

from __future__ import annotations

import re
import sys
from typing import Any, Optional

from imgfeed.feeds.img.protocol.enums import MarketStatus
from imgfeed.feeds.img.protocol.prices import MarketUpdate, new_market_update
from imgfeed.feeds.img.protocol.timestamps import parse_timestamp

__all__ = ["match_market_update"]

#: A JSON string: plain characters in runs and the escapes JSON defines, but no raw control
#: character (which ujson would take) and no escaped surrogate outside a pair (which the parsers
#: treat differently).
_ESCAPE = rb'\\(?:["\\/bfnrt]|u(?![dD][89a-fA-F])[0-9a-fA-F]{4}|u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2})'
_STRING = rb'"[^"\\\x00-\x1f]*+(?:' + _ESCAPE + rb'[^"\\\x00-\x1f]*+)*+"'
#: The same for a line without a backslash, which is nearly every line: a fifth faster to match.
_PLAIN_STRING = rb'"[^"\\\x00-\x1f]*+"'
#: A string captured as the record's field: no escape at all, so its bytes decode to its value.
_CAPTURED = rb'"([^"\\\x00-\x1f]*+)"'
#: Decimal odds as the check wants them: a float (a fraction), finite, >= 1.0.
_ODDS = rb"[1-9][0-9]{0,15}+\.[0-9]{1,20}+"
#: A settlement factor: a finite number, integer or fraction.
_FACTOR = rb"-?+(?:0|[1-9][0-9]{0,15}+)(?:\.[0-9]{1,20}+)?+"


def _form(colon: bytes, comma: bytes, string: bytes) -> bytes:
    """The pattern of a ``market_update`` with these separators (``b":"``/``b","`` or spaced) and
    this pattern of a string."""

    def key(name: bytes) -> bytes:
        return b'"' + name + b'"' + colon

    selection = (
        rb"\{" + key(b"id") + string
        + comma + key(b"name") + rb"(?:" + string + rb"|null)"
        + comma + key(b"price") + rb"(?:" + _ODDS + rb"|null)"
        + comma + key(b"status") + rb"(?:" + string + rb"|null)"
        + comma + key(b"settlement") + rb"(?:null|\{" + key(b"stake_returned") + _FACTOR
        + comma + key(b"payout_returned") + _FACTOR + rb"\})\}"
    )  # fmt: skip
    return (
        rb"\{" + key(b"mode") + rb'"push"' + comma + key(b"type") + rb'"market_update"' + comma
        + rb"(?:" + key(b"publish_time") + rb"(?:" + _CAPTURED + rb"|null)" + comma + rb")?+"
        + key(b"msg") + rb"\{" + key(b"id") + _CAPTURED + comma + key(b"status") + _CAPTURED
        + rb"(?:" + comma + key(b"selections")
        + rb"(?:null|\[(?:" + selection + rb"(?:" + comma + selection + rb")*+)?+\]))?+\}\}"
    )  # fmt: skip


_COMPACT_START = b'{"mode":"push","type":"market_update",'
_SPACED_START = b'{"mode": "push", "type": "market_update", '


def _compile(pattern: bytes) -> "re.Pattern[bytes]":
    """``re.compile``, with the possessive quantifiers dropped where the ``re`` module predates them."""
    if sys.version_info < (3, 11):  # pragma: no cover - CI runs 3.11
        pattern = re.sub(rb"(?<=[*+?}])\+", b"", pattern)
    return re.compile(pattern)


#: fullmatch of each form, by (spaced, has a backslash).
_MATCHERS = {
    (spaced, escaped): _compile(_form(*separators, _STRING if escaped else _PLAIN_STRING)).fullmatch
    for spaced, separators in ((False, (b":", b",")), (True, (b": ", b", ")))
    for escaped in (False, True)
}
_STATUSES: Any = MarketStatus._value2member_map_


def match_market_update(line: bytes, received_at: Optional[float] = None) -> Optional[MarketUpdate]:
    """The record of a ``market_update`` line in the documented form, or ``None`` to step aside.

    See the module docstring for the form and why the result equals the general decode's.
    """
    if line.startswith(_COMPACT_START):
        spaced = False
    elif line.startswith(_SPACED_START):
        spaced = True
    else:
        return None
    match = _MATCHERS[spaced, b"\\" in line](line)
    if match is None:
        return None
    if not line.isascii():
        try:
            line.decode()
        except UnicodeDecodeError:
            return None
    time, market_id, status = match.groups()
    pt = None
    if time is not None:
        try:
            pt = parse_timestamp(time.decode())
        except ValueError:
            return None  # the general decode says what is wrong with it, as it always does
    status = status.decode()
    return new_market_update(pt, received_at, line, market_id.decode(), _STATUSES.get(status, status))
