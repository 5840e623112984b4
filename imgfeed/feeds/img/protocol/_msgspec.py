"""msgspec, when ``imgfeed[speed]`` installs it: whether it is there, what it raises, its parser.

The IMG fast path (:mod:`~imgfeed.feeds.img.protocol.fast`) and the record's lazy parse
(``prices.parse_raw``) both try msgspec first and give a line it refuses to ujson, which decides.
They share this module so that what counts as "refused" is said once: msgspec's own errors, and
what older releases let escape (0.20, the newest on Python 3.9, raises ``UnicodeDecodeError`` --
not a ``ValueError`` subclass of its own -- for invalid UTF-8 in a string). The Betfair protocol
package says the same for itself (``imgfeed/feeds/betfair/protocol/fast.py``): each feed's
protocol imports nothing from another's (tests/unit/test_codec.py).
"""

from __future__ import annotations

from typing import Any, Callable, Tuple, Type

__all__ = ["AVAILABLE", "REFUSED", "parse_untyped"]


def _not_installed(line: bytes) -> Any:
    raise ImportError("msgspec is not installed (pip install 'imgfeed[speed]')")


try:
    import msgspec
except ImportError:  # the extra is not installed: every path is the default one
    AVAILABLE = False
    #: What a msgspec decode raises for a line it refuses (nothing, without the extra).
    REFUSED: Tuple[Type[BaseException], ...] = ()
    #: msgspec's untyped JSON decoder (dicts, lists, strings, numbers); callers check
    #: :data:`AVAILABLE` first.
    parse_untyped: Callable[[bytes], Any] = _not_installed
else:
    AVAILABLE = True
    REFUSED = (msgspec.MsgspecError, ValueError, RecursionError)
    parse_untyped = msgspec.json.Decoder().decode
