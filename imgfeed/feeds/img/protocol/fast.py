"""The optional fast path of the codec: ``market_update`` lines checked by msgspec, in C.

Install with ``pip install imgfeed[speed]``. On a busy feed nearly every line is a
``market_update``; the default path parses it with ujson and then checks some 150 fields in Python
(:func:`~imgfeed.feeds.img.protocol.fields.check_selections`). Here msgspec decodes the line
against a typed schema of exactly what the default path accepts, in one C pass, building no tree
at all -- the record keeps the line and decodes ``raw`` with ujson when first read, as on the
default path.

Contract: :func:`fast_decode_line` returns exactly what
:func:`~imgfeed.feeds.img.protocol.codec.decode_json_line` returns for the same line -- the same record,
or the same :class:`~imgfeed.errors.ProtocolError` -- and ``tests/unit/test_fast.py`` checks it
over random and hostile lines. How: the schema accepts a subset of what the default path
accepts (msgspec is the stricter JSON parser: it refuses ``NaN``, lone surrogates, leading zeros
and raw control characters that ujson takes), and any line it does not accept -- every other kind
of message, every bad line -- goes to the default path, which decides. So the fast path can only
ever be right or step aside.

Fields beyond the schema's (the documented protocol has none) are refused too, so such a line also
goes to the default path, which keeps them in ``raw``. Why: msgspec skips an unknown field's value
without ujson's limit of 1,024 levels of nesting (on Python 3.12 and later, whose C recursion guard
lets it go deeper), so it would accept a hostile line whose ``raw`` could then never be parsed.
The schema's own fields nest five levels at most.

Known weaknesses: a line that is not a ``market_update`` costs one failed msgspec decode before
the default path; such lines are a small share of a busy feed (the snapshot, heartbeats every
3 s). A feed that adds a field to ``market_update`` loses the speed-up (not the records) until the
schema learns the field.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any, List, Optional

from imgfeed.feeds.img.protocol._msgspec import AVAILABLE, REFUSED
from imgfeed.feeds.img.protocol.codec import Decoded, decode_json_line
from imgfeed.feeds.img.protocol.enums import MarketStatus
from imgfeed.feeds.img.protocol.prices import new_market_update
from imgfeed.feeds.img.protocol.timestamps import parse_timestamp

__all__ = ["AVAILABLE", "fast_decode_line"]

if AVAILABLE:
    from typing import Annotated, Literal

    import msgspec
    from msgspec import Meta

    #: The largest finite float: the bounds make an integer too large for a float (or one that
    #: overflows to infinity) fail, as the default path's finite-number check does.
    _MAX = sys.float_info.max
    _Finite = Annotated[float, Meta(ge=-_MAX, le=_MAX)]
    _Odds = Annotated[float, Meta(ge=1.0, le=_MAX)]

    class _Settlement(msgspec.Struct, forbid_unknown_fields=True):
        stake_returned: _Finite
        payout_returned: _Finite

    class _Selection(msgspec.Struct, forbid_unknown_fields=True):
        id: str
        name: Optional[str] = None
        price: Optional[_Odds] = None
        status: Optional[str] = None
        settlement: Optional[_Settlement] = None

    class _Msg(msgspec.Struct, forbid_unknown_fields=True):
        id: str
        status: str
        selections: Optional[List[_Selection]] = None

    class _MarketUpdate(msgspec.Struct, forbid_unknown_fields=True):
        mode: Literal["push"]
        type: Literal["market_update"]
        msg: _Msg
        publish_time: Optional[str] = None

    _decode = msgspec.json.Decoder(_MarketUpdate).decode

_STATUSES: Any = MarketStatus._value2member_map_


def fast_decode_line(line: bytes, received_at: Optional[float] = None) -> Decoded:
    """:func:`~imgfeed.feeds.img.protocol.codec.decode_line`, with ``market_update`` checked in C.

    Falls back to the default path for anything the schema does not accept (module docstring).
    """
    try:
        update = _decode(line)
    except REFUSED:
        return decode_json_line(line, received_at)
    pt: Optional[datetime] = None
    if update.publish_time is not None:
        try:
            pt = parse_timestamp(update.publish_time)
        except ValueError:
            return decode_json_line(line, received_at)  # says what is wrong with it, as it always does
    msg = update.msg
    return new_market_update(pt, received_at, line, msg.id, _STATUSES.get(msg.status, msg.status))
