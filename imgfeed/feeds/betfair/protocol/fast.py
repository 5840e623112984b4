"""The optional fast path of the ESA codec: each line's JSON parsed by msgspec, in C.

Install with ``pip install imgfeed[speed]``. msgspec's untyped decoder parses an ESA line into the
same dicts, lists, strings and numbers as ujson, faster (a full-ladder line 15 -> 12 us, a line of
200-market definitions 68 -> 57 us: benchmarks/README.md). The checks of the change lists and
everything after them are the default path's (:func:`~.codec.decode_object`).

Why not a typed msgspec schema, which would check the fields during the parse, as the IMG fast path
does: the cache folds in the decoded dicts and lists themselves, and a schema decodes into other
types -- a ``TypedDict`` drops the keys it does not declare (``raw`` must keep every field the
server sends) and makes an integer price a float (books keep numbers as the wire had them).

Contract: :func:`fast_decode_line` returns exactly what :func:`~.codec.decode_line` returns for the
same line -- the same record, or the same :class:`~imgfeed.errors.ProtocolError` -- and
``tests/betfair/test_fast.py`` checks it over the benchmark's streams, Betfair's historical file
and random and hostile lines. How: msgspec is the stricter parser (it refuses ``NaN`` and
``Infinity``, numbers beyond a float's range, lone surrogates, leading zeros, raw control
characters, all of which ujson takes), and where both accept a line they build equal objects. Any
line msgspec refuses goes to the default path, which decides. So the fast path can only ever be
right or step aside.

Known weaknesses: a line msgspec refuses is parsed twice; Betfair sends none (its JSON is strict).
On Python 3.12 and later, msgspec's recursion guard follows the C stack rather than Python's
recursion limit, so it builds a tree nested deeper than ujson's 1,024 levels, which the default
path refuses as "not JSON": such a line (never a Betfair one: ESA nests six levels) becomes a
record here and an error there. Telling them apart would cost a scan of every line, and a
full-ladder line holds thousands of brackets, so a count cannot bound the depth cheaply.
"""

from __future__ import annotations

from typing import Any, Callable

from imgfeed.feeds.betfair.protocol.codec import Decoded, decode_line, decode_object

__all__ = ["AVAILABLE", "fast_decode_line", "line_decoder"]

try:
    import msgspec
except ImportError:  # the extra is not installed: the default path is used
    AVAILABLE = False
else:
    AVAILABLE = True
    _parse: Callable[[bytes], Any] = msgspec.json.Decoder().decode
    #: msgspec's errors, and what older releases let escape (0.20 raises ``UnicodeDecodeError``,
    #: not a ``ValueError`` subclass of its own, for invalid UTF-8 in a string).
    _REFUSED = (msgspec.MsgspecError, ValueError, RecursionError)


def fast_decode_line(line: bytes, received_at: float) -> Decoded:
    """:func:`~.codec.decode_line`, with the JSON parsed by msgspec (module docstring)."""
    try:
        obj = _parse(line)
    except _REFUSED:
        return decode_line(line, received_at)
    return decode_object(obj, line, received_at)


def line_decoder(parser: str) -> Callable[[bytes, float], Decoded]:
    """The line decoder for ``BetfairConfig.parser``: ``"auto"`` (msgspec when installed), ``"ujson"``
    or ``"msgspec"``."""
    if parser == "msgspec" or (parser == "auto" and AVAILABLE):
        return fast_decode_line
    return decode_line
