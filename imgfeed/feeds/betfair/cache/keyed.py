"""What the market cache and the order cache share: markets kept by id, under one lock.

Contract: :class:`KeyedByMarket` gives a cache its container protocol (``len``, ``in``,
iteration, :meth:`~KeyedByMarket.market_ids`) over ``self._markets`` and a locked
:meth:`~KeyedByMarket.clear` that calls the cache's own ``_clear``; :func:`check_retention`
checks a retention setting. Each cache keeps its own state and rules; only this much is the same.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, ContextManager, Dict, Iterator, List, Optional

from imgfeed.errors import ConfigError

__all__ = ["KeyedByMarket", "check_retention", "NEVER"]

#: A deadline that never comes (no eviction due).
NEVER = float("inf")


def check_retention(field: str, value: Any) -> float:
    """``value`` as seconds, or :class:`ConfigError` naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < NEVER:
        raise ConfigError(field, value, "a number of seconds >= 0")
    return float(value)


class KeyedByMarket:
    """Base of the caches: ``self._markets`` (id -> state, in first-seen order) under ``self._lock``."""

    _markets: Dict[str, Any]

    def __init__(self, lock: Optional[ContextManager[Any]] = None) -> None:
        self._lock: ContextManager[Any] = nullcontext() if lock is None else lock

    def __len__(self) -> int:
        return len(self._markets)

    def __contains__(self, market_id: object) -> bool:
        return market_id in self._markets

    def __iter__(self) -> Iterator[str]:
        return iter(self.market_ids())

    def market_ids(self) -> List[str]:
        """The ids of the cached markets, in the order they were first seen."""
        with self._lock:
            return list(self._markets)

    def clear(self) -> None:
        """Forget everything (``INVALID_CLOCK``: a fresh image follows)."""
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        raise NotImplementedError
