"""Which markets may be traded now: one rule for every feed, and the notifications that tell it.

Contract: a market is **tradable** when the feed as a whole is not suspended -- a session is up,
heartbeats are on time, the server does not call its data stale -- and the market itself is
*open on this session*: the feed's cache saw its image on the current session and that image says
it is open (the feed decides what "open" means). Every change is told to the handlers, in order
with the data, as the notifications of :mod:`imgfeed.runtime.events`:

- a global suspension once, as ``SuspendedAll(reason)``;
- its end as ``ResumedAll``, followed by ``MarketStatusChanged(m, True)`` for every market that is
  tradable again;
- a market's own change as ``MarketStatusChanged(m, tradable)`` only when it changes what
  :meth:`Tradability.is_tradable` answers -- so the notification always tells the truth *now*,
  and nothing is said of a market that opens while every market is suspended.

After a new session no market is open: each waits for its own image ("after reconnecting, each
market stays suspended until a status update for that market has been received", docs/protocol.md
section 8).

Not thread-safe by itself: the feed's cache calls it under its lock.
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, Hashable, List, Optional

from imgfeed.runtime.events import (
    MarketStatusChanged,
    ResumedAll,
    SuspendedAll,
    SuspendReason,
)

__all__ = ["Tradability"]


class Tradability:
    """The global suspension and the per-market "open on this session" set (module docstring)."""

    __slots__ = ("_up", "_late", "_stale", "_open")

    def __init__(self) -> None:
        self._up = False
        self._late = False
        self._stale = False
        #: Markets open on the current session (global suspension aside), in the order they opened
        #: (a dict, so that the notifications after a resume come out in a reproducible order).
        self._open: Dict[Hashable, None] = {}

    def __repr__(self) -> str:
        return f"<Tradability open={len(self._open)} suspended={self.suspend_reason}>"

    # --- questions -------------------------------------------------------------------------------

    @property
    def suspend_reason(self) -> Optional[SuspendReason]:
        """Why every market is suspended now, or ``None``."""
        if not self._up:
            return SuspendReason.DISCONNECTED
        if self._late:
            return SuspendReason.HEARTBEAT_LATE
        if self._stale:
            return SuspendReason.STALE
        return None

    def is_tradable(self, key: Hashable) -> bool:
        return self._up and not self._late and not self._stale and key in self._open

    def is_open(self, key: Hashable) -> bool:
        """Open on this session, whatever the global suspension says."""
        return key in self._open

    def tradable(self) -> FrozenSet[Any]:
        """Every market tradable now."""
        if self.suspend_reason is not None:
            return frozenset()
        return frozenset(self._open)

    # --- the feed's lifecycle --------------------------------------------------------------------

    def session_started(self, out: List[Any]) -> None:
        """A session is up: the disconnection ends, and every market waits for its own image."""
        self._open.clear()
        self._late = False
        self._stale = False
        if not self._up:
            self._up = True
            out.append(ResumedAll())

    def session_lost(self, out: List[Any]) -> None:
        """"While disconnected every market is suspended" (docs/protocol.md section 8)."""
        self._open.clear()
        if self._up:
            self._up = False
            self._late = self._stale = False
            out.append(SuspendedAll(SuspendReason.DISCONNECTED))

    def heartbeat_late(self, out: List[Any]) -> None:
        self._set_global("_late", True, SuspendReason.HEARTBEAT_LATE, out)

    def heartbeat_resumed(self, out: List[Any]) -> None:
        self._set_global("_late", False, SuspendReason.HEARTBEAT_LATE, out)

    def set_stale(self, stale: bool, out: List[Any]) -> None:
        """The server says its data is (no longer) stale (Betfair's ``status: 503``)."""
        self._set_global("_stale", stale, SuspendReason.STALE, out)

    def _set_global(self, flag: str, value: bool, reason: SuspendReason, out: List[Any]) -> None:
        if not self._up or getattr(self, flag) is value:
            return
        before = self.suspend_reason
        setattr(self, flag, value)
        after = self.suspend_reason
        if after is not None and after is not before:
            out.append(SuspendedAll(after))
        elif after is None:
            out.append(ResumedAll())
            out.extend(MarketStatusChanged(k, True) for k in self._open)  # type: ignore[arg-type]

    # --- one market ------------------------------------------------------------------------------

    def set_open(self, key: Hashable, is_open: bool, out: List[Any]) -> None:
        """The market's own state on this session: open (image seen and open) or not."""
        was = key in self._open
        if is_open == was:
            return
        if is_open:
            self._open[key] = None
        else:
            del self._open[key]
        if self._up and not self._late and not self._stale:
            out.append(MarketStatusChanged(key, is_open))  # type: ignore[arg-type]

    def forget(self, key: Hashable, out: List[Any]) -> None:
        """The market is gone (removed, unsubscribed): untradable until its next image."""
        self.set_open(key, False, out)
