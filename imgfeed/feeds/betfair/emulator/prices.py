"""Betfair's CLASSIC odds ladder: the prices a back or lay offer may sit at.

Contract: :data:`TICKS` holds every valid price from 1.01 to 1000 in ascending order, as floats
rounded to two decimals (so ``1.1 == TICKS[9]`` and JSON shows ``1.1``, never ``1.1000000001``).
The increments are Betfair's published ones for the CLASSIC ladder (``priceLadderDefinition``
``{"type": "CLASSIC"}``). Pure functions, no state.
"""

from __future__ import annotations

import bisect
from typing import List, Tuple

__all__ = ["TICKS", "tick_index", "price_at", "money"]

#: (up to and including this price, increment): Betfair's CLASSIC price increments.
_BANDS: Tuple[Tuple[float, float], ...] = (
    (2.0, 0.01),
    (3.0, 0.02),
    (4.0, 0.05),
    (6.0, 0.1),
    (10.0, 0.2),
    (20.0, 0.5),
    (30.0, 1.0),
    (50.0, 2.0),
    (100.0, 5.0),
    (1000.0, 10.0),
)


def _ticks() -> List[float]:
    out = [1.01]
    low = 1.0
    for high, step in _BANDS:
        n = round((high - low) / step)
        for i in range(1, n + 1):
            price = round(low + i * step, 2)
            if price > out[-1]:
                out.append(price)
        low = high
    return out


#: Every price of the ladder, ascending.
TICKS: Tuple[float, ...] = tuple(_ticks())


def tick_index(price: float) -> int:
    """Index of the highest tick at or below ``price`` (0 for anything below 1.01)."""
    return max(0, bisect.bisect_right(TICKS, round(price, 2)) - 1)


def price_at(index: int) -> float:
    """The tick at ``index``, clamped to the ladder's ends."""
    return TICKS[min(max(index, 0), len(TICKS) - 1)]


def money(amount: float) -> float:
    """An amount of money as the stream shows it: two decimals."""
    return round(amount + 0.0, 2)
