"""Open authenticated connections per application key, for ``MAX_CONNECTION_LIMIT_EXCEEDED``.

Contract: one :class:`ConnectionRegistry` is shared by every session of a server. A session
:meth:`~ConnectionRegistry.acquire` s a slot when its authentication succeeds and
:meth:`~ConnectionRegistry.release` s it when it closes; the counts are what the auth ``status``
reports as ``connectionsAvailable`` ("the number of additional connections you can open").
Thread-safe (one small lock); it does no IO.
"""

from __future__ import annotations

import threading
from typing import Dict, Optional

__all__ = ["ConnectionRegistry"]


class ConnectionRegistry:
    """Counts of open authenticated connections, by app key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: Dict[str, int] = {}

    def __repr__(self) -> str:
        with self._lock:
            return f"<ConnectionRegistry open={sum(self._open.values())} app_keys={len(self._open)}>"

    def acquire(self, app_key: str, limit: int) -> Optional[int]:
        """Take a slot: the connections still available after it, or None if none was free."""
        with self._lock:
            used = self._open.get(app_key, 0)
            if used >= limit:
                return None
            self._open[app_key] = used + 1
            return limit - used - 1

    def release(self, app_key: str) -> None:
        with self._lock:
            used = self._open.get(app_key, 0) - 1
            if used > 0:
                self._open[app_key] = used
            else:
                self._open.pop(app_key, None)

    def available(self, app_key: str, limit: int) -> int:
        with self._lock:
            return max(0, limit - self._open.get(app_key, 0))

    def open_connections(self, app_key: str) -> int:
        with self._lock:
            return self._open.get(app_key, 0)
