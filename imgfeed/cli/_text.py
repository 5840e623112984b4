"""Text that is safe to put on a person's terminal, whatever the server sent and the locale is.

Contract: :func:`printable` never lets a control character through (server text may hold escape
sequences that would retitle, clear or rewrite the terminal); :func:`to_ascii` and
:func:`can_show_unicode` let an output that cannot encode non-ASCII text (``LC_ALL=C``,
``PYTHONIOENCODING=ascii``) show escapes instead of failing with ``UnicodeEncodeError``.
"""

from __future__ import annotations

import re
from typing import IO

__all__ = ["printable", "to_ascii", "can_show_unicode"]

# C0 controls, DEL and C1 controls: what a terminal acts on rather than shows.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``), never acted on.

    Server text (names, ids) may hold anything (docs/protocol.md section 3), including escape sequences
    that would retitle, clear or rewrite the user's terminal.
    """
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def to_ascii(text: str) -> str:
    """``text`` with every non-ASCII character as an escape (``ø`` -> ``\\xf8``): for ASCII terminals."""
    return text.encode("ascii", "backslashreplace").decode("ascii")


def can_show_unicode(stream: IO[str]) -> bool:
    """Whether ``stream`` can encode the view's non-ASCII text (``—``, ``…``, accented names)."""
    encoding = getattr(stream, "encoding", None)
    if not encoding:
        return True  # a StringIO and the like hold text, not bytes
    try:
        "—…øé".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True
