"""The records a consumer's transport adds to the feed's own: what the stream says that lines cannot.

Each stands for a marker of the stream (docs/fanout.md) or for the transport's own knowledge (where
it starts, how far it got); :class:`~imgfeed.fanout.redis.relay.RelayAdapter` applies them under
the feed's lock. None is given to handlers (the adapter turns some into the runtime's
notifications).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import attrs

from imgfeed.runtime.events import Disconnected

__all__ = [
    "SessionResumed",
    "UpstreamConnected",
    "UpstreamDisconnected",
    "UpstreamAttemptFailed",
    "UpstreamLate",
    "UpstreamResumed",
    "GateChanged",
    "GateReset",
    "Tick",
    "Position",
    "StreamGap",
    "Acknowledge",
]


@attrs.frozen
class SessionResumed:
    """The transport starts inside an upstream session (``session``: its ``connected`` data).

    ``whole``: it reads on right after the last entry applied, so the feed's state is exactly as
    it was (a checkpoint's start is not whole: its lines follow and replace the state)."""

    session: Optional[Dict[str, Any]]
    late: bool = False
    whole: bool = False


@attrs.frozen
class UpstreamConnected:
    session: Dict[str, Any]


@attrs.frozen
class UpstreamDisconnected:
    """An upstream session that was up ended: the downstream one ends with it."""

    reason: str
    detail: str = ""
    code: Optional[str] = None
    retry_in: Optional[float] = None


@attrs.frozen
class UpstreamAttemptFailed:
    """An upstream connection attempt that never came up ended: told, and the wait goes on."""

    note: Disconnected


@attrs.frozen
class UpstreamLate:
    pass


@attrs.frozen
class UpstreamResumed:
    pass


@attrs.frozen
class GateChanged:
    market_id: str
    tradable: bool


@attrs.frozen
class GateReset:
    market_ids: Tuple[str, ...]


@attrs.frozen
class Tick:
    """The publisher is alive (proves nothing of the feed)."""


@attrs.frozen
class Position:
    """The last entry of a batch; ``whole``: the state is whole as of it (False while waiting)."""

    entry_id: bytes
    whole: bool = True


@attrs.frozen
class StreamGap:
    """Entries were lost before this point: the downstream session ends; the next resynchronises."""

    detail: str


@attrs.frozen
class Acknowledge:
    """Group consumers: once the records before this have been handled, acknowledge ``ids``."""

    ids: Tuple[bytes, ...]
    mark: Any  # an AfterDelivery, made by the transport
