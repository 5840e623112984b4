"""The exchange odds ladder both test servers price on: every valid decimal price, 1.01 to 1000.

Contract: :data:`TICKS` holds the ladder ascending, as floats of exactly two decimals (built in
integer hundredths, so ``1.1 == TICKS[9]`` and JSON shows ``1.1``, never ``1.1000000001``). The
bands are the common exchange ladder, which is Betfair's CLASSIC one (``priceLadderDefinition``
``{"type": "CLASSIC"}``). Pure functions, no state.
"""

from __future__ import annotations

import bisect
from typing import Set, Tuple

__all__ = ["MIN_PRICE", "MAX_PRICE", "TICKS", "tick_index", "price_at"]

#: The shortest and longest decimal odds the ladder offers.
MIN_PRICE = 1.01
MAX_PRICE = 1000.0

#: (upper bound of a band, tick size within it): Betfair's CLASSIC price increments.
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


def _ticks() -> Tuple[float, ...]:
    """Every price on the ladder, ascending (built in integer hundredths: no float drift)."""
    cents: Set[int] = set()
    lower = int(round(MIN_PRICE * 100))
    for upper, tick in _BANDS:
        step, top = int(round(tick * 100)), int(round(upper * 100))
        start = lower if lower % step == 0 else lower + step - lower % step
        cents.update(range(start, top + 1, step))
        lower = top
    return tuple(c / 100 for c in sorted(cents))


#: Every price of the ladder (350 of them), ascending.
TICKS: Tuple[float, ...] = _ticks()


def tick_index(price: float) -> int:
    """Index of the highest tick at or below ``price`` (0 for anything below 1.01)."""
    return max(0, bisect.bisect_right(TICKS, round(price, 2)) - 1)


def price_at(index: int) -> float:
    """The tick at ``index``, clamped to the ladder's ends."""
    return TICKS[min(max(index, 0), len(TICKS) - 1)]
