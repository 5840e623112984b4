"""Betfair's CLASSIC odds ladder, as the emulator prices on it, and money as the stream shows it.

Contract: the ladder itself (:data:`TICKS`, :func:`tick_index`, :func:`price_at`) is the one
both test servers share, :mod:`imgfeed.loopback.ladder`, re-exported here; every price from 1.01
to 1000 in ascending order, floats of exactly two decimals. Pure functions, no state.
"""

from __future__ import annotations

from imgfeed.loopback.ladder import TICKS, price_at, tick_index

__all__ = ["TICKS", "tick_index", "price_at", "money"]


def money(amount: float) -> float:
    """An amount of money as the stream shows it: two decimals."""
    return round(amount + 0.0, 2)
