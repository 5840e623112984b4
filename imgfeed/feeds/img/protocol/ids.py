"""Market ids: show a long, ``~``-escaped id to a person, and turn what a person copied back into it.

Contract: ids are opaque strings, compared exactly as the server sent them (docs/protocol.md section 10);
nothing in imgfeed compares decoded ids. :func:`decode_market_id` is for display only, and
:func:`raw_market_id` is its inverse for input (a market id typed on the command line, pasted into
a config), returning the raw form that subscriptions and the book compare; it never alters an id
that is already raw.

This module does no IO and knows no record: :mod:`imgfeed.feeds.img.protocol.messages` re-exports
both functions, where they have always been imported from.
"""

from __future__ import annotations

import re
import urllib.parse

__all__ = ["decode_market_id", "raw_market_id"]

#: An escape in a long market id: "~" and two hex digits (docs/protocol.md section 10).
_ESCAPE = re.compile(r"~([0-9A-Fa-f]{2})")


def decode_market_id(market_id: str) -> str:
    """Show a long market id to a person: ``~7c`` becomes ``|``, ``~3d`` ``=``, ``~2c`` ``,``.

    For display only; ids are always compared as received (docs/protocol.md section 10).

    >>> decode_market_id("golf_14754_threeball_hole~7cround_num~3d1")
    'golf_14754_threeball_hole|round_num=1'
    """
    if "~" not in market_id:
        return market_id
    # Only "~" followed by two hex digits is an escape; a "~" on its own is a slug character and
    # is shown as it is. Rewrite the escapes as URL escapes (after protecting any literal "%") so
    # that unquote also joins multi-byte UTF-8 sequences such as "~c3~a9".
    quoted = _ESCAPE.sub(r"%\1", market_id.replace("%", "%25"))
    return urllib.parse.unquote(quoted, errors="replace")


#: The characters of a long market id as the server sends it (docs/protocol.md section 10: the slug
#: alphabet "0-9 a-z A-Z - _ . ~"); anything else is escaped as "~" and two hex digits.
_RAW_ID_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.~")
#: The bytes written unescaped when a decoded id is turned back into its raw form.
_UNESCAPED_BYTES = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.")
#: A "~" that, written as it is, would read as an escape.
_TILDE_BEFORE_HEX = re.compile(r"~(?=[0-9A-Fa-f]{2})")


def raw_market_id(text: str) -> str:
    """The market id as the server sends it, from either form a person may have copied.

    ``decode_market_id`` shows ``golf_6005_matchbet~7cgolfer_ids~3d9548~2c14689`` as
    ``golf_6005_matchbet|golfer_ids=9548,14689``; this turns either back into the raw form, the
    one ids are compared in (subscriptions, the book). Text made only of slug characters is
    already raw and is returned unchanged, so a raw id is never altered; any other text is read as
    the decoded form and every byte outside the slug alphabet is escaped, as the server does. A
    ``~`` of the decoded form stays as it is unless two hex digits follow it (then it is escaped as
    ``~7e``, or it would read as an escape).

    Known weakness: a decoded form made only of slug characters and holding a ``~`` before two hex
    digits is ambiguous (it is also a raw id) and is taken as raw.

    >>> raw_market_id("golf_6005_matchbet|golfer_ids=9548,14689")
    'golf_6005_matchbet~7cgolfer_ids~3d9548~2c14689'
    >>> raw_market_id("golf_6005_matchbet~7cgolfer_ids~3d9548~2c14689")
    'golf_6005_matchbet~7cgolfer_ids~3d9548~2c14689'
    """
    if all(ch in _RAW_ID_CHARS for ch in text):
        return text
    parts = _TILDE_BEFORE_HEX.split(text)
    escaped = [
        "".join(chr(b) if b in _UNESCAPED_BYTES or b == 0x7E else f"~{b:02x}" for b in part.encode("utf-8"))
        for part in parts
    ]
    return "~7e".join(escaped)
